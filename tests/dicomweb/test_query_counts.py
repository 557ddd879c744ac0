"""Query counts of DICOMweb: constant in the number of studies, series and instances, so a PACS
or OHIF listing a 5,000-exam project costs the same round trips as listing two exams."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.studies.models import Image
from tests.dicomweb.conftest import Exams
from tests.factories import ProjectFactory, exam_create


def _count(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return len(ctx.captured_queries)


def test_qido_searches_cost_the_same_for_one_exam_or_six(admin_user, api_for) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory()
    client = api_for(admin_user)
    first = exam_create(project=project)
    urls = ["/dicomweb/studies", "/dicomweb/series", "/dicomweb/instances",
            f"/dicomweb/studies/{first.study_uid}/series", f"/dicomweb/studies/{first.study_uid}/instances",
            "/dicomweb/studies?PatientID=*&includefield=all"]
    _count(client, urls[0])  # the first request of a session warms per-process caches
    few = [_count(client, url) for url in urls]
    for _ in range(5):
        exam_create(project=project)
    many = [_count(client, url) for url in urls]
    assert many == few


def test_metadata_of_a_four_view_study_costs_what_one_instance_costs(exams: Exams, admin_user,  # type: ignore[no-untyped-def]
                                                                      api_for) -> None:
    client = api_for(admin_user)
    images = Image.objects.filter(study=exams.first).select_related("series").order_by("pk")
    image = images[0]
    study_url = f"/dicomweb/studies/{exams.first.study_uid}/metadata"
    instance_url = (f"/dicomweb/studies/{exams.first.study_uid}/series/{image.series.series_uid}"
                    f"/instances/{image.sop_uid}/metadata")
    _count(client, study_url)  # metadata headers are cached on first read; count the steady state
    _count(client, instance_url)
    assert images.count() == 4
    assert _count(client, study_url) == _count(client, instance_url)
