"""Ingest, render and review: the write side of the studies app.

Flow: `batch_create` stages every received file in storage (one ImportItem each) and enqueues one
`file_ingest` task per item on commit. `file_ingest` decodes the file once, de-identifies it,
masks the corners, renders, writes the de-identified DICOM and the renders through Django's
storage, then creates Study/Series/Image in one transaction and deletes the staged original.
`image_render` re-renders from the stored de-identified file (idempotent by image id).
`images_mark_reviewed` is the human review gate of SPEC.md.

Study states (one table, STUDY_TRANSITIONS): importing -> awaiting_review -> ready.
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
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.roles import is_admin
from apps.common.errors import ForbiddenError
from apps.common.storage import storage_save_bytes
from apps.studies import dicom
from apps.studies.errors import (
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

logger = logging.getLogger(__name__)

# Allowed study transitions owned by this app (reading moves ready -> reading and beyond).
STUDY_TRANSITIONS: dict[str, set[str]] = {
    StudyState.IMPORTING: {StudyState.AWAITING_REVIEW},
    StudyState.AWAITING_REVIEW: {StudyState.READY},
    StudyState.READY: {StudyState.AWAITING_REVIEW},
}
# An exam in these states is being read; its image set must not change under the readers.
STUDY_LOCKED_STATES = {StudyState.READING, StudyState.ARBITRATION, StudyState.FINAL}


def _require_admin(actor: User | None) -> None:
    """`actor=None` is the command line (trusted: it runs with the server's own rights)."""
    if actor is not None and not is_admin(actor):
        raise ForbiddenError()


# ---------------------------------------------------------------------------------------------
# Projects


def project_create(*, actor: User | None, slug: str, name: str = "") -> Project:
    _require_admin(actor)
    if Project.objects.filter(slug=slug).exists():
        raise ProjectExists(slug)
    try:
        with transaction.atomic():
            return Project.objects.create(slug=slug, name=name or slug)
    except IntegrityError:
        raise ProjectExists(slug) from None


def project_get_or_create(*, actor: User | None, slug: str, name: str = "") -> Project:
    _require_admin(actor)
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return project


# ---------------------------------------------------------------------------------------------
# Sources: files, folders walked recursively, .zip archives, uploads


@dataclass(frozen=True)
class Source:
    """One file to import: the name the user knows it by, its size, and how to read it."""

    name: str
    size: int
    read: Callable[[], bytes]


def _zip_sources(name: str, opener: Callable[[], Any]) -> Iterator[Source]:
    with opener() as handle, zipfile.ZipFile(handle) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not PurePosixPath(m.filename).name.startswith(".")
                   and "__MACOSX" not in m.filename]
    for member in members:
        def read(member: zipfile.ZipInfo = member) -> bytes:
            with opener() as handle, zipfile.ZipFile(handle) as archive:
                return archive.read(member)
        yield Source(name=f"{name}/{member.filename}", size=member.file_size, read=read)


