"""The audit trail has one writing API (apps/common/audit.py) with an enum of actions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from apps.common.audit import AuditAction, AuditEntry, AuditObject, audit_record, audit_records
from apps.reading.models import AuditEvent
from tests.factories import exam_create

APPS = Path(settings.BASE_DIR) / "apps"


@pytest.mark.django_db
def test_audit_record_appends_one_event_with_the_enum_spellings(admin_user) -> None:  # type: ignore[no-untyped-def]
    study = exam_create()
    event = audit_record(actor=admin_user, action=AuditAction.STUDY_STATE, object_type=AuditObject.STUDY,
                         object_id=study.pk, study_id=study.pk, before={"state": "ready"}, after={"state": "reading"})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.object_type, stored.study_id, stored.actor_id) == (
        "study_state", "study", study.pk, admin_user.pk)
    audit_records([AuditEntry(actor=None, action=AuditAction.ASSIGN, object_type=AuditObject.ASSIGNMENT,
                              object_id=n, study_id=study.pk) for n in (1, 2)])
    assert list(AuditEvent.objects.filter(action="assign").values_list("object_id", flat=True)) == [1, 2]


def test_every_app_writes_the_trail_through_the_audit_module() -> None:
    direct = []
    for path in APPS.rglob("*.py"):
        if "migrations" in path.parts or path == APPS / "common" / "audit.py":
            continue
        text = path.read_text()
        direct += [f"{path.relative_to(APPS)}: {m}" for m in
                   re.findall(r"(?<!class )AuditEvent(?:\.objects\.(?:create|bulk_create)|\()", text)]
        direct += [f"{path.relative_to(APPS)}: {m}" for m in
                   re.findall(r"audit_record\([^)]*?action=\"[a-z_]+\"", text, re.S)]
    assert direct == []


def test_studies_reach_the_trail_without_importing_the_reading_app() -> None:
    for name in ("services.py", "workflow.py"):
        assert "from apps.reading" not in (APPS / "studies" / name).read_text()
