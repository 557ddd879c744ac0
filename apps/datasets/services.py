"""Dataset exports (final reads -> VinDr-Mammo CSVs, split, statistics) and CSV import as final reads.

export_create  (admin) records an export and enqueues its job on commit.
export_run     (system) does the work: split, stream the CSVs, statistics, images, manifest, and
               keeps every file under exports/<id>/ in Django's storage.
annotations_import (admin or system) loads the two VinDr-Mammo CSVs as final reads, all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import IO, Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.common.audit import AnnotationsImportPayload, AuditAction, AuditObject, audit_record
from apps.common.errors import ApplicationError, ConflictError, NotFoundError
from apps.datasets import measurements_csv, selectors, split, stats, vindr_csv
from apps.datasets.models import Export, ExportStatus, ImagesMode, ImportedFindingRow, ImportedImageRow
from apps.reading.models import BreastAssessment, Finding, Read, ReadOrigin
from apps.studies.models import Image, Project, Study
from apps.studies.selectors import project_get_for
from apps.studies.services import studies_move
from apps.studies.workflow import StudyAction, study_action_sources, study_next_state

User = AbstractBaseUser | AnonymousUser
logger = logging.getLogger(__name__)

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SEED = 1999  # the VinDr-Mammo authors' seed (split_data.ipynb)
STATS_DIR = "statistics"
IMAGES_DIR = "images"
MANIFEST_FILE = "manifest.json"
UPDATE_CHUNK = 1000


class ExportErrorCode:
    INVALID_PARAMS = "export_invalid_params"
    NOT_RUNNABLE = "export_not_runnable"
    ALREADY_RUNNING = "export_already_running"
    NOT_RELEASE_COMPATIBLE = "export_not_release_compatible"
    FAILED = "export_failed"


class ExportFailedError(ApplicationError):
    """The export ran and failed; the row says why and no file of it was kept."""


class ImportErrorCode:
    INVALID = "annotations_invalid"


def _actor(user: User | None) -> Any:
    """The user to record as actor; None for the system and for anonymous users."""
    return user if user is not None and user.is_authenticated else None


def software_version() -> str:
    try:
        return importlib_metadata.version("mammolab")
    except importlib_metadata.PackageNotFoundError:
        return str(settings.SPECTACULAR_SETTINGS.get("VERSION", "unknown"))


# ---- export ---------------------------------------------------------------------------------------

def export_create(*, user: User | None, project: Project, test_fraction: float = DEFAULT_TEST_FRACTION,
                  seed: int = DEFAULT_SEED, images: str = ImagesMode.NONE, strict_release: bool = False,
                  enqueue: bool = True) -> Export:
    """Record an export of `project` and enqueue its job once the transaction commits.

    `user` None means the system (management command). enqueue=False leaves running it to the
    caller (the command runs it in-process to write into its --out folder).
    """
    project_get_for(user, project.slug, system=True, message=selectors.EXPORTS_ADMIN_ONLY)
    if not 0.0 < test_fraction < 1.0:
        raise ApplicationError("test_fraction must lie strictly between 0 and 1.",
                               code=ExportErrorCode.INVALID_PARAMS, extra={"field": "test_fraction"})
    if images not in ImagesMode.values:
        raise ApplicationError(f"images must be one of {', '.join(ImagesMode.values)}.",
                               code=ExportErrorCode.INVALID_PARAMS, extra={"field": "images"})
    export = Export.objects.create(
        project=project, params={"test_fraction": test_fraction, "seed": int(seed), "images": images,
                                 **({"strict_release": True} if strict_release else {})},
        created_by=_actor(user),
    )
    if enqueue:
        from apps.datasets.tasks import export_run as export_run_task

        transaction.on_commit(lambda: export_run_task.delay(export.pk))
    return export


def _set_progress(export: Export, progress: int, stage: str) -> None:
    Export.objects.filter(pk=export.pk).update(progress=progress, stage=stage, heartbeat_at=timezone.now())
    export.progress, export.stage = progress, stage


def _export_claim(export: Export) -> bool:
    """Move the export to RUNNING if no live run holds it: one guarded UPDATE, so two deliveries
    of the same job (or two admins pressing "run") cannot both win. A RUNNING export whose
    heartbeat is older than the lease lost its worker and is claimed again. FAILED is final: a
    late redelivery of its job (the broker's visibility timeout) must not run it again; the admin
    starts a new export ("run again")."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EXPORT_LEASE_S)
    claimable = Q(status=ExportStatus.PENDING) | Q(
        status=ExportStatus.RUNNING, heartbeat_at__lt=stale)
    claimed = Export.objects.filter(claimable, pk=export.pk).update(
        status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now, error="", progress=0, stage="starting",
        finished_at=None, attempts=F("attempts") + 1)
    if claimed == 1:
        export.status, export.started_at = ExportStatus.RUNNING, now
    return claimed == 1


@contextmanager
def _heartbeat(*, export_id: int) -> Iterator[None]:
    """Keep the running export's heartbeat fresh every EXPORT_HEARTBEAT_S while this process runs it,
    also through a stage that reports no progress for long (statistics, copying images), so that
    `exports_sweep` never takes a live run for a lost one. The thread dies with the process: a
    killed worker's export goes stale EXPORT_LEASE_S after its last beat."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.EXPORT_HEARTBEAT_S):
                try:
                    Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING).update(
                        heartbeat_at=timezone.now())
                except DatabaseError:
                    logger.warning("Export %s: heartbeat not written", export_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"export-{export_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass
class ExportSweepResult:
    requeued: list[int]
    failed: list[int]


def exports_sweep() -> ExportSweepResult:
    """Recover the exports of workers that died (docs/operations.md, "Exports"): a RUNNING export
    whose heartbeat is older than EXPORT_LEASE_S has no live run. It goes back to PENDING and its
    job is queued again, or, after EXPORT_MAX_ATTEMPTS runs, it fails with the reason (its files
    are removed). Runs periodically (CELERY_BEAT_SCHEDULE), so recovery
    takes at most EXPORT_LEASE_S + EXPORT_SWEEP_INTERVAL_S instead of the broker's visibility
    timeout. Guarded updates: two sweeps at once re-queue an export once."""
    from apps.datasets.tasks import export_run as export_run_task

    stale = timezone.now() - timedelta(seconds=settings.EXPORT_LEASE_S)
    lost = Q(status=ExportStatus.RUNNING) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True,
                                                                          started_at__lt=stale))
    result = ExportSweepResult(requeued=[], failed=[])
    for export in Export.objects.filter(lost).only("pk", "attempts", "heartbeat_at").order_by("pk"):
        still_lost = Export.objects.filter(lost, pk=export.pk)
        if export.attempts >= settings.EXPORT_MAX_ATTEMPTS:
            reason = (f"The worker running this export was lost {export.attempts} times (killed or out of "
                      f"memory); it was not started again.")
            if still_lost.update(status=ExportStatus.FAILED, error=reason, finished_at=timezone.now()) == 1:
                _storage_delete_tree(export.storage_prefix)
                logger.error("Export %s failed: %s", export.pk, reason)
                result.failed.append(export.pk)
            continue
        if still_lost.update(status=ExportStatus.PENDING, stage="queued again after a lost worker",
                             heartbeat_at=None) == 1:
            transaction.on_commit(partial(export_run_task.delay, export.pk))
            logger.warning("Export %s lost its worker (last heartbeat %s); queued again.", export.pk,
                           export.heartbeat_at)
            result.requeued.append(export.pk)
    return result


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _export_discard(*, export: Export, out_dir: Path | None, created_out_dir: bool) -> None:
    """Remove every file a failed run wrote, in storage and in the command's --out folder."""
    prefix = export.storage_prefix
    _storage_delete_tree(prefix)
    if out_dir is not None and out_dir.exists():
        if created_out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
        else:  # it was empty when the run started (the command checks): empty it again
            for child in out_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def _storage_delete_tree(prefix: str) -> None:
    folders, names = default_storage.listdir(prefix) if default_storage.exists(prefix) else ([], [])
    for name in names:
        default_storage.delete(f"{prefix}{name}")
    for folder in folders:
        _storage_delete_tree(f"{prefix}{folder}/")


def export_run(*, export_id: int, out_dir: Path | None = None,
               on_progress: Callable[[int, str], None] | None = None) -> Export:
    """Run export `export_id`: idempotent (a finished export is returned as is; a run cut short by a
    lost worker is claimed again once its lease ran out and starts over). Writes into `out_dir` when
    given (precondition: new or empty, since the manifest lists every file in it), else into a
    temporary folder, and copies every file into storage under exports/<id>/.

    Raises ApplicationError(ALREADY_RUNNING) when a live run holds the export, and
    ExportFailedError when the run fails: the row is FAILED with the reason and no file is kept.
    """
    export = Export.objects.select_related("project").get(pk=export_id)
    if export.status == ExportStatus.DONE:
        return export
    if not _export_claim(export):
        export.refresh_from_db()
        if export.status == ExportStatus.DONE:
            return export
        if export.status == ExportStatus.FAILED:
            raise ConflictError(f"Export {export.pk} failed and is not run again: {export.error}",
                                code=ExportErrorCode.NOT_RUNNABLE, extra={"export_id": export.pk})
        raise ConflictError(f"Export {export.pk} is already running ({export.progress}% {export.stage}).",
                               code=ExportErrorCode.ALREADY_RUNNING, extra={"export_id": export.pk})

    def progress(value: int, stage: str) -> None:
        _set_progress(export, value, stage)
        if on_progress:
            on_progress(value, stage)

    created_out_dir = out_dir is not None and not Path(out_dir).exists()
    try:
        with _heartbeat(export_id=export.pk), tempfile.TemporaryDirectory(prefix=f"export-{export.pk}-") as tmp:
            work = Path(out_dir) if out_dir is not None else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            manifest = _export_write(export=export, work=work, progress=progress)
            progress(95, "storing files")
            files = _store(export=export, work=work, manifest=manifest)
    except Exception as exc:
        reason = _failure_reason(exc)
        logger.exception("Export %s of project %s failed: %s", export.pk, export.project.slug, reason)
        _export_discard(export=export, out_dir=Path(out_dir) if out_dir is not None else None,
                        created_out_dir=created_out_dir)
        Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=reason,
                                                   finished_at=timezone.now())
        export.status, export.error = ExportStatus.FAILED, reason
        raise ExportFailedError(f"Export {export.pk} failed: {reason}", code=ExportErrorCode.FAILED,
                                extra={"export_id": export.pk}) from exc
    export.files, export.manifest = files, manifest
    export.status, export.progress, export.stage = ExportStatus.DONE, 100, "done"
    export.finished_at = timezone.now()
    export.save(update_fields=["files", "manifest", "status", "progress", "stage", "finished_at"])
    if on_progress:
        on_progress(100, "done")
    return export