def _is_zip(path: Path) -> bool:
    # By signature, not zipfile.is_zipfile: that one scans for an end record anywhere in the
    # tail, which the pixel data of a DICOM file can contain by chance.
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def sources_from_paths(paths: Sequence[str | Path]) -> Iterator[Source]:
    """Files, folders (walked recursively, sorted) and .zip archives (their members)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            files = [path]
        else:
            yield Source(name=str(raw), size=-1, read=lambda: b"")
            continue
        for file in files:
            if _is_zip(file):
                yield from _zip_sources(str(file), functools.partial(file.open, "rb"))
            else:
                yield Source(name=str(file), size=file.stat().st_size, read=file.read_bytes)


def _upload_reader(upload: Any) -> Callable[[], bytes]:
    def read() -> bytes:
        upload.seek(0)
        return bytes(upload.read())
    return read


def _bytes_opener(content: bytes) -> Callable[[], io.BytesIO]:
    return lambda: io.BytesIO(content)


def sources_from_uploads(files: Iterable[Any]) -> Iterator[Source]:
    """Uploaded files (Django UploadedFile); .zip uploads are expanded."""
    for upload in files:
        name = str(upload.name)
        upload.seek(0)
        head = upload.read(4)
        upload.seek(0)
        if head == b"PK\x03\x04":
            content = upload.read()
            yield from _zip_sources(name, _bytes_opener(content))
        else:
            yield Source(name=name, size=int(upload.size or 0), read=_upload_reader(upload))


def manifest_parse(*, text: str) -> dict[str, str]:
    """CSV with a header holding `file` and `exam` columns: file name (or path) -> exam key.

    For archives that give every view its own StudyInstanceUID (CBIS-DDSM), the exam key puts
    the views of one exam back together.
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "file" not in fields or "exam" not in fields:
        raise InvalidManifest("The manifest needs a header with the columns 'file' and 'exam'.", line=1)
    mapping: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        normalized = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        file, exam = normalized.get("file", ""), normalized.get("exam", "")
        if not file or not exam:
            raise InvalidManifest(f"Manifest line {line}: both 'file' and 'exam' are required.", line=line)
        if file in mapping and mapping[file] != exam:
            raise InvalidManifest(f"Manifest line {line}: {file} is listed for two exams.", line=line)
        mapping[file] = exam
    return mapping


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
                 source: str = "cli") -> ImportBatch:
    """Stage every file and enqueue its ingest. Oversized or missing files are rejected here,
    without being read; the rest of the batch goes on."""
    batch = batch_open(actor=actor, project=project, keep_ids=keep_ids, source=source)
    count = 0
    for item_source in sources:
        count += 1
        batch_add(batch=batch, source=item_source, manifest=manifest)
    if count == 0:
        batch.delete()
        raise NoFiles()
    batch_submit(batch=batch)
    return batch


def batch_open(*, actor: User | None, project: Project, keep_ids: bool = False,
               source: str = "cli") -> ImportBatch:
    """An empty batch that files are added to (batch_add) before batch_submit enqueues them."""
    _require_admin(actor)
    return ImportBatch.objects.create(project=project, created_by=actor, source=source,
                                      keep_ids=keep_ids, state=ImportBatchState.PENDING)


def batch_add(*, batch: ImportBatch, source: Source, manifest: Mapping[str, str] | None = None) -> ImportItem:
    """Stage one file as a pending item (or reject it at once when it is missing or too big)."""
    limit = settings.INGEST_MAX_FILE_BYTES
    item = ImportItem(batch=batch, filename=source.name[:1024],
                      exam_key=_exam_key_for(source.name, manifest or {})[:255])
    if source.size < 0:
        item.status, item.reason = ImportItemStatus.REJECTED, f"{source.name}: no such file"
    elif source.size > limit:
        item.status = ImportItemStatus.REJECTED
        item.reason = f"{source.name}: file is {source.size} bytes, over the limit of {limit} bytes"
    else:
        try:
            content = source.read()
        except (OSError, zipfile.BadZipFile) as exc:
            item.status, item.reason = ImportItemStatus.REJECTED, f"{source.name}: unreadable ({exc})"
        else:
            # Originals wait in storage (not on a shared disk: workers may run elsewhere) and
            # are deleted as soon as their ingest finished, whatever the outcome.
            item.staged_file = default_storage.save(
                f"staging/{batch.pk}/{uuid.uuid4().hex}.dcm", ContentFile(content))
    item.save()
    return item


def batch_submit(*, batch: ImportBatch) -> None:
    """Enqueue the ingest of every pending item once the surrounding transaction commits."""
    pending = list(batch.items.filter(status=ImportItemStatus.PENDING).values_list("pk", flat=True))
    from apps.studies import tasks  # tasks import services; import late to avoid a cycle

    def enqueue() -> None:
        for item_id in pending:
            tasks.file_ingest.delay(item_id)
        if not pending:
            _batch_refresh(batch_id=batch.pk)

    transaction.on_commit(enqueue)


