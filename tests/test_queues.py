"""Celery routing: ingest, render and export each have a queue of their own and workers for it."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from tests.worker import _routes_reset

REPO = Path(__file__).resolve().parents[1]


def _routed_queue(name: str) -> tuple[str, int | None]:
    from config.celery import app

    _routes_reset(app)
    options = app.amqp.router.route({}, name, (), {})
    return options["queue"].name, options.get("priority")


def test_ingest_render_and_export_go_to_separate_queues() -> None:
    assert _routed_queue("studies.file_ingest")[0] == "ingest"
    assert _routed_queue("studies.image_render")[0] == "render"
    assert _routed_queue("apps.datasets.tasks.export_run")[0] == "export"


def test_the_sweep_waits_behind_the_files_of_an_import() -> None:
    (queue, sweep), (_, item) = _routed_queue("studies.ingest_sweep"), _routed_queue("studies.file_ingest")
    assert queue == "ingest" and sweep is not None and item is not None and sweep > item  # Redis: lower first


def test_every_task_of_ours_has_a_route() -> None:
    from config.celery import app

    app.loader.import_default_modules()
    ours = sorted(name for name, task in app.tasks.items() if task.__module__.startswith("apps."))
    assert ours, "no tasks discovered"
    assert [name for name in ours if name not in settings.CELERY_TASK_ROUTES] == []


def test_a_worker_without_queue_options_consumes_every_queue() -> None:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= {queue.name for queue in settings.CELERY_TASK_QUEUES}


def test_docker_compose_runs_a_worker_for_every_queue() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    consumed = {queue for match in re.findall(r'"-Q", "([^"]+)"', compose) for queue in match.split(",")}
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} <= consumed
    assert len(re.findall(r'"-Q", "', compose)) >= 3  # ingest, render and export apart
