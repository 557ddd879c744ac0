"""Active reading time per read (issue 12 item 8): sent by the read screen with saves and
submit, kept monotonic and bounded by the server, shown per reader in progress and per read in
the assignment lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.reading.models import Assignment, Read
from apps.reading.services import active_seconds_merge
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts

pytestmark = pytest.mark.django_db


def _age_read(assignment: Assignment, seconds: int) -> None:
    """As if the read was last written `seconds` ago (the reader has been reading since)."""
    Read.objects.filter(assignment=assignment).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_the_merge_keeps_the_larger_total_and_caps_growth_by_wall_time() -> None:
    now = timezone.now()
    ago = now - timedelta(seconds=100)
    assert active_seconds_merge(stored=50, sent=None, last_write=ago, now=now) == 50
    assert active_seconds_merge(stored=50, sent=120, last_write=ago, now=now) == 120
    assert active_seconds_merge(stored=50, sent=20, last_write=ago, now=now) == 50  # an older tab
    assert active_seconds_merge(stored=50, sent=10**6, last_write=ago, now=now) == 155  # 50 + 100 + slack


def test_saves_and_submit_record_active_time_shown_per_read_and_per_reader(
        admin_user, reader1, reader2, api_for) -> None:
    project = ProjectFactory(slug="timed")
    study = exam_create(project=project)
    mine, theirs = assign_pair(study, admin_user, reader1, reader2)
    client = api_for(reader1)
    detail = client.get(f"/api/assignments/{mine.pk}/").json()
    assert detail["active_seconds"] == 0 and detail["idle_after_seconds"] == 60

    _age_read(mine, 120)
    saved = client.put(f"/api/assignments/{mine.pk}/read/", {
        "version": 1, "breasts": breasts(), "findings": [], "active_seconds": 90}, format="json")
    assert saved.status_code == 200, saved.content
    mine.refresh_from_db()
    assert mine.active_seconds == 90
    # A stale tab reporting less does not lower it; a wild total is capped by the wall time.
    again = client.put(f"/api/assignments/{mine.pk}/read/", {
        "version": saved.json()["version"], "breasts": breasts((2, "B")), "findings": [], "active_seconds": 40},
        format="json")
    mine.refresh_from_db()
    assert mine.active_seconds == 90
    _age_read(mine, 30)
    submitted = client.post(f"/api/assignments/{mine.pk}/submit/",
                            {"version": again.json()["version"], "active_seconds": 10**6}, format="json")
    assert submitted.status_code == 200, submitted.content
    mine.refresh_from_db()
    assert 90 + 30 <= mine.active_seconds <= 90 + 30 + 7

    admin = api_for(admin_user)
    rows = admin.get("/api/projects/timed/assignments/?state=submitted").json()["results"]
    assert [(r["reader"]["username"], r["active_seconds"]) for r in rows] == [("reader1", mine.active_seconds)]
    progress = {r["username"]: r for r in admin.get("/api/projects/timed/progress/").json()["readers"]}
    assert progress["reader1"]["submitted_active_seconds"] == mine.active_seconds
    assert progress["reader1"]["mean_active_seconds"] == mine.active_seconds
    assert progress["reader2"]["active_seconds"] == 0 and progress["reader2"]["mean_active_seconds"] is None
    # A reader never sees another reader's time: their own detail only.
    assert api_for(reader2).get(f"/api/assignments/{mine.pk}/").status_code == 404
    assert api_for(reader2).get(f"/api/assignments/{theirs.pk}/").json()["active_seconds"] == 0


def test_the_idle_threshold_is_a_project_setting_and_a_bad_value_is_a_clear_error(
        admin_user, reader1, reader2, api_for) -> None:
    project = ProjectFactory(slug="idle", settings={"reading_idle_seconds": 30})
    mine, _ = assign_pair(exam_create(project=project), admin_user, reader1, reader2)
    assert api_for(reader1).get(f"/api/assignments/{mine.pk}/").json()["idle_after_seconds"] == 30
    project.settings = {"reading_idle_seconds": "soon"}
    project.save()
    response = api_for(reader1).get(f"/api/assignments/{mine.pk}/")
    assert response.status_code == 400 and response.json()["code"] == "invalid_project_settings"
    assert "reading_idle_seconds" in response.json()["message"]


def test_a_negative_or_non_integer_active_time_is_400(admin_user, reader1, reader2, api_for) -> None:
    mine, _ = assign_pair(exam_create(), admin_user, reader1, reader2)
    for bad in (-1, "a while"):
        response = api_for(reader1).put(f"/api/assignments/{mine.pk}/read/", {
            "version": 1, "breasts": breasts(), "findings": [], "active_seconds": bad}, format="json")
        assert response.status_code == 400 and "active_seconds" in str(response.json())
    mine.refresh_from_db()
    assert mine.version == 1 and mine.active_seconds == 0