def _batch_refresh(*, batch_id: int) -> None:
    """Finish the batch once no item is pending; move its studies out of `importing`."""
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
            _study_transition(study=study, target=StudyState.AWAITING_REVIEW)
            _study_ready_if_complete(study=study)


def _item_finish(*, item: ImportItem, status: str, reason: str = "", image: Image | None = None) -> bool:
    """Guarded: only a pending item changes, so a re-delivered task never overwrites a result."""
    updated = ImportItem.objects.filter(pk=item.pk, status=ImportItemStatus.PENDING).update(
        status=status, reason=reason, image=image, updated_at=timezone.now())
    item.status, item.reason, item.image = status, reason, image
    return updated == 1


def _staged_delete(item: ImportItem) -> None:
    if item.staged_file and default_storage.exists(item.staged_file):
        default_storage.delete(item.staged_file)


def _limits() -> dicom.Limits:
    return dicom.Limits(allowed_modalities=tuple(m.upper() for m in settings.INGEST_ALLOWED_MODALITIES),
                        max_file_bytes=settings.INGEST_MAX_FILE_BYTES,
                        max_pixels=settings.INGEST_MAX_PIXELS)


def _image_names(*, project: Project, image_id: str) -> dict[str, str]:
    """Deterministic storage names: a re-run after a crash overwrites its own leftovers."""
    base = f"projects/{project.pk}/images/{image_id[:2]}/{image_id}"
    return {"dicom_file": f"{base}.dcm", "display_file": f"{base}_display.png",
            "thumbnail_file": f"{base}_thumbnail.png", "full_depth_file": f"{base}_full.png"}


def _delete_unreferenced(names: Iterable[str]) -> None:
    for name in names:
        referenced = (Image.objects.filter(dicom_file=name).exists()
                      or Image.objects.filter(display_file=name).exists()
                      or Image.objects.filter(thumbnail_file=name).exists()
                      or Image.objects.filter(full_depth_file=name).exists())
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
        return item
    batch, project = item.batch, item.batch.project
    ImportBatch.objects.filter(pk=batch.pk, state=ImportBatchState.PENDING).update(
        state=ImportBatchState.RUNNING)
    try:
        outcome = _ingest_pending(item=item, batch=batch, project=project)
    except dicom.DicomRejected as rejected:
        outcome = _item_finish(item=item, status=ImportItemStatus.REJECTED, reason=rejected.reason)
    if outcome:
        _staged_delete(item)
    _batch_refresh(batch_id=batch.pk)
    return item


def _ingest_pending(*, item: ImportItem, batch: ImportBatch, project: Project) -> bool:
    try:
        with default_storage.open(item.staged_file, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, ValueError):
        raise dicom.DicomRejected(f"{item.filename}: the received file is no longer available") from None
    ds = dicom.read_dataset(data, filename=item.filename, limits=_limits())
    header = dicom.read_header(ds, filename=item.filename)
    ids = dicom.identifiers(header, secret=settings.DEID_SECRET, keep_ids=batch.keep_ids,
                            exam_key=item.exam_key)
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
        processed = dicom.process(ds, header, ids, filename=item.filename,
                                  corner_mask=settings.CORNER_MASK,
                                  display_max_side=settings.RENDER_DISPLAY_MAX_SIDE,
                                  thumbnail_max_side=settings.RENDER_THUMBNAIL_MAX_SIDE)
    except dicom.DicomRejected:
        raise
    except Exception as error:
        # Pure in-memory work on this one file failed (an odd encoding the pipeline does not
        # handle): a retry would fail the same way, so the file is rejected and the batch goes on.
        logger.exception("processing %s failed", item.filename)
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
                               ("full_depth_file", renders.full_png)):
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
    study, _ = Study.objects.select_for_update().get_or_create(
        project=project, study_id=ids.study_id,
        defaults={"study_uid": ids.study_uid, "patient_age": header.patient_age,
                  "patient_sex": header.patient_sex, "state": StudyState.IMPORTING})
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
        photometric_interpretation=header.photometric_interpretation[:16], bits_stored=header.bits_stored,
        manufacturer=header.manufacturer, manufacturer_model=header.manufacturer_model,
        window_presets=renders.window_presets, patient_orientation=header.patient_orientation,
        display_flip_horizontal=renders.display_flip_horizontal,
        full_depth_scale=renders.full_depth_scale, full_depth_offset=renders.full_depth_offset,
        tissue_bounds=renders.tissue_bounds, tissue_window=renders.tissue_window,
        state=ImageState.RENDERED, **stored)
    if not _item_finish(item=item, status=ImportItemStatus.IMPORTED, image=image,
                        reason=f"{item.filename}: imported as {header.laterality}{header.view_position}"):
        raise IntegrityError("import item was finished by another worker")
    study.has_standard_views = _has_standard_views(study)
    if study.patient_age is None and header.patient_age is not None:
        study.patient_age = header.patient_age
    study.save(update_fields=["has_standard_views", "patient_age"])
    if study.state == StudyState.READY:
        # A new, unreviewed image: the exam goes back through review.
        _study_transition(study=study, target=StudyState.AWAITING_REVIEW)
    return True


