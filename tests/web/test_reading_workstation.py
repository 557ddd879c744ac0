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


def tissue_on_page(s: Session, image: dict[str, Any], slot: str) -> dict[str, float]:
    t = view_transform(s, slot)
    b = image["tissue_bounds"]
    (x0, y0), (x1, y1) = page_point(t, b["xmin"], b["ymin"]), page_point(t, b["xmax"], b["ymax"])
    return {"left": min(x0, x1), "right": max(x0, x1), "top": min(y0, y1), "bottom": max(y0, y1),
            "scale": t["scale"]}


def assert_fitted_to_breast(s: Session, images: dict[str, dict[str, Any]], slots: tuple[str, ...]) -> None:
    """Each breast inside its cell, its chest wall on the centre line, one scale for all shown."""
    scales = []
    for slot in slots:
        cell = cell_box(s, slot)
        tissue = tissue_on_page(s, images[slot], slot)
        assert tissue["left"] >= cell["x"] - 1 and tissue["right"] <= cell["x"] + cell["width"] + 1, slot
        assert tissue["top"] >= cell["y"] - 1 and tissue["bottom"] <= cell["y"] + cell["height"] + 1, slot
        if slot.startswith("R"):
            assert tissue["right"] == pytest.approx(cell["x"] + cell["width"], abs=1.5), slot
        else:
            assert tissue["left"] == pytest.approx(cell["x"], abs=1.5), slot
        # Vertically centred on the breast.
        assert (tissue["top"] + tissue["bottom"]) / 2 == pytest.approx(cell["y"] + cell["height"] / 2, abs=1.5)
        scales.append(tissue["scale"])
    # Same size (no pixel spacing in these files: the same screen px per image px).
    assert max(scales) == pytest.approx(min(scales), rel=1e-6)
    # The largest such scale: at least one breast fills its cell's width or height.
    assert any(
        (t := tissue_on_page(s, images[slot], slot))["bottom"] - t["top"] >= cell_box(s, slot)["height"] - 2
        or t["right"] - t["left"] >= cell_box(s, slot)["width"] - 2 for slot in slots)


