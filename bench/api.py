"""Benchmark: the reading API under 100 readers, on PostgreSQL and gunicorn as deployed.

    createdb -h 127.0.0.1 -U postgres bench_api
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_api .venv/bin/python bench/api.py \
        [--readers 100] [--exams 2000] [--duration 45] [--think 2.0] [--workers 4] [--port 8765]

Seeds (once per database) a project of `--exams` ready four-view exams with one small stored
display render, `--readers` readers holding two reads per exam (exams_assign), then starts
gunicorn (`--workers` sync workers, as the Dockerfile runs it) on loopback and an asyncio client
(httpx) of `--readers` concurrent readers, each logged in with its own session cookie. A reader
repeats, with `--think` seconds of (exponentially distributed) think time between requests:

    worklist -> open exam -> one display render -> 3 autosaves (version, 0-2 boxes) -> submit

and, twice per exam, the trivial view (bench/api_server.py: same middleware, session
authentication and permission check, constant body): the floor measured in the same run and under
the same load. Prints count, errors, p50/p95/p99 per endpoint, p99 / trivial p99, and the machine.
A read submitted by a reader is consumed; re-running on the same database uses the open ones left.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from machine import machine  # noqa: E402 (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-api-media"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

PROJECT = "bench-api"
CSRF = "benchcsrftoken0123456789abcdefgh"  # 32 characters: Django accepts the unmasked secret


def seed(*, readers: int, exams: int) -> None:
    """Create the project, exams, readers and assignments unless they exist."""
    import numpy as np
    from django.core.management import call_command
    from PIL import Image as PilImage

    from apps.accounts.roles import ROLE_ADMIN, ROLE_READER
    from apps.accounts.services import user_create
    from apps.common.storage import storage_save_bytes
    from apps.reading.services import exams_assign
    from apps.studies.models import Image, ImageState, Project, Series, Study, StudyState

    call_command("migrate", verbosity=0)
    if Project.objects.filter(slug=PROJECT).exists():
        return
    print(f"seeding {exams} exams, {readers} readers ...", flush=True)
    gradient = (np.add.outer(np.arange(1664), np.arange(1024)) % 256).astype(np.uint8)
    png = io.BytesIO()
    PilImage.fromarray(gradient).save(png, format="PNG")
    display = storage_save_bytes(name="bench-api/display.png", content=png.getvalue())
    project = Project.objects.create(slug=PROJECT, name="bench api")
    studies = Study.objects.bulk_create([
        Study(project=project, study_id=f"s{i:06d}", study_uid=f"2.25.{i + 1}", patient_sex="F",
              has_standard_views=True, state=StudyState.READY) for i in range(exams)], batch_size=2000)
    series = Series.objects.bulk_create([
        Series(study=s, series_id=f"se{s.study_id}", series_uid=f"{s.study_uid}.1") for s in studies],
        batch_size=2000)
    Image.objects.bulk_create([
        Image(project=project, study=s, series=se, image_id=f"i{s.study_id}{lat}{view}",
              sop_uid=f"{s.study_uid}.1.{n}", laterality=lat, view_position=view, rows=3328, columns=2560,
              photometric_interpretation="MONOCHROME2", bits_stored=12, state=ImageState.REVIEWED,
              display_file=display, thumbnail_file=display, full_depth_file=display,
              window_presets=[{"center": 2048, "width": 4096, "explanation": ""}])
        for s, se in zip(studies, series, strict=True)
        for n, (lat, view) in enumerate((("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")), start=1)],
        batch_size=4000)
    # Sessions are made directly (`sessions`); nobody logs in with these random passwords.
    admin = user_create(username="bench-admin", password=secrets.token_urlsafe(), roles=[ROLE_ADMIN])
    users = [user_create(username=f"bench-reader{i:03d}", password=secrets.token_urlsafe(), roles=[ROLE_READER])
             for i in range(readers)]
    exams_assign(actor=admin, project=project, readers=users)


def sessions(readers: int) -> list[str]:
    """One logged-in session per reader (what the login form creates), without the login view."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
        load_backend,
    )
    from django.contrib.sessions.backends.db import SessionStore

    # The backend that authenticated the user (Axes only guards the login, it loads no users).
    backend = next(path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user"))
    keys = []
    for user in get_user_model().objects.filter(username__startswith="bench-reader").order_by("username")[:readers]:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = backend
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        keys.append(store.session_key)
    return keys


class Stats:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def add(self, name: str, seconds: float, status: int, expected: int, body: str) -> None:
        self.times[name].append(seconds)
        if status != expected:
            self.errors[name].append(f"{status} {body[:200]}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


async def reader_loop(base: str, session_key: str, stats: Stats, *, think: float, until: float,
                      rng: random.Random) -> None:
    import httpx

    cookies = {"sessionid": session_key, "csrftoken": CSRF}
    headers = {"X-CSRFToken": CSRF, "Referer": base + "/"}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, headers=headers, timeout=60) as client:

        async def call(name: str, method: str, url: str, expected: int = 200, **kw):  # type: ignore[no-untyped-def]
            await asyncio.sleep(rng.expovariate(1 / think))
            start = time.perf_counter()
            response = await client.request(method, url, **kw)
            body = response.content
            stats.add(name, time.perf_counter() - start, response.status_code, expected,
                      body.decode("utf-8", "replace") if response.status_code != expected else "")
            return response

        # Readers log in over the run's first think times, not all in the same millisecond.
        await asyncio.sleep(rng.uniform(0, think * 2))
        while time.monotonic() < until:
            await call("trivial", "GET", "/api/bench/trivial/")
            worklist = await call("worklist", "GET", "/api/worklist/?state=open")
            assignment = worklist.json().get("next_assignment") if worklist.status_code == 200 else None
            if assignment is None:
                return
            exam = await call("open exam", "GET", f"/api/assignments/{assignment}/")
            if exam.status_code != 200:
                return
            payload = exam.json()
            version = payload["version"]
            images = {(i["laterality"], i["view_position"]): i for i in payload["images"]}
            await call("render", "GET", images[("R", "CC")]["urls"]["display"])
            findings: list[dict] = []  # type: ignore[type-arg]
            for step in range(3):
                if time.monotonic() >= until:
                    return
                if step:
                    image = images[("R", "CC") if step == 1 else ("R", "MLO")]
                    findings = [*findings, {"key": f"k{step}", "image": image["id"], "xmin": 100.0 * step,
                                            "ymin": 200.0, "xmax": 100.0 * step + 300, "ymax": 500.0,
                                            "categories": ["Mass"], "birads": 4}]
                body = {"version": version,
                        "breasts": [{"laterality": "R", "birads": 4 if findings else 1, "density": "C"},
                                    {"laterality": "L", "birads": 1, "density": "C"}],
                        "findings": findings}
                saved = await call("save", "PUT", f"/api/assignments/{assignment}/read/", json=body)
                if saved.status_code != 200:
                    return
                result = saved.json()
                version = result["version"]
                findings = [{"key": f["key"], "id": f["id"], "image": f["image"], "xmin": f["xmin"],
                             "ymin": f["ymin"], "xmax": f["xmax"], "ymax": f["ymax"],
                             "categories": f["categories"], "birads": f["birads"]}
                            for f in result["read"]["findings"]]
            await call("trivial", "GET", "/api/bench/trivial/")
            await call("submit", "POST", f"/api/assignments/{assignment}/submit/", json={"version": version})


async def load(base: str, keys: list[str], *, think: float, duration: float, seed: int) -> Stats:
    stats = Stats()
    until = time.monotonic() + duration
    await asyncio.gather(*(reader_loop(base, key, stats, think=think, until=until, rng=random.Random(seed + i))
                           for i, key in enumerate(keys)))
    return stats


def serial(base: str, session_key: str, *, rounds: int) -> dict[str, list[float]]:
    """Service time: one reader, one request at a time, no think time (no queueing in the server)."""
    import httpx

    cookies = {"sessionid": session_key, "csrftoken": CSRF}
    headers = {"X-CSRFToken": CSRF, "Referer": base + "/"}
    times: dict[str, list[float]] = defaultdict(list)
    with httpx.Client(base_url=base, cookies=cookies, headers=headers, timeout=60) as client:

        def call(name: str, method: str, url: str, **kw):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            response = client.request(method, url, **kw)
            times[name].append(time.perf_counter() - start)
            response.raise_for_status()
            return response

        assignment = call("worklist", "GET", "/api/worklist/?state=open").json()["next_assignment"]
        exam = call("open exam", "GET", f"/api/assignments/{assignment}/").json()
        version, image = exam["version"], exam["images"][0]
        for step in range(rounds):
            call("trivial", "GET", "/api/bench/trivial/")
            call("worklist", "GET", "/api/worklist/?state=open")
            call("open exam", "GET", f"/api/assignments/{assignment}/")
            call("render", "GET", image["urls"]["display"])
            body = {"version": version, "breasts": [{"laterality": "R", "birads": 4, "density": "C"},
                                                    {"laterality": "L", "birads": 1, "density": "C"}],
                    "findings": [{"key": "k1", "image": image["id"], "xmin": 100.0 + step, "ymin": 200.0,
                                  "xmax": 400.0, "ymax": 500.0, "categories": ["Mass"], "birads": 4}]}
            version = call("save", "PUT", f"/api/assignments/{assignment}/read/", json=body).json()["version"]
    return times


def wait_up(base: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/bench/trivial/", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--exams", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=45.0)
    parser.add_argument("--think", type=float, default=2.0, help="mean think time between requests, seconds")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serial", type=int, default=30, help="requests per endpoint of the service-time pass")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (see the docstring).")

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    seed(readers=args.readers, exams=args.exams)
    keys = sessions(args.readers)
    from django.db import connections

    connections.close_all()

    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--pythonpath", str(REPO / "bench"), "api_server:application",
         "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers), "--timeout", "120",
         "--log-level", "warning"], cwd=REPO, env=env)
    try:
        wait_up(base)
        started = time.monotonic()
        stats = asyncio.run(load(base, keys, think=args.think, duration=args.duration, seed=args.seed))
        elapsed = time.monotonic() - started
        service = serial(base, keys[-1], rounds=args.serial)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    total = sum(len(v) for v in stats.times.values())
    print(f"\nmachine: {machine()}")
    print(f"gunicorn {args.workers} sync workers, PostgreSQL; {len(keys)} readers, think {args.think} s, "
          f"{elapsed:.0f} s, {total} requests ({total / elapsed:.1f}/s)")
    print(f"{'endpoint':<10} {'n':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p99/trivial':>11}")
    trivial_p99 = _pct(stats.times["trivial"], 0.99) if stats.times["trivial"] else float("nan")
    for name in ("trivial", "worklist", "open exam", "save", "submit", "render"):
        values = stats.times.get(name, [])
        if not values:
            continue
        p99 = _pct(values, 0.99)
        print(f"{name:<10} {len(values):>6} {len(stats.errors.get(name, [])):>6} {_pct(values, 0.5):>8.1f} "
              f"{_pct(values, 0.95):>8.1f} {p99:>8.1f} {p99 / trivial_p99:>10.2f}x")
    for name, errors in stats.errors.items():
        print(f"errors of {name} (first 3): {errors[:3]}")
    print(f"\nservice time (one request at a time, {args.serial} each, after the load): "
          + ", ".join(f"{name} p50 {_pct(values, 0.5):.1f} ms" for name, values in service.items()))
    print("targets: save, worklist p99 <= 50 ms and <= 2x trivial p99; open exam p99 <= 100 ms; 0 errors")


if __name__ == "__main__":
    main()
