"""The reading workflow through its services: assign, save, submit, compare, arbitrate, reopen."""

from __future__ import annotations

import pytest

from apps.accounts.roles import ROLE_READER, ROLE_SENIOR
from apps.accounts.services import user_create
from apps.common.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from apps.reading.models import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    AuditEvent,
    BreastAssessment,
    Finding,
    Read,
    ReadOrigin,
)
from apps.reading.services import (
    assignment_reassign,
    exams_assign,
    read_reopen,
    read_save,
    read_submit,
)
from apps.reading.workflow import ASSIGNMENT_TRANSITIONS, STUDY_TRANSITIONS, AssignmentAction
from apps.studies.models import Study, StudyState
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

pytestmark = pytest.mark.django_db


def _snapshot(study: Study) -> tuple:
    """Everything a rejected transition must leave untouched."""
    study.refresh_from_db()
    return (
        study.state, study.final_read_id,
        sorted(Assignment.objects.filter(study=study).values_list("id", "state", "version", "reader_id")),
        sorted(BreastAssessment.objects.filter(read__study=study).values_list("id", "birads", "density")),
        sorted(Finding.objects.filter(read__study=study).values_list("id", "xmin", "ymin", "xmax", "ymax")),
        Read.objects.filter(study=study).count(),
        AuditEvent.objects.filter(study=study).count(),
    )


# --- assignment ----------------------------------------------------------------------------------

def test_each_exam_gets_two_different_readers_balanced_across_the_pool(admin_user, reader1, reader2, senior) -> None:
    project = ProjectFactory()
    studies = [exam_create(project=project) for _ in range(6)]
    reader3 = user_create(username="reader3", password="x", roles=[ROLE_READER], validate_password=False)

    result = exams_assign(actor=admin_user, project=project, readers=[reader1, reader2, reader3])

    assert sorted(result.assigned_studies) == sorted(s.pk for s in studies)
    for study in studies:
        study.refresh_from_db()
        assert study.state == StudyState.READING
        readers = list(Assignment.objects.filter(study=study).values_list("reader_id", flat=True))
        assert len(readers) == 2 and len(set(readers)) == 2
        assert set(Assignment.objects.filter(study=study).values_list("kind", flat=True)) == {"first", "second"}
    loads = [Assignment.objects.filter(reader=r).count() for r in (reader1, reader2, reader3)]
    assert loads == [4, 4, 4]
    assert AuditEvent.objects.filter(action="assign").count() == 12


def test_assign_prefers_readers_with_less_open_work(admin_user, reader1, reader2) -> None:
    project = ProjectFactory()
    reader3 = user_create(username="reader3", password="x", roles=[ROLE_READER], validate_password=False)
    busy = exam_create(project=project)
    exams_assign(actor=admin_user, project=project, readers=[reader1, reader2], study_ids=[busy.pk])

    fresh = exam_create(project=project)
    exams_assign(actor=admin_user, project=project, readers=[reader1, reader2, reader3], study_ids=[fresh.pk])

    holders = set(Assignment.objects.filter(study=fresh).values_list("reader__username", flat=True))
    assert "reader3" in holders


def test_assign_skips_exams_not_ready_and_takes_released_flagged_ones(admin_user, reader1, reader2) -> None:
    project = ProjectFactory()
    # Ready without all four views = an admin released it on purpose (studies.study_mark_ready).
    released = exam_create(project=project, has_standard_views=False)
    importing = exam_create(project=project, state=StudyState.AWAITING_REVIEW)

    result = exams_assign(actor=admin_user, project=project, readers=[reader1, reader2],
                          study_ids=[released.pk, importing.pk, 999999])

    assert result.assigned_studies == [released.pk]
    assert {(s["study"], s["reason"]) for s in result.skipped} == {(importing.pk, "not_ready"), (999999, "not_found")}
    assert not Assignment.objects.filter(study=importing).exists()
    importing.refresh_from_db()
    assert importing.state == StudyState.AWAITING_REVIEW


