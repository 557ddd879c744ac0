"""The studies endpoints cost a number of queries that does not grow with projects, exams, images
or import items (same method as tests/reading/test_query_counts.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.studies.models import ImageState, ImportBatch, ImportItem, ImportItemStatus
from tests.factories import ImageFactory, ProjectFactory, exam_create

pytestmark = pytest.mark.django_db


def _count(call: Callable[[], Any]) -> int:
    call()  # warm-up: the role lookup is cached on the force-authenticated user object
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def _rendered_exam(project):  # type: ignore[no-untyped-def]
    study = exam_create(project=project)
    study.images.update(state=ImageState.RENDERED)
    return study


def test_project_list_and_review_list_cost_the_same_for_more_projects_and_images(admin_user, api_for) -> None:
    client = api_for(admin_user)
    urls = ["/api/projects/", "/api/review/images/", "/api/review/images/?project=p0"]
    project = ProjectFactory(slug="p0")
    _rendered_exam(project)
    few = [_count(lambda url=url: client.get(url)) for url in urls]
    for i in range(1, 6):
        other = ProjectFactory(slug=f"p{i}")
        for _ in range(3):
            _rendered_exam(other)
            _rendered_exam(project)
    many = [_count(lambda url=url: client.get(url)) for url in urls]
    assert few == many


def test_a_batch_page_costs_the_same_for_more_items(admin_user, api_for) -> None:
    client = api_for(admin_user)
    counts = []
    for n in (1, 12):
        project = ProjectFactory()
        batch = ImportBatch.objects.create(project=project)
        study = exam_create(project=project)
        images = list(study.images.all())
        for i in range(n):
            image = images[i] if i < len(images) else ImageFactory(series=study.series.get(), view_position="XCCL")
            ImportItem.objects.create(batch=batch, filename=f"f{i}.dcm", status=ImportItemStatus.IMPORTED, image=image)
        counts.append(_count(lambda pk=batch.pk: client.get(f"/api/imports/{pk}/")))
    assert counts[0] == counts[1]


def test_an_image_file_costs_the_same_on_a_bigger_exam(admin_user, reader1, reader2, api_for) -> None:
    from apps.common.storage import storage_save_bytes
    from tests.reading.helpers import assign_pair

    counts = []
    for extra in (0, 8):
        study = exam_create(project=ProjectFactory())
        for _ in range(extra):
            ImageFactory(series=study.series.get(), view_position="XCCL")
        assign_pair(study, admin_user, reader1, reader2)
        image = study.images.get(laterality="R", view_position="CC")
        image.display_file = storage_save_bytes(name=f"q/{image.pk}.png", content=b"\x89PNG\r\n\x1a\n")
        image.save(update_fields=["display_file"])
        counts.append(_count(lambda pk=image.pk: api_for(reader1).get(f"/api/images/{pk}/file/display/")))
    assert counts[0] == counts[1] <= 3


def _four_views(tmp_path):  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    from tests.studies.conftest import as_mammogram, pydicom_file

    source = pydicom_file("MR_small.dcm")
    return [as_mammogram(source, tmp_path / f"{side}{view}.dcm", laterality=side, view=view,
                         SOPInstanceUID=generate_uid(entropy_srcs=[side, view]))
            for side, view in (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))]


def test_a_file_in_the_middle_of_a_batch_writes_neither_the_batch_nor_an_unchanged_exam(
        tmp_path, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from apps.studies import services
    from apps.studies.models import ImportBatchState, Study

    project = services.project_get_or_create(actor=None, slug="per-file")
    with django_capture_on_commit_callbacks(execute=False):  # staged, not yet ingested
        batch = services.batch_create(actor=None, project=project,
                                      sources=services.sources_from_paths(_four_views(tmp_path)))
    items = list(batch.items.order_by("pk").values_list("pk", flat=True))
    counts, writes = [], []
    for item_id in items:
        with CaptureQueriesContext(connection) as ctx:
            services.file_ingest(item_id=item_id)
        counts.append(len(ctx.captured_queries))
        writes.append(sorted({q["sql"].split('"')[1] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")}))
    assert ImportItem.objects.filter(batch=batch, status=ImportItemStatus.IMPORTED).count() == 4
    batch.refresh_from_db()
    assert batch.state == ImportBatchState.DONE
    assert Study.objects.get(project=project).has_standard_views
    # The second and third views: the item's own row only (the batch is running, the exam unchanged).
    assert writes[1] == writes[2] == ["studies_importitem"]
    assert counts[1] == counts[2]


def test_the_duplicate_check_of_an_ingest_is_a_unique_key_lookup_even_on_unanalysed_tables() -> None:
    """PostgreSQL without statistics (a fresh table, autovacuum not yet run or off) planned the
    per-file duplicate check on the single-column project index, reading every image of the
    project: an import then grows quadratically in the project's size."""
    from apps.studies.models import Image

    project = ProjectFactory()
    exam_create(project=project)
    query = Image.objects.filter(project=project, image_id="0" * 32)
    plan = query.explain()
    if connection.vendor == "postgresql":
        assert "image_unique_per_project" in plan, plan
    else:  # SQLite names the unique constraint's index itself; it searches on both columns
        assert "USING INDEX" in plan and "(project_id=? AND image_id=?)" in plan, plan
