"""Hostile-user probes (issue 9, items 7-10): what a reader, an anonymous visitor, a careless admin
and a password guesser get. Prints one line per probe (docs/reliability.md, "Users and access").

    .venv/bin/python bench/hostile_users.py

Runs on a fresh embedded database (SQLite in a temporary folder, Celery eager) with DEBUG on, the
way bin/demo runs; exams come from the test factories (four views each).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _setup() -> None:
    var = tempfile.mkdtemp(prefix="hostile-users-")
    os.environ.update({"MAMMOLAB_VAR_DIR": var, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings",
                       "LOG_LEVEL": "ERROR"})
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    _setup()
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.test import Client

    from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR
    from apps.accounts.services import user_create
    from apps.common.errors import ApplicationError
    from apps.studies.models import Image, StudyState
    from tests.factories import exam_create
    from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

    def user(name: str, roles: list[str]):  # type: ignore[no-untyped-def]
        return user_create(username=name, password=f"pw-{name}", roles=roles, validate_password=False)

    admin, r1, r2 = user("admin", [ROLE_ADMIN]), user("reader1", [ROLE_READER]), user("reader2", [ROLE_READER])
    senior = user("senior1", [ROLE_READER, ROLE_SENIOR])

    # 7: the first reader re-sends submit after both reads are in (discordant and concordant).
    bodies = {}
    for agree in (False, True):
        study = exam_create()
        a, b = assign_pair(study, admin, r1, r2, seniors=[senior])
        save_and_submit(a, r1, breasts())
        save_and_submit(b, r2, breasts() if agree else breasts((4, "B")),
                        [] if agree else [finding(image_of(study, "R"), "x", birads=4)])
        study.refresh_from_db()
        client = Client()
        client.force_login(r1)
        a.refresh_from_db()
        response = client.post(f"/api/assignments/{a.pk}/submit/", {"version": a.version},
                               content_type="application/json")
        bodies[study.state] = (response.status_code, response.json())
    leaks = [state for state, (_, body) in bodies.items() if "study_state" in json.dumps(body)]
    same = bodies[StudyState.ARBITRATION] == bodies[StudyState.FINAL]
    print(f"7 resubmit: {bodies[StudyState.ARBITRATION][0]} {json.dumps(bodies[StudyState.ARBITRATION][1]['extra'])}; "
          f"study state in {len(leaks)} of 2 answers; same answer concordant/discordant: {same}")

    # 8: anonymous GETs of every stored file under /media/ (DEBUG on).
    default_storage.save("exports/1/breast-level_annotations.csv", ContentFile(b"a,b\n"))
    for image in Image.objects.all()[:12]:
        name = default_storage.save(f"renders/{image.pk}/display.png", ContentFile(b"\x89PNG"))
        Image.objects.filter(pk=image.pk).update(display_file=name)
    names = ["exports/1/breast-level_annotations.csv", *Image.objects.exclude(display_file="")
             .values_list("display_file", flat=True)[:12]]
    anonymous = Client()
    media = Counter(anonymous.get(f"/media/{name}").status_code for name in names)
    api = Counter(anonymous.get(f"/api/images/{pk}/file/display/").status_code
                  for pk in Image.objects.exclude(display_file="").values_list("pk", flat=True)[:12])
    print(f"8 anonymous /media/: {dict(media)} of {len(names)}; anonymous image API: {dict(api)}")

    # 9: the admin's study form posts state=ready on a final exam, then assigns again.
    final = exam_create()
    a, b = assign_pair(final, admin, r1, r2)
    save_and_submit(a, r1, breasts())
    save_and_submit(b, r2, breasts())
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    client.post(f"/admin/studies/study/{final.pk}/change/", {"state": "ready", "_save": "Save"})
    final.refresh_from_db()
    assigned = client.post("/admin/reading/assignment/assign/", {"project": final.project.slug,
                                                                 "readers": [r1.pk, r2.pk]})
    print(f"9 admin final->ready: state after = {final.state}; assign again -> {assigned.status_code}")

    # 10: 100 wrong passwords, then the right one; a weak password; check --deploy in production.
    guesser = Client()
    started = time.perf_counter()
    wrong = Counter(guesser.post("/accounts/login/", {"username": "reader1", "password": f"guess{i}"}).status_code
                    for i in range(100))
    right = guesser.post("/accounts/login/", {"username": "reader1", "password": "pw-reader1"}).status_code
    elapsed = time.perf_counter() - started
    try:
        user_create(username="weak", password="1", roles=[ROLE_READER])  # noqa: S106 (the weak password probed)
        weak = "accepted"
    except ApplicationError as exc:
        weak = f"{exc.code} ({len(exc.extra['errors'])} reasons)"
    print(f"10 logins: 100 wrong -> {dict(sorted(wrong.items()))}; right password then -> {right}; {elapsed:.1f} s; "
          f'password "1" -> {weak}')
    env = {**os.environ, "DEBUG": "false", "HTTPS": "true", "SECRET_KEY": secrets.token_urlsafe(50),
           "ALLOWED_HOSTS": "mammolab.example.org"}
    for https in ("true", "false"):
        env["HTTPS"] = https
        run = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=False)
        issues = (run.stdout + run.stderr).split("System check identified ")[-1].split("\n")[0]
        print(f"10 check --deploy (HTTPS={https}): {issues}")


if __name__ == "__main__":
    main()