def window_of(s: Session, slot: str) -> dict[str, float]:
    return s.page.evaluate("(slot) => window.__mammolab.layout.viewport(slot).getWindow()", slot)


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)])
def test_views_open_fitted_to_the_breast_with_fit_modes_layouts_and_linked_window(
        demo_exams: Demo, open_session, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    from apps.studies.models import Image

    # The LMLO states a pixel spacing (the others do not), for true size.
    Image.objects.filter(study_id__in=demo_exams.study_ids, laterality="L", view_position="MLO").update(
        pixel_spacing_row=0.05, pixel_spacing_col=0.05)
    s = open_session("reader1", *size)
    page = s.page
    assignment_id = open_read_screen(s)
    detail = api(page, f"/api/assignments/{assignment_id}/")["body"]
    images = {f"{i['laterality']}{i['view_position']}": i for i in detail["images"]}
    assert page.get_attribute(".mv-hanging", "data-fit-mode") == "breast"
    assert_fitted_to_breast(s, images, ("RCC", "LCC", "RMLO", "LMLO"))
    s.shot("workstation-fit-breast")
    breast_scale = view_transform(s, "RCC")["scale"]

    # Z: whole film (smaller), true size, 1:1 pixels, back to the breast.
    page.keyboard.press("z")
    page.wait_for_selector(".mv-hanging[data-fit-mode=film]")
    rcc = images["RCC"]
    cell = cell_box(s, "RCC")
    film_scale = view_transform(s, "RCC")["scale"]
    assert film_scale == pytest.approx(min(cell["width"] / rcc["columns"], cell["height"] / rcc["rows"]), rel=1e-3)
    assert breast_scale > film_scale * 1.2
    s.shot("workstation-fit-film")
    page.keyboard.press("z")
    page.wait_for_selector(".mv-hanging[data-fit-mode=trueSize]")
    # 1 mm at the detector = 96/25.4 CSS px (CSS reference pixel): 0.05 mm/px -> 0.189 px per px.
    assert view_transform(s, "LMLO")["scale"] == pytest.approx(0.05 * 96 / 25.4, rel=1e-3)
    assert "size unknown" in page.inner_text("#fit-mode")  # the other views state no spacing
    page.keyboard.press("z")
    page.wait_for_selector(".mv-hanging[data-fit-mode=pixels]")
    assert view_transform(s, "LCC")["scale"] == pytest.approx(1.0, rel=1e-3)  # device_scale_factor 1
    page.keyboard.press("z")
    page.wait_for_selector(".mv-hanging[data-fit-mode=breast]")

    # Window/level is linked across the views by default; L unlinks it.
    page.keyboard.press("v")
    lcc = cell_box(s, "LCC")
    before = window_of(s, "RCC")
    page.mouse.move(lcc["x"] + lcc["width"] * 0.3, lcc["y"] + lcc["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(lcc["x"] + lcc["width"] * 0.3 + 90, lcc["y"] + lcc["height"] * 0.5 + 50, steps=6)
    page.mouse.up()
    dragged = window_of(s, "LCC")
    assert dragged != before
    for slot in ("RCC", "RMLO", "LMLO"):
        assert window_of(s, slot) == pytest.approx(dragged)
    page.keyboard.press("l")
    assert page.get_attribute("#link-wl", "aria-pressed") == "false"
    page.mouse.move(lcc["x"] + lcc["width"] * 0.3, lcc["y"] + lcc["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(lcc["x"] + lcc["width"] * 0.3 - 60, lcc["y"] + lcc["height"] * 0.5 - 40, steps=6)
    page.mouse.up()
    assert window_of(s, "LCC") != dragged and window_of(s, "RCC") == pytest.approx(dragged)
    # The tissue-derived window: each view gets its own breast's window.
    page.select_option("#preset", "tissue")
    for slot in ("RCC", "LCC", "RMLO", "LMLO"):
        tw = images[slot]["tissue_window"]
        assert window_of(s, slot) == pytest.approx({"center": tw["center"], "width": tw["width"]})
    page.keyboard.press("r")

    # Layouts: CC only, MLO only, one view, four views; mirrored and chest-wall-justified in each.
    page.keyboard.press("c")
    page.wait_for_selector(".mv-hanging[data-layout=cc]")
    page.wait_for_timeout(200)  # the cells' resize reaches the viewports on the next frame
    assert page.locator(".mv-cell[data-slot=RMLO]").is_hidden()
    grid = page.locator(".mv-hanging-grid").bounding_box()
    assert cell_box(s, "RCC")["height"] >= grid["height"] - 2
    assert cell_box(s, "RCC")["x"] < cell_box(s, "LCC")["x"]
    assert_fitted_to_breast(s, images, ("RCC", "LCC"))
    s.shot("workstation-layout-cc")
    page.keyboard.press("m")
    page.wait_for_selector(".mv-hanging[data-layout=mlo]")
    page.wait_for_timeout(200)
    assert page.locator(".mv-cell[data-slot=LCC]").is_hidden()
    assert_fitted_to_breast(s, images, ("RMLO", "LMLO"))
    s.shot("workstation-layout-mlo")
    lmlo = cell_box(s, "LMLO")
    page.mouse.move(lmlo["x"] + lmlo["width"] / 2, lmlo["y"] + lmlo["height"] / 2)
    page.keyboard.press("o")
    page.wait_for_selector(".mv-hanging[data-layout=one]")
    page.wait_for_timeout(200)
    assert page.locator(".mv-cell[data-slot=RMLO]").is_hidden()
    one = cell_box(s, "LMLO")
    assert one["width"] >= grid["width"] - 2
    tissue = tissue_on_page(s, images["LMLO"], "LMLO")
    assert tissue["left"] == pytest.approx(one["x"], abs=1.5)  # left breast: chest wall on the left
    s.shot("workstation-layout-one")
    page.keyboard.press("o")
    page.wait_for_selector(".mv-hanging[data-layout=mlo]")
    page.keyboard.press("g")
    page.wait_for_selector(".mv-hanging[data-layout=four]")
    page.wait_for_timeout(200)
    assert_fitted_to_breast(s, images, ("RCC", "LCC", "RMLO", "LMLO"))
    assert s.errors() == []
