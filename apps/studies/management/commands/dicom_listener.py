"""`manage.py dicom_listener --project SLUG --port N --ae-title T [--host H]`: a DICOM Storage
SCP; every association becomes one import batch (see apps/studies/listener.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.studies import services
from apps.studies.listener import StorageListener


class Command(BaseCommand):
    help = "Receive DICOM instances (C-STORE) into import batches of a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug (created if missing)")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--ae-title", default="MAMMOLAB")
        parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104

    def handle(self, *args: Any, **options: Any) -> None:
        project = services.project_get_or_create(actor=None, slug=options["project"])
        listener = StorageListener(project=project, ae_title=options["ae_title"], port=options["port"],
                                   host=options["host"])
        self.stdout.write(f"listening as {options['ae_title']} on {options['host']}:{options['port']} "
                          f"for project {project.slug}")
        try:
            listener.start(block=True)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
