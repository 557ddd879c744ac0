"""`manage.py import_dicom PATH... --project SLUG [--manifest CSV] [--group-by patient-id-prefix |
--group-regex PATTERN] [--keep-ids]`.

Exit status: 0 when every file was imported or was already there (duplicate); 1 when at least one
file was rejected (scripts notice, the rest of the batch is still imported); 2 when the batch did
not finish within --wait seconds (a worker is down?).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import ApplicationError
from apps.studies import selectors, services
from apps.studies.models import ImportBatchState, ImportItemStatus

# Loggers that speak once per file when tasks run in this process (Celery eager): the command
# prints its own per-file line, so theirs is noise here (a worker keeps its own logging). kombu
# warns "No hostname was supplied" when the eager app builds a connection it never uses.
QUIET_LOGGERS = {"celery.app.trace": logging.WARNING, "kombu": logging.ERROR,
                 "apps.studies.services": logging.ERROR}


class Command(BaseCommand):
    help = "Import DICOM files, folders (recursively) and .zip archives into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--project", required=True, help="project slug (created if missing)")
        parser.add_argument("--manifest", help="CSV with columns file,exam grouping files into exams")
        parser.add_argument("--group-by", choices=[services.GROUP_BY_STUDY, services.GROUP_BY_PATIENT_ID_PREFIX],
                            default=services.GROUP_BY_STUDY,
                            help="how files the manifest does not name form exams: by StudyInstanceUID "
                                 "(default) or by PatientID without its laterality/view suffix "
                                 "(CBIS-DDSM: Mass-Test_P_00173_LEFT_CC -> Mass-Test_P_00173)")
        parser.add_argument("--group-regex", default="",
                            help="group by this regex on PatientID (its first group, or the whole match)")
        parser.add_argument("--keep-ids", action="store_true",
                            help="source is already de-identified: keep its UIDs as ids")
        parser.add_argument("--wait", type=float, default=3600.0,
                            help="seconds to wait for workers to finish the batch")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            for name, level in QUIET_LOGGERS.items():
                logging.getLogger(name).setLevel(level)
        try:
            manifest = (services.manifest_read(data=Path(options["manifest"]).read_bytes())
                        if options["manifest"] else None)
            rule = services.group_rule_parse(
                group_by="" if options["group_regex"] else options["group_by"], group_regex=options["group_regex"])
            project = services.project_get_or_create(actor=None, slug=options["project"])
            batch = services.batch_create(actor=None, project=project,
                                          sources=services.sources_from_paths(options["paths"]),
                                          manifest=manifest, keep_ids=options["keep_ids"], source="cli",
                                          group_rule=rule)
        except (ApplicationError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        batch = selectors.batch_wait(batch_id=batch.pk, timeout_s=options["wait"])
        for item in batch.items.order_by("pk"):
            self.stdout.write(f"{item.status:9} {item.reason or item.filename}")
        summary = services.batch_summary(batch=batch)
        self.stdout.write(f"batch {batch.pk} ({project.slug}): {summary.line()}")
        if batch.state != ImportBatchState.DONE:
            self.stderr.write("the batch did not finish in time; check the workers")
            sys.exit(2)
        if summary.counts.get(ImportItemStatus.REJECTED):
            sys.exit(1)