def test_assign_needs_two_distinct_readers_with_the_reader_role(admin_user, reader1, outsider) -> None:
    project = ProjectFactory()
    exam_create(project=project)
    with pytest.raises(ApplicationError) as one:
        exams_assign(actor=admin_user, project=project, readers=[reader1, reader1])
    assert one.value.code == "not_enough_readers"
    with pytest.raises(ApplicationError) as wrong_role:
        exams_assign(actor=admin_user, project=project, readers=[reader1, outsider])
    assert wrong_role.value.code == "invalid_reader"
    assert not Assignment.objects.exists()


def test_only_admins_assign(reader1, reader2) -> None:
    project = ProjectFactory()
    exam_create(project=project)
    with pytest.raises(ForbiddenError):
        exams_assign(actor=reader1, project=project, readers=[reader1, reader2])
    assert not Assignment.objects.exists()


def test_an_assigned_exam_is_not_assigned_twice(admin_user, reader1, reader2) -> None:
    study = exam_create()
    assign_pair(study, admin_user, reader1, reader2)
    result = exams_assign(actor=admin_user, project=study.project, readers=[reader1, reader2])
    assert result.assigned_studies == []
    assert Assignment.objects.filter(study=study).count() == 2


# --- the concordant path -------------------------------------------------------------------------

def test_concordant_reads_form_the_final_read_automatically(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    lcc = image_of(study, "L", "CC")

    first = save_and_submit(a, reader1, breasts((1, "B"), (4, "C")),
                            [finding(lcc, "x", (100, 100, 300, 300), ["Mass"], 4)])
    study.refresh_from_db()
    assert first.outcome == "submitted" and study.state == StudyState.READING

    second = save_and_submit(b, reader2, breasts((1, "B"), (4, "C")),
                             [finding(lcc, "y", (120, 110, 320, 310), ["Mass"], 4)])
    study.refresh_from_db()
    assert second.outcome == "submitted"
    assert study.state == StudyState.FINAL
    final = study.final_read
    assert final is not None and final.origin == ReadOrigin.CONSENSUS and final.assignment is None
    assert sorted(final.breasts.values_list("laterality", "birads", "density")) == [("L", 4, "C"), ("R", 1, "B")]
    (merged,) = final.findings.all()
    # Matched boxes merge to the mean of their coordinates.
    assert (merged.xmin, merged.ymin, merged.xmax, merged.ymax) == (110, 105, 310, 305)
    assert merged.categories == ["Mass"] and merged.birads == 4 and merged.image_id == lcc.pk
    assert not Assignment.objects.filter(study=study, kind=AssignmentKind.ARBITRATION).exists()
    assert AuditEvent.objects.filter(study=study, action="consensus_create", object_id=final.pk).exists()


def test_a_first_submit_waits_for_the_other_read(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    study.refresh_from_db()
    assert study.state == StudyState.READING and study.final_read is None
    assert not AuditEvent.objects.filter(study=study, action="compare").exists()


# --- the discordant path -------------------------------------------------------------------------

def test_discordant_reads_create_an_arbitration_for_a_senior_who_is_neither_reader(
        admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "C")))

    study.refresh_from_db()
    assert study.state == StudyState.ARBITRATION and study.final_read is None
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    assert arbitration.reader == senior
    assert arbitration.state == AssignmentState.ASSIGNED
    assert {(r["rule"], r["laterality"]) for r in arbitration.discordance_reasons} == {
        ("BIRADS_DIFFERENT", "R"), ("DENSITY_DIFFERENT", "L")}
    assert Read.objects.get(assignment=arbitration).origin == ReadOrigin.ARBITRATION
    compare = AuditEvent.objects.get(study=study, action="compare")
    assert compare.after["concordant"] is False


