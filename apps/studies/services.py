"""Ingest, render and review: the write side of the studies app.

Flow: `batch_create` stages every received file in storage (one ImportItem each) and enqueues one
`file_ingest` task per item on commit. `file_ingest` decodes the file once, de-identifies it,
masks the corners, renders, writes the de-identified DICOM and the renders through Django's
storage, then creates Study/Series/Image in one transaction and deletes the staged original.
`image_render` re-renders from the stored de-identified file (idempotent by image id).
`images_mark_reviewed` is the human review gate of SPEC.md.

Study states (the one table is apps/studies/workflow.py): importing -> awaiting_review -> ready.
- A study is created `importing`; when the batch that brought its images finishes it becomes
  `awaiting_review`.
- It becomes `ready` when every image is reviewed AND it has the four standard views. A study
  without them stays `awaiting_review` (flagged by has_standard_views = False) until an admin
  explicitly calls `study_mark_ready`.
- A new image arriving for a `ready` study sends it back to `awaiting_review`; for a study that
  is already being read (reading, arbitration, final) the file is rejected.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from apps.accounts.access import require_role
from apps.accounts.roles import ROLE_ADMIN
from apps.common.audit import (
    AuditAction,
    AuditEntry,
    AuditObject,
    ImagesReviewedPayload,
    StudyStatePayload,
    audit_record,
    audit_records,
)
from apps.common.errors import ForbiddenError
from apps.common.storage import storage_save_bytes
from apps.studies import dicom
from apps.studies.errors import (
    InvalidGroupRule,
    InvalidManifest,
    InvalidStudyTransition,
    NoFiles,
    ProjectExists,
    StudyNotReviewed,
)
from apps.studies.models import (
    STANDARD_VIEWS,
    Image,
    ImageState,
    ImportBatch,
    ImportBatchState,
    ImportItem,
    ImportItemStatus,
    Project,
    Series,
    Study,
    StudyState,
)
from apps.studies.workflow import StudyAction, study_action_target, study_next_state

logger = logging.getLogger(__name__)

# An exam in these states is being read; its image set must not change under the readers.
STUDY_LOCKED_STATES = {StudyState.READING, StudyState.ARBITRATION, StudyState.FINAL}


# ---------------------------------------------------------------------------------------------
# Projects


def project_create(*, actor: User | None, slug: str, name: str = "") -> Project:
    require_role(actor, ROLE_ADMIN, system=True)
    if Project.objects.filter(slug=slug).exists():
        raise ProjectExists(slug)
    try:
        with transaction.atomic():
            return Project.objects.create(slug=slug, name=name or slug)
    except IntegrityError:
        raise ProjectExists(slug) from None


def project_get_or_create(*, actor: User | None, slug: str, name: str = "") -> Project:
    require_role(actor, ROLE_ADMIN, system=True)
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return project


# ---------------------------------------------------------------------------------------------
# Sources: files, folders walked recursively, .zip archives, uploads


@dataclass(frozen=True)
class Source:
    """One file to import: the name the user knows it by, its size, and how to read it.

    `open` (a context manager giving a binary stream) is preferred to `read` (all bytes at
    once): the stream is copied to staging in chunks, so memory stays bounded. `label`, when
    set, is what is stored and shown instead of `name` (upload names can hold patient ids;
    `name` is still used to match the manifest). `rejected` is a reason decided before reading
    (an unsafe archive path, an archive limit); `max_bytes` caps what may be read (an archive
    member may not grow past the size its header declares).
    """

    name: str
    size: int
    read: Callable[[], bytes] | None = None
    open: Callable[[], AbstractContextManager[IO[bytes]]] | None = None
    label: str = ""
    rejected: str = ""
    max_bytes: int | None = None


class SourceTooLarge(Exception):
    """A stream went past its limit while being staged."""


@dataclass(frozen=True)
class ZipLimits:
    max_members: int
    max_expanded_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls) -> ZipLimits:
        return cls(max_members=settings.INGEST_ZIP_MAX_MEMBERS,
                   max_expanded_bytes=settings.INGEST_ZIP_MAX_EXPANDED_BYTES,
                   max_ratio=float(settings.INGEST_ZIP_MAX_RATIO))


# Members that archivers add on their own (macOS resource forks, Finder state): skipped.
def _is_archiver_junk(filename: str) -> bool:
    path = PurePosixPath(filename.replace("\\", "/"))
    return "__MACOSX" in path.parts or path.name == ".DS_Store" or path.name.startswith("._")


def _unsafe_member_path(filename: str) -> bool:
    """Absolute paths, drive letters and '..' (with either slash): nothing is ever extracted by
    member name, but such a name is an attack or a broken archiver and is reported."""
    normalized = filename.replace("\\", "/")
    parts = normalized.split("/")
    return (normalized.startswith("/") or ".." in parts or (len(normalized) > 1 and normalized[1] == ":")
            or "\x00" in filename)


def _zip_sources(name: str, opener: Callable[[], Any], *, label: str = "",
                 limits: ZipLimits | None = None) -> Iterator[Source]:
    """The members of one archive, read from ONE open archive (opening it again per member
    re-reads the central directory each time: quadratic in members). The archive stays open
    while the generator runs, so each Source must be consumed before the next is drawn."""
    limits = limits or ZipLimits.from_settings()
    with opener() as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            yield Source(name=name, size=0, label=label, rejected=f"{label or name}: not a readable zip archive ({exc})")
            return
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not _is_archiver_junk(m.filename)]
            declared = sum(m.file_size for m in members)
            if len(members) > limits.max_members:
                yield Source(name=name, size=0, label=label, rejected=(
                    f"{label or name}: archive has {len(members)} files, over the limit of "
                    f"{limits.max_members} (INGEST_ZIP_MAX_MEMBERS)"))
                return
            if declared > limits.max_expanded_bytes:
                yield Source(name=name, size=0, label=label, rejected=(
                    f"{label or name}: archive expands to {declared} bytes, over the limit of "
                    f"{limits.max_expanded_bytes} bytes (INGEST_ZIP_MAX_EXPANDED_BYTES)"))
                return
            for index, member in enumerate(members, start=1):
                member_name = f"{name}/{member.filename}"
                member_label = f"{label}/member-{index}" if label else ""
                shown = member_label or member_name
                reason = ""
                ratio = member.file_size / max(member.compress_size, 1)
                if _unsafe_member_path(member.filename):
                    reason = f"{shown}: unsafe path in archive (absolute or '..'); not imported"
                elif member.flag_bits & 0x1:
                    reason = f"{shown}: encrypted archive member"
                elif member.file_size > (1 << 20) and ratio > limits.max_ratio:
                    reason = (f"{shown}: compression ratio {ratio:.0f}:1 is over the limit of "
                              f"{limits.max_ratio:.0f}:1 (INGEST_ZIP_MAX_RATIO)")

                def open_member(member: zipfile.ZipInfo = member) -> IO[bytes]:
                    return archive.open(member)

                yield Source(name=member_name, size=member.file_size, open=open_member, label=member_label,
                             rejected=reason, max_bytes=member.file_size)


def _is_zip(path: Path) -> bool:
    # By signature, not zipfile.is_zipfile: that one scans for an end record anywhere in the
    # tail, which the pixel data of a DICOM file can contain by chance.
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _path_stream(path: Path) -> IO[bytes]:
    return path.open("rb")


def sources_from_paths(paths: Sequence[str | Path]) -> Iterator[Source]:
    """Files, folders (walked recursively, sorted) and .zip archives (their members)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            files = [path]
        else:
            yield Source(name=str(raw), size=-1)
            continue
        for file in files:
            if _is_zip(file):
                yield from _zip_sources(str(file), functools.partial(file.open, "rb"))
            else:
                yield Source(name=str(file), size=file.stat().st_size,
                             open=functools.partial(_path_stream, file))


