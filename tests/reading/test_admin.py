"""The Django admin pages of the reading app: bulk assignment and read-only workflow data."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.reading.models import Assignment, AssignmentState
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, save_and_submit

pytestmark = pytest.mark.django_db


def _login(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_assigns_exams_in_bulk_from_the_admin(admin_user, reader1, reader2, senior) -> None:
    project = ProjectFactory(slug="adm")
    studies = [exam_create(project=project) for _ in range(2)]
    client = _login(admin_user)
    assert client.get("/admin/reading/assignment/assign/").status_code == 200

    response = client.post("/admin/reading/assignment/assign/", {
        "project": "adm", "readers": [reader1.pk, reader2.pk], "seniors": [senior.pk]})

    assert response.status_code == 302
    assert Assignment.objects.filter(study__in=studies).count() == 4
    assert client.get("/admin/reading/assignment/").status_code == 200
    assert client.get("/admin/reading/auditevent/").status_code == 200


def test_the_admin_reopen_action_goes_through_the_workflow(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    _login(admin_user).post("/admin/reading/assignment/", {"action": "reopen_selected", "_selected_action": [a.pk]})
    a.refresh_from_db()
    assert a.state == AssignmentState.REOPENED


def test_readers_cannot_use_the_reading_admin(reader1) -> None:
    reader1.is_staff = True
    reader1.save()
    client = _login(reader1)
    assert client.get("/admin/reading/assignment/assign/").status_code == 403
    assert client.get("/admin/reading/assignment/").status_code == 403