def test_the_arbiter_is_never_one_of_the_two_readers_even_when_they_are_senior(admin_user, reader1, senior) -> None:
    senior2 = user_create(username="senior2", password="x", roles=[ROLE_READER, ROLE_SENIOR], validate_password=False)
    study = exam_create()
    a, b = assign_pair(study, admin_user, senior, reader1)
    save_and_submit(a, senior, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader1, breasts((2, "B"), (1, "B")))
    assert Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION).reader == senior2


def test_without_an_eligible_senior_the_exam_waits_and_a_later_assign_gives_it_one(
        admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "B")))
    study.refresh_from_db()
    assert study.state == StudyState.ARBITRATION
    assert not Assignment.objects.filter(study=study, kind=AssignmentKind.ARBITRATION).exists()

    late = user_create(username="late-senior", password="x", roles=[ROLE_READER, ROLE_SENIOR], validate_password=False)
    result = exams_assign(actor=admin_user, project=study.project, readers=[reader1, reader2], seniors=[late])

    assert result.arbitrations_assigned == [study.pk]
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    assert arbitration.reader == late
    assert [r["rule"] for r in arbitration.discordance_reasons] == ["BIRADS_DIFFERENT"]


def test_a_late_arbiter_gets_the_discordance_reasons_from_the_domain_not_the_audit_trail(
        admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "C")))
    AuditEvent.objects.filter(study=study).delete()  # the trail is for people; nothing reads it back

    late = user_create(username="late-senior", password="x", roles=[ROLE_READER, ROLE_SENIOR], validate_password=False)
    exams_assign(actor=admin_user, project=study.project, readers=[reader1, reader2], seniors=[late])

    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    assert {(r["rule"], r["laterality"]) for r in arbitration.discordance_reasons} == {
        ("BIRADS_DIFFERENT", "R"), ("DENSITY_DIFFERENT", "L")}


def test_the_arbitration_read_becomes_the_final_read(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R", "CC")
    save_and_submit(a, reader1, breasts((4, "B"), (1, "B")), [finding(rcc, "a1", birads=4)])
    save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    adopted = Finding.objects.get(read__assignment=a)

    result = save_and_submit(arbitration, senior, breasts((4, "B"), (1, "B")),
                             [finding(rcc, "s1", (90, 90, 310, 310), birads=4, source_finding=adopted.pk)])

    study.refresh_from_db()
    assert result.outcome == "final"
    assert study.state == StudyState.FINAL
    assert study.final_read == Read.objects.get(assignment=arbitration)
    (final_finding,) = study.final_read.findings.all()
    assert final_finding.source_finding_id == adopted.pk
    assert AuditEvent.objects.filter(study=study, action="arbitrate").count() == 1


def test_only_the_arbiter_may_adopt_findings_and_only_from_the_reads_under_arbitration(
        admin_user, reader1, reader2) -> None:
    study, other = exam_create(), exam_create()
    a, _b = assign_pair(study, admin_user, reader1, reader2)
    o, _ = assign_pair(other, admin_user, reader1, reader2)
    save_and_submit(o, reader1, breasts((4, "B"), (1, "B")), [finding(image_of(other, "R"), birads=4)])
    foreign = Finding.objects.get(read__assignment=o)
    before = _snapshot(study)

    with pytest.raises(ApplicationError) as error:
        read_save(actor=reader1, assignment_id=a.pk, version=a.version, breasts=breasts((4, "B"), (1, "B")),
                  findings=[finding(image_of(study, "R"), source_finding=foreign.pk)])

    assert error.value.code == "invalid_source_finding"
    assert _snapshot(study) == before


# --- saving --------------------------------------------------------------------------------------

def test_saves_are_incremental_and_bump_the_version(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    lmlo = image_of(study, "L", "MLO")

    first = read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((None, None), (4, None)),
                      findings=[finding(lmlo, "k1")])
    assert first.assignment.version == 2 and first.assignment.state == AssignmentState.IN_PROGRESS
    assert {w.rule for w in first.warnings} == {"BREAST_BIRADS_REQUIRED", "BREAST_DENSITY_REQUIRED"}
    (stored,) = Finding.objects.filter(read__assignment=a)

    moved = finding(lmlo, "k1", (10, 20, 30, 40), id=stored.pk)
    added = finding(lmlo, "k2", (400, 400, 500, 500), ["Skin Thickening"], None)
    second = read_save(actor=reader1, assignment_id=a.pk, version=2, breasts=breasts((1, "A"), (4, "A")),
                       findings=[moved, added])
    assert second.assignment.version == 3
    boxes = sorted(Finding.objects.filter(read__assignment=a).values_list("id", "client_key", "xmin", "ymax"))
    assert boxes[0] == (stored.pk, "k1", 10, 40) and boxes[1][1:] == ("k2", 400, 500)

    k2 = boxes[1][0]
    read_save(actor=reader1, assignment_id=a.pk, version=3, breasts=breasts((1, "A"), (4, "A")),
              findings=[{**added, "id": k2}])
    assert list(Finding.objects.filter(read__assignment=a).values_list("id", "client_key")) == [(k2, "k2")]
    actions = list(AuditEvent.objects.filter(study=study).exclude(action__in=["assign", "study_state"]).values_list("action", flat=True))
    assert actions == ["breast_update", "finding_create", "read_start",
                       "breast_update", "breast_update", "finding_update", "finding_create",
                       "finding_delete"]


def test_a_stale_save_is_refused_with_the_current_read_and_nothing_is_lost(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((2, "C"), (2, "C")), findings=[])
    before = _snapshot(study)

    with pytest.raises(ConflictError) as error:
        read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((5, "D"), (5, "D")), findings=[])

    assert error.value.code == "stale_version"
    assert error.value.extra["current_version"] == 2
    assert error.value.extra["read"]["breasts"][0] == {"laterality": "R", "birads": 2, "density": "C"}
    assert _snapshot(study) == before


