"""Every validation rule: what it flags (pure), and how save and submit treat it (services)."""

from __future__ import annotations

import pytest

from apps.common.errors import ApplicationError
from apps.reading.models import AssignmentState, AuditEvent, Finding
from apps.reading.rules import (
    RULES,
    RULES_BY_CODE,
    BreastData,
    FindingData,
    ImageInfo,
    ReadData,
    read_validate,
    save_rejections,
    submit_blockers,
)
from apps.reading.services import read_save, read_submit
from tests.factories import exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of

IMAGES = {
    1: ImageInfo(id=1, laterality="R", rows=1000, columns=800),
    2: ImageInfo(id=2, laterality="L", rows=1000, columns=800),
}


def _read(right=(2, "B"), left=(2, "B"), findings=()) -> ReadData:
    return ReadData(breasts={"R": BreastData("R", *right), "L": BreastData("L", *left)}, findings=tuple(findings))


def _box(key="k", image=1, box=(10.0, 10.0, 50.0, 50.0), categories=("Mass",), birads=4) -> FindingData:
    return FindingData(key, image, *box, categories=tuple(categories), birads=birads)


def _codes(read: ReadData) -> set[tuple[str, str | None, str | None]]:
    return {(v.rule, v.laterality, v.finding) for v in read_validate(read, IMAGES)}


def test_a_complete_consistent_read_has_no_violation() -> None:
    assert read_validate(_read(findings=[_box(birads=3)], right=(4, "C")), IMAGES) == []
    assert read_validate(_read(right=(1, "A"), left=(1, "A")), IMAGES) == []


@pytest.mark.parametrize(("read", "expected"), [
    (_read(right=(None, "B")), {("BREAST_BIRADS_REQUIRED", "R", None)}),
    (_read(left=(3, None)), {("BREAST_DENSITY_REQUIRED", "L", None)}),
    (_read(left=(1, "B"), findings=[_box(image=2)]), {("NO_FINDING_ON_BIRADS_1", "L", "k")}),
    (_read(right=(4, "B"), findings=[_box(categories=())]), {("FINDING_CATEGORY_REQUIRED", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(categories=("Tumour",))]), {("FINDING_CATEGORY_UNKNOWN", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(categories=("Mass", "Mass"))]), {("FINDING_CATEGORY_DUPLICATE", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(birads=None)]), {("FINDING_BIRADS_REQUIRED", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(categories=("Skin Thickening",), birads=3)]),
     {("FINDING_BIRADS_NOT_ALLOWED", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(birads=2)]), {("FINDING_BIRADS_RANGE", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(image=99)]), {("FINDING_IMAGE_NOT_IN_EXAM", None, "k")}),
    (_read(right=(4, "B"), findings=[_box(box=(50, 10, 50, 40))]), {("BOX_POSITIVE_AREA", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(box=(10, 10, 5, 40))]), {("BOX_POSITIVE_AREA", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(box=(700, 900, 801, 950))]), {("BOX_INSIDE_IMAGE", "R", "k")}),
    (_read(right=(4, "B"), findings=[_box(box=(-1, 0, 10, 10))]), {("BOX_INSIDE_IMAGE", "R", "k")}),
    (_read(right=(3, "B"), findings=[_box(birads=5)]), {("BREAST_BIRADS_BELOW_FINDING", "R", None)}),
], ids=lambda v: "" if isinstance(v, ReadData) else "-".join(sorted(c[0] for c in v)))
def test_each_rule_flags_exactly_its_case(read: ReadData, expected: set) -> None:
    assert _codes(read) == expected


def test_a_box_on_the_image_edge_is_inside() -> None:
    assert _codes(_read(right=(4, "B"), findings=[_box(box=(0, 0, 800, 1000))])) == set()


def test_birads_0_breast_with_a_suspicious_finding_is_not_warned() -> None:
    assert _codes(_read(right=(0, "B"), findings=[_box(birads=5)])) == set()


def test_finding_birads_is_required_when_any_lesion_category_is_present() -> None:
    mixed = _box(categories=("Skin Retraction", "Architectural Distortion"), birads=None)
    assert _codes(_read(right=(4, "B"), findings=[mixed])) == {("FINDING_BIRADS_REQUIRED", "R", "k")}


def test_severity_and_stage_of_every_rule_are_declared_once() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes)) == 14
    assert {r.code for r in RULES if r.severity == "warning"} == {"BREAST_BIRADS_BELOW_FINDING", "BOX_ON_BACKGROUND"}
    assert {r.code for r in RULES if r.rejects_save} == {
        "FINDING_IMAGE_NOT_IN_EXAM", "BOX_POSITIVE_AREA", "BOX_INSIDE_IMAGE", "FINDING_CATEGORY_UNKNOWN",
        "FINDING_CATEGORY_DUPLICATE", "FINDING_BIRADS_RANGE"}


