"""Priors on the read screen (issue 12 item 6): a reader of an exam sees the same patient's
earlier exams in the project, their images always, their read only once final, and never a
reader's name; nobody else gets anything of them."""

from __future__ import annotations

import datetime

import pytest

from apps.common.errors import NotFoundError
from apps.reading import selectors
from apps.reading.models import Assignment
from apps.reading.services import read_save
from apps.studies.models import Image, StudyState
from apps.studies.selectors import image_get_for_file
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

pytestmark = pytest.mark.django_db

KEY = "a" * 32


def _current_and_prior(admin_user, reader1, reader2, senior, *, prior_final: bool):  # type: ignore[no-untyped-def]
    """The current exam assigned to reader1 and reader2; a prior two years earlier, double read
    by reader2 and senior1: submitted alike (final), or only saved by reader2 (still in reading)."""
    project = ProjectFactory(slug="screening")
    prior = exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2018, 3, 1))
    current = exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2020, 3, 1))
    p2, p3 = assign_pair(prior, admin_user, reader2, senior)
    box = [finding(image_of(prior, "L"), birads=4)]
    if prior_final:
        save_and_submit(p2, reader2, breasts((1, "B"), (4, "B")), box)
        save_and_submit(p3, senior, breasts((1, "B"), (4, "B")), box)
    else:
        read_save(actor=reader2, assignment_id=p2.pk, version=p2.version, breasts=breasts((1, "B"), (5, "B")),
                  findings=[finding(image_of(prior, "L"), birads=5)])
    a1, _ = assign_pair(current, admin_user, reader1, reader2)
    prior.refresh_from_db()
    return current, prior, a1


def test_the_reader_gets_the_prior_images_and_its_final_read_without_names(
        admin_user, reader1, reader2, senior) -> None:  # type: ignore[no-untyped-def]
    _, prior, a1 = _current_and_prior(admin_user, reader1, reader2, senior, prior_final=True)
    assert prior.state == StudyState.FINAL

    payload = selectors.priors_payload(selectors.priors_for(user=reader1, assignment_id=a1.pk))

    assert len(payload) == 1
    (p,) = payload
    assert p["study"]["study_id"] == prior.study_id and p["days_before"] == 731 and p["read_final"] is True
    assert [(i["laterality"], i["view_position"]) for i in p["images"]] == [("R", "CC"), ("R", "MLO"),
                                                                             ("L", "CC"), ("L", "MLO")]
    assert {b["laterality"]: b["birads"] for b in p["read"]["breasts"]} == {"R": 1, "L": 4}
    assert [f["categories"] for f in p["read"]["findings"]] == [["Mass"]]
    # Nothing that leads back to the readers' own findings.
    assert set(p["read"]["findings"][0]) == {"image", "laterality", "xmin", "ymin", "xmax", "ymax", "categories",
                                             "birads"}
    assert set(p) == {"study", "days_before", "read_final", "read", "images"}
    assert "reader2" not in str(payload) and "senior1" not in str(payload)


def test_a_prior_still_being_read_shows_its_images_and_nothing_of_its_reads(
        admin_user, reader1, reader2, senior) -> None:  # type: ignore[no-untyped-def]
    _, prior, a1 = _current_and_prior(admin_user, reader1, reader2, senior, prior_final=False)
    assert prior.state == StudyState.READING

    (p,) = selectors.priors_payload(selectors.priors_for(user=reader1, assignment_id=a1.pk))

    assert p["read_final"] is False and p["read"] is None and len(p["images"]) == 4
    assert "'birads': 5" not in str(p) and "reader2" not in str(p)


