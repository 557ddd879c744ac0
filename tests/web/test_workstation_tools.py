"""Workstation tools in headless Chromium on the real mammograms (issue 12 items 2, 4, 8): the
length tool and box sizes in mm, saved with the read and shown to the arbiter; the magnifier;
reading time. Screenshots land in test-output/screenshots/ (look at them)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.web.browser import Demo, Session
from tests.web.test_reading_in_browser import api, open_read_screen, pick, wait_saved
from tests.web.test_reading_workstation import drag, image_of, page_point, view_transform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def set_spacing(demo: Demo) -> None:
    """The demo files state no spacing: give the RCC an ImagerPixelSpacing and the LCC a
    PixelSpacing (different row/column values, so x and y must each use their own)."""
    from apps.studies.models import Image

    Image.objects.filter(study_id__in=demo.study_ids, laterality="R", view_position="CC").update(
        pixel_spacing_row=0.07, pixel_spacing_col=0.06, pixel_spacing_source="ImagerPixelSpacing")
    Image.objects.filter(study_id__in=demo.study_ids, laterality="L", view_position="CC").update(
        pixel_spacing_row=0.065, pixel_spacing_col=0.065, pixel_spacing_source="PixelSpacing")


def mm(m: dict[str, Any], image: dict[str, Any]) -> float:
    row, col = image["pixel_spacing"]
    return math.hypot((m["x2"] - m["x1"]) * col, (m["y2"] - m["y1"]) * row)


def labels(s: Session, slot: str, cls: str = "meas-own") -> list[str]:
    return [t.text_content() for t in s.page.locator(f".mv-cell[data-slot={slot}] text.measure-label.{cls}").all()]


def test_lengths_and_box_sizes_in_mm_are_saved_audited_and_shown_to_the_arbiter(
        demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    from apps.reading.models import Assignment, AssignmentKind, AuditEvent
    from apps.reading.services import read_save, read_submit
    from tests.reading.helpers import breasts

    set_spacing(demo_exams)
    s = open_session("reader1")
    page = s.page
    assignment_id = open_read_screen(s)
    detail = api(page, f"/api/assignments/{assignment_id}/")["body"]
    rcc, lcc = image_of(detail, "R", "CC"), image_of(detail, "L", "CC")
    assert rcc["pixel_spacing_source"] == "ImagerPixelSpacing" and lcc["pixel_spacing_source"] == "PixelSpacing"

    # D, then drag across the RCC's breast: 600 px across and 400 px down in image pixels.
    page.keyboard.press("d")
    assert page.get_attribute("#tool-measure", "aria-pressed") == "true"
    tb = rcc["tissue_bounds"]
    x0, y0 = (tb["xmin"] + tb["xmax"]) / 2 - 300, (tb["ymin"] + tb["ymax"]) / 2 - 200
    t = view_transform(s, "RCC")
    drag(s, page_point(t, x0, y0), page_point(t, x0 + 600, y0 + 400))
    wait_saved(s)
    read = api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]
    (m,) = read["measurements"]
    # Where the pointer landed is within a screen pixel of what was aimed at, in image pixels.
    one_px = 1 / t["scale"]
    assert abs(m["x1"] - x0) <= 1.5 * one_px and abs(m["y2"] - (y0 + 400)) <= 1.5 * one_px
    assert m["length_mm"] == pytest.approx(mm(m, rcc), abs=0.01)
    assert m["length_mm"] == pytest.approx(math.hypot(600 * 0.06, 400 * 0.07), abs=0.2)
    assert m["spacing_source"] == "ImagerPixelSpacing"
    assert labels(s, "RCC") == [f"{m['length_mm']:.1f} mm at detector"]
    assert page.inner_text("#measurement-list").count("at detector") == 1

    # On the LCC (PixelSpacing) the label has no "at detector"; a box shows W x H in mm.
    t = view_transform(s, "LCC")
    tb = lcc["tissue_bounds"]
    cx, cy = (tb["xmin"] + tb["xmax"]) / 2, (tb["ymin"] + tb["ymax"]) / 2
    drag(s, page_point(t, cx - 100, cy), page_point(t, cx + 300, cy))
    page.keyboard.press("b")
    drag(s, page_point(t, cx - 200, cy - 150), page_point(t, cx + 200, cy + 150))
    page.wait_for_selector("#finding-editor")
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit4")
    pick(s, "birads-L-4")
    pick(s, "density-L-B")
    pick(s, "birads-R-1")
    pick(s, "density-R-B")
    wait_saved(s)
    read = api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]
    assert len(read["measurements"]) == 2
    lcc_m = next(x for x in read["measurements"] if x["image"] == lcc["id"])
    assert labels(s, "LCC") == [f"{lcc_m['length_mm']:.1f} mm"]
    (box,) = read["findings"]
    size = page.inner_text(f"[data-size='{box['key']}']")
    w, h = (box["xmax"] - box["xmin"]) * 0.065, (box["ymax"] - box["ymin"]) * 0.065
    assert size == f"{w:.1f} × {h:.1f} mm"
    s.shot("workstation-measurements")

    # Select a line with V and delete it with Del; then draw it again (audited each time).
    page.keyboard.press("v")
    a = page_point(t, cx - 100, cy)
    b = page_point(t, cx + 300, cy)
    page.mouse.click(a[0] + (b[0] - a[0]) * 0.95, a[1])
    page.wait_for_selector(f".mv-cell[data-slot=LCC] line.measure.selected[data-key='{lcc_m['key']}']",
                          state="attached")  # a horizontal line has no height: never "visible"
    page.keyboard.press("Delete")
    wait_saved(s)
    assert len(api(page, f"/api/assignments/{assignment_id}/")["body"]["read"]["measurements"]) == 1
    assert labels(s, "LCC") == []
    events = AuditEvent.objects.filter(action="measurements_update", object_type="read", actor__username="reader1")
    assert events.count() >= 3 and len(events.latest("id").after) == 1

    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-dialog[open]")
    page.click("#confirm-submit")
    page.wait_for_url("**/?submitted=*")

    # reader2 reads it differently (no finding): discordant; the arbiter sees read A's length.
    mine = Assignment.objects.get(pk=assignment_id)
    theirs = Assignment.objects.get(study_id=mine.study_id, kind=AssignmentKind.SECOND
                                    if mine.kind == AssignmentKind.FIRST else AssignmentKind.FIRST)
    saved = read_save(actor=theirs.reader, assignment_id=theirs.pk, version=theirs.version,
                      breasts=breasts((1, "B"), (1, "B")), findings=[])
    read_submit(actor=theirs.reader, assignment_id=theirs.pk, version=saved.assignment.version)
    arbitration = Assignment.objects.get(study_id=mine.study_id, kind=AssignmentKind.ARBITRATION)
    senior = open_session("senior1")
    senior.page.goto(f"/arbitrate/{arbitration.pk}/")
    senior.page.wait_for_selector("#viewer[data-ready=true]")
    tag = "a" if mine.kind == AssignmentKind.FIRST else "b"
    shown = labels(senior, "RCC", f"meas-{tag}")
    assert shown == [f"{tag.upper()}: {m['length_mm']:.1f} mm at detector"]
    senior.shot("workstation-arbiter-sees-measurement")
    assert s.errors() == [] and senior.errors() == []


def grey(s: Session, rect: dict[str, float]) -> Any:
    """The page's pixels inside `rect` as a float grey array."""
    import io

    import numpy as np
    from PIL import Image as PILImage

    png = s.page.screenshot(clip={"x": rect["x"], "y": rect["y"], "width": rect["width"], "height": rect["height"]})
    return np.asarray(PILImage.open(io.BytesIO(png)).convert("L"), dtype=np.float64)


