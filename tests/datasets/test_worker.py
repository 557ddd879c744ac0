"""An export created through the API runs in a REAL Celery worker and reports progress until done."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from apps.datasets import vindr_csv
from apps.datasets.models import Export, ExportStatus
from tests.datasets.factories import final_exam_create
from tests.factories import ProjectFactory
from tests.worker import celery_worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("any_storage")
def test_a_real_worker_runs_an_export_created_through_the_api(tmp_path: Path, admin_user, api_for) -> None:  # type: ignore[no-untyped-def]
    with celery_worker(tmp_path=tmp_path, name="export-e2e", task_pattern="apps.datasets.tasks.*") as worker:
        project = ProjectFactory(slug="worker-export")
        final_exam_create(project=project, right=(4, "C"), findings=[("RCC", ["Mass"], 4, (1.5, 2.0, 30.0, 40.0))])
        final_exam_create(project=project)
        client = api_for(admin_user)
        created = client.post("/api/projects/worker-export/exports/", {"test_fraction": 0.5}, format="json")
        assert created.status_code == 202
        export_id = created.json()["id"]
        seen_progress = set()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and worker.alive():
            detail = client.get(f"/api/exports/{export_id}/").json()
            seen_progress.add(detail["progress"])
            if detail["status"] in (ExportStatus.DONE, ExportStatus.FAILED):
                break
            time.sleep(0.2)
        export = Export.objects.get(pk=export_id)
        assert export.status == ExportStatus.DONE, worker.log_tail()
        assert 100 in seen_progress
        response = client.get(f"/api/exports/{export_id}/files/{vindr_csv.BREAST_FILE}")
        assert b"".join(response.streaming_content).count(b"\n") == 9  # header + 8 images
