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