def test_a_save_with_a_finding_of_another_read_is_refused(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    read_save(actor=reader2, assignment_id=b.pk, version=1, breasts=breasts((4, "B"), (1, "B")),
              findings=[finding(rcc)])
    theirs = Finding.objects.get(read__assignment=b)
    before = _snapshot(study)

    with pytest.raises(ApplicationError) as error:
        read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts(),
                  findings=[finding(rcc, id=theirs.pk)])

    assert error.value.code == "unknown_finding"
    assert _snapshot(study) == before


def test_another_reader_cannot_save_into_my_read_and_an_admin_gets_not_assignee(
        admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    before = _snapshot(study)
    with pytest.raises(NotFoundError):
        read_save(actor=reader2, assignment_id=a.pk, version=1, breasts=breasts(), findings=[])
    with pytest.raises(NotFoundError):
        read_submit(actor=senior, assignment_id=a.pk, version=1)
    with pytest.raises(ForbiddenError) as admin_error:
        read_save(actor=admin_user, assignment_id=a.pk, version=1, breasts=breasts(), findings=[])
    assert admin_error.value.code == "not_assignee"
    assert _snapshot(study) == before


# --- forbidden transitions -----------------------------------------------------------------------

def test_submitting_a_never_saved_read_is_an_invalid_transition(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        read_submit(actor=reader1, assignment_id=a.pk, version=1)
    assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_a_submitted_read_can_be_neither_saved_nor_submitted_again(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    a.refresh_from_db()
    before = _snapshot(study)
    for attempt in (
        lambda: read_save(actor=reader1, assignment_id=a.pk, version=a.version, breasts=breasts(), findings=[]),
        lambda: read_submit(actor=reader1, assignment_id=a.pk, version=a.version),
    ):
        with pytest.raises(ConflictError) as error:
            attempt()
        assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_submit_with_a_stale_version_is_refused(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts(), findings=[])
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        read_submit(actor=reader1, assignment_id=a.pk, version=1)
    assert error.value.code == "stale_version"
    assert _snapshot(study) == before


def test_reopening_an_unsubmitted_read_is_an_invalid_transition(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        read_reopen(actor=admin_user, assignment_id=a.pk)
    assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_reassigning_a_started_assignment_is_an_invalid_transition(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts(), findings=[])
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        assignment_reassign(actor=admin_user, assignment_id=a.pk, reader=senior)
    assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_reopening_a_first_read_is_refused_once_the_arbiter_started(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    read_save(actor=senior, assignment_id=arbitration.pk, version=1, breasts=breasts(), findings=[])
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        read_reopen(actor=admin_user, assignment_id=a.pk)
    assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_reopening_a_first_read_of_an_arbitrated_exam_is_refused(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "B")))
    save_and_submit(Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION), senior, breasts())
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        read_reopen(actor=admin_user, assignment_id=a.pk)
    assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_an_arbitration_read_cannot_be_submitted_unless_the_exam_waits_for_arbitration(
        admin_user, reader1, reader2, senior) -> None:
    """Impossible through the API; a hand-made arbitration on a reading exam must still not finalise it."""
    study = exam_create()
    assign_pair(study, admin_user, reader1, reader2)
    stray = Assignment.objects.create(study=study, reader=senior, kind=AssignmentKind.ARBITRATION)
    Read.objects.create(study=study, assignment=stray, origin=ReadOrigin.ARBITRATION)
    read_save(actor=senior, assignment_id=stray.pk, version=1, breasts=breasts(), findings=[])
    before = _snapshot(study)
    with pytest.raises(ConflictError) as error:
        read_submit(actor=senior, assignment_id=stray.pk, version=2)
    assert error.value.code == "invalid_transition"
    assert _snapshot(study) == before


def test_the_transition_tables_list_every_allowed_move_and_nothing_else() -> None:
    allowed = {(a.value, s) for a, s in ASSIGNMENT_TRANSITIONS}
    assert allowed == {("save", "assigned"), ("save", "in_progress"), ("save", "reopened"),
                       ("submit", "in_progress"), ("submit", "reopened"), ("reopen", "submitted"),
                       ("reassign", "assigned")}
    assert (AssignmentAction.SUBMIT, "assigned") not in ASSIGNMENT_TRANSITIONS
    assert {(a.value, s, to) for (a, s), to in STUDY_TRANSITIONS.items()} == {
        ("ingest_done", "importing", "awaiting_review"), ("review_done", "awaiting_review", "ready"),
        ("release", "awaiting_review", "ready"), ("new_image", "ready", "awaiting_review"),
        ("assign", "ready", "reading"), ("compare_concordant", "reading", "final"),
        ("compare_discordant", "reading", "arbitration"), ("arbitrate", "arbitration", "final"),
        ("reopen_read", "reading", "reading"), ("reopen_read", "arbitration", "reading"),
        ("reopen_read", "final", "reading"), ("reopen_arbitration", "final", "arbitration"),
        ("import_final", "importing", "final"), ("import_final", "awaiting_review", "final"),
        ("import_final", "ready", "final")}


# --- reopen and reassign -------------------------------------------------------------------------

def test_reopening_a_concordant_read_undoes_the_consensus_and_a_resubmit_compares_again(
        admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    save_and_submit(b, reader2, breasts())
    study.refresh_from_db()
    consensus_id = study.final_read_id
    assert study.state == StudyState.FINAL

    read_reopen(actor=admin_user, assignment_id=a.pk, reason="wrong density")

    study.refresh_from_db()
    a.refresh_from_db()
    assert study.state == StudyState.READING and study.final_read is None
    assert not Read.objects.filter(pk=consensus_id).exists()
    assert a.state == AssignmentState.REOPENED and a.submitted_at is None
    reopen = AuditEvent.objects.get(study=study, action="reopen")
    assert reopen.actor == admin_user and reopen.after["reason"] == "wrong density"

    save_and_submit(a, reader1, breasts((1, "C"), (1, "B")))
    study.refresh_from_db()
    assert study.state == StudyState.ARBITRATION
    assert Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION).reader == senior


def test_reopening_a_read_withdraws_an_unstarted_arbitration(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "B")))
    read_reopen(actor=admin_user, assignment_id=b.pk)
    study.refresh_from_db()
    assert study.state == StudyState.READING
    assert not Assignment.objects.filter(study=study, kind=AssignmentKind.ARBITRATION).exists()
    assert AuditEvent.objects.filter(study=study, action="arbitration_withdraw").count() == 1