Row = TypeVar("Row")


def _csv_write(path: Path, columns: Sequence[str], rows: Iterable[Row],
               to_line: Callable[[Row], Sequence[object]]) -> Iterator[Row]:
    """Write one export CSV (header, then a line per row, as the VinDr files are written) and
    yield each row once it is written, for the caller's counts."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = vindr_csv.csv_writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(to_line(row))
            yield row


@dataclass
class _Counts:
    images: int = 0
    boxes: int = 0
    no_finding_rows: int = 0
    measurements: int = 0


def _export_write(*, export: Export, work: Path, progress: Callable[[int, str], None]) -> dict[str, Any]:
    project = export.project
    params = export.params
    test_fraction = float(params.get("test_fraction", DEFAULT_TEST_FRACTION))
    seed = int(params.get("seed", DEFAULT_SEED))
    images_mode = params.get("images", ImagesMode.NONE)

    progress(2, "reading labels")
    # Values the published release never holds break its readers (the authors' loader raises
    # "'BI-RADS 0' is not in list"): say so in the manifest, or refuse under strict_release.
    unpublished = selectors.exams_with_unpublished_values(project=project)
    if params.get("strict_release") and unpublished:
        named = ", ".join(unpublished[:20]) + (f" and {len(unpublished) - 20} more" if len(unpublished) > 20 else "")
        raise ApplicationError(
            f"strict release: {len(unpublished)} exams hold a breast BI-RADS 0, which the published "
            f"VinDr-Mammo release never has: {named}", code=ExportErrorCode.NOT_RELEASE_COMPATIBLE,
            extra={"study_ids": unpublished[:100]})
    exams = selectors.exam_labels(project=project)
    progress(8, "splitting")
    assigned = split.stratify(exam_labels={pk: e.labels for pk, e in exams.items()},
                              existing={pk: e.split for pk, e in exams.items() if e.split},
                              test_fraction=test_fraction, seed=seed)
    _splits_save(assigned)
    if assigned:
        # Read back: an exam split meanwhile by a concurrent export kept that split (and the CSVs,
        # which read Study.split, show it), so the statistics must use it too.
        for pk, subset in Study.objects.filter(pk__in=list(assigned)).values_list("pk", "split"):
            exams[pk].split = subset

    progress(15, vindr_csv.BREAST_FILE)
    counts = _Counts()
    for _image in _csv_write(work / vindr_csv.BREAST_FILE, vindr_csv.BREAST_COLUMNS,
                             selectors.breast_rows(project=project), vindr_csv.breast_row):
        counts.images += 1

    progress(35, vindr_csv.FINDING_FILE)
    for finding in _csv_write(work / vindr_csv.FINDING_FILE, vindr_csv.FINDING_COLUMNS,
                              selectors.finding_rows(project=project), vindr_csv.finding_row):
        if finding.categories is None:
            counts.no_finding_rows += 1
        else:
            counts.boxes += 1

    progress(55, vindr_csv.METADATA_FILE)
    _metadata_write(project=project, path=work / vindr_csv.METADATA_FILE)

    progress(60, measurements_csv.MEASUREMENT_FILE)
    for _measurement in _csv_write(work / measurements_csv.MEASUREMENT_FILE, measurements_csv.MEASUREMENT_COLUMNS,
                                   selectors.measurement_rows(project=project), measurements_csv.measurement_row):
        counts.measurements += 1

    progress(65, "statistics")
    exam_stats = [stats.ExamStats(split=e.split, age=e.age, images=e.images, labels=dict(e.labels))
                  for e in exams.values()]
    tables = stats.compute_tables(exam_stats)
    stats.write_tables(tables, work / STATS_DIR)
    stats.write_figures(exam_stats, work / STATS_DIR)

    missing: list[str] = []
    if images_mode in (ImagesMode.DICOM, ImagesMode.PNG):
        missing = _images_copy(project=project, work=work, kind=images_mode, progress=progress)

    progress(92, "checksums")
    per_split = {s: sum(1 for e in exams.values() if e.split == s) for s in split.SUBSETS}
    manifest: dict[str, Any] = {
        "format": "VinDr-Mammo (breast-level_annotations.csv, finding_annotations.csv, metadata.csv)",
        "project": project.slug,
        "export_id": export.pk,
        "created_at": timezone.now().isoformat(),
        "software": {"name": "mammolab", "version": software_version()},
        "seed": seed,
        "test_fraction": test_fraction,
        "images": images_mode,
        "counts": {
            "exams": {**per_split, "total": len(exams)},
            "images": counts.images,
            "finding_boxes": counts.boxes,
            "no_finding_rows": counts.no_finding_rows,
            "measurements": counts.measurements,
            "exams_newly_split": len(assigned),
            "exams_kept_in_their_split": len(exams) - len(assigned),
        },
        "missing_images": missing,
        "line_ending": "LF",
        # Exams holding values the published release never has (readers of the release may fail).
        "not_in_published_release": {"breast_birads_0": unpublished},
        "files": _checksums(work),
    }
    (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _splits_save(assigned: dict[int, str]) -> None:
    """Persist new assignments so that later exports keep them (exams never move once split)."""
    by_subset: dict[str, list[int]] = defaultdict(list)
    for pk, subset in assigned.items():
        by_subset[subset].append(pk)
    with transaction.atomic():
        for subset, pks in by_subset.items():
            for start in range(0, len(pks), UPDATE_CHUNK):
                # split="" guard: an exam split meanwhile by a concurrent export keeps its split.
                Study.objects.filter(pk__in=pks[start:start + UPDATE_CHUNK], split="").update(split=subset)


def _metadata_write(*, project: Project, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = vindr_csv.csv_writer(handle)
        writer.writerow(vindr_csv.METADATA_COLUMNS)
        for row in selectors.metadata_rows(project=project):
            writer.writerow(vindr_csv.metadata_row(row))


def _images_copy(*, project: Project, work: Path, kind: str, progress: Callable[[int, str], None]) -> list[str]:
    """Copy de-identified DICOM (or full-resolution PNG) files out of storage. Returns missing ids."""
    suffix = ".dicom" if kind == ImagesMode.DICOM else ".png"
    total = max(1, Image.objects.filter(study__in=selectors.final_exams(project=project)).count())
    missing: list[str] = []
    for n, (study_id, image_id, name) in enumerate(selectors.image_files(project=project, kind=kind), start=1):
        if not name or not default_storage.exists(name):
            missing.append(image_id)
            continue
        target = work / IMAGES_DIR / study_id / f"{image_id}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as source, target.open("wb") as destination:
            shutil.copyfileobj(source, destination, length=1024 * 1024)
        if n % 200 == 0:
            progress(min(90, 70 + 20 * n // total), "images")
    return missing


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksums(work: Path) -> list[dict[str, Any]]:
    return [
        {"name": path.relative_to(work).as_posix(), "size": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(work.rglob("*"))
        if path.is_file() and path.name != MANIFEST_FILE
    ]


def _store(*, export: Export, work: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Copy the export folder into storage (exports/<id>/...); list the top-level and statistics files."""
    listed = []
    for entry in [*manifest["files"], {"name": MANIFEST_FILE, "size": (work / MANIFEST_FILE).stat().st_size}]:
        name = entry["name"]
        storage_name = f"{export.storage_prefix}{name}"
        # A re-run after a lost worker replaces its files in place (the storage overwrites).
        with (work / name).open("rb") as handle:
            stored = default_storage.save(storage_name, File(handle, name=Path(name).name))
        if not name.startswith(f"{IMAGES_DIR}/"):
            listed.append({"name": name, "storage_name": stored, "size": entry["size"]})
    return listed


