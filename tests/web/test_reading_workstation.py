"""The reading workstation in headless Chromium on the real mammograms (issue 12): submit lists
what blocks it, labels stay on screen, boxes on background are flagged, fit to breast, true size,
linked window/level, layouts. Screenshots land in test-output/screenshots/ (look at them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.browser import Demo, Session
from tests.web.test_reading_in_browser import api, cell_box, open_read_screen, pick, wait_saved

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def view_transform(s: Session, slot: str) -> dict[str, Any]:
    """The viewer's own image->screen mapping of one view, read through its public API."""
    return s.page.evaluate(
        """(slot) => { const cell = document.querySelector(`.mv-cell[data-slot=${slot}]`);
                       const r = cell.getBoundingClientRect();
                       const vp = window.__mammolab.layout.viewport(slot);
                       const o = vp.imageToScreen({x: 0, y: 0}), one = vp.imageToScreen({x: 1, y: 1});
                       return {left: r.left, top: r.top, width: r.width, height: r.height, scale: vp.scale,
                               ox: o.x, oy: o.y, sx: one.x - o.x, sy: one.y - o.y}; }""", slot)


def page_point(t: dict[str, Any], x: float, y: float) -> tuple[float, float]:
    """Where the ORIGINAL image point (x, y) is on the page (mirroring included via sx's sign)."""
    return t["left"] + t["ox"] + x * t["sx"], t["top"] + t["oy"] + y * t["sy"]


def drag(s: Session, a: tuple[float, float], b: tuple[float, float]) -> None:
    s.page.mouse.move(*a)
    s.page.mouse.down()
    s.page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    s.page.mouse.move(*b, steps=4)
    s.page.mouse.up()


def image_of(detail: dict[str, Any], laterality: str, view: str) -> dict[str, Any]:
    return next(i for i in detail["images"] if i["laterality"] == laterality and i["view_position"] == view)


def test_submit_lists_its_blockers_labels_stay_on_screen_and_background_boxes_warn(
        demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    s = open_session("reader1")
    page = s.page
    assignment_id = open_read_screen(s)
    detail = api(page, f"/api/assignments/{assignment_id}/")["body"]
    lcc, rcc = image_of(detail, "L", "CC"), image_of(detail, "R", "CC")
    assert lcc["tissue_bounds"] is not None and rcc["tissue_bounds"] is not None
    page.keyboard.press("b")

    # 1. A box on the LCC's background (beyond the breast's tissue bounds, away from the chest wall).
    t = view_transform(s, "LCC")
    tb = lcc["tissue_bounds"]
    x0 = tb["xmax"] + (lcc["columns"] - tb["xmax"]) * 0.3
    drag(s, page_point(t, x0, tb["ymin"] + 40), page_point(t, x0 + 200, tb["ymin"] + 240))
    page.wait_for_selector("#finding-editor")
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit3")

    # 2. A box against the RCC's chest wall, at the centre line: its label must not run past it.
    t = view_transform(s, "RCC")
    tb = rcc["tissue_bounds"]
    chest_x = tb["xmax"] if not rcc["display_flip_horizontal"] else tb["xmin"]
    inward = -1 if not rcc["display_flip_horizontal"] else 1
    mid_y = (tb["ymin"] + tb["ymax"]) / 2
    page.keyboard.press("b")
    drag(s, page_point(t, chest_x + inward * 260, mid_y), page_point(t, chest_x + inward * 20, mid_y + 220))
    page.keyboard.press("2")  # Suspicious Calcification
    page.keyboard.press("Shift+Digit3")

    pick(s, "birads-R-3")
    pick(s, "density-R-B")
    wait_saved(s)
    rcc_cell = cell_box(s, "RCC")
    for label in page.locator(".mv-cell[data-slot=RCC] text.box-label").all():
        box = label.bounding_box()
        assert box["x"] >= rcc_cell["x"] and box["x"] + box["width"] <= rcc_cell["x"] + rcc_cell["width"] + 0.5
        assert box["y"] >= rcc_cell["y"] and box["y"] + box["height"] <= rcc_cell["y"] + rcc_cell["height"] + 0.5
    assert "BI-RADS 3" in page.text_content(".mv-cell[data-slot=RCC] text.box-label")

    saved = api(page, f"/api/assignments/{assignment_id}/")["body"]
    background = [v for v in saved["violations"] if v["rule"] == "BOX_ON_BACKGROUND"]
    assert len(background) == 1 and background[0]["severity"] == "warning"
    assert background[0]["laterality"] == "L"

    # 3. Submit with the left breast not assessed: the dialog lists it and Confirm stays disabled.
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-dialog[open]")
    blockers = page.inner_text("#submit-blockers")
    assert "Left breast BI-RADS" in blockers and "Left breast density" in blockers
    assert page.is_disabled("#confirm-submit")
    assert "wholly on background" in page.inner_text("#submit-dialog")  # the warning, not a blocker
    s.shot("workstation-submit-blocked")
    page.keyboard.press("Escape")

    # 4. BI-RADS 1 on the left breast: the server's rule error is listed by its code, still blocked.
    pick(s, "birads-L-1")
    pick(s, "density-L-B")
    wait_saved(s)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-dialog[open]")
    page.wait_for_selector("#submit-blockers [data-rule=NO_FINDING_ON_BIRADS_1]")
    assert "Missing" not in page.inner_text("#submit-blockers")
    assert page.is_disabled("#confirm-submit")
    page.keyboard.press("Escape")

    # 5. Fixed: nothing blocks, Confirm is enabled and submits despite the warning.
    pick(s, "birads-L-3")
    wait_saved(s)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-dialog[open]")
    assert page.inner_text("#submit-blockers").strip() == ""
    assert page.is_enabled("#confirm-submit")
    s.shot("workstation-submit-ready")
    page.click("#confirm-submit")
    page.wait_for_url("**/?submitted=*")
    assert api(page, f"/api/assignments/{assignment_id}/")["body"]["state"] == "submitted"
    assert s.errors() == []
