"""`manage.py import_dicom PATH... --project SLUG [--manifest CSV] [--keep-ids]`.

Exit status: 0 when every file was imported or was already there (duplicate); 1 when at least one
file was rejected (scripts notice, the rest of the batch is still imported); 2 when the batch did
not finish within --wait seconds (a worker is down?).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import ApplicationError
from apps.studies import selectors, services
from apps.studies.models import ImportBatchState, ImportItemStatus


class Command(BaseCommand):
    help = "Import DICOM files, folders (recursively) and .zip archives into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--project", required=True, help="project slug (created if missing)")
        parser.add_argument("--manifest", help="CSV with columns file,exam grouping files into exams")
        parser.add_argument("--keep-ids", action="store_true",
                            help="source is already de-identified: keep its UIDs as ids")
        parser.add_argument("--wait", type=float, default=3600.0,
                            help="seconds to wait for workers to finish the batch")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = (services.manifest_parse(text=Path(options["manifest"]).read_text(encoding="utf-8-sig"))
                        if options["manifest"] else None)
            project = services.project_get_or_create(actor=None, slug=options["project"])
            batch = services.batch_create(actor=None, project=project,
                                          sources=services.sources_from_paths(options["paths"]),
                                          manifest=manifest, keep_ids=options["keep_ids"], source="cli")
        except (ApplicationError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        batch = selectors.batch_wait(batch_id=batch.pk, timeout_s=options["wait"])
        counts: dict[str, int] = {}
        for item in batch.items.order_by("pk"):
            counts[item.status] = counts.get(item.status, 0) + 1
            self.stdout.write(f"{item.status:9} {item.reason or item.filename}")
        summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ImportItemStatus.values)
        self.stdout.write(f"batch {batch.pk} ({project.slug}): {summary}")
        if batch.state != ImportBatchState.DONE:
            self.stderr.write("the batch did not finish in time; check the workers")
            sys.exit(2)
        if counts.get(ImportItemStatus.REJECTED):
            sys.exit(1)
