"""Length measurements are part of the read (issue 12 item 4): saved with the read, length in mm
computed on the server from the image's spacing, audited, shown to the arbiter."""

from __future__ import annotations

import math

import pytest

from apps.reading.measurements import ImageGeometry, length_mm, measurements_normalize
from apps.reading.models import Assignment, AssignmentKind, AuditEvent, Read
from tests.factories import exam_create
from tests.reading.helpers import assign_pair, breasts, image_of, save_and_submit

pytestmark = pytest.mark.django_db


def line(image, key: str = "m1", a=(100.0, 200.0), b=(400.0, 600.0)) -> dict:  # type: ignore[no-untyped-def]
    return {"key": key, "image": image.pk, "x1": a[0], "y1": a[1], "x2": b[0], "y2": b[1]}


def test_length_uses_row_spacing_for_y_and_column_spacing_for_x() -> None:
    assert length_mm(x1=0, y1=0, x2=10, y2=0, spacing=(0.2, 0.1)) == pytest.approx(1.0)
    assert length_mm(x1=0, y1=0, x2=0, y2=10, spacing=(0.2, 0.1)) == pytest.approx(2.0)
    assert length_mm(x1=0, y1=0, x2=30, y2=40, spacing=(0.1, 0.1)) == pytest.approx(5.0)
    assert length_mm(x1=0, y1=0, x2=30, y2=40, spacing=None) is None


def test_normalize_rejects_points_outside_the_image_and_unknown_images() -> None:
    images = {1: ImageGeometry(columns=100, rows=50, spacing=(0.1, 0.1), spacing_source="ImagerPixelSpacing")}
    stored, problems = measurements_normalize([
        {"key": "ok", "image": 1, "x1": 0, "y1": 0, "x2": 100, "y2": 50},
        {"key": "out", "image": 1, "x1": 0, "y1": 0, "x2": 101, "y2": 10},
        {"key": "dot", "image": 1, "x1": 5, "y1": 5, "x2": 5, "y2": 5},
        {"key": "other", "image": 2, "x1": 0, "y1": 0, "x2": 1, "y2": 1},
    ], images)
    assert [m["key"] for m in stored] == ["ok"]
    assert stored[0]["length_mm"] == pytest.approx(round(math.hypot(10, 5), 2))
    assert stored[0]["spacing_source"] == "ImagerPixelSpacing"
    assert set(problems) == {"out", "dot", "other"}


def test_a_measurement_is_saved_with_its_length_in_mm_and_audited(admin_user, reader1, reader2, api_for) -> None:
    study = exam_create()
    mine, _ = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    rcc.pixel_spacing_row, rcc.pixel_spacing_col, rcc.pixel_spacing_source = 0.1, 0.05, "ImagerPixelSpacing"
    rcc.save()
    client = api_for(reader1)
    response = client.put(f"/api/assignments/{mine.pk}/read/", {
        "version": 1, "breasts": breasts(), "findings": [], "measurements": [line(rcc)]}, format="json")
    assert response.status_code == 200, response.content
    (m,) = response.json()["read"]["measurements"]
    expected = round(math.hypot(300 * 0.05, 400 * 0.1), 2)
    assert m == {"key": "m1", "image": rcc.pk, "x1": 100.0, "y1": 200.0, "x2": 400.0, "y2": 600.0,
                 "length_mm": expected, "spacing_source": "ImagerPixelSpacing"}
    event = AuditEvent.objects.get(action="measurements_update")
    assert event.actor == reader1 and event.before == [] and event.after[0]["length_mm"] == expected

    # The exam payload carries it, and a save without `measurements` leaves it in place.
    detail = client.get(f"/api/assignments/{mine.pk}/").json()
    assert detail["read"]["measurements"] == [m]
    image = next(i for i in detail["images"] if i["id"] == rcc.pk)
    assert image["pixel_spacing_source"] == "ImagerPixelSpacing"
    again = client.put(f"/api/assignments/{mine.pk}/read/", {
        "version": response.json()["version"], "breasts": breasts((2, "B")), "findings": []}, format="json")
    assert again.json()["read"]["measurements"] == [m]
    assert AuditEvent.objects.filter(action="measurements_update").count() == 1

    # Deleting: an empty list clears it, audited with what was there.
    cleared = client.put(f"/api/assignments/{mine.pk}/read/", {
        "version": again.json()["version"], "breasts": breasts((2, "B")), "findings": [], "measurements": []},
        format="json")
    assert cleared.json()["read"]["measurements"] == []
    assert AuditEvent.objects.filter(action="measurements_update").latest("id").before == [m]


def test_a_measurement_outside_the_image_or_of_another_exam_is_400_and_nothing_is_saved(
        admin_user, reader1, reader2, api_for) -> None:
    study, other = exam_create(), exam_create()
    mine, _ = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    client = api_for(reader1)
    for bad in (line(rcc, b=(rcc.columns + 5, 10)), line(image_of(other, "R"))):
        response = client.put(f"/api/assignments/{mine.pk}/read/", {
            "version": 1, "breasts": breasts((2, "B")), "findings": [], "measurements": [bad]}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid_measurement"
        assert "m1" in response.json()["extra"]["measurements"]
    mine.refresh_from_db()
    assert mine.version == 1 and Read.objects.get(assignment=mine).measurements == []
    assert not AuditEvent.objects.filter(action__in=["measurements_update", "breast_update"]).exists()


def test_the_arbiter_sees_the_readers_measurements(admin_user, reader1, reader2, senior, api_for) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    a.refresh_from_db()
    client = api_for(reader1)
    saved = client.put(f"/api/assignments/{a.pk}/read/", {
        "version": a.version, "breasts": breasts((4, "B"), (1, "B")), "findings": [],
        "measurements": [line(rcc, "a-len")]}, format="json")
    assert saved.status_code == 200, saved.content
    client.post(f"/api/assignments/{a.pk}/submit/", {"version": saved.json()["version"]}, format="json")
    save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    body = api_for(senior).get(f"/api/assignments/{arbitration.pk}/").json()
    assert [m["key"] for m in body["read_a"]["measurements"]] == ["a-len"]
    assert body["read_a"]["measurements"][0]["length_mm"] is None  # the factory's images have no spacing
    assert body["read_b"]["measurements"] == []