def export_file_name(*, export: Export, name: str) -> tuple[str, str]:
    """The storage name and download file name of one file of a finished export (a manifest name)."""
    if export.status != ExportStatus.DONE:
        raise ConflictError("The export has not finished.", code=ExportErrorCode.NOT_RUNNABLE,
                            extra={"status": export.status})
    known = {f["name"] for f in export.manifest.get("files", [])} | {MANIFEST_FILE}
    if name not in known:
        raise NotFoundError("No such file in this export.", code="export_file_not_found")
    return f"{export.storage_prefix}{name}", Path(name).name


# ---- import ---------------------------------------------------------------------------------------

MAX_REPORTED_ERRORS = 200


@dataclass(frozen=True)
class ImportResult:
    exams: int
    images: int
    findings: int


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, file: str, line: int, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"file": file, "line": line, "message": message})


def annotations_import(*, user: User | None, project: Project, breast_file: IO[str],
                       finding_file: IO[str]) -> ImportResult:
    """Load breast-level_annotations.csv + finding_annotations.csv as final reads (origin "imported").

    Images are matched by image_id within `project`. Each exam keeps the file's split (empty = not
    split yet; the next export stratifies it into the existing split). Every problem is reported
    with its file and line, and on any problem nothing is written (ApplicationError with
    extra.errors). Exams that already have a final read are rejected, never overwritten.
    """
    project_get_for(user, project.slug, system=True, message=selectors.EXPORTS_ADMIN_ONLY)
    errors = _Errors()

    breast_rows: list[vindr_csv.ImageRow] = []
    for row in vindr_csv.parse_breast_file(breast_file):
        if isinstance(row, vindr_csv.RowError):
            errors.add(row.file, row.line, row.message)
        else:
            breast_rows.append(row)
    finding_rows: list[vindr_csv.FindingRow] = []
    for finding in vindr_csv.parse_finding_file(finding_file):
        if isinstance(finding, vindr_csv.RowError):
            errors.add(finding.file, finding.line, finding.message)
        else:
            finding_rows.append(finding)

    images = {
        image.image_id: image
        for image in Image.objects.filter(
            project=project, image_id__in={r.image_id for r in breast_rows} | {f.image.image_id for f in finding_rows}
        ).select_related("study", "series")
    }
    _check_rows(breast_rows, finding_rows, images, errors)
    if errors.count:
        raise ApplicationError(
            f"The annotation files have {errors.count} problem(s); nothing was imported.",
            code=ImportErrorCode.INVALID, extra={"errors": errors.items, "error_count": errors.count},
        )
    return _import_write(user=user, project=project, breast_rows=breast_rows, finding_rows=finding_rows,
                         images=images)


