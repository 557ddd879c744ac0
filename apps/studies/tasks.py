"""Thin Celery wrappers. They take ids, are idempotent and acknowledged late: a worker that dies
mid-job leaves the message on the broker and the re-delivered run finishes the job once.

`file_ingest` retries failures of the infrastructure (database, storage) and, when the retries
are spent, gives the item up; past INGEST_TASK_SOFT_TIME_LIMIT_S Celery raises
SoftTimeLimitExceeded inside it, which services.file_ingest turns into a rejection (rejected, original deleted) so that no batch waits forever; bad
input never raises here (services.file_ingest rejects it). `ingest_sweep` cleans up after a
process that died: it runs when a worker starts and periodically (CELERY_BEAT_SCHEDULE).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import OperationalError

from apps.studies import services

logger = logging.getLogger(__name__)
RETRYABLE = (OperationalError, OSError, ConnectionError)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5,
             soft_time_limit=settings.INGEST_TASK_SOFT_TIME_LIMIT_S, name="studies.file_ingest")
def file_ingest(self, item_id: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return services.file_ingest(item_id=item_id).status
    except services.RETRYABLE_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            logger.warning("giving up ingest item %s after %d retries: %s", item_id, self.request.retries, exc)
            return services.file_ingest_abandon(
                item_id=item_id, reason=f"ingest failed {self.request.retries + 1} times "
                                        f"({type(exc).__name__}); import the file again").status
        raise self.retry(exc=exc, countdown=min(300, 2 ** self.request.retries)) from exc


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=5, name="studies.image_render")
def image_render(self, image_id: int) -> str:  # type: ignore[no-untyped-def]
    return services.image_render(image_id=image_id).state


@shared_task(name="studies.ingest_sweep")
def ingest_sweep() -> dict[str, int]:
    result = services.ingest_sweep()
    return {"items_abandoned": result.items_abandoned, "staged_deleted": result.staged_deleted,
            "batches_finished": result.batches_finished}


@worker_ready.connect
def _sweep_on_worker_start(sender: Any = None, **_: Any) -> None:
    """On-start cleanup: whatever a dead process left behind is swept once a worker is up."""
    try:
        services.ingest_sweep()
    except Exception:  # a sweep that fails must not stop the worker; the periodic one retries
        logger.exception("ingest sweep at worker start failed")
