"""A whole worker killed mid-export: the export is recovered within the lease plus one sweep, not
the broker's visibility timeout (issue 9, item 12)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from apps.datasets import services
from apps.datasets.models import Export, ExportStatus
from tests.datasets.factories import final_exam_create
from tests.factories import ProjectFactory
from tests.worker import celery_worker

LEASE_S = 3


@pytest.fixture
def short_lease(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """A lease of seconds, here and in the workers this test starts (their settings come from env)."""
    settings.EXPORT_LEASE_S, settings.EXPORT_HEARTBEAT_S = LEASE_S, 1
    monkeypatch.setenv("EXPORT_LEASE_S", str(LEASE_S))
    monkeypatch.setenv("EXPORT_HEARTBEAT_S", "1")


def _wait_for(condition, *, timeout_s: float = 120, what: str = ""):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def _row_lock(table: str, pk: int):  # type: ignore[no-untyped-def]
    """Another session holding a row lock: the export's split write waits on it, so the worker is
    killed at a known point of its run (after it claimed the export, before it finished)."""
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(dbname=db["NAME"], user=db.get("USER") or "postgres", password=db.get("PASSWORD") or None,
                            host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432)
    with conn.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE', [pk])  # noqa: S608 (fixed table name)
    return conn


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_was_killed_is_finished_by_another_worker(tmp_path: Path, admin_user,  # type: ignore[no-untyped-def]
                                                                          api_for, short_lease) -> None:
    project = ProjectFactory(slug="killed-export")
    studies = [final_exam_create(project=project) for _ in range(4)]
    client = api_for(admin_user)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    lock = _row_lock("studies_study", studies[0].pk)
    try:
        with celery_worker(tmp_path=tmp_path / "a", name="export-killed", task_pattern="apps.datasets.tasks.*") as a:
            export_id = client.post("/api/projects/killed-export/exports/", {"test_fraction": 0.5},
                                    format="json").json()["id"]
            _wait_for(lambda: Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING,
                                                    stage="splitting").exists(), what="the run to start")
            a.process.kill()  # SIGKILL: the whole worker, with its heartbeat thread, no clean-up
            a.process.wait(timeout=30)
    finally:
        lock.rollback()
        lock.close()
    killed = Export.objects.get(pk=export_id)
    assert (killed.status, killed.attempts) == (ExportStatus.RUNNING, 1)
    # A live-looking run is left alone until its lease runs out.
    assert services.exports_sweep().requeued == []

    with celery_worker(tmp_path=tmp_path / "b", name="export-rescue", task_pattern="apps.datasets.tasks.*") as b:
        requeued = _wait_for(lambda: services.exports_sweep().requeued, what="the lease to run out")
        assert requeued == [export_id]
        done = _wait_for(lambda: Export.objects.filter(pk=export_id, status__in=[ExportStatus.DONE,
                                                                                 ExportStatus.FAILED]).first(),
                         what="the second run")
        assert done.status == ExportStatus.DONE, b.log_tail()
    assert done.attempts == 2 and done.progress == 100
    response = client.get(f"/api/exports/{export_id}/files/manifest.json")
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_live_run_keeps_its_heartbeat_through_a_slow_stage_and_is_not_swept(short_lease) -> None:
    project = ProjectFactory(slug="slow-export")
    final_exam_create(project=project)
    final_exam_create(project=project)
    export = services.export_create(user=None, project=project, test_fraction=0.5, enqueue=False)
    seen: dict[str, object] = {}

    def slow_stage(progress: int, stage: str) -> None:
        if stage != "statistics" or seen:
            return
        before = Export.objects.values_list("heartbeat_at", flat=True).get(pk=export.pk)
        # Longer than the lease with no progress step: only the heartbeat thread can keep it fresh.
        seen["beat"] = _wait_for(lambda: Export.objects.filter(pk=export.pk, heartbeat_at__gt=before).exists(),
                                 timeout_s=30, what="a heartbeat")
        time.sleep(LEASE_S + 1)
        seen["sweep"] = services.exports_sweep()

    services.export_run(export_id=export.pk, on_progress=slow_stage)
    finished = Export.objects.get(pk=export.pk)

    assert finished.status == ExportStatus.DONE and finished.attempts == 1
    assert seen["beat"] is True
    assert seen["sweep"] == services.ExportSweepResult(requeued=[], failed=[])
    assert connection.connection is not None  # the heartbeat thread closed only its own connection


@pytest.mark.django_db(transaction=True)
def test_a_lost_export_is_queued_again_and_runs_to_the_end(short_lease, django_capture_on_commit_callbacks) -> None:
    project = ProjectFactory(slug="lost-export")
    final_exam_create(project=project)
    final_exam_create(project=project)
    export = services.export_create(user=None, project=project, test_fraction=0.5, enqueue=False)
    stale = timezone.now() - timedelta(seconds=LEASE_S + 1)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, attempts=1, stage="statistics",
                                               started_at=stale, heartbeat_at=stale)

    result = services.exports_sweep()  # eager Celery: the re-queued job runs here, on commit

    assert result == services.ExportSweepResult(requeued=[export.pk], failed=[])
    export.refresh_from_db()
    assert (export.status, export.attempts, export.progress) == (ExportStatus.DONE, 2, 100)
    assert services.exports_sweep() == services.ExportSweepResult(requeued=[], failed=[])


@pytest.mark.django_db
def test_an_export_lost_too_often_fails_with_the_reason_and_keeps_no_file(short_lease) -> None:
    project = ProjectFactory(slug="doomed-export")
    export = services.export_create(user=None, project=project, enqueue=False)
    stale = timezone.now() - timedelta(seconds=LEASE_S + 1)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, attempts=settings.EXPORT_MAX_ATTEMPTS,
                                               started_at=stale, heartbeat_at=stale)
    partial = default_storage.save(f"{export.storage_prefix}breast-level_annotations.csv", ContentFile(b"a,b\n"))
    fresh = services.export_create(user=None, project=project, enqueue=False)
    Export.objects.filter(pk=fresh.pk).update(status=ExportStatus.RUNNING, attempts=1, started_at=timezone.now(),
                                              heartbeat_at=timezone.now())

    result = services.exports_sweep()

    assert result == services.ExportSweepResult(requeued=[], failed=[export.pk])
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and f"lost {settings.EXPORT_MAX_ATTEMPTS} times" in export.error
    assert not default_storage.exists(partial)
    assert Export.objects.get(pk=fresh.pk).status == ExportStatus.RUNNING


def test_beat_runs_the_export_sweep_often_enough_to_beat_the_visibility_timeout() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["exports-sweep"]
    assert entry["task"] == "datasets.exports_sweep"
    bound = settings.EXPORT_LEASE_S + entry["schedule"]
    assert bound < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.EXPORT_HEARTBEAT_S * 3 <= settings.EXPORT_LEASE_S
