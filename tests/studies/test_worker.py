"""End to end through a REAL Celery worker process on the same PostgreSQL database and Redis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from apps.studies import services
from apps.studies.models import Image, ImageState, ImportBatch, ImportBatchState, Project, StudyState
from tests.studies.conftest import cbis_cases, cbis_manifest
from tests.worker import celery_worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("any_storage")
def test_a_real_worker_ingests_and_renders_an_exam_from_the_queue(tmp_path: Path) -> None:
    with celery_worker(tmp_path=tmp_path, name="ingest-e2e", task_pattern="studies.*") as worker:
        project = Project.objects.create(slug="e2e", name="e2e")
        paths = list(cbis_cases()[0].values())
        batch = services.batch_create(actor=None, project=project, sources=services.sources_from_paths(paths),
                                      manifest=cbis_manifest())
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            batch.refresh_from_db()
            if batch.state == ImportBatchState.DONE or not worker.alive():
                break
            time.sleep(0.5)
        assert worker.alive(), worker.log_tail()
        assert batch.state == ImportBatchState.DONE, worker.log_tail()
        images = list(Image.objects.filter(project=project))
        assert len(images) == 4
        assert {i.state for i in images} == {ImageState.RENDERED}
        for image in images:
            assert default_storage.exists(image.display_file)
            assert default_storage.exists(image.full_depth_file)
        study = images[0].study
        assert study.state == StudyState.AWAITING_REVIEW and study.has_standard_views
        assert ImportBatch.objects.get().items.filter(status="imported").count() == 4
        assert "studies.file_ingest" in worker.log_tail(10**7)
