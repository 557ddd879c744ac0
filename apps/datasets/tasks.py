"""Thin Celery wrappers: take ids, call the service of the same name."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.datasets import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_run(export_id: int) -> None:
    # Idempotent: a finished export returns at once; a run cut short by a lost worker starts over
    # once its lease ran out. A failure is recorded on the export (status, reason) and logged by the
    # service, so the job ends there instead of being retried or surfacing as a 500 in eager mode.
    try:
        services.export_run(export_id=export_id)
    except services.ExportFailedError:
        return
    except services.ApplicationError as exc:
        if exc.code != services.ExportErrorCode.ALREADY_RUNNING:
            raise
        logger.info("Export %s: a live run already holds it; this delivery ends here.", export_id)