def test_reopening_the_arbitration_read_sends_the_exam_back_to_arbitration(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    save_and_submit(arbitration, senior, breasts())

    read_reopen(actor=admin_user, assignment_id=arbitration.pk)

    study.refresh_from_db()
    assert study.state == StudyState.ARBITRATION and study.final_read is None
    save_and_submit(arbitration, senior, breasts((2, "B"), (1, "B")))
    study.refresh_from_db()
    assert study.state == StudyState.FINAL and study.final_read.assignment_id == arbitration.pk


def test_only_admins_reopen(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    before = _snapshot(study)
    with pytest.raises(ForbiddenError):
        read_reopen(actor=reader1, assignment_id=a.pk)
    assert _snapshot(study) == before


def test_reassign_moves_an_unstarted_assignment_to_an_eligible_reader(admin_user, reader1, reader2, senior) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    assignment_reassign(actor=admin_user, assignment_id=a.pk, reader=senior)
    a.refresh_from_db()
    assert a.reader == senior
    event = AuditEvent.objects.get(study=study, action="reassign")
    assert event.before == {"reader": reader1.pk} and event.after == {"reader": senior.pk}


def test_reassign_never_gives_one_reader_both_reads(admin_user, reader1, reader2, outsider) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    before = _snapshot(study)
    for candidate in (reader2, outsider):
        with pytest.raises(ApplicationError) as error:
            assignment_reassign(actor=admin_user, assignment_id=a.pk, reader=candidate)
        assert error.value.code == "invalid_reader"
    assert _snapshot(study) == before


def test_an_arbitration_is_reassigned_only_to_another_senior(admin_user, reader1, reader2, senior) -> None:
    reader3 = user_create(username="reader3", password="x", roles=[ROLE_READER], validate_password=False)
    senior2 = user_create(username="senior2", password="x", roles=[ROLE_READER, ROLE_SENIOR], validate_password=False)
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    with pytest.raises(ApplicationError):
        assignment_reassign(actor=admin_user, assignment_id=arbitration.pk, reader=reader3)
    other = senior2 if arbitration.reader == senior else senior
    assignment_reassign(actor=admin_user, assignment_id=arbitration.pk, reader=other)
    arbitration.refresh_from_db()
    assert arbitration.reader == other


def test_configured_rules_make_small_differences_concordant(admin_user, reader1, reader2) -> None:
    project = ProjectFactory(settings={"discordance": {"birads": "recall", "density": "two_classes"}})
    study = exam_create(project=project)
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "A"), (4, "C")), [finding(image_of(study, "L"), birads=4)])
    save_and_submit(b, reader2, breasts((2, "B"), (5, "C")), [finding(image_of(study, "L"), "z", birads=4)])
    study.refresh_from_db()
    assert study.state == StudyState.FINAL
    # Relaxed rules keep the more cautious values.
    assert sorted(study.final_read.breasts.values_list("laterality", "birads", "density")) == [
        ("L", 5, "C"), ("R", 2, "B")]


def test_invalid_project_rules_are_reported_not_guessed(admin_user, reader1, reader2) -> None:
    project = ProjectFactory(settings={"discordance": {"birads": "sometimes"}})
    study = exam_create(project=project)
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    with pytest.raises(ApplicationError) as error:
        save_and_submit(b, reader2, breasts())
    assert error.value.code == "invalid_project_settings"
    b.refresh_from_db()
    assert b.state == AssignmentState.IN_PROGRESS