@contextmanager
def _upload_stream(upload: Any) -> Iterator[IO[bytes]]:
    upload.seek(0)
    yield upload  # Django closes (and deletes) its temporary upload file after the request


def sources_from_uploads(files: Iterable[Any]) -> Iterator[Source]:
    """Uploaded files (Django UploadedFile); .zip uploads are expanded, streaming from the
    upload's own (temporary) file. The client's file names are not kept: CBIS-DDSM names hold
    patient ids; items are labelled upload-<n> (and upload-<n>/member-<k> inside archives)."""
    for number, upload in enumerate(files, start=1):
        name, label = str(upload.name), f"upload-{number}"
        upload.seek(0)
        head = upload.read(4)
        upload.seek(0)
        if head == b"PK\x03\x04":
            yield from _zip_sources(name, functools.partial(_upload_stream, upload), label=label)
        else:
            yield Source(name=name, size=int(upload.size or 0), label=label,
                         open=functools.partial(_upload_stream, upload))


def manifest_read(*, data: bytes) -> dict[str, str]:
    """A manifest as uploaded or read from disk: UTF-8 (a BOM is allowed), no NUL bytes."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidManifest(f"Manifest line {line}: not UTF-8 text (byte {exc.start} is "
                              f"0x{data[exc.start]:02x}); save the CSV as UTF-8.", line=line) from None
    return manifest_parse(text=text)


def manifest_parse(*, text: str) -> dict[str, str]:
    """CSV with a header holding `file` and `exam` columns: file name (or path) -> exam key.

    For archives that give every view its own StudyInstanceUID (CBIS-DDSM), the exam key puts
    the views of one exam back together.
    """
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise InvalidManifest(f"Manifest line {line}: contains a NUL byte.", line=line)
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "file" not in fields or "exam" not in fields:
            raise InvalidManifest("The manifest needs a header with the columns 'file' and 'exam'.", line=1)
        mapping: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            normalized = {k.strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
            file, exam = normalized.get("file", ""), normalized.get("exam", "")
            if not file or not exam:
                raise InvalidManifest(f"Manifest line {line}: both 'file' and 'exam' are required.", line=line)
            if len(exam) > 255:
                raise InvalidManifest(f"Manifest line {line}: the exam key is longer than 255 characters.",
                                      line=line)
            if file in mapping and mapping[file] != exam:
                raise InvalidManifest(f"Manifest line {line}: {file} is listed for two exams.", line=line)
            mapping[file] = exam
    except csv.Error as exc:
        raise InvalidManifest(f"Manifest line {reader.line_num}: not valid CSV ({exc}).",
                              line=reader.line_num) from None
    return mapping


# Grouping rules for archives that give every view its own study (CBIS-DDSM): the exam is
# found from the PatientID, read before de-identification and never stored.
GROUP_BY_STUDY = "study"
GROUP_BY_PATIENT_ID_PREFIX = "patient-id-prefix"
GROUP_REGEX_PREFIX = "regex:"
# "Mass-Test_P_00173_LEFT_CC" -> "Mass-Test_P_00173": a laterality and a view at the end.
_VIEW_SUFFIX = r"(?:CC|MLO|ML|LM|LMO|XCCL|XCCM|AT|FB|SIO)"
_SIDE_SUFFIX = r"(?:LEFT|RIGHT|L|R)"
PATIENT_ID_SUFFIX = re.compile(
    rf"[\s_.\-]*(?:{_SIDE_SUFFIX}[\s_.\-]*{_VIEW_SUFFIX}|{_VIEW_SUFFIX}[\s_.\-]*{_SIDE_SUFFIX}"
    rf"|{_SIDE_SUFFIX}{_VIEW_SUFFIX})$", re.IGNORECASE)


def patient_of(patient_id: str) -> str:
    """The patient a PatientID names, for the keyed patient link of priors: archives that append
    the view to it (CBIS-DDSM: "..._P_00173_LEFT_CC") name one patient in four ways."""
    patient_id = patient_id.strip()
    return PATIENT_ID_SUFFIX.sub("", patient_id) or patient_id


def group_rule_parse(*, group_by: str = "", group_regex: str = "") -> str:
    """The batch's grouping rule as stored: "" (StudyInstanceUID), "patient-id-prefix", or
    "regex:<pattern>" (the exam is the pattern's first group, or whole match, on PatientID)."""
    group_by = (group_by or "").strip()
    if group_regex:
        if group_by not in ("", "regex"):
            raise InvalidGroupRule("Give either a grouping option or a grouping regex, not both.")
        try:
            re.compile(group_regex)
        except re.error as exc:
            raise InvalidGroupRule(f"The grouping regex is not valid: {exc}.") from None
        if len(group_regex) > 200:
            raise InvalidGroupRule("The grouping regex is longer than 200 characters.")
        return GROUP_REGEX_PREFIX + group_regex
    if group_by in ("", GROUP_BY_STUDY):
        return ""
    if group_by == GROUP_BY_PATIENT_ID_PREFIX:
        return group_by
    raise InvalidGroupRule(f"Unknown grouping {group_by!r}: use {GROUP_BY_STUDY!r} or "
                           f"{GROUP_BY_PATIENT_ID_PREFIX!r}, or a regex.")


def group_key(*, rule: str, patient_id: str, filename: str) -> str:
    """The exam key a grouping rule gives a file ("" without a rule)."""
    if not rule:
        return ""
    patient_id = patient_id.strip()
    if not patient_id:
        raise dicom.DicomRejected(f"{filename}: PatientID is empty, so the grouping rule cannot place it "
                                  "in an exam")
    if rule == GROUP_BY_PATIENT_ID_PREFIX:
        prefix = PATIENT_ID_SUFFIX.sub("", patient_id)
        return f"patient:{prefix or patient_id}"
    match = re.search(rule[len(GROUP_REGEX_PREFIX):], patient_id)
    if match is None:
        # The value itself is not quoted: it is an identifier.
        raise dicom.DicomRejected(f"{filename}: PatientID does not match the grouping regex")
    return f"regex:{match.group(1) if match.groups() else match.group(0)}"


def _exam_key_for(name: str, manifest: Mapping[str, str]) -> str:
    if not manifest:
        return ""
    if name in manifest:
        return manifest[name]
    for file, exam in manifest.items():
        if name.endswith("/" + file.lstrip("/")):
            return exam
    return manifest.get(PurePosixPath(name).name, "")


# ---------------------------------------------------------------------------------------------
# Batches


def batch_create(*, actor: User | None, project: Project, sources: Iterable[Source],
                 manifest: Mapping[str, str] | None = None, keep_ids: bool = False,
                 source: str = "cli", group_rule: str = "") -> ImportBatch:
    """Stage every file and enqueue its ingest. Oversized, missing or unsafe files are rejected
    here, without being read; the rest of the batch goes on. `group_rule` (group_rule_parse)
    finds the exam of files the manifest does not name."""
    batch = batch_open(actor=actor, project=project, keep_ids=keep_ids, source=source,
                       group_rule=group_rule)
    count = 0
    try:
        for item_source in sources:
            count += 1
            batch_add(batch=batch, source=item_source, manifest=manifest)
    except BaseException:
        # Whatever stopped the loop (a dropped connection, Ctrl-C), no original stays behind
        # and no batch waits for work that will never come.
        batch_abort(batch=batch, reason="the import stopped before this file was queued")
        raise
    if count == 0:
        batch.delete()
        raise NoFiles()
    batch_submit(batch=batch)
    return batch


def batch_open(*, actor: User | None, project: Project, keep_ids: bool = False,
               source: str = "cli", group_rule: str = "") -> ImportBatch:
    """An empty batch that files are added to (batch_add) before batch_submit enqueues them."""
    require_role(actor, ROLE_ADMIN, system=True)
    return ImportBatch.objects.create(project=project, created_by=actor, source=source,
                                      keep_ids=keep_ids, group_rule=group_rule,
                                      state=ImportBatchState.PENDING)


def _printable(text: str) -> str:
    """Names and reasons are stored in text columns (PostgreSQL refuses NUL) and shown in a
    terminal (control characters could rewrite it)."""
    return "".join(c if c.isprintable() else "?" for c in text)


class _LimitedReader:
    """A read()-only view of a stream that fails once more than `limit` bytes came out."""

    # Django's File and S3 uploads (django-storages) ask these of any stream they are given.
    closed = False

    def __init__(self, stream: IO[bytes], *, limit: int, message: str) -> None:
        self.stream, self.limit, self.message, self.count = stream, limit, message, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def seek(self, *_: Any) -> int:
        raise io.UnsupportedOperation("a staging stream is read once")

    def read(self, size: int = -1) -> bytes:
        if size is not None and size > 1 << 20:
            # Fill the request: S3 uploads (s3transfer) take a short read of a stream as its end.
            parts = []
            while size > 0 and (part := self.read(min(size, 1 << 20))):
                parts.append(part)
                size -= len(part)
            return b"".join(parts)
        chunk = self.stream.read(1 << 20 if size is None or size < 0 else size)
        self.count += len(chunk)
        if self.count > self.limit:
            raise SourceTooLarge(self.message)
        return chunk


def _stage(*, batch: ImportBatch, source: Source, shown: str) -> str:
    """Copy the source to staging storage in chunks (bounded memory); never leave a partial
    file behind."""
    limit = settings.INGEST_MAX_FILE_BYTES
    message = f"{shown}: file is over the limit of {limit} bytes (INGEST_MAX_FILE_BYTES)"
    if source.max_bytes is not None and source.max_bytes < limit:
        limit = source.max_bytes
        message = f"{shown}: archive member is larger than its header says ({source.max_bytes} bytes)"
    name = f"staging/{batch.pk}/{uuid.uuid4().hex}.dcm"
    try:
        if source.open is not None:
            with source.open() as stream:
                reader = _LimitedReader(stream, limit=limit, message=message)
                return default_storage.save(name, File(reader, name=name))  # type: ignore[arg-type]
        content = source.read() if source.read is not None else b""
        if len(content) > limit:
            raise SourceTooLarge(message)
        return default_storage.save(name, ContentFile(content))
    except BaseException:
        if default_storage.exists(name):
            default_storage.delete(name)
        raise


def batch_add(*, batch: ImportBatch, source: Source, manifest: Mapping[str, str] | None = None) -> ImportItem:
    """Stage one file as a pending item (or reject it at once when it is missing, too big or
    unsafe). The staged original is deleted when its ingest finishes, whatever the outcome."""
    limit = settings.INGEST_MAX_FILE_BYTES
    shown = _printable(source.label or source.name)[:1024]
    item = ImportItem(batch=batch, filename=shown,
                      exam_key=_printable(_exam_key_for(source.name, manifest or {}))[:255])
    if source.rejected:
        item.status, item.reason = ImportItemStatus.REJECTED, _printable(source.rejected)
    elif source.size < 0:
        item.status, item.reason = ImportItemStatus.REJECTED, f"{shown}: no such file"
    elif source.size > limit:
        item.status = ImportItemStatus.REJECTED
        item.reason = f"{shown}: file is {source.size} bytes, over the limit of {limit} bytes (INGEST_MAX_FILE_BYTES)"
    else:
        try:
            # Originals wait in storage (not on a shared disk: workers may run elsewhere).
            item.staged_file = _stage(batch=batch, source=source, shown=shown)
        except SourceTooLarge as exc:
            item.status, item.reason = ImportItemStatus.REJECTED, str(exc)
        except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            # zipfile: BadZipFile (bad CRC), NotImplementedError (compression method),
            # RuntimeError (encrypted), EOFError (cut off).
            item.status, item.reason = (ImportItemStatus.REJECTED,
                                        _printable(f"{shown}: unreadable ({type(exc).__name__}: {exc})")[:2000])
    try:
        item.save()
    except BaseException:
        if item.staged_file:
            default_storage.delete(item.staged_file)
        raise
    return item


def batch_abort(*, batch: ImportBatch, reason: str) -> int:
    """Reject every pending item of a batch (deleting its staged original) and finish it."""
    count = 0
    for item in ImportItem.objects.filter(batch=batch, status=ImportItemStatus.PENDING):
        if _item_finish(item=item, status=ImportItemStatus.REJECTED, reason=f"{item.filename}: {reason}"):
            count += 1
        _staged_delete(item)
    _batch_refresh(batch_id=batch.pk)
    return count


def batch_submit(*, batch: ImportBatch) -> None:
    """Enqueue the ingest of every pending item once the surrounding transaction commits."""
    pending = list(batch.items.filter(status=ImportItemStatus.PENDING).values_list("pk", flat=True))
    from apps.studies import tasks  # tasks import services; import late to avoid a cycle

    def enqueue() -> None:
        try:
            for item_id in pending:
                tasks.file_ingest.delay(item_id)
        except Exception as error:
            # The broker is unreachable (or, eager, the database went away): the items that
            # were not queued would wait forever with their originals in staging.
            logger.error("queueing batch %s failed: %s: %s", batch.pk, type(error).__name__, error)
            batch_abort(batch=batch, reason=f"could not be queued for ingest ({type(error).__name__}); "
                                            "import the file again")
            return
        if not pending:
            _batch_refresh(batch_id=batch.pk)

    transaction.on_commit(enqueue)


def _batch_refresh(*, batch_id: int, running: bool = False) -> None:
    """Finish the batch once no item is pending; move its studies out of `importing`.
    `running`: the caller already moved the batch out of `pending` (file_ingest does)."""
    if not running:
        ImportBatch.objects.filter(pk=batch_id, state=ImportBatchState.PENDING).update(
            state=ImportBatchState.RUNNING)
    if ImportItem.objects.filter(batch_id=batch_id, status=ImportItemStatus.PENDING).exists():
        return
    with transaction.atomic():
        # Guarded update: only the worker that flips running -> done does the study step.
        finished = ImportBatch.objects.filter(pk=batch_id).exclude(state=ImportBatchState.DONE).update(
            state=ImportBatchState.DONE, finished_at=timezone.now())
        if finished != 1:
            return
        study_ids = set(Image.objects.filter(
            pk__in=ImportItem.objects.filter(batch_id=batch_id, image__isnull=False).values("image_id")
        ).values_list("study_id", flat=True))
        for study in Study.objects.select_for_update().filter(pk__in=study_ids,
                                                              state=StudyState.IMPORTING):
            studies_move(studies=[study], action=StudyAction.INGEST_DONE, actor=None)
            _study_ready_if_complete(study=study)


def _item_finish(*, item: ImportItem, status: str, reason: str = "", image: Image | None = None) -> bool:
    """Guarded: only a pending item changes, so a re-delivered task never overwrites a result."""
    reason = _printable(reason)[:4000]
    updated = ImportItem.objects.filter(pk=item.pk, status=ImportItemStatus.PENDING).update(
        status=status, reason=reason, image=image, updated_at=timezone.now())
    item.status, item.reason, item.image = status, reason, image
    return updated == 1


def _staged_delete(item: ImportItem) -> None:
    if item.staged_file and default_storage.exists(item.staged_file):
        default_storage.delete(item.staged_file)


# Failures of the infrastructure, not of the file: the task retries them (tasks.py) and gives
# the item up (file_ingest_abandon) when the retries are spent.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, OSError)


def _limits() -> dicom.Limits:
    return dicom.Limits(allowed_modalities=tuple(m.upper() for m in settings.INGEST_ALLOWED_MODALITIES),
                        max_file_bytes=settings.INGEST_MAX_FILE_BYTES,
                        max_pixels=settings.INGEST_MAX_PIXELS)


def _image_names(*, project: Project, image_id: str) -> dict[str, str]:
    """Deterministic storage names: a re-run after a crash overwrites its own leftovers."""
    base = f"projects/{project.pk}/images/{image_id[:2]}/{image_id}"
    return {"dicom_file": f"{base}.dcm", "display_file": f"{base}_display.png",
            "thumbnail_file": f"{base}_thumbnail.png", "full_depth_file": f"{base}_full.png",
            "depth_preview_file": f"{base}_depth.png"}


def _delete_unreferenced(names: Iterable[str]) -> None:
    for name in names:
        referenced = (Image.objects.filter(dicom_file=name).exists()
                      or Image.objects.filter(display_file=name).exists()
                      or Image.objects.filter(thumbnail_file=name).exists()
                      or Image.objects.filter(full_depth_file=name).exists()
                      or Image.objects.filter(depth_preview_file=name).exists())
        if not referenced and default_storage.exists(name):
            default_storage.delete(name)


def _has_standard_views(study: Study) -> bool:
    present = set(study.images.values_list("laterality", "view_position"))
    return all(view in present for view in STANDARD_VIEWS)


def file_ingest(*, item_id: int) -> ImportItem:
    """Ingest one staged file. Idempotent: an item that is no longer pending is left alone.

    Preconditions: the item's staged file is in storage (batch_create put it there).
    Failure modes: bad input -> item `rejected` with a reason naming the file; an image that
    already exists -> `duplicate` (nothing written); any other error propagates (the task
    retries) after removing the files this attempt wrote, unless an image references them.
    """
    item = ImportItem.objects.select_related("batch__project").get(pk=item_id)
    if item.status != ImportItemStatus.PENDING:
        _staged_delete(item)  # a re-delivered task after a crash between finish and delete
        return item
    batch, project = item.batch, item.batch.project
    if batch.state == ImportBatchState.PENDING:
        # Only the batch's first files find it pending: the others skip a write per file.
        ImportBatch.objects.filter(pk=batch.pk, state=ImportBatchState.PENDING).update(
            state=ImportBatchState.RUNNING)
    try:
        outcome = _ingest_pending(item=item, batch=batch, project=project)
    except dicom.DicomRejected as rejected:
        outcome = _item_finish(item=item, status=ImportItemStatus.REJECTED, reason=rejected.reason)
    except BaseException as error:
        if not dicom.contained(error) or isinstance(error, RETRYABLE_ERRORS):
            raise
        # Anything else is this file's doing (a value the database refuses, a decoder bug):
        # a retry would fail the same way, so the file is rejected and the batch goes on.
        logger.warning("ingest of %s failed: %s: %s", item.filename, type(error).__name__, error)
        outcome = _item_finish(item=item, status=ImportItemStatus.REJECTED,
                               reason=f"{item.filename}: could not be processed "
                                      f"({type(error).__name__}: {str(error)[:300]})")
    if outcome or item.status != ImportItemStatus.PENDING:
        _staged_delete(item)
    _batch_refresh(batch_id=batch.pk, running=True)
    return item


def file_ingest_abandon(*, item_id: int, reason: str) -> ImportItem:
    """Give up on a pending item (its task ran out of retries, or its worker was lost for
    good): rejected with the reason, original deleted, batch finished when it was the last."""
    item = ImportItem.objects.get(pk=item_id)
    _item_finish(item=item, status=ImportItemStatus.REJECTED, reason=f"{item.filename}: {reason}")
    _staged_delete(item)
    _batch_refresh(batch_id=item.batch_id)
    item.refresh_from_db()
    return item


# Project.settings key overriding CORNER_MASK / CORNER_MASK_FRAME for one project:
# {"frame": "image" | "chest_wall", "rects": [[x0, y0, x1, y1], ...]} (dicom.mask_rects_in_image);
# a key left out takes the site's setting.
CORNER_MASK_SETTING = "corner_mask"


def corner_mask_for(*, project: Project) -> tuple[list[list[float]], str]:
    """The corner masks an import into `project` applies, and their frame: its own setting, else
    CORNER_MASK in CORNER_MASK_FRAME. A malformed setting rejects the file, naming it."""
    own = (project.settings or {}).get(CORNER_MASK_SETTING)
    source = "setting CORNER_MASK" if own is None else f"project {project.slug}: setting {CORNER_MASK_SETTING}"
    value = {} if own is None else own
    problem = None
    if not isinstance(value, dict) or value.get("frame", settings.CORNER_MASK_FRAME) not in dicom.MASK_FRAMES:
        problem = f'must be {{"frame": one of {", ".join(dicom.MASK_FRAMES)}, "rects": [[x0, y0, x1, y1], ...]}}'
    else:
        rects = value.get("rects", settings.CORNER_MASK)
        ok = isinstance(rects, list) and all(
            isinstance(r, list) and len(r) == 4 and all(isinstance(v, int | float) and 0 <= v <= 1 for v in r)
            and r[0] < r[2] and r[1] < r[3] for r in rects)
        if not ok:
            problem = "rects must be [x0, y0, x1, y1] fractions from 0 to 1 with x0 < x1 and y0 < y1"
    if problem:
        raise dicom.DicomRejected(f"{source} {problem}")
    return [list(map(float, r)) for r in rects], str(value.get("frame", settings.CORNER_MASK_FRAME))


def _ingest_pending(*, item: ImportItem, batch: ImportBatch, project: Project) -> bool:
    try:
        with default_storage.open(item.staged_file, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, ValueError):
        raise dicom.DicomRejected(f"{item.filename}: the received file is no longer available") from None
    try:
        ds = dicom.read_dataset(data, filename=item.filename, limits=_limits())
        header = dicom.read_header(ds, filename=item.filename)
        exam_key = item.exam_key or group_key(rule=batch.group_rule, patient_id=header.patient_id,
                                              filename=item.filename)
        ids = dicom.identifiers(header, secret=settings.DEID_SECRET, keep_ids=batch.keep_ids,
                                exam_key=exam_key)
    except dicom.DicomRejected:
        raise
    except BaseException as error:
        if not dicom.contained(error):
            raise
        raise dicom.DicomRejected(f"{item.filename}: header cannot be read "
                                  f"({type(error).__name__}: {str(error)[:200]})") from None
    existing = Image.objects.filter(project=project, image_id=ids.image_id).first()
    if existing is not None:
        return _item_finish(item=item, status=ImportItemStatus.DUPLICATE, image=existing,
                            reason=f"{item.filename}: already imported as image {ids.image_id}")
    locked = Study.objects.filter(project=project, study_id=ids.study_id,
                                  state__in=STUDY_LOCKED_STATES).exists()
    if locked:
        raise dicom.DicomRejected(f"{item.filename}: exam {ids.study_id} is already being read; "
                                  "its images cannot change")
    try:
        rects, frame = corner_mask_for(project=project)
        processed = dicom.process(ds, header, ids, filename=item.filename,
                                  corner_mask=rects, mask_frame=frame,
                                  display_max_side=settings.RENDER_DISPLAY_MAX_SIDE,
                                  thumbnail_max_side=settings.RENDER_THUMBNAIL_MAX_SIDE)
    except dicom.DicomRejected:
        raise
    except BaseException as error:
        if not dicom.contained(error):
            raise
        # Pure in-memory work on this one file failed (an odd encoding the pipeline does not
        # handle): a retry would fail the same way, so the file is rejected and the batch goes on.
        logger.warning("processing %s failed: %s: %s", item.filename, type(error).__name__, error)
        raise dicom.DicomRejected(f"{item.filename}: could not be processed "
                                  f"({type(error).__name__}: {error})") from None
    del ds, data
    names = _image_names(project=project, image_id=ids.image_id)
    renders = processed.renders
    written: list[str] = []
    try:
        stored = {}
        for field, content in (("dicom_file", processed.dicom_bytes), ("display_file", renders.display_png),
                               ("thumbnail_file", renders.thumbnail_png),
                               ("full_depth_file", renders.full_png),
                               ("depth_preview_file", renders.depth_png)):
            stored[field] = storage_save_bytes(name=names[field], content=content)
            written.append(stored[field])
        with transaction.atomic():
            return _ingest_commit(item=item, project=project, header=header, ids=ids,
                                  renders=renders, stored=stored)
    except IntegrityError:
        # A concurrent ingest of the same file won. Output is deterministic (same bytes), and
        # the winner references these names: keep them.
        existing = Image.objects.filter(project=project, image_id=ids.image_id).first()
        if existing is None:
            _delete_unreferenced(written)
            raise
        return _item_finish(item=item, status=ImportItemStatus.DUPLICATE, image=existing,
                            reason=f"{item.filename}: already imported as image {ids.image_id}")
    except BaseException:
        _delete_unreferenced(written)
        raise


def _ingest_commit(*, item: ImportItem, project: Project, header: dicom.Header, ids: dicom.Identifiers,
                   renders: dicom.Renders, stored: dict[str, str]) -> bool:
    patient = patient_of(header.patient_id)
    study, _ = Study.objects.select_for_update().get_or_create(
        project=project, study_id=ids.study_id,
        defaults={"study_uid": ids.study_uid, "patient_age": header.patient_age,
                  "patient_sex": header.patient_sex, "state": StudyState.IMPORTING,
                  # The patient link of priors, keyed; the PatientID itself is not kept.
                  "patient_key": dicom.patient_key(secret=settings.DEID_SECRET, patient_id=patient),
                  "exam_date": dicom.shifted_exam_date(secret=settings.DEID_SECRET, patient_id=patient,
                                                       exam_date=header.exam_date)})
    if study.state in STUDY_LOCKED_STATES:
        raise dicom.DicomRejected(f"{item.filename}: exam {ids.study_id} is already being read; "
                                  "its images cannot change")
    series, _ = Series.objects.get_or_create(study=study, series_id=ids.series_id,
                                             defaults={"series_uid": ids.series_uid})
    spacing = header.pixel_spacing
    image = Image.objects.create(
        project=project, study=study, series=series, image_id=ids.image_id, sop_uid=ids.sop_uid,
        sop_class_uid=header.sop_class_uid[:64], laterality=header.laterality,
        view_position=header.view_position, rows=header.rows, columns=header.columns,
        pixel_spacing_row=spacing[0] if spacing else None, pixel_spacing_col=spacing[1] if spacing else None,
        pixel_spacing_source=header.pixel_spacing_source,
        photometric_interpretation=header.photometric_interpretation[:16], bits_stored=header.bits_stored,
        manufacturer=header.manufacturer, manufacturer_model=header.manufacturer_model,
        window_presets=renders.window_presets, patient_orientation=header.patient_orientation,
        display_flip_horizontal=renders.display_flip_horizontal,
        full_depth_scale=renders.full_depth_scale, full_depth_offset=renders.full_depth_offset,
        tissue_bounds=renders.tissue_bounds, tissue_window=renders.tissue_window,
        mask_boxes=renders.mask_boxes, depth_preview_level=renders.depth_level,
        state=ImageState.RENDERED, **stored)
    if not _item_finish(item=item, status=ImportItemStatus.IMPORTED, image=image,
                        reason=f"{item.filename}: imported as {header.laterality}{header.view_position}"):
        raise IntegrityError("import item was finished by another worker")
    changed = []
    has_views = _has_standard_views(study)  # recomputed: the admin may have deleted an image
    if has_views != study.has_standard_views:
        study.has_standard_views = has_views
        changed.append("has_standard_views")
    if study.patient_age is None and header.patient_age is not None:
        study.patient_age = header.patient_age
        changed.append("patient_age")
    if changed:
        study.save(update_fields=changed)
    if study.state == StudyState.READY:
        # A new, unreviewed image: the exam goes back through review.
        studies_move(studies=[study], action=StudyAction.NEW_IMAGE, actor=None)
    return True


def studies_move(*, studies: Sequence[Study], action: StudyAction, actor: User | None,
                 refuse: Callable[[Study], Exception] | None = None, **fields: Any) -> None:
    """The one way an exam's state changes, whichever app drives it (ingest, review, reading,
    arbitration, reopen, CSV import): the move is looked up in apps/studies/workflow.py, written as
    a guarded update (the row must still be in the state that was checked; callers hold its lock)
    and recorded as one `study_state` audit event per exam whose state changed. `fields` are
    written with the state (e.g. the final read). `refuse` builds the error for an exam the table
    does not let move; reading passes its reader-blinded 409."""
    refusal = refuse or (lambda study: InvalidStudyTransition(study.study_id, study.state,
                                                              study_action_target(action)))
    by_source: dict[str, list[Study]] = {}
    for study in studies:
        if study_next_state(action=action, state=study.state) is None:
            raise refusal(study)
        by_source.setdefault(study.state, []).append(study)
    events: list[AuditEntry] = []
    for source, group in by_source.items():
        target = study_action_target(action)
        updated = Study.objects.filter(pk__in=[s.pk for s in group], state=source).update(state=target, **fields)
        if updated != len(group):  # another transaction moved one without holding its lock
            raise refusal(group[0])
        for study in group:
            study.state = target
            for name, value in fields.items():
                setattr(study, name, value)
            if source != target:
                events.append(AuditEntry(actor=actor, action=AuditAction.STUDY_STATE, object_type=AuditObject.STUDY,
                                         object_id=study.pk, study_id=study.pk,
                                         payload=StudyStatePayload(from_state=source, to_state=target)))
    audit_records(events)


def _study_ready_if_complete(*, study: Study, actor: User | None = None) -> None:
    if study.state != StudyState.AWAITING_REVIEW or not study.has_standard_views:
        return
    if study.images.exclude(state=ImageState.REVIEWED).exists():
        return
    studies_move(studies=[study], action=StudyAction.REVIEW_DONE, actor=actor)


# ---------------------------------------------------------------------------------------------
# Rendering and review


def image_render(*, image_id: int) -> Image:
    """(Re-)render an image from its stored de-identified file. Idempotent: running it twice,
    or again after a crash, leaves the same files and fields."""
    image = Image.objects.select_related("project").get(pk=image_id)
    try:
        with default_storage.open(image.dicom_file, "rb") as handle:
            data = handle.read()
        renders = dicom.render_stored(data, laterality=image.laterality,
                                      patient_orientation=image.patient_orientation,
                                      display_max_side=settings.RENDER_DISPLAY_MAX_SIDE,
                                      thumbnail_max_side=settings.RENDER_THUMBNAIL_MAX_SIDE)
    except (dicom.DicomRejected, FileNotFoundError, ValueError) as error:
        # The stored file itself is unusable: retrying cannot help. Reviewed images keep their
        # state (their old renders were seen by a human); the error is recorded either way.
        reason = error.reason if isinstance(error, dicom.DicomRejected) else f"{type(error).__name__}: {error}"
        fields = ["error"]
        image.error = f"render failed: {reason}"
        if image.state != ImageState.REVIEWED:
            image.state = ImageState.FAILED
            fields.append("state")
        image.save(update_fields=fields)
        return image
    names = _image_names(project=image.project, image_id=image.image_id)
    image.display_file = storage_save_bytes(name=names["display_file"], content=renders.display_png)
    image.thumbnail_file = storage_save_bytes(name=names["thumbnail_file"], content=renders.thumbnail_png)
    image.full_depth_file = storage_save_bytes(name=names["full_depth_file"], content=renders.full_png)
    image.depth_preview_file = storage_save_bytes(name=names["depth_preview_file"], content=renders.depth_png)
    image.depth_preview_level = renders.depth_level
    image.window_presets = renders.window_presets
    image.display_flip_horizontal = renders.display_flip_horizontal
    image.full_depth_scale, image.full_depth_offset = renders.full_depth_scale, renders.full_depth_offset
    image.tissue_bounds, image.tissue_window = renders.tissue_bounds, renders.tissue_window
    fields = ["display_file", "thumbnail_file", "full_depth_file", "depth_preview_file", "depth_preview_level",
              "window_presets",
              "display_flip_horizontal", "full_depth_scale", "full_depth_offset", "tissue_bounds",
              "tissue_window", "error"]
    if renders.pixel_spacing_source and not image.pixel_spacing_source:
        image.pixel_spacing_source = renders.pixel_spacing_source
        fields.append("pixel_spacing_source")
    image.error = ""
    if image.state in (ImageState.RECEIVED, ImageState.DEIDENTIFIED, ImageState.FAILED):
        image.state = ImageState.RENDERED
        fields.append("state")
    image.save(update_fields=fields)
    return image


def images_render_enqueue(*, actor: User, image_ids: Sequence[int]) -> int:
    """Queue a re-render of each image (admin action), once the current transaction commits."""
    require_role(actor, ROLE_ADMIN, system=True)
    ids = list(Image.objects.filter(pk__in=image_ids).values_list("pk", flat=True))
    from apps.studies import tasks

    transaction.on_commit(lambda: [tasks.image_render.delay(pk) for pk in ids])
    return len(ids)


@dataclass(frozen=True)
class ReviewResult:
    reviewed: list[int]
    skipped: list[int]
    ready_studies: list[str]


@transaction.atomic
def images_mark_reviewed(*, actor: User, image_ids: Sequence[int]) -> ReviewResult:
    """Mark rendered images as reviewed (an admin looked at the masked corners). Images that are
    not rendered yet, already reviewed or unknown are skipped and listed."""
    require_role(actor, ROLE_ADMIN, system=True)
    if actor is None:
        raise ForbiddenError()
    wanted = set(image_ids)
    images = list(Image.objects.select_for_update().filter(pk__in=wanted, state=ImageState.RENDERED))
    now = timezone.now()
    for image in images:
        image.state, image.reviewed_by, image.reviewed_at = ImageState.REVIEWED, actor, now
    Image.objects.bulk_update(images, ["state", "reviewed_by", "reviewed_at"])
    reviewed = sorted(i.pk for i in images)
    ready: list[str] = []
    for study in Study.objects.select_for_update().filter(pk__in={i.study_id for i in images}).order_by("pk"):
        audit_record(actor=actor, action=AuditAction.IMAGES_REVIEWED, object_type=AuditObject.STUDY,
                     object_id=study.pk, study_id=study.pk,
                     payload=ImagesReviewedPayload(images=[i.pk for i in images if i.study_id == study.pk]))
        _study_ready_if_complete(study=study, actor=actor)
        if study.state == StudyState.READY:
            ready.append(study.study_id)
    return ReviewResult(reviewed=reviewed, skipped=sorted(wanted - set(reviewed)), ready_studies=ready)


@transaction.atomic
def study_review_approve(*, actor: User, study_pk: int) -> ReviewResult:
    """An admin approves one exam in the review grid: every rendered image of it is marked
    reviewed in one action (one audit event on the exam), and the exam becomes ready for reading
    when it has all four views."""
    image_ids = list(Image.objects.filter(study_id=study_pk, state=ImageState.RENDERED).values_list("pk", flat=True))
    return images_mark_reviewed(actor=actor, image_ids=image_ids)


@transaction.atomic
def study_mark_ready(*, actor: User, study_pk: int) -> Study:
    """An admin releases a fully reviewed exam for reading even though it lacks a standard view
    (SPEC.md: a study missing one of the four is flagged, not silently read)."""
    require_role(actor, ROLE_ADMIN, system=True)
    study = Study.objects.select_for_update().get(pk=study_pk)
    unreviewed = study.images.exclude(state=ImageState.REVIEWED).count()
    if unreviewed or not study.images.exists():
        raise StudyNotReviewed(study.study_id, unreviewed)
    studies_move(studies=[study], action=StudyAction.RELEASE, actor=actor)
    return study


# ---------------------------------------------------------------------------------------------
# Ingest hygiene: no original outlives its ingest, no batch waits for work that is gone


@dataclass(frozen=True)
class SweepResult:
    items_abandoned: int
    staged_deleted: int
    staged_bytes_deleted: int
    batches_finished: int


def ingest_sweep(*, stale_after_s: int | None = None, grace_s: int | None = None) -> SweepResult:
    """Clean up after a process that died mid-ingest (the worker's start, a periodic task and
    `manage.py ingest_sweep` run it; docs/operations.md).

    - a pending item untouched for `stale_after_s` (INGEST_STALE_AFTER_S) is given up: rejected
      with a reason, original deleted;
    - a staged file that no pending item references and older than `grace_s`
      (INGEST_STAGING_GRACE_S: a file being staged right now has no item yet) is deleted;
    - a batch with no pending item left that is still pending/running is finished.
    Idempotent; safe beside running workers as long as `stale_after_s` exceeds the longest
    queue wait (the broker re-delivers a lost worker's task after its visibility timeout).
    """
    stale_after_s = settings.INGEST_STALE_AFTER_S if stale_after_s is None else stale_after_s
    grace_s = settings.INGEST_STAGING_GRACE_S if grace_s is None else grace_s
    now = timezone.now()
    abandoned = 0
    stale = ImportItem.objects.filter(status=ImportItemStatus.PENDING,
                                      updated_at__lte=now - timedelta(seconds=stale_after_s))
    for item_id in list(stale.values_list("pk", flat=True)):
        before = ImportItem.objects.get(pk=item_id).status
        item = file_ingest_abandon(item_id=item_id, reason=(
            f"ingest did not finish within {stale_after_s} s (its worker was lost); the received file "
            "was deleted: import it again"))
        abandoned += int(before == ImportItemStatus.PENDING and item.status == ImportItemStatus.REJECTED)
    deleted, deleted_bytes = _staging_orphans_delete(grace_s=grace_s, now=now)
    finished = 0
    open_batches = ImportBatch.objects.filter(
        state__in=[ImportBatchState.PENDING, ImportBatchState.RUNNING],
        created_at__lte=now - timedelta(seconds=grace_s)).exclude(items__status=ImportItemStatus.PENDING)
    for batch_id in list(open_batches.values_list("pk", flat=True)):
        _batch_refresh(batch_id=batch_id)
        finished += int(ImportBatch.objects.filter(pk=batch_id, state=ImportBatchState.DONE).exists())
    if abandoned or deleted or finished:
        logger.warning("ingest sweep: %d stale item(s) given up, %d orphaned staged file(s) (%d bytes) "
                       "deleted, %d batch(es) finished", abandoned, deleted, deleted_bytes, finished)
    return SweepResult(items_abandoned=abandoned, staged_deleted=deleted, staged_bytes_deleted=deleted_bytes,
                       batches_finished=finished)


def _staging_files() -> Iterator[str]:
    # Not exists(): on object storage a "folder" is only a key prefix, never an object.
    try:
        folders, files = default_storage.listdir("staging")
    except FileNotFoundError:
        return
    yield from (f"staging/{name}" for name in files)
    for folder in folders:
        _, inner = default_storage.listdir(f"staging/{folder}")
        yield from (f"staging/{folder}/{name}" for name in inner)


def _staging_orphans_delete(*, grace_s: int, now: Any) -> tuple[int, int]:
    referenced = set(ImportItem.objects.filter(status=ImportItemStatus.PENDING)
                     .exclude(staged_file="").values_list("staged_file", flat=True))
    count = size = 0
    for name in _staging_files():
        if name in referenced:
            continue
        try:
            if (now - default_storage.get_modified_time(name)).total_seconds() < grace_s:
                continue
            length = default_storage.size(name)
            default_storage.delete(name)
        except FileNotFoundError:
            continue  # deleted by its own ingest meanwhile
        count, size = count + 1, size + length
    return count, size


@dataclass(frozen=True)
class BatchSummary:
    files: int
    counts: dict[str, int]
    exams: int
    exams_with_standard_views: int

    def line(self) -> str:
        counts = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in ImportItemStatus.values
                           if s != ImportItemStatus.PENDING or self.counts.get(s))
        return (f"{self.files} file(s): {counts}; {self.exams} exam(s), "
                f"{self.exams_with_standard_views} with the four standard views")


def batch_summary(*, batch: ImportBatch) -> BatchSummary:
    """Files per status and the exams the batch's images belong to (imported or duplicate)."""
    counts: dict[str, int] = {}
    for status in batch.items.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    studies = Study.objects.filter(images__in=Image.objects.filter(
        pk__in=batch.items.filter(image__isnull=False).values("image_id"))).distinct()
    return BatchSummary(files=sum(counts.values()), counts=counts, exams=studies.count(),
                        exams_with_standard_views=studies.filter(has_standard_views=True).count())