def _check_rows(breast_rows: list[vindr_csv.ImageRow], finding_rows: list[vindr_csv.FindingRow],
                images: dict[str, Image], errors: _Errors) -> None:
    breast_file, finding_file = vindr_csv.BREAST_FILE, vindr_csv.FINDING_FILE
    by_image: dict[str, vindr_csv.ImageRow] = {}
    breast_of: dict[tuple[str, str], tuple[int, str, int]] = {}
    split_of: dict[str, tuple[int, str]] = {}
    final_reported: set[str] = set()
    for row in breast_rows:
        image = images.get(row.image_id)
        if image is None:
            errors.add(breast_file, row.line, f"image_id {row.image_id} is not an image of this project")
            continue
        if row.image_id in by_image:
            errors.add(breast_file, row.line,
                       f"image_id {row.image_id} already has a row (line {by_image[row.image_id].line})")
            continue
        by_image[row.image_id] = row
        _check_image_matches(breast_file, row, image, errors)
        study = image.study
        if study.study_id not in final_reported and (
                study.final_read_id is not None
                or study_next_state(action=StudyAction.IMPORT_FINAL, state=study.state) is None):
            final_reported.add(study.study_id)
            errors.add(breast_file, row.line,
                       f"study {row.study_id} already has a final read" if study.final_read_id is not None
                       else f"study {row.study_id} is being read ({study.state}); its annotations cannot be imported")
        key = (row.study_id, row.laterality)
        seen = breast_of.setdefault(key, (row.breast_birads, row.breast_density, row.line))
        if seen[:2] != (row.breast_birads, row.breast_density):
            errors.add(breast_file, row.line,
                       f"breast {row.laterality} of study {row.study_id} has two assessments: "
                       f"{vindr_csv.birads_text(row.breast_birads)}, {vindr_csv.density_text(row.breast_density)} "
                       f"here and {vindr_csv.birads_text(seen[0])}, {vindr_csv.density_text(seen[1])} "
                       f"on line {seen[2]}")
        seen_split = split_of.setdefault(row.study_id, (row.line, row.split))
        if seen_split[1] != row.split:
            errors.add(breast_file, row.line, f"study {row.study_id} has split {row.split!r} here and "
                                              f"{seen_split[1]!r} on line {seen_split[0]}")

    with_findings: set[str] = set()
    no_finding_line: dict[str, int] = {}
    for finding in finding_rows:
        row = finding.image
        image = images.get(row.image_id)
        if image is None:
            errors.add(finding_file, row.line, f"image_id {row.image_id} is not an image of this project")
            continue
        breast_row = by_image.get(row.image_id)
        if breast_row is None:
            errors.add(finding_file, row.line, f"image_id {row.image_id} has no row in {breast_file}")
            continue
        differing = [name for name in ("study_id", "series_id", "laterality", "view_position", "height", "width",
                                       "breast_birads", "breast_density", "split")
                     if getattr(row, name) != getattr(breast_row, name)]
        if differing:
            errors.add(finding_file, row.line, f"{', '.join(differing)} differ(s) from {breast_file} line "
                                               f"{breast_row.line}")
        if finding.box is None:
            if row.image_id in no_finding_line or row.image_id in with_findings:
                errors.add(finding_file, row.line, f"image_id {row.image_id} has a ['No Finding'] row and "
                                                   "other rows")
            no_finding_line[row.image_id] = row.line
        else:
            if row.image_id in no_finding_line:
                errors.add(finding_file, row.line, f"image_id {row.image_id} has a ['No Finding'] row "
                                                   f"(line {no_finding_line[row.image_id]}) and boxes")
            with_findings.add(row.image_id)
    for image_id, row in by_image.items():
        if image_id not in with_findings and image_id not in no_finding_line:
            errors.add(breast_file, row.line, f"image_id {image_id} has no row in {finding_file} "
                                              "(an image without boxes needs a ['No Finding'] row)")


