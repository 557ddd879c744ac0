"""`manage.py dicom_listener [--host H] [--port N] [--ae-title T]`: the DICOM Storage and
Query/Retrieve (C-FIND, C-GET) SCP.

Everything else (allowed calling AE titles and their projects, size limits) comes from settings
(DICOM_*, docs/dicom.md); the options override the listen address and the called AE title.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.studies.listener import ListenerConfig, StorageListener


class Command(BaseCommand):
    help = ("Receive DICOM instances (C-STORE, C-ECHO) from the calling AE titles of DICOM_CALLING_AES "
            "and answer their C-FIND and C-GET on their project.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", help="address to listen on (default DICOM_LISTEN_HOST, 127.0.0.1)")
        parser.add_argument("--port", type=int, help="port (default DICOM_LISTEN_PORT, 11112)")
        parser.add_argument("--ae-title", help="called AE title answered (default DICOM_AE_TITLE)")

    def handle(self, *args: Any, **options: Any) -> None:
        config = ListenerConfig.from_settings(host=options["host"], port=options["port"],
                                              ae_title=options["ae_title"])
        try:
            listener = StorageListener(config=config)
        except ValueError as error:
            raise CommandError(str(error)) from None
        allowed = ", ".join(f"{ae} -> {slug}" for ae, slug in config.calling_aes.items())
        self.stdout.write(f"listening as {config.ae_title} on {config.host}:{config.port}; "
                          f"calling AE titles: {allowed}")
        try:
            listener.start(block=True)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
