"""Thin Celery wrappers: take ids, call the service of the same name."""

from __future__ import annotations

from celery import shared_task

from apps.datasets import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_run(export_id: int) -> None:
    # Idempotent: a finished export returns at once; a run cut short by a lost worker starts over.
    services.export_run(export_id=export_id)