def _study_transition(*, study: Study, target: str, actor: User | None = None) -> None:
    """Precondition: the study row is locked (select_for_update) by the caller's transaction."""
    if target not in STUDY_TRANSITIONS.get(study.state, set()):
        raise InvalidStudyTransition(study.study_id, study.state, target)
    before = study.state
    study.state = target
    study.save(update_fields=["state"])
    _audit(actor=actor, action="study_state", object_type="study", object_id=study.pk, study=study,
           before={"state": before}, after={"state": target})


def _audit(*, actor: User | None, action: str, object_type: str, object_id: int | None,
           study: Study | None, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    from apps.reading.models import AuditEvent  # append-only trail shared by all apps

    AuditEvent.objects.create(actor=actor, action=action, object_type=object_type, object_id=object_id,
                              study=study, before=before, after=after)


def _study_ready_if_complete(*, study: Study, actor: User | None = None) -> None:
    if study.state != StudyState.AWAITING_REVIEW or not study.has_standard_views:
        return
    if study.images.exclude(state=ImageState.REVIEWED).exists():
        return
    _study_transition(study=study, target=StudyState.READY, actor=actor)


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
    image.window_presets = renders.window_presets
    image.display_flip_horizontal = renders.display_flip_horizontal
    image.full_depth_scale, image.full_depth_offset = renders.full_depth_scale, renders.full_depth_offset
    image.tissue_bounds, image.tissue_window = renders.tissue_bounds, renders.tissue_window
    fields = ["display_file", "thumbnail_file", "full_depth_file", "window_presets",
              "display_flip_horizontal", "full_depth_scale", "full_depth_offset", "tissue_bounds",
              "tissue_window", "error"]
    image.error = ""
    if image.state in (ImageState.RECEIVED, ImageState.DEIDENTIFIED, ImageState.FAILED):
        image.state = ImageState.RENDERED
        fields.append("state")
    image.save(update_fields=fields)
    return image


def images_render_enqueue(*, actor: User, image_ids: Sequence[int]) -> int:
    """Queue a re-render of each image (admin action), once the current transaction commits."""
    _require_admin(actor)
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
    _require_admin(actor)
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
        _audit(actor=actor, action="images_reviewed", object_type="study", object_id=study.pk, study=study,
               before=None, after={"images": [i.pk for i in images if i.study_id == study.pk]})
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
    _require_admin(actor)
    study = Study.objects.select_for_update().get(pk=study_pk)
    unreviewed = study.images.exclude(state=ImageState.REVIEWED).count()
    if unreviewed or not study.images.exists():
        raise StudyNotReviewed(study.study_id, unreviewed)
    _study_transition(study=study, target=StudyState.READY, actor=actor)
    return study