def _check_image_matches(file: str, row: vindr_csv.ImageRow, image: Image, errors: _Errors) -> None:
    expected = {"study_id": image.study.study_id, "series_id": image.series.series_id,
                "laterality": image.laterality, "view_position": image.view_position,
                "height": image.rows, "width": image.columns}
    for name, value in expected.items():
        if getattr(row, name) != value:
            errors.add(file, row.line, f"{name} {getattr(row, name)!r} does not match the image "
                                       f"{row.image_id} ({value!r})")


def _import_write(*, user: User | None, project: Project, breast_rows: list[vindr_csv.ImageRow],
                  finding_rows: list[vindr_csv.FindingRow], images: dict[str, Image]) -> ImportResult:
    studies: dict[str, Study] = {}
    for row in breast_rows:
        studies.setdefault(row.study_id, images[row.image_id].study)
    with transaction.atomic():
        # Lock the exams and re-check under the lock: a final read written or an assignment made
        # meanwhile wins (apps/studies/workflow.py: import_final).
        locked = list(Study.objects.select_for_update().filter(
            pk__in=[s.pk for s in studies.values()], final_read__isnull=True,
            state__in=study_action_sources(StudyAction.IMPORT_FINAL)).only("pk", "study_id", "state"))
        if len(locked) != len(studies):
            raise ConflictError("Some exams got a final read or were assigned while importing; nothing was imported.",
                                code=ImportErrorCode.INVALID)
        reads = Read.objects.bulk_create([Read(study=study, origin=ReadOrigin.IMPORTED) for study in studies.values()])
        read_of = {study.study_id: read for study, read in zip(studies.values(), reads, strict=True)}
        breasts: dict[tuple[str, str], BreastAssessment] = {}
        for row in breast_rows:
            breasts.setdefault((row.study_id, row.laterality), BreastAssessment(
                read=read_of[row.study_id], laterality=row.laterality, birads=row.breast_birads,
                density=row.breast_density))
        BreastAssessment.objects.bulk_create(breasts.values())
        boxes = [f for f in finding_rows if f.box is not None]
        findings = Finding.objects.bulk_create([
            Finding(read=read_of[f.image.study_id], image=images[f.image.image_id], xmin=f.box[0], ymin=f.box[1],
                    xmax=f.box[2], ymax=f.box[3], categories=list(f.categories), birads=f.birads)
            for f in boxes if f.box is not None
        ], batch_size=2000)
        ImportedFindingRow.objects.bulk_create([
            ImportedFindingRow(finding=finding, line=f.image.line, box_text=list(f.box_text or ()))
            for finding, f in zip(findings, boxes, strict=True)
        ], batch_size=2000)
        no_finding = {f.image.image_id: f.image.line for f in finding_rows if f.box is None}
        ImportedImageRow.objects.filter(image__in=[images[r.image_id] for r in breast_rows]).delete()
        ImportedImageRow.objects.bulk_create([
            ImportedImageRow(image=images[r.image_id], breast_line=r.line, no_finding_line=no_finding.get(r.image_id))
            for r in breast_rows
        ], batch_size=2000)
        split_of = {r.study_id: r.split for r in breast_rows}
        for study in studies.values():
            study.final_read = read_of[study.study_id]
            study.split = split_of[study.study_id]
        Study.objects.bulk_update(studies.values(), ["final_read", "split"], batch_size=UPDATE_CHUNK)
        studies_move(studies=locked, action=StudyAction.IMPORT_FINAL, actor=_actor(user))
        audit_record(
            actor=_actor(user), action=AuditAction.ANNOTATIONS_IMPORT,
            object_type=AuditObject.PROJECT, object_id=project.pk,
            payload=AnnotationsImportPayload(exams=len(studies), images=len(breast_rows), findings=len(findings)),
        )
    return ImportResult(exams=len(studies), images=len(breast_rows), findings=len(findings))


def annotations_import_files(*, user: User | None, project: Project, breast_path: Path,
                             finding_path: Path) -> ImportResult:
    with breast_path.open(newline="", encoding="utf-8-sig") as breast, \
            finding_path.open(newline="", encoding="utf-8-sig") as findings:
        return annotations_import(user=user, project=project, breast_file=breast, finding_file=findings)