def test_only_earlier_reviewed_exams_of_the_same_patient_and_project_are_priors(
        admin_user, reader1, reader2) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="screening")
    current = exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2020, 3, 1))
    older = exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2017, 3, 1))
    newer = exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2018, 3, 1))
    exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2021, 3, 1))  # later
    exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2020, 3, 1))  # same day
    exam_create(project=project, patient_key=KEY, exam_date=datetime.date(2016, 3, 1),
                state=StudyState.AWAITING_REVIEW)  # not past the de-identification review
    exam_create(project=project, patient_key="b" * 32, exam_date=datetime.date(2016, 3, 1))  # another patient
    exam_create(project=ProjectFactory(slug="other"), patient_key=KEY, exam_date=datetime.date(2016, 3, 1))
    a1, _ = assign_pair(current, admin_user, reader1, reader2)

    priors = selectors.priors_for(user=reader1, assignment_id=a1.pk)

    assert [p.study.pk for p in priors] == [newer.pk, older.pk]  # most recent first
    assert [p.days_before for p in priors] == [731, 1096]


def test_another_reader_gets_nothing_of_the_priors_and_the_reader_only_their_renders(
        admin_user, reader1, reader2, senior, outsider) -> None:  # type: ignore[no-untyped-def]
    from apps.accounts.roles import ROLE_READER
    from apps.accounts.services import user_create

    _, prior, a1 = _current_and_prior(admin_user, reader1, reader2, senior, prior_final=True)
    reader3 = user_create(username="reader3", password="pw-reader3", roles=[ROLE_READER], validate_password=False)
    prior_image = Image.objects.filter(study=prior).first()
    assert prior_image is not None

    with pytest.raises(NotFoundError):
        selectors.priors_for(user=reader3, assignment_id=a1.pk)
    # The reader of the current exam may load the prior's renders, not its DICOM; others nothing.
    for kind in ("display", "thumbnail", "depth", "full"):
        assert image_get_for_file(user=reader1, image_pk=prior_image.pk, kind=kind) == prior_image
    with pytest.raises(NotFoundError):
        image_get_for_file(user=reader1, image_pk=prior_image.pk, kind="dicom")
    for user in (reader3, outsider):
        with pytest.raises(NotFoundError):
            image_get_for_file(user=user, image_pk=prior_image.pk, kind="display")
    # A prior is not a window onto later exams: reading the prior gives nothing of the current.
    current_image = Image.objects.filter(study=a1.study).first()
    assert current_image is not None
    Assignment.objects.filter(study=a1.study, reader=reader2).delete()
    with pytest.raises(NotFoundError):
        image_get_for_file(user=reader2, image_pk=current_image.pk, kind="display")
    assert image_get_for_file(user=reader2, image_pk=prior_image.pk, kind="display") == prior_image


def test_the_priors_endpoint_answers_the_reader_and_hides_the_exam_from_others(
        admin_user, reader1, reader2, senior, api_for) -> None:  # type: ignore[no-untyped-def]
    _, prior, a1 = _current_and_prior(admin_user, reader1, reader2, senior, prior_final=True)

    response = api_for(reader1).get(f"/api/assignments/{a1.pk}/priors/")
    other = api_for(senior).get(f"/api/assignments/{a1.pk}/priors/")

    assert response.status_code == 200, response.content[:300]
    (p,) = response.json()
    assert p["study"]["id"] == prior.pk and p["read_final"] is True
    assert p["images"][0]["urls"]["display"].startswith(f"/api/images/{p['images'][0]['id']}/")
    assert other.status_code == 404


def test_the_priors_cost_five_queries_whatever_their_number(admin_user, reader1, reader2, senior) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    current, prior, a1 = _current_and_prior(admin_user, reader1, reader2, senior, prior_final=True)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            payload = selectors.priors_payload(selectors.priors_for(user=reader1, assignment_id=a1.pk))
        return len(ctx.captured_queries), len(payload)

    one = count()
    for year in (2014, 2015, 2016):  # more priors, one of them final too
        older = exam_create(project=current.project, patient_key=KEY, exam_date=datetime.date(year, 1, 1))
        if year == 2016:
            x, y = assign_pair(older, admin_user, reader2, senior)
            save_and_submit(x, reader2, breasts())
            save_and_submit(y, senior, breasts())
    assert one == (5, 1) and count() == (5, 4)
