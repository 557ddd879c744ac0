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
        if exc.code not in (services.ExportErrorCode.ALREADY_RUNNING, services.ExportErrorCode.NOT_RUNNABLE):
            raise
        logger.info("Export %s: %s; this delivery ends here.", export_id, exc.message)


@shared_task(name="datasets.exports_sweep")
def exports_sweep() -> dict[str, list[int]]:
    """Periodic (CELERY_BEAT_SCHEDULE): re-queue or fail exports whose worker died. Not run at worker
    start: a worker restarted at once finds its export's heartbeat still within the lease."""
    result = services.exports_sweep()
    return {"requeued": result.requeued, "failed": result.failed}

