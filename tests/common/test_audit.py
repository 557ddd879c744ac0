"""The audit trail has one writing API (apps/common/audit.py) with an enum of actions."""

from __future__ import annotations

import ast
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


def _imports(path: Path) -> list[str]:
    """Every module a file imports, also inside functions (a lazy import is still an arrow)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _arrows(app: str, allowed: tuple[str, ...]) -> list[str]:
    """Imports of another app of ours from `app` that are not in `allowed`."""
    found = []
    for path in (APPS / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "apps" and len(parts) > 1 and parts[1] != app and parts[1] not in allowed:
                found.append(f"{path.relative_to(APPS)}: {name}")
    return found


def test_imports_point_down_the_layers() -> None:
    """common imports no app; studies imports nothing of reading, datasets or web (docs/architecture.md)."""
    assert _arrows("common", allowed=()) == []
    assert _arrows("studies", allowed=("common", "accounts", "dicomweb")) == []


def test_the_guard_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from apps.reading.models import Assignment\n    import apps.datasets\n")
    assert _imports(module) == ["apps.reading.models", "apps.datasets"]
