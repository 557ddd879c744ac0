"""manage.py export_dataset --project SLUG --out DIR [--test-fraction 0.2] [--seed N] [--images none|dicom|png]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import ApplicationError
from apps.datasets import selectors, services
from apps.datasets.models import ImagesMode
from apps.studies.selectors import project_get_for


class Command(BaseCommand):
    help = "Export a project's final reads as a VinDr-Mammo style dataset (CSVs, split, statistics)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
        parser.add_argument("--test-fraction", type=float, default=services.DEFAULT_TEST_FRACTION)
        parser.add_argument("--seed", type=int, default=services.DEFAULT_SEED)
        parser.add_argument("--images", choices=ImagesMode.values, default=ImagesMode.NONE)
        parser.add_argument("--strict-release", action="store_true",
                            help="refuse values the published VinDr-Mammo release never has (breast BI-RADS 0)")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            # The manifest checksums every file in the folder: leftovers would pass for export files.
            raise CommandError(f"--out {out} must be a new or empty folder")
        try:
            project = project_get_for(None, options["project"], system=True, message=selectors.EXPORTS_ADMIN_ONLY)
            export = services.export_create(user=None, project=project, test_fraction=options["test_fraction"],
                                            seed=options["seed"], images=options["images"],
                                            strict_release=options["strict_release"], enqueue=False)
            export = services.export_run(
                export_id=export.pk, out_dir=options["out"],
                on_progress=lambda value, stage: self.stdout.write(f"{value:3d}% {stage}"))
        except services.ExportFailedError as exc:
            raise CommandError(f"{exc.message}. Nothing was kept: {out} holds no file of this export.") from exc
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        counts = export.manifest["counts"]
        self.stdout.write(self.style.SUCCESS(
            f"Export {export.pk}: {counts['exams']['total']} exams ({counts['exams']['training']} training, "
            f"{counts['exams']['test']} test), {counts['images']} images, {counts['finding_boxes']} boxes "
            f"-> {options['out']} (LF line endings, UTF-8, no BOM)"))
        unpublished = export.manifest["not_in_published_release"]["breast_birads_0"]
        if unpublished:
            self.stdout.write(self.style.WARNING(
                f"{len(unpublished)} exams hold a breast BI-RADS 0, which the published release never has; "
                f"readers written for the release may reject them (use --strict-release to refuse): "
                f"{', '.join(unpublished[:10])}{' ...' if len(unpublished) > 10 else ''}"))
