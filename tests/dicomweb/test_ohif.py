"""OHIF's published viewer (npm `@ohif/app`, its built dist/) opens a MammoLab exam through
DICOMweb, in Debian's Chromium driven by Playwright, and a screenshot is taken.

bin/setup fetches the package with the npm client (`npm pack @ohif/app@<OHIF_VERSION>`) into
var/ohif/. Here a loopback server serves that dist/ with our app-config.js and forwards
/dicomweb/ to the live server with an admin's token: the same-origin reverse proxy a deployment
puts in front of both (MammoLab sends no CORS headers).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from django.conf import settings
from PIL import Image as PILImage

from tests.dicomweb.conftest import Exams
from tests.web.conftest import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OHIF_VERSION = "3.13.2"
OHIF_DIST = Path(settings.BASE_DIR) / "var" / "ohif" / "package" / "dist"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


def _config(origin: str) -> bytes:
    """OHIF's own default app-config.js, its demo data source pointed at MammoLab."""
    text = (OHIF_DIST / "app-config.js").read_text()
    text = text.replace("https://d14fa38qiwhyfd.cloudfront.net/dicomweb", f"{origin}/dicomweb")
    text = text.replace("staticWado: true", "staticWado: false")
    text = text.replace("qidoSupportsIncludeField: false", "qidoSupportsIncludeField: true")
    text = text.replace("thumbnailRendering: 'thumbnail'", "thumbnailRendering: 'wadors'")
    return text.encode()


class _Proxy(BaseHTTPRequestHandler):
    upstream = ""
    token = ""
    origin = ""
    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base signature
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/dicomweb/"):
            self.seen.append(self.path)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
            upstream = requests.get(f"{self.upstream}{self.path}", timeout=120,
                                    headers={**headers, "Authorization": f"Token {self.token}"})
            self._send(upstream.status_code, upstream.headers.get("Content-Type", ""), upstream.content)
            return
        path = self.path.split("?", 1)[0]
        if path == "/app-config.js":
            self._send(200, "application/javascript", _config(self.origin))
            return
        file = (OHIF_DIST / path.lstrip("/")).resolve()
        if not file.is_file() or OHIF_DIST.resolve() not in file.parents:
            file = OHIF_DIST / "index.html"  # the viewer's client-side routes
        types = {".js": "application/javascript", ".css": "text/css", ".html": "text/html",
                 ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml"}
        self._send(200, types.get(file.suffix, "application/octet-stream"), file.read_bytes())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def ohif(live_server, admin_user, token_for) -> Iterator[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    if not (OHIF_DIST / "index.html").exists():
        pytest.fail(f"OHIF's viewer is missing ({OHIF_DIST}): run bin/setup --test (it runs `npm pack "
                    f"@ohif/app@{OHIF_VERSION}` into var/ohif/).", pytrace=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    seen: list[str] = []
    handler = type("Handler", (_Proxy,), {"upstream": live_server.url, "token": token_for(admin_user),
                                          "origin": origin, "seen": seen})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield origin, seen
    server.shutdown()


def test_ohif_opens_a_mammolab_exam_through_dicomweb(exams: Exams, ohif: tuple[str, list[str]]) -> None:
    from playwright.sync_api import sync_playwright

    origin, seen = ohif
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "ohif-mammolab-exam.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--no-first-run", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{origin}/viewer?StudyInstanceUIDs={exams.first.study_uid}", timeout=120_000)
            # Pixels arrive as WADO-RS frames; wait until the first viewport has drawn them.
            page.wait_for_function(
                "() => [...document.querySelectorAll('canvas')].some(c => c.width > 100 && c.height > 100)",
                timeout=120_000)
            page.wait_for_function("() => performance.getEntriesByType('resource')"
                                   ".some(e => /\\/frames\\/1/.test(e.name) && e.responseEnd > 0)", timeout=120_000)
            page.wait_for_timeout(3000)  # the frame decoded and drawn
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert any(re.search(r"/dicomweb/studies\?", p) or "StudyInstanceUID=" in p for p in seen), seen
    assert any(p.endswith("/metadata") for p in seen), seen
    assert any("/frames/1" in p for p in seen), seen
    assert not errors, errors
    pixels = np.asarray(PILImage.open(io.BytesIO(shot.read_bytes())).convert("L"))
    # Not a blank page: the mammogram's breast tissue makes the viewport far from uniform.
    assert pixels.std() > 10, pixels.std()
