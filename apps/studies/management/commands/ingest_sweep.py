"""`manage.py ingest_sweep [--stale-after S] [--grace S]`: clean up after a process that died
mid-ingest (services.ingest_sweep). Workers run it at start and periodically; run it by hand
(or from cron) where no worker runs, e.g. on the embedded default after a crashed import."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.studies import services


class Command(BaseCommand):
    help = "Give up stale pending import items, delete orphaned staged originals, finish idle batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale-after", type=int, default=None,
                            help="seconds after which a pending item is given up (INGEST_STALE_AFTER_S)")
        parser.add_argument("--grace", type=int, default=None,
                            help="seconds a staged file may exist without an item (INGEST_STAGING_GRACE_S)")

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.ingest_sweep(stale_after_s=options["stale_after"], grace_s=options["grace"])
        self.stdout.write(f"{result.items_abandoned} stale item(s) given up, {result.staged_deleted} orphaned "
                          f"staged file(s) deleted ({result.staged_bytes_deleted} bytes), "
                          f"{result.batches_finished} batch(es) finished")
