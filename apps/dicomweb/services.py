"""Write side of DICOMweb: STOW-RS into the ordinary ingest, and the header cache.

STOW-RS (`stow_store`): the multipart/related body is read from the request stream in 1 MiB
chunks and each part is written to a temporary file as it arrives (a 300 MB body never sits in
memory); each part then becomes one item of one import batch (`batch_open` / `batch_add` /
`batch_submit`, exactly what uploads use), and the answer waits for the ingest (in-process when
Celery is eager, else the workers) up to DICOM_INGEST_WAIT_S to report each instance: stored
(ReferencedSOPSequence, with the de-identified instance's RetrieveURL) or failed
(FailedSOPSequence, FailureReason + ErrorComment with the ingest's reason).

Target project: `?project=<slug>`, else DICOMWEB_STOW_DEFAULT_PROJECT, else 400. Only admins may
store (the import services require it).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pydicom
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from pydicom.errors import InvalidDicomError

from apps.accounts.roles import is_admin
from apps.common.errors import ForbiddenError
from apps.dicomweb import media
from apps.dicomweb.errors import InvalidBody, NoProject, RequestTooLarge, UnsupportedMediaType
from apps.dicomweb.models import InstanceHeader
from apps.dicomweb.selectors import images_without_header
from apps.studies import selectors as studies_selectors
from apps.studies import services as studies_services
from apps.studies.models import Image, ImportItem, ImportItemStatus, Project

logger = logging.getLogger(__name__)

# PS3.18 Table 10.5.3-2 / PS3.4 Annex GG.4 failure reasons.
FAILURE_OUT_OF_RESOURCES = 0xA700
FAILURE_DATASET_DOES_NOT_MATCH = 0xA900  # also: the instance is not of the study in the URL
FAILURE_CANNOT_UNDERSTAND = 0xC000
ERROR_COMMENT_MAX = 64  # ErrorComment is LO


# ---------------------------------------------------------------------------------------------
# Header cache


def headers_fill(*, images: Iterable[Image]) -> int:
    """Read the header of each image's stored de-identified file into InstanceHeader. Safe to
    run concurrently (ignore_conflicts: the same file gives the same header)."""
    rows = []
    for image in images:
        try:
            with default_storage.open(image.dicom_file, "rb") as handle:
                ds = pydicom.dcmread(handle, stop_before_pixels=True)
        except (OSError, InvalidDicomError):
            logger.exception("image %s: stored DICOM %s unreadable", image.pk, image.dicom_file)
            continue
        metadata = ds.to_json_dict()
        rows.append(InstanceHeader(image=image, modality=str(ds.get("Modality", ""))[:16], metadata=metadata))
    InstanceHeader.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def headers_ensure(*, images: QuerySet[Image]) -> None:
    """Fill the cache for the images of this queryset that have none yet (a cache fill on read:
    ingest belongs to the studies app and knows nothing of DICOMweb)."""
    missing = list(images_without_header(images=images))
    if missing:
        headers_fill(images=missing)


# ---------------------------------------------------------------------------------------------
# STOW-RS


@dataclass
class StowInstance:
    part: int
    sop_class_uid: str = ""
    sop_uid: str = ""
    study_uid: str = ""
    item_id: int | None = None
    failure: int | None = None
    reason: str = ""
    image: Image | None = None


@dataclass
class StowResult:
    instances: list[StowInstance] = field(default_factory=list)

    @property
    def stored(self) -> list[StowInstance]:
        return [i for i in self.instances if i.failure is None]

    @property
    def failed(self) -> list[StowInstance]:
        return [i for i in self.instances if i.failure is not None]

    @property
    def http_status(self) -> int:
        if not self.failed:
            return 200
        return 202 if self.stored else 409


def stow_project(*, actor: User, slug: str | None) -> Project:
    if not is_admin(actor):
        raise ForbiddenError("Only admins may store instances (STOW-RS).")
    slug = slug or settings.DICOMWEB_STOW_DEFAULT_PROJECT
    if not slug:
        raise NoProject("Say which project to store into: ?project=<slug> (no DICOMWEB_STOW_DEFAULT_PROJECT "
                        "is set).")
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise NoProject(f"No project {slug!r}.")
    return project


def stow_check_headers(*, content_type: str, content_length: str | None,
                       input_terminated: bool = False) -> tuple[str, int | None]:
    """(boundary, length) of an acceptable STOW-RS body, before a byte of it is read. A chunked
    body (no Content-Length; dicomweb-client sends one above 1 MB) is taken where the server
    decodes it and marks the stream terminated (gunicorn: wsgi.input_terminated); its length is
    then None and the limit is enforced while reading."""
    parsed = media.parse_media_type(content_type or "")
    part_type = parsed.params.get("type", "application/dicom").lower()
    boundary = parsed.params.get("boundary", "")
    if parsed.type != "multipart/related" or part_type != "application/dicom" or not boundary:
        raise UnsupportedMediaType(content_type)
    limit = settings.DICOMWEB_MAX_REQUEST_BYTES
    if not content_length:
        if input_terminated:
            return boundary, None
        raise InvalidBody("STOW-RS needs a Content-Length header here (this server does not decode chunked "
                          "bodies; gunicorn does).")
    try:
        length = int(content_length)
    except ValueError:
        raise InvalidBody(f"Content-Length {content_length!r} is not a number.") from None
    if length > limit:
        raise RequestTooLarge(size=length, limit=limit)
    return boundary, length


class _CappedStream:
    """Counts what is read and stops a body without Content-Length at DICOMWEB_MAX_REQUEST_BYTES."""

    def __init__(self, stream: media.Readable, limit: int) -> None:
        self.stream, self.limit, self.read_bytes = stream, limit, 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self.stream.read(size)
        self.read_bytes += len(chunk)
        if self.read_bytes > self.limit:
            raise RequestTooLarge(size=None, limit=self.limit)
        return chunk


def _identify(path: Path, instance: StowInstance) -> None:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"])
        instance.sop_class_uid = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
        instance.sop_uid = str(ds.get("SOPInstanceUID", "") or ds.file_meta.get("MediaStorageSOPInstanceUID", ""))
        instance.study_uid = str(ds.get("StudyInstanceUID", ""))
    except Exception:  # noqa: BLE001 - the ingest gives the reason; the UIDs are only for the answer
        return


def stow_store(*, actor: User, project: Project, stream: media.Readable, boundary: str, length: int | None,
               study_uid: str | None = None) -> StowResult:
    result = StowResult()
    stream = _CappedStream(stream, settings.DICOMWEB_MAX_REQUEST_BYTES)
    max_part = settings.DICOMWEB_MAX_INSTANCE_BYTES
    batch = studies_services.batch_open(actor=actor, project=project, source="dicomweb")
    with tempfile.TemporaryDirectory(prefix="stow-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        current: dict[str, Any] = {}

        def open_part(part: media.Part) -> IO[bytes] | None:
            number = len(result.instances) + 1
            current["path"] = Path(folder) / f"{number}.dcm"
            if media.parse_media_type(part.content_type).type != "application/dicom":
                current["path"] = None
                return None
            return open(current["path"], "wb")

        try:
            for part, error in media.multipart_parts(stream, boundary=boundary, length=length,
                                                      open_part=open_part, max_part_bytes=max_part):
                instance = StowInstance(part=len(result.instances) + 1)
                result.instances.append(instance)
                path: Path | None = current.get("path")
                name = f"stow:part {instance.part}"
                if path is None:
                    instance.failure = FAILURE_CANNOT_UNDERSTAND
                    instance.reason = f"Content-Type {part.content_type or '(none)'!r} is not application/dicom"
                    continue
                if error:
                    instance.failure = FAILURE_OUT_OF_RESOURCES
                    instance.reason = f"{error} (DICOMWEB_MAX_INSTANCE_BYTES)"
                    path.unlink(missing_ok=True)
                    continue
                _identify(path, instance)
                if study_uid is not None and instance.study_uid != study_uid:
                    instance.failure = FAILURE_DATASET_DOES_NOT_MATCH
                    instance.reason = "StudyInstanceUID is not the study of the URL"
                    path.unlink(missing_ok=True)
                    continue
                item = studies_services.batch_add(batch=batch, source=studies_services.Source(
                    name=name, size=part.size, open=_opener(path)))
                instance.item_id = item.pk
                path.unlink(missing_ok=True)
        except media.MediaError as error:
            # Nothing of a malformed body is kept: its staged items go with the batch.
            _batch_discard(batch=batch)
            raise InvalidBody(f"The multipart body is malformed: {error}.") from None
        except BaseException:
            _batch_discard(batch=batch)
            raise
    if not result.instances:
        _batch_discard(batch=batch)
        raise InvalidBody("The multipart body has no parts.")
    try:
        studies_services.batch_submit(batch=batch)
    except Exception:
        # Eager ingest raised past its own error handling (a database or storage error): the
        # items left pending are answered as failures below; the request itself does not fail.
        logger.exception("STOW-RS batch %s: ingest failed", batch.pk)
    studies_selectors.batch_wait(batch_id=batch.pk, timeout_s=settings.DICOM_INGEST_WAIT_S, poll_s=0.2)
    items = {i.pk: i for i in ImportItem.objects.filter(batch=batch).select_related("image__study", "image__series")}
    for instance in result.instances:
        found = items.get(instance.item_id) if instance.item_id is not None else None
        if found is None:
            continue
        item = found
        if item.status in (ImportItemStatus.IMPORTED, ImportItemStatus.DUPLICATE) and item.image is not None:
            instance.image = item.image
        elif item.status == ImportItemStatus.REJECTED:
            instance.failure = FAILURE_CANNOT_UNDERSTAND
            instance.reason = item.reason.removeprefix(f"{item.filename}: ")
        else:
            instance.failure = FAILURE_OUT_OF_RESOURCES
            instance.reason = f"ingest still running after {settings.DICOM_INGEST_WAIT_S} s; send again later"
    return result


def _opener(path: Path) -> Callable[[], IO[bytes]]:
    def open_staged() -> IO[bytes]:
        return open(path, "rb")  # staged in chunks by batch_add, then deleted here

    return open_staged


def _batch_discard(*, batch: Any) -> None:
    for staged in ImportItem.objects.filter(batch=batch).exclude(staged_file="").values_list("staged_file", flat=True):
        default_storage.delete(staged)
    batch.delete()


def stow_response(*, result: StowResult, base_url: str) -> dict[str, Any]:
    """The PS3.18 store instances response (10.5.3) in DICOM JSON."""
    referenced, failed = [], []
    for instance in result.instances:
        identity = {"00081150": media.element("UI", instance.sop_class_uid),
                    "00081155": media.element("UI", instance.sop_uid)}
        if instance.failure is None and instance.image is not None:
            image = instance.image
            url = (f"{base_url}/studies/{image.study.study_uid}/series/{image.series.series_uid}"
                   f"/instances/{image.sop_uid}")
            referenced.append({**identity, "00081190": media.element("UR", url)})
        else:
            failed.append({**identity, "00081197": media.element("US", instance.failure),
                           "00000902": media.element("LO", instance.reason[:ERROR_COMMENT_MAX])})
    body: dict[str, Any] = {}
    studies = {i.image.study.study_uid for i in result.stored if i.image is not None}
    if len(studies) == 1:
        body["00081190"] = media.element("UR", f"{base_url}/studies/{studies.pop()}")
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    return body
