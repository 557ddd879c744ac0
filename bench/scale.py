"""Benchmark: a whole generated project through every stage, at two sizes, to show linear growth.

    createdb -h 127.0.0.1 -U postgres bench_scale
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_scale .venv/bin/python bench/scale.py \
        [--sizes 1250,5000] [--pixels 64x48]   # any number of sizes, smallest first

For each size N: N four-view exams of synthetic MG DICOM files (small pixels, real file format,
uncompressed) written to a temporary folder, then

    import   batch_create + file_ingest of every file (Celery eager: de-id, masks, renders)
    review   study_review_approve per exam (the review grid's one action per exam)
    assign   exams_assign to 3 readers (all senior: the one not reading an exam arbitrates it)
    read     every first and second read saved and submitted through the REST API (1 in 10 exams
             discordant in BI-RADS, so it goes to arbitration)
    arbit.   every arbitration read saved and submitted through the API
    export   export_run (CSVs, split, statistics, figures, manifest; no image copies)

Prints wall time per stage, time per exam, peak RSS after each stage (ru_maxrss: the process's
peak so far), and for the two sizes the ratio of times: linear growth reads as the size ratio
(4.0 for 1,250 -> 5,000). Runs one process on PostgreSQL (the DATABASE_URL's database must be
migrated; the bench migrates it). The full 5,000-exam run takes many minutes on 2 cores; smaller
`--sizes` show the same growth.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from machine import machine  # noqa: E402 (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-scale-media-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")

VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))
PASSWORD = "bench-scale-passphrase"  # noqa: S105


def autoanalyze_if_off(interval_s: float = 60.0) -> str:
    """What autovacuum would do in a deployment, when the server runs without it: ANALYZE every
    `interval_s` (autovacuum_naptime's default) from a thread with its own connection.

    Without statistics (reltuples -1) PostgreSQL plans an exact unique-key lookup such as the
    duplicate check `Image(project, image_id)` on the single-column project index, filtering
    every image of the project: one file's ingest then costs O(images in the project) and the
    import grows quadratically (measured: 5.7 ms for that one query at 1,556 images)."""
    import threading

    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return "autovacuum on"

    def loop() -> None:
        while True:
            time.sleep(interval_s)
            with connections["default"].cursor() as cursor:  # this thread's own connection
                cursor.execute("ANALYZE")

    threading.Thread(target=loop, daemon=True, name="autoanalyze").start()
    return f"autovacuum off on this server: the bench runs ANALYZE every {interval_s:.0f} s in a thread"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_exams(folder: Path, *, n_exams: int, tag: str, rows: int, columns: int) -> None:
    """Four MG views per exam: a smooth breast-like blob with noise, 12-bit in 16-bit words."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    yy, xx = np.mgrid[0:rows, 0:columns]
    rng = np.random.default_rng(7)
    for exam in range(n_exams):
        study_uid = generate_uid(entropy_srcs=[tag, "study", str(exam)])
        for number, (laterality, view) in enumerate(VIEWS, start=1):
            centre = columns * (0.1 if laterality == "R" else 0.9)
            blob = np.exp(-(((xx - centre) / (columns * 0.6)) ** 2 + ((yy - rows / 2) / (rows * 0.45)) ** 2))
            pixels = (blob * 3000 + rng.normal(0, 40, blob.shape)).clip(0, 4095).astype(np.uint16)
            sop_uid = generate_uid(entropy_srcs=[tag, "sop", str(exam), str(number)])
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, sop_uid
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = generate_uid(entropy_srcs=[tag, "series", str(exam)])
            ds.PatientID, ds.PatientName = f"SCALE-{tag}-{exam:05d}", f"Scale^{exam}"
            ds.PatientSex, ds.PatientAge = "F", "052Y"
            ds.Modality, ds.Manufacturer = "MG", "SYNTHETIC"
            ds.ImageLaterality, ds.ViewPosition, ds.InstanceNumber = laterality, view, number
            ds.Rows, ds.Columns = rows, columns
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.PixelSpacing = [0.1, 0.1]
            ds.PixelData = pixels.tobytes()
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            (folder / f"{exam:05d}_{laterality}{view}.dcm").write_bytes(buffer.getvalue())


def _api_read(client, assignment_id: int, birads: int) -> None:  # type: ignore[no-untyped-def]
    exam = client.get(f"/api/assignments/{assignment_id}/")
    assert exam.status_code == 200, exam.content[:300]
    body = {"version": exam.json()["version"],
            "breasts": [{"laterality": "R", "birads": birads, "density": "B"},
                        {"laterality": "L", "birads": 1, "density": "B"}], "findings": []}
    saved = client.put(f"/api/assignments/{assignment_id}/read/", body, format="json")
    assert saved.status_code == 200, saved.content[:300]
    submitted = client.post(f"/api/assignments/{assignment_id}/submit/", {"version": saved.json()["version"]},
                            format="json")
    assert submitted.status_code == 200, submitted.content[:300]


def run(n_exams: int, *, rows: int, columns: int) -> dict[str, float]:
    from django.db import reset_queries
    from rest_framework.test import APIClient

    from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR
    from apps.accounts.services import user_create
    from apps.datasets import services as dataset_services
    from apps.reading.models import Assignment, AssignmentKind, AssignmentState
    from apps.reading.services import exams_assign
    from apps.studies import services as study_services
    from apps.studies.models import Image, ImageState, Study, StudyState

    tag = f"{os.getpid()}-{n_exams}"
    admin = user_create(username=f"scale-admin-{tag}", password=PASSWORD, roles=[ROLE_ADMIN])
    readers = [user_create(username=f"scale-reader{i}-{tag}", password=PASSWORD, roles=[ROLE_READER, ROLE_SENIOR])
               for i in range(3)]
    clients = {}
    for user in readers:
        clients[user.pk] = APIClient()
        clients[user.pk].force_authenticate(user=user)
    times: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        times[name] = time.perf_counter() - started
        reset_queries()
        print(f"  {name:<8} {times[name]:8.1f} s  {times[name] / n_exams * 1000:7.1f} ms/exam  "
              f"peak RSS {peak_mib():6.0f} MiB", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-scale-dicom-") as tmp:
        started = time.perf_counter()
        write_exams(Path(tmp), n_exams=n_exams, tag=tag, rows=rows, columns=columns)
        print(f"  (wrote {4 * n_exams:,} files in {time.perf_counter() - started:.1f} s, not timed below)")
        project = study_services.project_get_or_create(actor=None, slug=f"scale-{tag}")
        started = time.perf_counter()
        study_services.batch_create(actor=None, project=project,
                                    sources=study_services.sources_from_paths([tmp]), source="cli")
        stage("import", started)
    images = Image.objects.filter(project=project)
    assert images.filter(state=ImageState.RENDERED).count() == 4 * n_exams, "not every file was ingested"

    started = time.perf_counter()
    for study_pk in Study.objects.filter(project=project).order_by("pk").values_list("pk", flat=True):
        study_services.study_review_approve(actor=admin, study_pk=study_pk)
    stage("review", started)
    assert Study.objects.filter(project=project, state=StudyState.READY).count() == n_exams

    started = time.perf_counter()
    exams_assign(actor=admin, project=project, readers=readers, seniors=readers)
    stage("assign", started)

    started = time.perf_counter()
    reads = (Assignment.objects.filter(study__project=project, kind__in=[AssignmentKind.FIRST, AssignmentKind.SECOND])
             .order_by("study_id", "kind").values_list("pk", "reader_id", "study_id", "kind"))
    for assignment_id, reader_id, study_id, kind in reads:
        # One exam in ten: the second reader says BI-RADS 2 where the first said 1 (discordant).
        birads = 2 if kind == AssignmentKind.SECOND and study_id % 10 == 0 else 1
        _api_read(clients[reader_id], assignment_id, birads)
    stage("read", started)

    started = time.perf_counter()
    arbitrations = list(Assignment.objects.filter(study__project=project, kind=AssignmentKind.ARBITRATION,
                                                  state=AssignmentState.ASSIGNED).values_list("pk", "reader_id"))
    for assignment_id, reader_id in arbitrations:
        _api_read(clients[reader_id], assignment_id, 1)
    stage("arbitr.", started)
    assert Study.objects.filter(project=project, state=StudyState.FINAL).count() == n_exams

    with tempfile.TemporaryDirectory(prefix="bench-scale-export-") as out:
        started = time.perf_counter()
        export = dataset_services.export_create(user=None, project=project, enqueue=False)
        dataset_services.export_run(export_id=export.pk, out_dir=Path(out) / "dataset")
        stage("export", started)
    print(f"  ({len(arbitrations)} exams arbitrated)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1250,5000",
                        help="exam counts, smallest first (ratios are taken to the first)")
    parser.add_argument("--pixels", default="64x48", help="rows x columns of the generated images")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (see the docstring).")
    sizes = [int(n) for n in args.sizes.split(",")]
    rows, columns = (int(n) for n in args.pixels.split("x"))

    import django

    django.setup()
    import logging

    from django.core.management import call_command

    for noisy in ("celery", "apps", "axes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    print(f"machine: {machine()}")
    print(f"PostgreSQL, Celery eager, images {rows}x{columns}; {autoanalyze_if_off()}")
    results = {}
    for n_exams in sizes:
        print(f"\n{n_exams:,} exams / {4 * n_exams:,} images / 3 readers:")
        results[n_exams] = run(n_exams, rows=rows, columns=columns)
    small = sizes[0]
    for large in sizes[1:]:
        print(f"\ntime ratio {large:,} / {small:,} exams per stage (linear = {large / small:.1f}):")
        for name in results[small]:
            print(f"  {name:<8} {results[large][name] / results[small][name]:5.2f}")
        total_small, total_large = sum(results[small].values()), sum(results[large].values())
        print(f"  {'total':<8} {total_large / total_small:5.2f}  ({total_small:.0f} s -> {total_large:.0f} s)")


if __name__ == "__main__":
    main()
