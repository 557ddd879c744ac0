"""DICOM network ingest: a pynetdicom Storage SCP that files received instances into import
batches (one batch per association, enqueued when the association closes).

Modalities and PACS push here with C-STORE; everything after reception is the ordinary ingest
(`batch_add` stages the instance, `batch_submit` enqueues `file_ingest`). Item names are
`dicom:<calling AE>#<n>`: original UIDs are never stored.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import close_old_connections, connection
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.transport import ThreadedAssociationServer

from apps.studies import services
from apps.studies.models import ImportBatch, Project

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700


class StorageListener:
    """Start with `start(block=...)`; `stop()` shuts the server down."""

    def __init__(self, *, project: Project, ae_title: str, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
        self.project, self.ae_title, self.port, self.host = project, ae_title, port, host
        self._batches: dict[int, tuple[ImportBatch, int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None

    def _ae(self) -> AE:
        ae = AE(ae_title=self.ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.maximum_pdu_size = 0  # no limit: mammograms are tens of MB
        return ae

    def _handle_store(self, event: Any) -> int:
        close_old_connections()
        key = id(event.assoc)
        try:
            with self._lock:
                batch, count = self._batches.get(key, (None, 0))
                if batch is None:
                    batch = services.batch_open(actor=None, project=self.project, source="dicom")
                self._batches[key] = (batch, count + 1)
            data = bytes(event.encoded_dataset())
            calling = str(event.assoc.requestor.ae_title).strip() or "unknown"
            services.batch_add(batch=batch, source=services.Source(
                name=f"dicom:{calling}#{count + 1}", size=len(data), read=lambda: data))
        except Exception:
            logger.exception("C-STORE could not be staged")
            return STATUS_OUT_OF_RESOURCES
        return STATUS_SUCCESS

    def _handle_close(self, event: Any) -> None:
        with self._lock:
            batch, _ = self._batches.pop(id(event.assoc), (None, 0))
        try:
            if batch is not None:
                services.batch_submit(batch=batch)
        finally:
            # Each association runs in its own thread with its own connection.
            connection.close()

    def start(self, *, block: bool) -> ThreadedAssociationServer | None:
        handlers: list[Any] = [(evt.EVT_C_STORE, self._handle_store), (evt.EVT_RELEASED, self._handle_close),
                    (evt.EVT_ABORTED, self._handle_close)]
        result = self._ae().start_server((self.host, self.port), block=block, evt_handlers=handlers)
        self._server = result
        return result

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
