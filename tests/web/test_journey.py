"""The admin's journey of the README, run as written on a fresh instance, then read, second read
and arbitration in Chromium, and the exported CSVs checked row by row against what was entered.

The instance is the database the suite runs on: a fresh SQLite file in the SQLite pass (the
embedded default bin/demo runs), a fresh PostgreSQL database in the PostgreSQL pass. Celery runs
eagerly in both, as bin/demo does. The server is `manage.py runserver` on a free port, as
bin/demo would start it.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from apps.datasets import vindr_csv
from tests.web.browser import SCREENSHOTS, session_open
from tests.web.test_reading_in_browser import api, first_read, open_read_screen, wait_saved

pytestmark = [pytest.mark.browser, pytest.mark.journey]

REPO = Path(settings.BASE_DIR)
JOURNEY_MARK = "<!-- journey:"


def readme_journey() -> list[str]:
    """The command lines of the README's journey block (comments dropped), in order."""
    text = (REPO / "README.md").read_text()
    block = text[text.index(JOURNEY_MARK):]
    body = block[block.index("```bash\n") + len("```bash\n"):]
    body = body[:body.index("```")]
    return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def instance_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment of a fresh instance on the suite's kind of database."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "MEDIA_ROOT",
                        "DJANGO_SETTINGS_MODULE")}
    env.update(MAMMOLAB_VAR_DIR=str(tmp_path / "var"), MAMMOLAB_NO_SERVE="1")
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        yield env
        return
    import psycopg2

    name = f"journey_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432,
                             user=db.get("USER") or "postgres", password=db.get("PASSWORD") or None,
                             dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = (f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
                           f"{db.get('PORT') or 5432}/{name}")
    try:
        yield env
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _run(command: str, env: dict[str, str]) -> str:
    result = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{output[-3000:]}"
    return output


@pytest.fixture
def served(instance_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """Runs the README's journey commands up to the browser steps, serves, yields
    (base_url, env, what each command printed); the export command runs after the browser steps."""
    printed: dict[str, str] = {}
    commands = readme_journey()
    assert commands[0] == "bin/demo" and "export_dataset" in commands[-1]
    for command in commands[:-1]:
        printed[command] = _run(command, instance_env)
    port = _free_port()
    server = subprocess.Popen([str(REPO / ".venv/bin/python"), "manage.py", "runserver", "--noreload",
                               f"127.0.0.1:{port}"], cwd=REPO, env={**instance_env, "DEBUG": "true"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base_url}/accounts/login/", timeout=2)  # noqa: S310 (loopback)
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail(f"runserver did not answer: {server.stdout.read().decode()[-2000:] if server.stdout else ''}")
    try:
        yield base_url, instance_env, printed
    finally:
        server.terminate()
        server.wait(timeout=20)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_readme_journey_runs_as_written_through_the_browser_to_the_exported_csvs(  # type: ignore[no-untyped-def]
        served, browser) -> None:
    base_url, env, printed = served
    commands = readme_journey()
    # What the steps printed: each says what it did.
    demo_out = printed["bin/demo"]
    assert "demo: 8 image(s) imported" in demo_out and "Assigned 2 exams (4 assignments)" in demo_out
    import_out = next(out for cmd, out in printed.items() if "import_dicom" in cmd)
    assert re.search(r"8 imported, 0 duplicate, \d+ rejected; 2 exam\(s\), 2 with the four standard views", import_out)
    assert "Task " not in import_out and "No hostname" not in import_out
    review_out = printed[next(c for c in commands if c.endswith("--approve all"))]
    assert "Approved 2 exams: 2 ready for reading" in review_out
    assign_out = printed[next(c for c in commands if "assign_exams" in c)]
    assert "Assigned 2 exams (4 assignments)" in assign_out
    assert "Not assignable yet: 0 exams" in assign_out

    contexts = []
    try:
        ctx1, reader1 = session_open(browser, base_url, "reader1")
        contexts.append(ctx1)
        first_id = first_read(reader1)
        study = api(reader1.page, f"/api/assignments/{first_id}/")["body"]["study"]

        ctx2, reader2 = session_open(browser, base_url, "reader2")
        contexts.append(ctx2)
        second_id = open_read_screen(reader2)
        assert api(reader2.page, f"/api/assignments/{second_id}/")["body"]["study"]["id"] == study["id"]
        for side in ("R", "L"):
            reader2.page.click(f"label[for='birads-{side}-1']")
            reader2.page.click(f"label[for='density-{side}-B']")
        wait_saved(reader2)
        reader2.page.click("#submit")
        reader2.page.wait_for_selector("#submit-dialog[open]")
        reader2.page.click("#confirm-submit")
        reader2.page.wait_for_url("**/?submitted=*")

        ctx3, senior = session_open(browser, base_url, "senior1")
        contexts.append(ctx3)
        senior.page.wait_for_selector("#worklist tbody tr[data-assignment]")
        senior.page.keyboard.press("n")
        senior.page.wait_for_selector("#viewer[data-ready=true]")
        senior.page.click("[data-adopt^='a:']")
        senior.page.wait_for_selector(".mv-cell rect.box.box-final")
        senior.page.click("#use-a-R")
        senior.page.click("label[for='birads-L-4']")
        senior.page.click("label[for='density-L-C']")
        wait_saved(senior)
        senior.page.screenshot(path=str(SCREENSHOTS / "journey-arbitration.png"))
        senior.page.keyboard.press("Control+Enter")
        senior.page.wait_for_selector("#submit-dialog[open]")
        senior.page.click("#confirm-submit")
        senior.page.wait_for_url("**/?submitted=*")
        arb_id = int(api(senior.page, "/api/worklist/?state=submitted")["body"]["results"][0]["id"])
        final = api(senior.page, f"/api/assignments/{arb_id}/")["body"]
        for session in (reader1, reader2, senior):
            assert session.errors() == []
    finally:
        for context in contexts:
            context.close()

    # 9. The export, as the README writes it; then the CSVs row by row against what was entered.
    export_out = _run(commands[-1], env)
    printed[commands[-1]] = export_out
    log = REPO / "test-output" / f"journey-{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"$ {cmd}\n{out}\n" for cmd, out in printed.items()))
    assert "Export 1: 1 exams" in export_out, export_out
    out = Path(os.path.expandvars(shlex.split(commands[-1])[-1].replace("${MAMMOLAB_VAR_DIR:-var}",
                                                                         env["MAMMOLAB_VAR_DIR"])))
    images = {i["id"]: i for i in final["images"]}
    breast = _csv(out / vindr_csv.BREAST_FILE)
    assert len(breast) == 4
    entered = {"R": ("BI-RADS 1", "DENSITY B"), "L": ("BI-RADS 4", "DENSITY C")}
    for row in breast:
        assert (row["breast_birads"], row["breast_density"]) == entered[row["laterality"]], row
        assert row["split"] in ("training", "test")
    [finding] = final["read"]["findings"]
    boxed = images[finding["image"]]
    rows = _csv(out / vindr_csv.FINDING_FILE)
    assert len(rows) == 4
    [box_row] = [r for r in rows if r["finding_categories"] != "['No Finding']"]
    assert (box_row["image_id"], box_row["laterality"], box_row["view_position"]) == (
        boxed["image_id"], "L", "CC")
    assert (box_row["finding_categories"], box_row["finding_birads"]) == ("['Mass']", "BI-RADS 4")
    for column in ("xmin", "ymin", "xmax", "ymax"):
        assert box_row[column] == vindr_csv.coordinate_text(finding[column])
    assert {r["image_id"] for r in rows} == {r["image_id"] for r in breast}
