"""`manage.py assign_exams`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.reading.models import Assignment, AuditEvent
from apps.studies.models import StudyState
from tests.factories import ProjectFactory, exam_create

pytestmark = pytest.mark.django_db


def test_assign_exams_gives_each_ready_exam_two_readers_and_sets_the_arbiters(
        admin_user, reader1, reader2, senior) -> None:
    project = ProjectFactory(slug="cli")
    studies = [exam_create(project=project) for _ in range(4)]
    out = StringIO()

    call_command("assign_exams", "--project", "cli", "--readers", "reader1, reader2", "--seniors", "senior1",
                 stdout=out)

    assert "Assigned 4 exams (8 assignments)" in out.getvalue()
    for study in studies:
        study.refresh_from_db()
        assert study.state == StudyState.READING
        assert set(Assignment.objects.filter(study=study).values_list("reader__username", flat=True)) == {
            "reader1", "reader2"}
    project.refresh_from_db()
    assert project.settings["arbiters"] == [senior.pk]
    assert set(AuditEvent.objects.filter(action="assign").values_list("actor__username", flat=True)) == {"admin"}


def test_assign_exams_respects_the_limit_oldest_exams_first(admin_user, reader1, reader2) -> None:
    project = ProjectFactory(slug="cli")
    studies = [exam_create(project=project) for _ in range(3)]
    exam_create(project=project, state=StudyState.AWAITING_REVIEW)
    out = StringIO()
    call_command("assign_exams", "--project", "cli", "--readers", "reader1,reader2", "--limit", "2", stdout=out)
    assert set(Assignment.objects.values_list("study_id", flat=True)) == {studies[0].pk, studies[1].pk}
    assert "Assigned 2 exams (4 assignments)" in out.getvalue()


@pytest.mark.parametrize(("args", "message"), [
    (["--project", "nope", "--readers", "reader1,reader2"], "No project"),
    (["--project", "cli", "--readers", "reader1,ghost"], "Unknown users: ghost"),
    (["--project", "cli", "--readers", "reader1"], "not_enough_readers"),
    (["--project", "cli", "--readers", "reader1,outsider"], "invalid_reader"),
])
def test_assign_exams_fails_loudly_on_bad_input(admin_user, reader1, reader2, outsider, args, message) -> None:
    exam_create(project=ProjectFactory(slug="cli"))
    with pytest.raises(CommandError, match=message):
        call_command("assign_exams", *args, stdout=StringIO())
    assert not Assignment.objects.exists()


def test_assign_exams_that_assigns_nothing_says_why(admin_user, reader1, reader2) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="waiting")
    for _ in range(3):
        exam_create(project=project, state=StudyState.AWAITING_REVIEW)
    exam_create(project=project, state=StudyState.AWAITING_REVIEW, has_standard_views=False)
    out = StringIO()

    call_command("assign_exams", "--project", "waiting", "--readers", "reader1,reader2", stdout=out)

    text = out.getvalue()
    assert "Assigned 0 exams (0 assignments), 0 arbitrations." in text
    assert "Not assignable yet: 4 exams: 3 awaiting review, 1 lacking views, 0 importing." in text
    assert "review_exams --project waiting --approve all" in text
    assert not Assignment.objects.exists()
