"""End to end through a REAL Celery worker process on the same PostgreSQL database and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from apps.studies import services
from apps.studies.models import Image, ImageState, ImportBatch, ImportBatchState, Project, StudyState
from tests.studies.conftest import cbis_cases, cbis_manifest

REPO = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/"
            f"{db['NAME']}")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_ingests_and_renders_an_exam_from_the_queue(tmp_path: Path) -> None:
    from config.celery import app

    queue = f"ingest-e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CELERY_TASK_ALWAYS_EAGER": "false",
           "DEID_SECRET": settings.DEID_SECRET, "DJANGO_SETTINGS_MODULE": "config.settings"}
    celery = Path(sys.executable).parent / "celery"
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(celery), "-A", "config", "worker", "--pool=solo", "-Q", queue, "-n", f"{queue}@%h",
         "--without-gossip", "--without-mingle", "-l", "info"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.task_routes = {"studies.*": {"queue": queue}}
    try:
        project = Project.objects.create(slug="e2e", name="e2e")
        paths = list(cbis_cases()[0].values())
        batch = services.batch_create(actor=None, project=project, sources=services.sources_from_paths(paths),
                                      manifest=cbis_manifest())
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            batch.refresh_from_db()
            if batch.state == ImportBatchState.DONE or worker.poll() is not None:
                break
            time.sleep(0.5)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        assert batch.state == ImportBatchState.DONE, (tmp_path / "worker.log").read_text()[-3000:]
        images = list(Image.objects.filter(project=project))
        assert len(images) == 4
        assert {i.state for i in images} == {ImageState.RENDERED}
        for image in images:
            assert (Path(settings.MEDIA_ROOT) / image.display_file).is_file()
            assert (Path(settings.MEDIA_ROOT) / image.full_depth_file).is_file()
        study = images[0].study
        assert study.state == StudyState.AWAITING_REVIEW and study.has_standard_views
        assert ImportBatch.objects.get().items.filter(status="imported").count() == 4
        assert "studies.file_ingest" in (tmp_path / "worker.log").read_text()
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        app.conf.task_routes = None
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        log.close()
