"""manage.py import_annotations --project SLUG --breast breast-level_annotations.csv --findings finding_annotations.csv"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import ApplicationError
from apps.datasets import selectors, services
from apps.studies.selectors import project_get_for


class Command(BaseCommand):
    help = "Load VinDr-Mammo annotation CSVs as final reads; all or nothing, with a line-numbered report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--breast", required=True, type=Path, help="breast-level_annotations.csv")
        parser.add_argument("--findings", required=True, type=Path, help="finding_annotations.csv")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("breast", "findings"):
            if not options[name].is_file():
                raise CommandError(f"--{name}: {options[name]} is not a file")
        try:
            project = project_get_for(None, options["project"], system=True, message=selectors.EXPORTS_ADMIN_ONLY)
            result = services.annotations_import_files(user=None, project=project, breast_path=options["breast"],
                                                       finding_path=options["findings"])
        except ApplicationError as exc:
            for error in exc.extra.get("errors", []):
                self.stderr.write(f"{error['file']}:{error['line']}: {error['message']}")
            shown = len(exc.extra.get("errors", []))
            if exc.extra.get("error_count", 0) > shown:
                self.stderr.write(f"... and {exc.extra['error_count'] - shown} more")
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Imported {result.exams} exams, {result.images} images, {result.findings} findings as final reads."))
