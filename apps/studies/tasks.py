"""Thin Celery wrappers. Both take ids, are idempotent and acknowledged late: a worker that dies
mid-job leaves the message on the broker and the re-delivered run finishes the job once."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.studies import services

RETRYABLE = (OperationalError, OSError, ConnectionError)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=5, name="studies.file_ingest")
def file_ingest(self, item_id: int) -> str:  # type: ignore[no-untyped-def]
    return services.file_ingest(item_id=item_id).status


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=5, name="studies.image_render")
def image_render(self, image_id: int) -> str:  # type: ignore[no-untyped-def]
    return services.image_render(image_id=image_id).state
