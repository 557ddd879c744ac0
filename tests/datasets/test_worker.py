"""An export created through the API runs in a REAL Celery worker and reports progress until done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from apps.datasets import vindr_csv
from apps.datasets.models import Export, ExportStatus
from tests.datasets.factories import final_exam_create
from tests.factories import ProjectFactory

REPO = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_an_export_created_through_the_api(tmp_path: Path, admin_user, api_for) -> None:  # type: ignore[no-untyped-def]
    from config.celery import app

    queue = f"export-e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CELERY_TASK_ALWAYS_EAGER": "false",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    previous_eager, previous_routes = app.conf.task_always_eager, app.conf.task_routes
    app.conf.task_always_eager = False
    app.conf.task_routes = {"apps.datasets.tasks.*": {"queue": queue}}
    try:
        project = ProjectFactory(slug="worker-export")
        final_exam_create(project=project, right=(4, "C"), findings=[("RCC", ["Mass"], 4, (1.5, 2.0, 30.0, 40.0))])
        final_exam_create(project=project)
        client = api_for(admin_user)
        created = client.post("/api/projects/worker-export/exports/", {"test_fraction": 0.5}, format="json")
        assert created.status_code == 202
        export_id = created.json()["id"]
        seen_progress = set()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and worker.poll() is None:
            detail = client.get(f"/api/exports/{export_id}/").json()
            seen_progress.add(detail["progress"])
            if detail["status"] in (ExportStatus.DONE, ExportStatus.FAILED):
                break
            time.sleep(0.2)
        export = Export.objects.get(pk=export_id)
        assert export.status == ExportStatus.DONE, (tmp_path / "worker.log").read_text()[-3000:]
        assert 100 in seen_progress
        response = client.get(f"/api/exports/{export_id}/files/{vindr_csv.BREAST_FILE}")
        assert b"".join(response.streaming_content).count(b"\n") == 9  # header + 8 images
    finally:
        app.conf.task_always_eager, app.conf.task_routes = previous_eager, previous_routes
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
