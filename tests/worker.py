"""Start a REAL Celery worker process on the test database and broker, for end-to-end tests.

Each test gets its own queue, so a stray worker (another test run on the same Redis) can never
steal its tasks, and Celery's cached routing table is flushed on the way in and out: Celery
caches `task_routes` on first send, so without the flush a second worker test in the same
session would publish to the first test's (or the default) queue and wait forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.storage import worker_storage_env

REPO = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _routes_reset(app) -> None:  # type: ignore[no-untyped-def]
    # Both the routing table and the Router built from it are cached by Celery.
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)


@dataclass
class RunningWorker:
    process: subprocess.Popen  # type: ignore[type-arg]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text()[-chars:]


@contextmanager
def celery_worker(*, tmp_path: Path, name: str, task_pattern: str) -> Iterator[RunningWorker]:
    """Run a solo-pool worker consuming a fresh queue to which `task_pattern` tasks are routed."""
    from config.celery import app

    queue = f"{name}-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), **worker_storage_env(settings),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CELERY_TASK_ALWAYS_EAGER": "false",
           "DEID_SECRET": settings.DEID_SECRET, "DJANGO_SETTINGS_MODULE": "config.settings"}
    log_path = tmp_path / "worker.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    previous_eager, previous_routes = app.conf.task_always_eager, app.conf.task_routes
    app.conf.task_always_eager = False
    app.conf.task_routes = {task_pattern: {"queue": queue}}
    _routes_reset(app)
    try:
        yield RunningWorker(process=process, log_path=log_path)
    finally:
        app.conf.task_always_eager, app.conf.task_routes = previous_eager, previous_routes
        _routes_reset(app)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
