"""Helpers of the browser tests: a logged-in session with its console, the demo data handle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "screenshots"


@dataclass
class Session:
    """One logged-in browser context, with every console message it printed."""

    page: Any
    size: str
    console: list[tuple[str, str, str]] = field(default_factory=list)
    # Requests the test makes fail on purpose (e.g. another reader's assignment): Chromium logs
    # their 404 as a console error, which is the expected answer there, not a bug.
    expected_failures: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.size}.png"
        self.page.screenshot(path=str(path))
        return path

    def errors(self) -> list[str]:
        return [f"{text} ({url})" for kind, text, url in self.console
                if kind in ("error", "pageerror")
                and not any(url.endswith(path) for path in self.expected_failures)]


@dataclass
class Demo:
    users: dict[str, User]
    study_ids: list[int]


def session_open(browser: Any, base_url: str, username: str, *, password: str | None = None,
                 width: int = 1920, height: int = 1080) -> tuple[Any, Session]:
    """A new browser context logged in through the login form: (context, session)."""
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    session = Session(page=page, size=f"{width}x{height}")
    page.on("console", lambda m: session.console.append((m.type, m.text, m.location.get("url", ""))))
    page.on("pageerror", lambda e: session.console.append(("pageerror", str(e), "")))
    page.goto("/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or username)
    page.click("button[type=submit]")
    page.wait_for_selector("#whoami")
    return context, session