def correlation(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_the_magnifier_follows_the_pointer_at_full_depth_with_the_current_window(
        demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image as PILImage

    s = open_session("reader1")
    page = s.page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url.rstrip("/").rsplit("/", 1)[1]) if "/file/" in r.url else None)
    assignment_id = open_read_screen(s)
    detail = api(page, f"/api/assignments/{assignment_id}/")["body"]
    lcc = image_of(detail, "L", "CC")
    assert all("depth" in i["urls"] for i in detail["images"])
    for slot in ("RCC", "LCC", "RMLO", "LMLO"):  # the full-resolution 16-bit data on every view
        page.wait_for_selector(f".mv-cell[data-slot={slot}] .mv-viewport[data-status=full][data-resolution=full]")
    # Full bit depth came first from the reduced PNGs: all four before any full-resolution one.
    kinds = [k for k in requested if k in ("depth", "full")]
    assert kinds[:4] == ["depth"] * 4 and kinds.count("full") == 4, kinds
    tb = lcc["tissue_bounds"]
    t = view_transform(s, "LCC")
    at = page_point(t, (tb["xmin"] + tb["xmax"]) / 2, (tb["ymin"] + tb["ymax"]) / 2)
    page.mouse.move(*at)
    size = 280
    rect = {"x": at[0] - size / 2, "y": at[1] - size / 2, "width": size, "height": size}
    page.wait_for_timeout(200)
    plain = grey(s, rect)

    # X: a 2x loupe centred on the pointer, drawn from the 16-bit data.
    page.keyboard.press("x")
    assert page.get_attribute(".mv-hanging", "data-loupe") == "2x"
    page.mouse.move(at[0] + 1, at[1])
    page.mouse.move(*at)
    loupe = page.locator(".mv-cell[data-slot=LCC] .mv-loupe")
    loupe.wait_for(state="visible")
    assert loupe.get_attribute("data-factor") == "2" and loupe.get_attribute("data-depth") == "full"
    box = loupe.bounding_box()
    assert box["width"] == pytest.approx(size) and box["x"] + size / 2 == pytest.approx(at[0], abs=1)
    info = page.evaluate("() => window.__mammolab.layout.viewport('LCC').loupeInfo")
    assert info["imagePerCss"] == pytest.approx(1 / t["scale"] / 2, rel=1e-6)
    centre = page.evaluate("(p) => window.__mammolab.layout.viewport('LCC').screenToImage(p)",
                           {"x": at[0] - t["left"], "y": at[1] - t["top"]})
    assert info["center"]["x"] == pytest.approx(centre["x"]) and info["center"]["y"] == pytest.approx(centre["y"])
    magnified = grey(s, rect)
    s.shot("workstation-loupe-2x")
    # What the loupe shows is the middle half of the plain view, twice as large.
    middle = plain[size // 4: 3 * size // 4, size // 4: 3 * size // 4]
    upscaled = np.asarray(PILImage.fromarray(middle.astype(np.uint8)).resize((size, size), PILImage.BILINEAR),
                          dtype=np.float64)
    inner = slice(8, size - 8)  # inside the frame
    assert correlation(magnified[inner, inner], upscaled[inner, inner]) > 0.8
    assert correlation(magnified[inner, inner], plain[inner, inner]) < correlation(
        magnified[inner, inner], upscaled[inner, inner]) - 0.1

    # X again: 4x; ]: larger. The other views show no loupe while the pointer is elsewhere.
    page.keyboard.press("x")
    page.keyboard.press("]")
    page.mouse.move(at[0] + 1, at[1])
    page.wait_for_timeout(200)
    assert loupe.get_attribute("data-factor") == "4"
    assert loupe.bounding_box()["width"] == pytest.approx(size + 40)
    info = page.evaluate("() => window.__mammolab.layout.viewport('LCC').loupeInfo")
    assert info["imagePerCss"] == pytest.approx(1 / t["scale"] / 4, rel=1e-6)
    assert page.locator(".mv-cell[data-slot=RCC] .mv-loupe").is_hidden()

    # The current window applies in the loupe: a window a quarter as wide raises its contrast.
    page.mouse.move(*at)
    page.wait_for_timeout(200)
    before = grey(s, rect)[inner, inner]
    page.evaluate("""() => { const vp = window.__mammolab.layout.viewport('LCC'); const w = vp.getWindow();
                             vp.setWindow(w.center, w.width / 4); }""")
    page.wait_for_timeout(300)
    after = grey(s, rect)[inner, inner]
    assert after.std() > before.std() * 1.5
    s.shot("workstation-loupe-4x-narrow-window")

    page.keyboard.press("x")
    assert page.get_attribute(".mv-hanging", "data-loupe") == "off"
    page.mouse.move(at[0] + 2, at[1])
    page.wait_for_timeout(200)
    assert loupe.is_hidden()

    # A linked window/level drag draws every view at half resolution while it runs (four views
    # per frame on a software rasteriser), and at full resolution again once it pauses.
    page.keyboard.press("v")
    page.mouse.move(*at)
    page.mouse.down()
    during = page.evaluate("""([x, y]) => {
        const vp = window.__mammolab.layout.viewport('LCC');
        vp.root.dispatchEvent(new PointerEvent('pointermove', {pointerId: 1, pointerType: 'mouse',
            isPrimary: true, buttons: 1, bubbles: true, clientX: x + 40, clientY: y + 20}));
        return [...document.querySelectorAll('.mv-viewport')].map((v) => v.dataset.quality); }""", list(at))
    assert during == ["interactive"] * 4
    page.mouse.up()
    page.wait_for_function("""() => [...document.querySelectorAll('.mv-viewport')].every((v) =>
        v.dataset.quality === 'full' &&
        v.querySelector('canvas').width === Math.round(v.querySelector('canvas').clientWidth * devicePixelRatio))""")
    page.keyboard.press("?")
    assert "Magnifier" in page.inner_text("#help-dialog")
    assert s.errors() == []


def test_active_reading_time_leaves_out_blur_and_idle_pauses_and_shows_on_the_manage_page(
        demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    import time

    from apps.reading.models import Assignment
    from apps.studies.models import Project

    Project.objects.filter(slug="demo").update(settings={**Project.objects.get(slug="demo").settings,
                                                         "reading_idle_seconds": 5})
    s = open_session("reader1")
    page = s.page
    started = time.monotonic()
    assignment_id = open_read_screen(s)
    assert page.get_attribute("#viewer", "data-timing") == "on"
    t = view_transform(s, "RCC")
    for i in range(12):  # ~3 s of reading with the pointer
        page.mouse.move(t["left"] + 100 + i * 10, t["top"] + 200)
        page.wait_for_timeout(250)
    busy = time.monotonic() - started
    # Another window takes the focus for 2 s, then the reader sits still for 6 s (> 5 s idle).
    page.evaluate("() => window.dispatchEvent(new Event('blur'))")
    page.wait_for_timeout(2000)
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    page.wait_for_timeout(6000)
    page.mouse.move(t["left"] + 50, t["top"] + 50)
    for choice in ("birads-R-1", "density-R-B", "birads-L-1", "density-L-B"):
        pick(s, choice)
    wait_saved(s)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-dialog[open]")
    page.click("#confirm-submit")
    page.wait_for_url("**/?submitted=*")
    wall = time.monotonic() - started
    active = Assignment.objects.get(pk=assignment_id).active_seconds
    # The pointer stretch counts; the blurred 2 s and the idle 6 s do not.
    assert active >= int(busy) - 2
    assert active <= wall - 8 + 1
    assert s.errors() == []

    admin = open_session("admin")
    admin.page.goto("/manage/?project=demo")
    row = admin.page.locator("#progress-table tr[data-reader=reader1]")
    row.wait_for()
    minutes, seconds = divmod(active, 60)
    assert row.locator(".reading-time").inner_text() == f"{minutes}:{seconds:02d}"
    assert row.locator(".reading-time-mean").inner_text() == f"{minutes}:{seconds:02d}"
    admin.shot("manage-reading-time")


def test_the_review_grid_shows_masks_over_tissue_before_approval(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    from apps.studies import services
    from apps.studies.models import Image
    from tests.studies.conftest import cbis_cases

    case = cbis_cases()[0]
    # A project masking the four corners of the stored image (the chest-wall ones hold tissue),
    # and one on the default (far side only).
    corners = services.project_get_or_create(actor=None, slug="corners", name="Four corners")
    corners.settings = {"corner_mask": {"frame": "image", "rects": [
        [0.0, 0.0, 0.12, 0.06], [0.88, 0.0, 1.0, 0.06], [0.0, 0.94, 0.12, 1.0], [0.88, 0.94, 1.0, 1.0]]}}
    corners.save()
    default = services.project_get_or_create(actor=None, slug="default-masks", name="Default masks")
    for project, exam in ((corners, "A"), (default, "B")):
        services.batch_create(actor=None, project=project, sources=services.sources_from_paths(list(case.values())),
                              manifest={str(p): exam for p in case.values()}, keep_ids=False)
        assert Image.objects.filter(project=project).count() == 4
    s = open_session("admin")
    s.expected_failures.append("/favicon.ico")  # the Django admin links none
    page = s.page
    page.goto("/admin/studies/image/review/?project=corners")
    page.wait_for_selector("fieldset.review-exam img")
    page.wait_for_function("() => [...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    flags = page.locator(".mask-overlap")
    assert flags.count() >= 1
    # The flagged boxes are drawn solid over their thumbnail, inside the thumbnail's frame.
    for solid in page.locator(".corner-mask.over-tissue").all():
        box = solid.bounding_box()
        frame = solid.locator("xpath=..").bounding_box()
        assert box["x"] >= frame["x"] - 1 and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    assert "mask over tissue" in flags.first.inner_text()
    s.shot("review-grid-mask-over-tissue")

    page.goto("/admin/studies/image/review/?project=default-masks")
    page.wait_for_selector("fieldset.review-exam img")
    page.wait_for_function("() => [...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    assert page.locator(".corner-mask").count() == 8 and page.locator(".mask-overlap").count() == 0
    # Each thumbnail's masks sit on the half away from its chest wall (the burned-in labels' side).
    for thumb in page.locator("fieldset.review-exam .corner-mask").all():
        box, frame = thumb.bounding_box(), thumb.locator("xpath=..").bounding_box()
        middle = frame["x"] + frame["width"] / 2
        assert box["x"] >= middle - 1 or box["x"] + box["width"] <= middle + 1
    s.shot("review-grid-default-masks")
    assert s.errors() == []
