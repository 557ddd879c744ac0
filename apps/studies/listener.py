"""DICOM network node: a pynetdicom Storage SCP (C-STORE in, C-ECHO answered) and Query/Retrieve
SCP (C-FIND and C-GET, Study Root and Patient Root, over the query module of QIDO-RS:
apps/dicomweb/dimse.py).

Configuration comes from settings (docs/dicom.md): the address and port it listens on
(`DICOM_LISTEN_HOST`, default loopback), the called AE title it answers to (`DICOM_AE_TITLE`;
an association addressed to any other title is rejected), the calling AE titles allowed to send,
each mapped to the project its instances go to (`DICOM_CALLING_AES`; any other calling title is
rejected at association), and size limits per instance and per association.

Each received instance goes through the ordinary ingest of uploads: `services.batch_create` with
one source stages it and enqueues `file_ingest` (in-process when Celery is eager, else on a
worker); the C-STORE answer waits for that outcome, so a modality learns of a rejection with its
reason (ErrorComment) and a rejected file leaves nothing behind but its rejected import item.
One instance = one import batch: a batch is finished as soon as it has no pending item, and a
C-STORE must be answered before the next one arrives. Item names are `dicom:<calling AE>#<n>`:
original UIDs are never stored.

A C-FIND or C-GET from an allowed calling AE title sees the de-identified exams of that title's project
and nothing else; AE titles are configuration, not authentication, so the listener stays on
loopback or a closed network (docs/dicom.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pydicom
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from apps.dicomweb import dimse
from apps.studies import selectors, services
from apps.studies.models import ImportItemStatus, Project

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_PENDING = 0xFF00
STATUS_CANCEL = 0xFE00
STATUS_OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources (PS3.4 Annex GG.4)
STATUS_CANNOT_UNDERSTAND = 0xC000  # Error: Cannot understand (the ingest rejected the file)
ERROR_COMMENT_MAX = 64  # ErrorComment is LO


@dataclass(frozen=True)
class ListenerConfig:
    host: str
    port: int
    ae_title: str
    calling_aes: Mapping[str, str]  # calling AE title -> project slug
    max_instance_bytes: int
    max_association_bytes: int
    wait_s: float

    @classmethod
    def from_settings(cls, **overrides: Any) -> ListenerConfig:
        values: dict[str, Any] = {
            "host": settings.DICOM_LISTEN_HOST, "port": settings.DICOM_LISTEN_PORT,
            "ae_title": settings.DICOM_AE_TITLE, "calling_aes": dict(settings.DICOM_CALLING_AES),
            "max_instance_bytes": settings.DICOM_MAX_INSTANCE_BYTES,
            "max_association_bytes": settings.DICOM_MAX_ASSOCIATION_BYTES,
            "wait_s": settings.DICOM_INGEST_WAIT_S}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _status(code: int, comment: str = "") -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:ERROR_COMMENT_MAX]
    return ds


class StorageListener:
    """Start with `start(block=...)`; `stop()` shuts the server down."""

    def __init__(self, *, config: ListenerConfig) -> None:
        if not config.calling_aes:
            raise ValueError("DICOM_CALLING_AES is empty: no calling AE title may send; set it to "
                             '{"<calling AE>": "<project slug>"}')
        self.config = config
        self._projects: dict[str, Project] = {
            ae.strip(): services.project_get_or_create(actor=None, slug=slug)
            for ae, slug in config.calling_aes.items()}
        self._received: dict[int, tuple[int, int]] = {}  # association -> (instances, bytes)
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None

    def _ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                # Both roles: a C-GET requestor proposes to be the storage SCP of its sub-operations.
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=True,
                                         scp_role=True)
        ae.add_supported_context(Verification)  # C-ECHO: pynetdicom answers success by default
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        ae.add_supported_context(PatientRootQueryRetrieveInformationModelGet)
        # Reject at association (A-ASSOCIATE-RJ, "called/calling AE title not recognised").
        ae.require_called_aet = True
        ae.require_calling_aet = list(self._projects)
        ae.maximum_pdu_size = 0  # no PDU limit: mammograms are tens of MB (the size limits are below)
        return ae

    def _handle_store(self, event: Any) -> Dataset:
        close_old_connections()
        key = id(event.assoc)
        calling = str(event.assoc.requestor.ae_title).strip()
        project = self._projects.get(calling)
        if project is None:  # require_calling_aet stops these first; never store without a project
            return _status(STATUS_OUT_OF_RESOURCES, f"calling AE {calling} is not allowed")
        data = bytes(event.encoded_dataset())
        with self._lock:
            count, total = self._received.get(key, (0, 0))
            count, total = count + 1, total + len(data)
            self._received[key] = (count, total)
        name = f"dicom:{calling}#{count}"
        if len(data) > self.config.max_instance_bytes:
            return _status(STATUS_OUT_OF_RESOURCES,
                           f"instance {len(data)} B > limit {self.config.max_instance_bytes} B")
        if total > self.config.max_association_bytes:
            return _status(STATUS_OUT_OF_RESOURCES,
                           f"association over limit {self.config.max_association_bytes} B")
        try:
            batch = services.batch_create(actor=None, project=project, source="dicom", sources=[
                services.Source(name=name, size=len(data), read=lambda: data)])
            batch = selectors.batch_wait(batch_id=batch.pk, timeout_s=self.config.wait_s, poll_s=0.1)
            item = batch.items.get()
        except Exception:
            logger.exception("C-STORE %s could not be ingested", name)
            return _status(STATUS_OUT_OF_RESOURCES, "could not be ingested now; retry later")
        if item.status in (ImportItemStatus.IMPORTED, ImportItemStatus.DUPLICATE):
            return _status(STATUS_SUCCESS)
        if item.status == ImportItemStatus.REJECTED:
            # The reason starts with the item name; the modality knows which instance it sent.
            reason = item.reason.removeprefix(f"{name}: ")
            logger.info("C-STORE %s rejected: %s", name, reason)
            return _status(STATUS_CANNOT_UNDERSTAND, reason)
        return _status(STATUS_OUT_OF_RESOURCES, f"ingest still running after {self.config.wait_s:g} s")

    def _handle_find(self, event: Any) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        close_old_connections()
        calling = str(event.assoc.requestor.ae_title).strip()
        project = self._projects.get(calling)
        if project is None:  # require_calling_aet stops these first; never answer without a scope
            yield _status(STATUS_OUT_OF_RESOURCES, f"calling AE {calling} is not allowed"), None
            return
        try:
            identifier = event.identifier
        except Exception:
            yield _status(dimse.STATUS_UNABLE_TO_PROCESS, "the identifier cannot be decoded"), None
            return
        patient_root = event.request.AffectedSOPClassUID == PatientRootQueryRetrieveInformationModelFind
        try:
            request = dimse.find_parse(identifier=identifier, patient_root=patient_root)
        except dimse.FindFailure as failure:
            logger.info("C-FIND from %s refused: %s", calling, failure.comment)
            yield _status(failure.status, failure.comment), None
            return
        # By slug on each query: the project row may have been deleted and made again.
        visible = dimse.find_scope(project_slug=project.slug)
        for answer in dimse.find_results(request=request, visible=visible, ae_title=self.config.ae_title):
            if event.is_cancelled:
                yield STATUS_CANCEL, None
                return
            yield STATUS_PENDING, answer

    def _handle_get(self, event: Any) -> Iterator[int | tuple[int | Dataset, Dataset | None]]:
        """C-GET: the first yield is the number of C-STORE sub-operations (pynetdicom's protocol);
        a refusal is one sub-operation that fails with the reason."""
        close_old_connections()
        calling = str(event.assoc.requestor.ae_title).strip()
        project = self._projects.get(calling)
        try:
            if project is None:  # require_calling_aet stops these first
                raise dimse.FindFailure(STATUS_OUT_OF_RESOURCES, f"calling AE {calling} is not allowed")
            try:
                identifier = event.identifier
            except Exception:
                raise dimse.FindFailure(dimse.STATUS_UNABLE_TO_PROCESS, "the identifier cannot be decoded") from None
            patient_root = event.request.AffectedSOPClassUID == PatientRootQueryRetrieveInformationModelGet
            images = dimse.get_images(identifier=identifier, patient_root=patient_root, project_slug=project.slug)
        except dimse.FindFailure as failure:
            logger.info("C-GET from %s refused: %s", calling, failure.comment)
            yield 1
            yield _status(failure.status, failure.comment), None
            return
        yield len(images)
        for image in images:
            if event.is_cancelled:
                yield STATUS_CANCEL, None
                return
            with default_storage.open(image.dicom_file, "rb") as handle:
                dataset = pydicom.dcmread(handle)
            yield STATUS_PENDING, dataset

    def _handle_close(self, event: Any) -> None:
        with self._lock:
            self._received.pop(id(event.assoc), None)
        # Each association runs in its own thread with its own connection.
        connection.close()

    def start(self, *, block: bool) -> ThreadedAssociationServer | None:
        handlers: list[Any] = [(evt.EVT_C_STORE, self._handle_store), (evt.EVT_C_FIND, self._handle_find),
                               (evt.EVT_C_GET, self._handle_get),
                               (evt.EVT_RELEASED, self._handle_close),
                               (evt.EVT_ABORTED, self._handle_close)]
        result = self._ae().start_server((self.config.host, self.config.port), block=block,
                                         evt_handlers=handlers)
        self._server = result
        return result

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
