"""Benchmark: dataset export (split + CSVs + metadata + statistics + figures + manifest).

Generates exams with the paper's label distribution in the database (bulk_create: 5,000 exams,
20,000 images, about 2,500 boxes), then runs the export in a child process so that its peak memory
(max RSS) is its own. Also runs a quarter-size dataset: constant-memory streaming shows as a peak
that barely grows with the data. Target: <= 10 s for 5,000 exams.

The floor, measured in the same run: stream the same image and box rows from PostgreSQL and write
them with the csv module (the I/O any export must do). Printed as export time / floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_export .venv/bin/python bench/export.py

Needs a migrated database (`manage.py migrate` on that DATABASE_URL). Creates and then deletes its
own projects; files go to a temporary MEDIA_ROOT.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-export-media-"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402
from machine import machine  # noqa: E402 (bench/ is on sys.path when run as a script)

from apps.datasets import services  # noqa: E402
from apps.datasets.synthetic import paper_like_exams_create  # noqa: E402
from apps.reading.models import Finding  # noqa: E402
from apps.studies.models import Image, Project  # noqa: E402

TARGET_SECONDS = 10.0


def _child_export(project_id: int, out: str, conn: multiprocessing.connection.Connection) -> None:
    connections.close_all()  # never share the parent's socket
    project = Project.objects.get(pk=project_id)
    stages: list[tuple[str, float]] = []
    started = time.perf_counter()

    def on_progress(_value: int, stage: str) -> None:
        stages.append((stage, time.perf_counter() - started))

    try:
        export = services.export_create(user=None, project=project, enqueue=False)
        export = services.export_run(export_id=export.pk, out_dir=Path(out), on_progress=on_progress)
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send({"seconds": elapsed, "peak_mib": peak_kib / 1024, "stages": stages,
                   "counts": export.manifest["counts"]})
    except BaseException as exc:  # the parent waits on the pipe: always answer
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        conn.close()


def _child_baseline(conn: multiprocessing.connection.Connection) -> None:
    connections.close_all()
    import django.db  # noqa: F401  (imported already; keeps the child's start-up like the export's)

    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    conn.close()


def run_in_child(target, *args):  # type: ignore[no-untyped-def]
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=target, args=(*args, child))
    process.start()
    result = parent.recv()
    process.join()
    return result


def floor_seconds(project: Project, out: Path) -> float:
    started = time.perf_counter()
    with (out / "floor-images.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for row in (Image.objects.filter(project=project)
                    .values_list("study__study_id", "series__series_id", "image_id", "laterality", "view_position",
                                 "rows", "columns", "study__split").iterator(chunk_size=2000)):
            writer.writerow(row)
    with (out / "floor-boxes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for row in (Finding.objects.filter(image__project=project)
                    .values_list("image__image_id", "categories", "birads", "xmin", "ymin", "xmax", "ymax")
                    .iterator(chunk_size=2000)):
            writer.writerow(row)
    return time.perf_counter() - started


def main() -> None:
    print(f"machine: {machine()}")
    print(f"database: {connections['default'].settings_dict['NAME']} on {connections['default'].settings_dict['HOST']}")
    baseline_mib = run_in_child(_child_baseline)
    results = {}
    for n_exams in (1250, 5000):
        slug = f"bench-export-{os.getpid()}-{n_exams}"
        project = Project.objects.create(slug=slug, name=slug)
        try:
            started = time.perf_counter()
            generated = paper_like_exams_create(project=project, n_exams=n_exams, seed=2024)
            print(f"\n{n_exams:,} exams: generated {generated.images:,} images, {generated.findings:,} boxes "
                  f"in {time.perf_counter() - started:.1f} s (bulk_create)")
            with tempfile.TemporaryDirectory() as tmp:
                floor = min(floor_seconds(project, Path(tmp)) for _ in range(3))
                connections.close_all()
                result = run_in_child(_child_export, project.pk, str(Path(tmp) / "out"))
            if "error" in result:
                raise SystemExit(f"export failed: {result['error']}")
            results[n_exams] = result
            stages = result["stages"]
            for (stage, at), (_next, until) in zip(stages, stages[1:], strict=False):
                print(f"  {until - at:6.2f} s  {stage}")
            counts = result["counts"]
            print(f"  export: {result['seconds']:.2f} s; floor (stream + csv.writer of the same rows): "
                  f"{floor:.2f} s; ratio {result['seconds'] / floor:.1f}x")
            print(f"  peak RSS of the export process: {result['peak_mib']:.0f} MiB "
                  f"(an idle child of this process: {baseline_mib:.0f} MiB)")
            print(f"  counts: {counts['exams']} exams, {counts['images']:,} images, "
                  f"{counts['finding_boxes']:,} boxes, {counts['no_finding_rows']:,} No Finding rows")
        finally:
            Project.objects.filter(pk=project.pk).delete()
    big = results[5000]
    small = results[1250]
    print(f"\npeak RSS growth from 1,250 to 5,000 exams: {big['peak_mib'] - small['peak_mib']:+.0f} MiB")
    verdict = "meets" if big["seconds"] <= TARGET_SECONDS else "MISSES"
    print(f"5,000 exams: {big['seconds']:.2f} s, {verdict} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()
