"""The audit trail has one writing API (apps/common/audit.py) with an enum of actions."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import Q

from apps.common.audit import (
    PAYLOADS,
    AssignPayload,
    AuditAction,
    AuditEntry,
    AuditObject,
    AuditPayloadError,
    ComparePayload,
    FindingDeletePayload,
    FindingFields,
    ImagesReviewedPayload,
    ReadStartPayload,
    StudyStatePayload,
    audit_record,
    audit_records,
)
from apps.reading.models import Assignment, AuditEvent, BreastAssessment, Read
from apps.reading.services import read_reopen, read_save, read_submit
from apps.studies.models import ImageState, StudyState
from apps.studies.services import images_mark_reviewed
from tests.factories import exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

APPS = Path(settings.BASE_DIR) / "apps"


@pytest.mark.django_db
def test_audit_record_appends_one_event_with_the_enum_spellings(admin_user) -> None:  # type: ignore[no-untyped-def]
    study = exam_create()
    event = audit_record(actor=admin_user, action=AuditAction.STUDY_STATE, object_type=AuditObject.STUDY,
                         object_id=study.pk, study_id=study.pk,
                         payload=StudyStatePayload(from_state="ready", to_state="reading"))
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.object_type, stored.study_id, stored.actor_id, stored.before, stored.after) == (
        "study_state", "study", study.pk, admin_user.pk, {"state": "ready"}, {"state": "reading"})
    audit_records([AuditEntry(actor=None, action=AuditAction.ASSIGN, object_type=AuditObject.ASSIGNMENT,
                              object_id=n, study_id=study.pk, payload=AssignPayload(reader=n, kind="first"))
                   for n in (1, 2)])
    assert list(AuditEvent.objects.filter(action="assign").values_list("object_id", "after")) == [
        (1, {"reader": 1, "kind": "first"}), (2, {"reader": 2, "kind": "first"})]


# --- typed payloads --------------------------------------------------------------------------------

def test_every_action_has_exactly_one_payload_class() -> None:
    assert set(PAYLOADS) == set(AuditAction)
    assert all(cls.action is action for action, cls in PAYLOADS.items())
    assert len(set(PAYLOADS.values())) == len(AuditAction)


def test_a_payload_field_of_the_wrong_type_names_the_action_and_the_field() -> None:
    with pytest.raises(AuditPayloadError, match=r"'assign': field 'reader' must be int, not str"):
        AssignPayload(reader="reader1", kind="first")  # type: ignore[arg-type]
    with pytest.raises(AuditPayloadError, match=r"'images_reviewed': field 'images' must be list\[int\]"):
        ImagesReviewedPayload(images=[1, None])  # type: ignore[list-item]
    with pytest.raises(AuditPayloadError, match=r"'compare': field 'concordant' must be bool, not int"):
        ComparePayload(concordant=1, reasons=[], rules={})  # type: ignore[arg-type]
    box = FindingFields(image=1, xmin=1, ymin=1.0, xmax="9", ymax=9.0, categories=[], birads=None,  # type: ignore[arg-type]
                        source_finding=None)
    with pytest.raises(AuditPayloadError, match=r"'finding_delete': field 'finding.xmax' must be float, not str"):
        FindingDeletePayload(finding=box)


@pytest.mark.django_db
def test_recording_an_action_with_another_actions_payload_is_refused_and_writes_nothing() -> None:
    study = exam_create()
    with pytest.raises(AuditPayloadError, match=r"'submit' takes SubmitPayload, not ReadStartPayload \(the payload of 'read_start'\)"):
        audit_record(actor=None, action=AuditAction.SUBMIT, object_type=AuditObject.ASSIGNMENT, object_id=1,
                     study_id=study.pk, payload=ReadStartPayload(from_state="assigned", to_state="in_progress"))
    with pytest.raises(AuditPayloadError, match=r"'reassign' takes ReassignPayload, not AssignPayload"):
        audit_records([AuditEntry(actor=None, action=AuditAction.REASSIGN, object_type=AuditObject.ASSIGNMENT,
                                  object_id=1, payload=AssignPayload(reader=1, kind="first"))])
    assert not AuditEvent.objects.exists()


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


# --- what a recorded row holds: pinned on real flows, so the stored JSON never drifts ------------

def _trail(study_pk: int, project_pk: int) -> list[tuple]:
    events = AuditEvent.objects.filter(Q(study_id=study_pk) | Q(object_type="project", object_id=project_pk))
    return [(e.action, e.object_type, e.object_id, e.actor.get_username() if e.actor else None, e.before, e.after)
            for e in events.select_related("actor").order_by("id")]


def _box(image: int, xmin: float, ymin: float, xmax: float, ymax: float) -> dict:
    return {"image": image, "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax, "categories": ["Mass"],
            "birads": 4, "source_finding": None}


@pytest.mark.django_db
def test_a_discordant_double_read_and_its_reopen_store_the_same_audit_json_and_every_exam_move(
        admin_user, reader1, reader2, senior) -> None:  # type: ignore[no-untyped-def]
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2, seniors=[senior])
    image = image_of(study, "R")
    saved = read_save(actor=reader1, assignment_id=a.pk, version=a.version, breasts=breasts((4, "B"), (1, "C")),
                      findings=[finding(image)])
    fid = saved.payload["findings"][0]["id"]
    saved = read_save(actor=reader1, assignment_id=a.pk, version=saved.assignment.version,
                      breasts=breasts((4, "B"), (1, "C")), findings=[finding(image, box=(110, 100, 300, 320), id=fid)])
    read_submit(actor=reader1, assignment_id=a.pk, version=saved.assignment.version)
    save_and_submit(b, reader2, breasts((1, "B"), (1, "C")))
    arbitration = Assignment.objects.get(study=study, kind="arbitration")
    read_reopen(actor=admin_user, assignment_id=b.pk, reason="wrong birads")

    ba, bb = (list(BreastAssessment.objects.filter(read__assignment=x).order_by("id").values_list("id", flat=True))
              for x in (a, b))
    rules = {"birads": "any", "density": "any", "categories": "same", "iou_threshold": 0.5, "finding_birads": "any",
             "unmatched_finding": True}
    reasons = [
        {"rule": "BIRADS_DIFFERENT", "laterality": "R", "a": 4, "b": 1, "image": None, "finding_a": None,
         "finding_b": None, "message": "Breast BI-RADS differ (right)."},
        {"rule": "FINDING_UNMATCHED", "laterality": "R", "a": None, "b": None, "image": image.pk, "finding_a": fid,
         "finding_b": None, "message": "A finding of read A has no matching box in the other read."}]
    assert _trail(study.pk, study.project_id) == [
        ("arbiters_set", "project", study.project_id, "admin", None, [senior.pk]),
        ("study_state", "study", study.pk, "admin", {"state": "ready"}, {"state": "reading"}),
        ("assign", "assignment", a.pk, "admin", None, {"reader": reader1.pk, "kind": "first"}),
        ("assign", "assignment", b.pk, "admin", None, {"reader": reader2.pk, "kind": "second"}),
        ("breast_update", "breast", ba[0], "reader1", {"laterality": "R", "birads": None, "density": None},
         {"laterality": "R", "birads": 4, "density": "B"}),
        ("breast_update", "breast", ba[1], "reader1", {"laterality": "L", "birads": None, "density": None},
         {"laterality": "L", "birads": 1, "density": "C"}),
        ("finding_create", "finding", fid, "reader1", None, {"key": "k1", **_box(image.pk, 100, 100, 300, 300)}),
        ("read_start", "assignment", a.pk, "reader1", {"state": "assigned"}, {"state": "in_progress"}),
        ("finding_update", "finding", fid, "reader1", _box(image.pk, 100, 100, 300, 300),
         _box(image.pk, 110, 100, 300, 320)),
        ("submit", "assignment", a.pk, "reader1", {"state": "in_progress"}, {"state": "submitted"}),
        ("breast_update", "breast", bb[0], "reader2", {"laterality": "R", "birads": None, "density": None},
         {"laterality": "R", "birads": 1, "density": "B"}),
        ("breast_update", "breast", bb[1], "reader2", {"laterality": "L", "birads": None, "density": None},
         {"laterality": "L", "birads": 1, "density": "C"}),
        ("read_start", "assignment", b.pk, "reader2", {"state": "assigned"}, {"state": "in_progress"}),
        ("submit", "assignment", b.pk, "reader2", {"state": "in_progress"}, {"state": "submitted"}),
        ("study_state", "study", study.pk, "reader2", {"state": "reading"}, {"state": "arbitration"}),
        ("compare", "study", study.pk, "reader2", None, {"concordant": False, "reasons": reasons, "rules": rules}),
        ("arbitration_assign", "assignment", arbitration.pk, "reader2", None,
         {"reader": senior.pk, "kind": "arbitration"}),
        ("arbitration_withdraw", "assignment", arbitration.pk, "admin", {"reader": senior.pk}, None),
        ("study_state", "study", study.pk, "admin", {"state": "arbitration"}, {"state": "reading"}),
        ("reopen", "assignment", b.pk, "admin", {"state": "submitted"}, {"state": "reopened", "reason": "wrong birads"}),
    ]


@pytest.mark.django_db
def test_a_concordant_double_read_its_reopen_and_the_review_store_the_same_audit_json_and_every_exam_move(
        admin_user, reader1, reader2) -> None:  # type: ignore[no-untyped-def]
    study = exam_create(state=StudyState.AWAITING_REVIEW)
    images = sorted(study.images.values_list("id", flat=True))
    study.images.update(state=ImageState.RENDERED)
    images_mark_reviewed(actor=admin_user, image_ids=images)
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
    study.refresh_from_db()
    consensus = study.final_read_id
    reads = sorted(Read.objects.filter(study=study, assignment__isnull=False).values_list("id", flat=True))
    read_reopen(actor=admin_user, assignment_id=a.pk)

    trail = [row for row in _trail(study.pk, study.project_id) if row[0] not in ("breast_update", "read_start")]
    assert trail == [
        ("images_reviewed", "study", study.pk, "admin", None, {"images": images}),
        ("study_state", "study", study.pk, "admin", {"state": "awaiting_review"}, {"state": "ready"}),
        ("study_state", "study", study.pk, "admin", {"state": "ready"}, {"state": "reading"}),
        ("assign", "assignment", a.pk, "admin", None, {"reader": reader1.pk, "kind": "first"}),
        ("assign", "assignment", b.pk, "admin", None, {"reader": reader2.pk, "kind": "second"}),
        ("submit", "assignment", a.pk, "reader1", {"state": "in_progress"}, {"state": "submitted"}),
        ("submit", "assignment", b.pk, "reader2", {"state": "in_progress"}, {"state": "submitted"}),
        ("study_state", "study", study.pk, "reader2", {"state": "reading"}, {"state": "final"}),
        ("compare", "study", study.pk, "reader2", None,
         {"concordant": True, "reasons": [], "rules": {
             "birads": "any", "density": "any", "categories": "same", "iou_threshold": 0.5, "finding_birads": "any",
             "unmatched_finding": True}}),
        ("consensus_create", "read", consensus, "reader2", None, {"final_read": consensus, "from": reads}),
        ("consensus_delete", "read", consensus, "admin", {"final_read": consensus}, None),
        ("study_state", "study", study.pk, "admin", {"state": "final"}, {"state": "reading"}),
        ("reopen", "assignment", a.pk, "admin", {"state": "submitted"}, {"state": "reopened", "reason": ""}),
    ]


def test_the_architecture_page_lists_every_action_with_its_payload_fields() -> None:
    page = (Path(settings.BASE_DIR) / "docs" / "architecture.md").read_text().splitlines()
    rows = {line.split("`")[1]: line for line in page if line.startswith("| `")}
    stale = [action.value for action, cls in PAYLOADS.items()
             if action.value not in rows or f"`{cls.__name__}`: " + ", ".join(
                 f.name for f in dataclasses.fields(cls)) not in rows[action.value]]
    assert stale == []
