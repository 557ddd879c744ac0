"""End to end in headless Chromium, on the real mammograms: a reader reads an exam (box,
categories, BI-RADS, both breasts, a rule error fixed, submit), a second reader disagrees, the
senior arbitrates; blinding holds in the UI; keyboard use; no console errors; two screen sizes.
Screenshots of every screen land in test-output/screenshots/."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.web.browser import SCREENSHOTS, Demo, Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api(page: Any, path: str) -> Any:
    return page.evaluate(
        """async (path) => { const r = await fetch(path, {headers: {Accept: "application/json"}});
                             return {status: r.status, body: await r.json()}; }""", path)


def open_read_screen(s: Session) -> int:
    """From the worklist, N opens the next unread exam; returns its assignment id."""
    s.page.wait_for_selector("#worklist tbody tr[data-assignment]")
    s.page.keyboard.press("n")
    s.page.wait_for_selector("#viewer[data-ready=true]")
    return int(s.page.url.rstrip("/").rsplit("/", 1)[1])


def wait_saved(s: Session) -> None:
    """After an edit: autosave waits 800 ms of quiet, then saves; wait past that, then for "saved"."""
    s.page.wait_for_timeout(900)
    s.page.wait_for_selector("#save-status[data-state=saved]")


def pick(s: Session, input_id: str) -> None:
    s.page.click(f"label[for='{input_id}']")


def cell_box(s: Session, slot: str) -> dict[str, float]:
    return s.page.locator(f".mv-cell[data-slot={slot}]").bounding_box()


def whole_film(s: Session) -> None:
    """Views open fitted to the breast; Z switches to the whole film, which `expected_image_point`
    models (test_reading_workstation.py checks the breast fit)."""
    s.page.keyboard.press("z")
    s.page.wait_for_selector(".mv-hanging[data-fit-mode=film]")


def expected_image_point(image: dict[str, Any], cell: dict[str, float], sx: float, sy: float) -> tuple[float, float]:
    """Where a click at page (sx, sy) must land in ORIGINAL image pixels, from the hanging rules
    in whole-film fit: fitted whole, left-breast views aligned to the centre line (their cell's left edge), mirrored
    when display_flip_horizontal says so."""
    scale = min(cell["width"] / image["columns"], cell["height"] / image["rows"])
    shown_w, shown_h = image["columns"] * scale, image["rows"] * scale
    left = cell["x"] if image["laterality"] == "L" else cell["x"] + cell["width"] - shown_w
    top = cell["y"] + (cell["height"] - shown_h) / 2
    x = (sx - left) / scale
    if image["display_flip_horizontal"]:
        x = image["columns"] - x
    return x, (sy - top) / scale


def draw_box(s: Session, slot: str, fx0: float, fy0: float, fx1: float, fy1: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Drag a box inside a view, at fractions of its cell; returns the two page points."""
    c = cell_box(s, slot)
    a = (c["x"] + c["width"] * fx0, c["y"] + c["height"] * fy0)
    b = (c["x"] + c["width"] * fx1, c["y"] + c["height"] * fy1)
    s.page.mouse.move(*a)
    s.page.mouse.down()
    s.page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    s.page.mouse.move(*b, steps=4)
    s.page.mouse.up()
    return a, b


def overlay_boxes(s: Session) -> int:
    return s.page.locator(".mv-cell rect.box").count()


def first_read(s: Session) -> int:
    """reader1: box on LCC with Mass BI-RADS 4, both breasts; a box on a BI-RADS 1 breast errors."""
    page = s.page
    assignment_id = open_read_screen(s)
    s.shot("read-empty")
    whole_film(s)
    detail = api(page, f"/api/assignments/{assignment_id}/")["body"]
    lcc = next(i for i in detail["images"] if i["laterality"] == "L" and i["view_position"] == "CC")

    page.keyboard.press("b")
    assert page.get_attribute("#tool-box", "aria-pressed") == "true"
    cell = cell_box(s, "LCC")
    a, b = draw_box(s, "LCC", 0.12, 0.35, 0.22, 0.5)
    page.wait_for_selector("#finding-editor")
    # Categories and finding BI-RADS by keyboard: 1 = Mass, Shift+4 = BI-RADS 4.
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit4")
    assert page.is_checked("#cat-0")
    assert page.is_checked("#finding-birads-4")

    pick(s, "birads-R-1")
    pick(s, "density-R-B")
    pick(s, "birads-L-1")
    pick(s, "density-L-B")
    wait_saved(s)
    # The server's rule: no lesion box on a BI-RADS 1 breast; shown on the box and in its editor.
    if page.get_attribute(".finding-select >> nth=0", "aria-pressed") != "true":
        page.locator(".finding-select").first.click()
    page.wait_for_selector("#finding-violations [data-rule=NO_FINDING_ON_BIRADS_1]")
    assert page.locator(".mv-cell[data-slot=LCC] rect.box.has-problem").count() == 1
    assert page.inner_text("#submit-hint") == "1 problem to fix before submitting"
    s.shot("read-rule-error")

    saved = api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["findings"]
    assert len(saved) == 1 and saved[0]["image"] == lcc["id"]
    assert saved[0]["categories"] == ["Mass"] and saved[0]["birads"] == 4
    # Stored in original image pixels: matches the drag mapped through fit, alignment, mirroring.
    x0, y0 = expected_image_point(lcc, cell, *a)
    x1, y1 = expected_image_point(lcc, cell, *b)
    tolerance = 2 / min(cell["width"] / lcc["columns"], cell["height"] / lcc["rows"])  # 2 screen px
    assert saved[0]["xmin"] == pytest.approx(min(x0, x1), abs=tolerance)
    assert saved[0]["xmax"] == pytest.approx(max(x0, x1), abs=tolerance)
    assert saved[0]["ymin"] == pytest.approx(min(y0, y1), abs=tolerance)
    assert saved[0]["ymax"] == pytest.approx(max(y0, y1), abs=tolerance)

    # Zooming changes the screen rectangle, never the stored box.
    before = page.locator(".mv-cell[data-slot=LCC] rect.box").first.bounding_box()
    page.mouse.move(cell["x"] + cell["width"] * 0.3, cell["y"] + cell["height"] * 0.4)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(200)
    after = page.locator(".mv-cell[data-slot=LCC] rect.box").first.bounding_box()
    assert after["width"] > before["width"] * 1.2
    page.keyboard.press("f")
    assert api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["findings"][0]["xmin"] == saved[0]["xmin"]

    # Fix: the left breast is BI-RADS 4; the error goes away.
    pick(s, "birads-L-4")
    wait_saved(s)
    assert page.locator("[data-rule=NO_FINDING_ON_BIRADS_1]").count() == 0
    assert page.inner_text("#submit-hint") == "Ready to submit"

    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-dialog[open]")
    summary = page.inner_text("#submit-summary")
    assert "LCC: Mass · BI-RADS 4" in summary
    s.shot("submit-summary")
    page.click("#confirm-submit")
    page.wait_for_url("**/?submitted=*")
    page.wait_for_selector("#worklist tbody tr[data-assignment]")
    assert api(page, f"/api/assignments/{assignment_id}/")["body"]["state"] == "submitted"
    return assignment_id


def test_double_reading_and_arbitration_end_to_end(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    reader1 = open_session("reader1")
    reader1.shot("worklist")
    assert reader1.page.locator("#worklist tbody tr[data-assignment]").count() == 2
    first_id = first_read(reader1)
    reader1.shot("worklist-after-submit")

    # reader2 reads the same exam: none of reader1's work is visible, and reader1's URL is closed.
    reader2 = open_session("reader2")
    reader2.expected_failures.append(f"/api/assignments/{first_id}/")
    reader2.page.goto(f"/read/{first_id}/")
    reader2.page.wait_for_selector("#load-error")
    assert "not found" in reader2.page.inner_text("#load-error").lower()
    reader2.shot("foreign-assignment")
    reader2.page.goto("/")
    second_id = open_read_screen(reader2)
    detail = api(reader2.page, f"/api/assignments/{second_id}/")["body"]
    first_study = api(reader1.page, f"/api/assignments/{first_id}/")["body"]["study"]["id"]
    assert detail["study"]["id"] == first_study
    assert overlay_boxes(reader2) == 0
    assert reader2.page.locator(".finding-item").count() == 0
    assert reader2.page.locator("#arbitration").count() == 0
    for side in ("R", "L"):
        reader2.page.click(f"label[for='birads-{side}-1']")
        reader2.page.click(f"label[for='density-{side}-B']")
    wait_saved(reader2)
    reader2.shot("second-read")
    reader2.page.click("#submit")
    reader2.page.wait_for_selector("#submit-dialog[open]")
    reader2.page.click("#confirm-submit")
    reader2.page.wait_for_url("**/?submitted=*")

    # The senior arbitrates: both reads overlaid, reasons listed, adopt reader A's box.
    senior = open_session("senior1")
    senior.page.wait_for_selector("#worklist tbody tr[data-assignment]")
    assert "Arbitration" in senior.page.inner_text("#worklist")
    senior.page.keyboard.press("n")
    senior.page.wait_for_selector("#viewer[data-ready=true]")
    assert "/arbitrate/" in senior.page.url
    reasons = senior.page.inner_text("#discordance-reasons")
    assert reasons.strip()
    assert senior.page.locator(".mv-cell rect.box.box-a").count() == 1
    assert "reader1" not in senior.page.inner_text("body")
    senior.shot("arbitration")
    senior.page.uncheck("#show-a")
    assert senior.page.locator(".mv-cell rect.box.box-a").count() == 0
    senior.page.check("#show-a")
    senior.page.click("[data-adopt^='a:']")
    senior.page.wait_for_selector(".mv-cell rect.box.box-final")
    senior.page.click("#use-a-R")  # take read A's right breast (BI-RADS 1, density B)
    assert senior.page.is_checked("#birads-R-1") and senior.page.is_checked("#density-R-B")
    senior.page.click("label[for='birads-L-4']")
    senior.page.click("label[for='density-L-B']")
    wait_saved(senior)
    senior.shot("arbitration-adopted")
    # The same screen on a laptop: everything reachable, the submit button on screen.
    senior.page.set_viewport_size({"width": 1366, "height": 768})
    senior.page.wait_for_timeout(300)
    submit = senior.page.locator("#submit").bounding_box()
    assert submit["y"] + submit["height"] <= 768 and submit["x"] + submit["width"] <= 1366
    senior.page.screenshot(path=str(SCREENSHOTS / "arbitration-adopted-1366x768.png"))
    senior.page.set_viewport_size({"width": 1920, "height": 1080})
    senior.page.keyboard.press("Control+Enter")
    senior.page.wait_for_selector("#submit-dialog[open]")
    senior.page.click("#confirm-submit")
    senior.page.wait_for_url("**/?submitted=*")
    arb_id = int(api(senior.page, "/api/worklist/?state=submitted")["body"]["results"][0]["id"])
    final = api(senior.page, f"/api/assignments/{arb_id}/")["body"]
    assert final["state"] == "submitted"
    assert final["read"]["findings"][0]["source_finding"] is not None

    for session in (reader1, reader2, senior):
        assert session.errors() == []


def test_screens_fit_a_laptop_and_work_by_keyboard(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    from apps.studies.models import Image

    # A right CC whose stored pixels face the other way: the viewer mirrors it, boxes must not be.
    Image.objects.filter(study_id__in=demo_exams.study_ids, laterality="R", view_position="CC").update(
        display_flip_horizontal=True)
    s = open_session("reader1", 1366, 768)
    s.page.wait_for_selector("#worklist tbody tr[data-assignment]")
    s.shot("worklist")
    # Worklist by keyboard: arrows move between exams; filters narrow the list.
    s.page.keyboard.press("ArrowDown")
    s.page.keyboard.press("ArrowDown")
    rows = s.page.locator("#worklist a.exam-link")
    assert s.page.evaluate("document.activeElement.textContent") == rows.nth(1).inner_text()
    s.page.select_option("#filter-state", "submitted")
    s.page.wait_for_selector("#worklist td.empty")
    assert "state=submitted" in s.page.url
    s.page.select_option("#filter-state", "open")
    s.page.wait_for_selector("#worklist tbody tr[data-assignment]")
    assignment_id = open_read_screen(s)
    page = s.page
    for slot in ("RCC", "LCC", "RMLO", "LMLO"):
        c = cell_box(s, slot)
        assert c["x"] >= 0 and c["x"] + c["width"] <= 1366 and c["y"] + c["height"] <= 768
    submit = page.locator("#submit").bounding_box()
    assert submit["y"] + submit["height"] <= 768
    # Right breast on the left of the screen, left breast on the right.
    assert cell_box(s, "RCC")["x"] < cell_box(s, "LCC")["x"]
    assert cell_box(s, "RMLO")["y"] > cell_box(s, "RCC")["y"]
    s.shot("read")

    page.keyboard.press("?")
    page.wait_for_selector("#help-dialog[open]")
    assert "Reset window/level" in page.inner_text("#help-dialog")
    s.shot("help")
    page.keyboard.press("Escape")
    page.wait_for_selector("#help-dialog", state="detached")

    # Tools and toggles from the keyboard.
    page.keyboard.press("h")
    assert page.get_attribute("#tool-pan", "aria-pressed") == "true"
    page.keyboard.press("s")
    assert page.get_attribute("#sync", "aria-pressed") == "false"
    page.keyboard.press("i")
    assert page.get_attribute("#invert", "aria-pressed") == "true"
    page.keyboard.press("i")
    # The breast form is reachable and usable with the keyboard alone.
    page.focus("#birads-R-0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.is_checked("#birads-R-2")
    wait_saved(s)

    # With the select tool a drag on the image (not on a box) is window/level, and R resets it.
    page.keyboard.press("v")
    lcc = cell_box(s, "LCC")
    info = ".mv-cell[data-slot=LCC] .mv-info"
    default_window = page.inner_text(info)
    page.mouse.move(lcc["x"] + lcc["width"] * 0.5, lcc["y"] + lcc["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(lcc["x"] + lcc["width"] * 0.5 + 80, lcc["y"] + lcc["height"] * 0.5 + 40, steps=6)
    page.mouse.up()
    assert page.inner_text(info) != default_window
    assert overlay_boxes(s) == 0
    page.keyboard.press("r")
    assert page.inner_text(info) == default_window

    # Draw on the mirrored RCC: stored coordinates are unmirrored original pixels.
    whole_film(s)
    detail = api(page, f"/api/assignments/{assignment_id}/")["body"]
    rcc = next(i for i in detail["images"] if i["laterality"] == "R" and i["view_position"] == "CC")
    assert rcc["display_flip_horizontal"] is True
    cell = cell_box(s, "RCC")
    page.keyboard.press("b")
    a, b = draw_box(s, "RCC", 0.62, 0.40, 0.78, 0.55)
    page.keyboard.press("8")  # Skin Thickening: no finding BI-RADS
    wait_saved(s)
    box = api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["findings"][0]
    (x0, y0), (x1, y1) = expected_image_point(rcc, cell, *a), expected_image_point(rcc, cell, *b)
    assert x0 > x1  # the drag went right on screen, i.e. towards smaller x in the stored image
    px = 2 / min(cell["width"] / rcc["columns"], cell["height"] / rcc["rows"])
    assert (box["xmin"], box["xmax"]) == (pytest.approx(x1, abs=px), pytest.approx(x0, abs=px))
    assert (box["ymin"], box["ymax"]) == (pytest.approx(y0, abs=px), pytest.approx(y1, abs=px))
    assert box["categories"] == ["Skin Thickening"] and box["birads"] is None

    # Move it with the select tool: 30 px right on screen = 30/scale px LEFT in the stored image.
    page.keyboard.press("v")
    centre = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    page.mouse.move(*centre)
    page.mouse.down()
    page.mouse.move(centre[0] + 30, centre[1] + 10, steps=5)
    page.mouse.up()
    wait_saved(s)
    moved = api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["findings"][0]
    dx = expected_image_point(rcc, cell, centre[0] + 30, centre[1])[0] - expected_image_point(rcc, cell, *centre)[0]
    assert dx < 0
    assert moved["xmin"] - box["xmin"] == pytest.approx(dx, abs=px)
    assert moved["xmax"] - moved["xmin"] == pytest.approx(box["xmax"] - box["xmin"], abs=0.2)

    # Resize from the handle at the bottom-right corner on screen.
    handles = [page.locator(".mv-cell[data-slot=RCC] rect.box-handle").nth(i).bounding_box() for i in range(8)]
    corner = max(handles, key=lambda h: h["x"] + h["y"])
    start = (corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 25, start[1] + 25, steps=5)
    page.mouse.up()
    wait_saved(s)
    resized = api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["findings"][0]
    assert resized["xmax"] - resized["xmin"] > moved["xmax"] - moved["xmin"]
    assert resized["ymax"] > moved["ymax"]
    assert resized["xmax"] == pytest.approx(moved["xmax"], abs=0.2)  # mirrored: screen right = image left
    s.shot("read-keyboard")

    page.keyboard.press("Delete")
    wait_saved(s)
    assert api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["findings"] == []

    # N from the reading screen saves and opens the next unread exam.
    page.keyboard.press("n")
    page.wait_for_url(lambda url: not urlparse(url).path.endswith(f"/{assignment_id}/"))
    page.wait_for_selector("#viewer[data-ready=true]")
    assert "/read/" in page.url
    assert s.errors() == []


def test_a_stale_tab_shows_the_conflict_and_reloads_the_saved_read(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    s = open_session("reader1")
    assignment_id = open_read_screen(s)
    other = s.page.context.new_page()
    other.on("console", lambda m: s.console.append((m.type, m.text, m.location.get("url", ""))))
    other.goto(f"/read/{assignment_id}/")
    other.wait_for_selector("#viewer[data-ready=true]")
    # The second tab saves first; the first tab is now stale.
    other.click("label[for='density-L-C']")
    other.wait_for_selector("#save-status[data-state=saved]")
    expect(other.locator("#save-status")).to_contain_text("saved")
    other.wait_for_timeout(1500)
    s.expected_failures.append(f"/api/assignments/{assignment_id}/read/")
    pick(s, "density-L-A")
    s.page.wait_for_selector("#save-status[data-state=conflict]")
    assert "changed in another tab" in s.page.inner_text("#banner")
    s.shot("conflict")
    # Nothing was overwritten on the server.
    assert api(s.page, f"/api/assignments/{assignment_id}/")["body"]["read"]["breasts"][1]["density"] == "C"
    s.page.click("#banner >> text=Load saved version")
    s.page.wait_for_selector("#save-status[data-state=saved]")
    assert s.page.is_checked("#density-L-C")
    pick(s, "density-L-D")
    wait_saved(s)
    assert api(s.page, f"/api/assignments/{assignment_id}/")["body"]["read"]["breasts"][1]["density"] == "D"
    assert s.errors() == []


def test_admin_sees_links_progress_and_agreement(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    s = open_session("admin")
    s.page.click("a[href='/manage/']")
    s.page.wait_for_selector("#progress-table")
    assert "reader1" in s.page.inner_text("#progress-table")
    links = s.page.locator("#admin-links a")
    assert links.count() >= 5
    s.shot("manage")
    # An admin may look at a reader's assignment, but only its holder can change it.
    from apps.reading.models import Assignment

    foreign = Assignment.objects.filter(reader__username="reader1").order_by("id").first()
    assert foreign is not None
    s.page.goto(f"/read/{foreign.pk}/")
    s.page.wait_for_selector("#viewer[data-ready=true]")
    assert "read-only" in s.page.inner_text("#banner")
    assert s.page.is_disabled("#submit")
    assert s.page.is_disabled("#birads-R-1")
    assert s.errors() == []