def test_warnings_never_block_submit_and_mechanical_errors_block_save() -> None:
    violations = read_validate(_read(right=(3, None), findings=[_box(birads=5), _box("z", box=(0, 0, 0, 1))]),
                               IMAGES)
    assert {v.rule for v in save_rejections(violations)} == {"BOX_POSITIVE_AREA"}
    assert {v.rule for v in submit_blockers(violations)} == {"BOX_POSITIVE_AREA", "BREAST_DENSITY_REQUIRED"}
    assert RULES_BY_CODE["BREAST_BIRADS_BELOW_FINDING"].severity == "warning"


# --- through the services ------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("box", "rule"), [
    ((100, 100, 100, 200), "BOX_POSITIVE_AREA"),
    ((100, 100, 2801, 200), "BOX_INSIDE_IMAGE"),
    ((100, 100, 200, 3519), "BOX_INSIDE_IMAGE"),
])
def test_a_mechanically_wrong_box_is_rejected_at_save_and_nothing_is_written(
        admin_user, reader1, reader2, box, rule) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    events = AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as error:
        read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((4, "B"), (1, "B")),
                  findings=[finding(image_of(study, "R"), "bad", box)])
    assert error.value.code == "validation_failed"
    assert {(v["rule"], v["finding"], v["laterality"]) for v in error.value.extra["violations"]} == {(rule, "bad", "R")}
    a.refresh_from_db()
    assert (a.version, a.state) == (1, AssignmentState.ASSIGNED)
    assert not Finding.objects.exists() and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_box_on_an_image_of_another_exam_is_rejected(admin_user, reader1, reader2) -> None:
    study, other = exam_create(), exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    with pytest.raises(ApplicationError) as error:
        read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((4, "B"), (1, "B")),
                  findings=[finding(image_of(other, "R"), "elsewhere")])
    assert [v["rule"] for v in error.value.extra["violations"]] == ["FINDING_IMAGE_NOT_IN_EXAM"]
    assert not Finding.objects.exists()


@pytest.mark.django_db
def test_clinical_rules_warn_on_save_and_block_submit(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    lcc = image_of(study, "L")
    saved = read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((None, "B"), (1, None)),
                      findings=[finding(lcc, "m", birads=None)])
    assert {(w.rule, w.severity) for w in saved.warnings} == {
        ("BREAST_BIRADS_REQUIRED", "error"), ("BREAST_DENSITY_REQUIRED", "error"),
        ("NO_FINDING_ON_BIRADS_1", "error"), ("FINDING_BIRADS_REQUIRED", "error")}

    with pytest.raises(ApplicationError) as error:
        read_submit(actor=reader1, assignment_id=a.pk, version=2)

    assert error.value.code == "validation_failed"
    assert {(v["rule"], v["finding"]) for v in error.value.extra["violations"]} == {
        ("BREAST_BIRADS_REQUIRED", None), ("BREAST_DENSITY_REQUIRED", None),
        ("NO_FINDING_ON_BIRADS_1", "m"), ("FINDING_BIRADS_REQUIRED", "m")}
    a.refresh_from_db()
    assert (a.state, a.version, a.submitted_at) == (AssignmentState.IN_PROGRESS, 2, None)
    assert not AuditEvent.objects.filter(action="submit").exists()


@pytest.mark.django_db
def test_a_breast_birads_below_its_finding_only_warns_and_submit_succeeds(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    saved = read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((3, "B"), (1, "B")),
                      findings=[finding(image_of(study, "R", "MLO"), "w", birads=5)])
    assert [(w.rule, w.severity) for w in saved.warnings] == [("BREAST_BIRADS_BELOW_FINDING", "warning")]
    result = read_submit(actor=reader1, assignment_id=a.pk, version=2)
    assert result.assignment.state == AssignmentState.SUBMITTED


def test_a_box_wholly_on_the_background_gets_a_warning_that_does_not_block() -> None:
    images = {1: ImageInfo(id=1, laterality="R", rows=1000, columns=800, tissue_bounds=(400.0, 100.0, 800.0, 900.0)),
              2: ImageInfo(id=2, laterality="L", rows=1000, columns=800)}
    on_air = _box("air", 1, (20.0, 20.0, 120.0, 120.0), birads=3)
    on_edge = _box("edge", 1, (350.0, 500.0, 420.0, 560.0), birads=3)
    unknown_tissue = _box("unknown", 2, (20.0, 20.0, 120.0, 120.0), birads=3)
    read = _read(right=(3, "B"), left=(3, "B"), findings=[on_air, on_edge, unknown_tissue])

    violations = [v for v in read_validate(read, images) if v.rule == "BOX_ON_BACKGROUND"]

    assert [(v.finding, v.severity, v.field) for v in violations] == [("air", "warning", "box")]
    assert submit_blockers(violations) == []
