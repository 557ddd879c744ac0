"""Current vs prior in headless Chromium on the real mammograms (issue 12 item 6): P hangs the
current exam's view pair over the same pair of the patient's earlier exam, labelled with the
prior's final read. Screenshots land in test-output/screenshots/ (look at them)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.web.browser import Demo, Session
from tests.web.test_reading_in_browser import api, open_read_screen
from tests.web.test_workstation_tools import grey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def one_patient(demo: Demo, *, final: bool = True) -> tuple[int, int]:
    """The two demo exams as two exams of one patient, the second two years before the first,
    and that prior read alike by reader2 and senior1 with one Mass box on its LCC (final), or only
    saved by reader2 with a box (`final=False`); reader1 holds nothing of it. Returns (current,
    prior) study pks."""
    from apps.reading.models import Assignment
    from apps.reading.services import assignment_reassign, read_save
    from apps.studies.models import Image, Study, StudyState
    from tests.reading.helpers import breasts, finding, save_and_submit

    current, prior = demo.study_ids
    Study.objects.filter(pk=current).update(patient_key="c" * 32, exam_date=datetime.date(2020, 5, 4))
    Study.objects.filter(pk=prior).update(patient_key="c" * 32, exam_date=datetime.date(2018, 5, 3))
    assignment_reassign(actor=demo.users["admin"], reader=demo.users["senior1"],
                        assignment_id=Assignment.objects.get(study_id=prior, reader__username="reader1").pk)
    lcc = Image.objects.get(series__study_id=prior, laterality="L", view_position="CC")
    box = [finding(lcc, box=prior_box(lcc.columns, lcc.rows), categories=["Mass"], birads=4)]
    if not final:
        a = Assignment.objects.get(study_id=prior, reader__username="reader2")
        read_save(actor=demo.users["reader2"], assignment_id=a.pk, version=a.version,
                  breasts=breasts((2, "C"), (4, "C")), findings=box)
        return current, prior
    for username in ("senior1", "reader2"):
        save_and_submit(Assignment.objects.get(study_id=prior, reader__username=username), demo.users[username],
                        breasts((2, "C"), (4, "C")), box)
    assert Study.objects.get(pk=prior).state == StudyState.FINAL
    return current, prior


def prior_box(columns: int, rows: int) -> tuple[float, float, float, float]:
    """The prior's box on its LCC, original image pixels: inside the film, away from the chest
    wall and the top and bottom edges."""
    return round(columns * 0.3), round(rows * 0.4), round(columns * 0.5), round(rows * 0.55)


def whole_film_rect(image: dict[str, Any], cell: dict[str, float], box: tuple[float, float, float, float]
                    ) -> dict[str, float]:
    """Where an image box must be on the page in whole-film fit, from the hanging rules (the
    inverse of test_reading_in_browser.expected_image_point): fitted whole, a left-breast view
    against its cell's left edge, mirrored when display_flip_horizontal says so."""
    scale = min(cell["width"] / image["columns"], cell["height"] / image["rows"])
    shown_w, shown_h = image["columns"] * scale, image["rows"] * scale
    left = cell["x"] if image["laterality"] == "L" else cell["x"] + cell["width"] - shown_w
    top = cell["y"] + (cell["height"] - shown_h) / 2
    xs = [image["columns"] - x if image["display_flip_horizontal"] else x for x in (box[0], box[2])]
    return {"x": left + min(xs) * scale, "y": top + box[1] * scale,
            "width": abs(xs[1] - xs[0]) * scale, "height": (box[3] - box[1]) * scale}


def cells(s: Session, host: str, view: str) -> list[dict[str, float]]:
    return [s.page.locator(f"{host} .mv-cell[data-slot={side}{view}]").bounding_box() for side in "RL"]


def drawn(s: Session, box: dict[str, float]) -> float:
    """How much of a cell is lit: breast tissue drawn, not an empty black viewport."""
    return float((grey(s, box) > 40).mean())


def state(s: Session, layout: str, slot: str) -> dict[str, Any]:
    """A view's zoom/pan, window and fit, through the viewer's public API (`layout` or `prior`)."""
    return s.page.evaluate(
        """([layout, slot]) => { const vp = window.__mammolab[layout].viewport(slot);
                                 return {view: vp.getView(), window: vp.getWindow(), fitted: vp.fitted}; }""",
        [layout, slot])


def image_at(images: list[dict[str, Any]], slot: str) -> dict[str, Any]:
    return next(i for i in images if f"{i['laterality']}{i['view_position']}" == slot)


def shared(image: dict[str, Any], view: dict[str, float]) -> tuple[float, float]:
    """The view centre as fractions of the displayed image, across from the chest wall and down."""
    shown_x = image["columns"] - view["centerX"] if image["display_flip_horizontal"] else view["centerX"]
    u = shown_x / image["columns"]
    return (1 - u if image["laterality"] == "R" else u), view["centerY"] / image["rows"]


def test_p_shows_the_current_pair_over_the_prior_pair_with_its_final_read(
        demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    from apps.reading.models import Assignment

    current, prior = one_patient(demo_exams)
    s = open_session("reader1")
    page = s.page
    assignment_id = open_read_screen(s)
    assert Assignment.objects.get(pk=assignment_id).study_id == current
    priors = api(page, f"/api/assignments/{assignment_id}/priors/")["body"]
    assert [p["study"]["id"] for p in priors] == [prior] and priors[0]["days_before"] == 732
    page.wait_for_selector("#priors:not([disabled])")

    page.keyboard.press("p")
    page.wait_for_selector("#viewer[data-prior-ready=true]")
    assert page.get_attribute("#viewer", "data-compare-pair") == "cc"
    label = page.inner_text(".compare-prior")
    assert "Prior exam" in label and "2 y earlier" in label and "final read: R BI-RADS 2, L BI-RADS 4, 1 finding" in label
    assert page.inner_text(".compare-current").startswith("Current exam")
    page.wait_for_timeout(500)
    s.shot("priors-cc-current-over-prior")
    now, before = cells(s, "#viewer > .mv-hanging", "CC"), cells(s, ".prior-host", "CC")
    for c, p in zip(now, before, strict=True):
        # Each current view above its prior, in the same column; both drawn.
        assert p["y"] >= c["y"] + c["height"] and p["x"] == pytest.approx(c["x"], abs=2)
        assert drawn(s, c) > 0.05 and drawn(s, p) > 0.03
    assert page.locator("#viewer > .mv-hanging .mv-cell[data-slot=RMLO]").is_hidden()

    # Zoom and pan on a current view: the prior view below shows the same part of its breast at
    # the same zoom (the pair rule: zoom relative to whole-film fit, centre as a fraction of the
    # displayed image from the chest wall); with sync on, the other breast and its prior too.
    detail = api(page, f"/api/assignments/{assignment_id}")["body"]
    rcc = now[0]
    page.mouse.move(rcc["x"] + rcc["width"] * 0.8, rcc["y"] + rcc["height"] * 0.45)
    for _ in range(3):
        page.mouse.wheel(0, -240)
    page.mouse.down(button="middle")
    page.mouse.move(rcc["x"] + rcc["width"] * 0.7, rcc["y"] + rcc["height"] * 0.4, steps=4)
    page.mouse.up(button="middle")
    page.wait_for_timeout(300)
    for slot in ("RCC", "LCC"):
        cur, old = state(s, "layout", slot), state(s, "prior", slot)
        assert cur["view"]["zoom"] > 1.5 and not cur["fitted"] and not old["fitted"]
        assert old["view"]["zoom"] == pytest.approx(cur["view"]["zoom"])
        assert shared(image_at(detail["images"], slot), cur["view"]) == pytest.approx(
            shared(image_at(priors[0]["images"], slot), old["view"]), abs=1e-6)
    s.shot("priors-cc-zoomed-together")

    # Window/level dragged on the current LCC (linked to RCC): each prior view below moves by the
    # same amount relative to its own default window (the exams' values differ).
    lcc = now[1]
    page.mouse.move(lcc["x"] + lcc["width"] * 0.3, lcc["y"] + lcc["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(lcc["x"] + lcc["width"] * 0.3 + 60, lcc["y"] + lcc["height"] * 0.5 - 40, steps=6)
    page.mouse.up()
    page.wait_for_timeout(200)
    for slot in ("RCC", "LCC"):
        cur, old = state(s, "layout", slot), state(s, "prior", slot)
        d0 = image_at(detail["images"], slot)["window_presets"][0]
        p0 = image_at(priors[0]["images"], slot)["window_presets"][0]
        assert cur["window"]["width"] != pytest.approx(d0["width"])
        shift = (cur["window"]["center"] - d0["center"]) / d0["width"]
        assert old["window"]["center"] == pytest.approx(p0["center"] + shift * p0["width"], abs=0.01)
        assert old["window"]["width"] == pytest.approx(cur["window"]["width"] / d0["width"] * p0["width"], abs=0.01)
    # F fits both exams again, each in its own fit.
    page.keyboard.press("f")
    assert state(s, "prior", "RCC")["fitted"] and state(s, "prior", "LCC")["fitted"]

    # M: both exams switch to the MLO pair; the prior's renders load, its DICOM stays out of reach.
    page.keyboard.press("m")
    page.wait_for_timeout(500)
    assert page.get_attribute("#viewer", "data-compare-pair") == "mlo"
    for box in cells(s, "#viewer > .mv-hanging", "MLO") + cells(s, ".prior-host", "MLO"):
        assert drawn(s, box) > 0.05
    s.shot("priors-mlo-current-over-prior")
    display = priors[0]["images"][0]["urls"]["display"]
    assert page.evaluate("(u) => fetch(u).then((r) => r.status)", display) == 200
    dicom = display.replace("/display/", "/dicom/")
    s.expected_failures.append(dicom)
    assert page.evaluate("(u) => fetch(u).then((r) => r.status)", dicom) == 404

    # P again: back to the four views of the current exam alone.
    page.keyboard.press("p")
    page.wait_for_selector(".prior-host", state="detached")
    assert page.get_attribute(".mv-hanging", "data-layout") == "four"
    assert all(page.locator(f".mv-cell[data-slot={slot}]").is_visible() for slot in ("RCC", "LCC", "RMLO", "LMLO"))
    assert s.errors() == []


def test_the_priors_final_read_boxes_lie_on_its_images_read_only(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    current, prior = one_patient(demo_exams)
    s = open_session("reader1")
    page = s.page
    assignment_id = open_read_screen(s)
    (p,) = api(page, f"/api/assignments/{assignment_id}/priors/")["body"]
    lcc = next(i for i in p["images"] if i["laterality"] == "L" and i["view_position"] == "CC")
    page.wait_for_selector("#priors:not([disabled])")
    # Whole film (Z) before P: the prior takes the fit mode over, and the whole-film geometry is
    # what whole_film_rect models independently of the viewer's code.
    page.keyboard.press("z")
    page.keyboard.press("p")
    page.wait_for_selector("#viewer[data-prior-ready=true]")
    assert page.get_attribute(".prior-host .mv-hanging", "data-fit-mode") == "film"
    page.wait_for_timeout(300)
    s.shot("priors-final-read-boxes")

    boxes = page.locator(".prior-host rect.box.box-prior")
    assert boxes.count() == 1
    assert page.locator(".prior-host .mv-cell[data-slot=LCC] rect.box-prior").count() == 1
    assert page.text_content(".prior-host .mv-cell[data-slot=LCC] text.box-label") == "P1. Mass · BI-RADS 4"
    # The current exam's views show no box of the prior.
    assert page.locator("#viewer > .mv-hanging rect.box").count() == 0
    want = whole_film_rect(lcc, page.locator(".prior-host .mv-cell[data-slot=LCC]").bounding_box(),
                           prior_box(lcc["columns"], lcc["rows"]))
    got = boxes.first.bounding_box()
    for k in ("x", "y", "width", "height"):
        assert got[k] == pytest.approx(want[k], abs=2.5), (k, got, want)

    # Never selectable or editable: a press on it and a box-tool drag over it change nothing.
    centre = (got["x"] + got["width"] / 2, got["y"] + got["height"] / 2)
    page.mouse.click(*centre)
    assert page.locator(".prior-host rect.box.selected, .prior-host .box-handle").count() == 0
    page.keyboard.press("b")
    page.mouse.move(centre[0] - 30, centre[1] - 30)
    page.mouse.down()
    page.mouse.move(centre[0] + 30, centre[1] + 30, steps=4)
    page.mouse.up()
    assert page.locator(".prior-host rect.box").count() == 1
    assert page.locator(".prior-host rect.box-prior").first.bounding_box() == pytest.approx(got, abs=0.5)
    assert page.locator("#finding-list .finding-select").count() == 0
    assert s.errors() == []


def test_a_prior_read_not_final_shows_no_boxes(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    one_patient(demo_exams, final=False)
    s = open_session("reader1")
    page = s.page
    open_read_screen(s)
    page.wait_for_selector("#priors:not([disabled])")
    page.keyboard.press("p")
    page.wait_for_selector("#viewer[data-prior-ready=true]")
    assert "read not final" in page.inner_text(".compare-prior")
    page.wait_for_timeout(300)
    assert page.locator(".prior-host rect.box").count() == 0
    assert s.errors() == []


def older_exam_like(study_pk: int, exam_date: datetime.date) -> int:
    """A third exam of the patient: a copy of `study_pk` (its rows, the same render files) dated
    `exam_date`, reviewed and not yet read. Returns its pk."""
    from apps.studies.models import Image, Series, Study, StudyState

    study = Study.objects.get(pk=study_pk)
    series = list(Series.objects.filter(study=study))
    images = list(Image.objects.filter(series__study=study))
    study.pk = None
    study.study_id, study.study_uid = "e" * 32, "2.25.1"
    study.state, study.final_read, study.exam_date = StudyState.READY, None, exam_date
    study.save()
    for s in series:
        old_pk = s.pk
        s.pk, s.study, s.series_id, s.series_uid = None, study, f"{s.series_id}-older", f"{s.series_uid}.9"
        s.save()
        for image in images:
            if image.series_id == old_pk:
                image.pk, image.series, image.study, image.image_id = None, s, study, f"{image.image_id}-older"
                image.sop_uid = f"{image.sop_uid}.9"
                image.save()
    return study.pk


def test_shift_p_and_the_selector_step_to_older_priors(demo_exams: Demo, open_session) -> None:  # type: ignore[no-untyped-def]
    _, prior = one_patient(demo_exams)
    older = older_exam_like(prior, datetime.date(2016, 5, 2))
    s = open_session("reader1")
    page = s.page
    assignment_id = open_read_screen(s)
    priors = api(page, f"/api/assignments/{assignment_id}/priors/")["body"]
    assert [p["study"]["id"] for p in priors] == [prior, older] and len(priors[1]["images"]) == 4
    page.wait_for_selector("#priors[data-priors='2']")

    page.keyboard.press("p")
    page.wait_for_selector("#viewer[data-prior-ready=true]")
    assert page.get_attribute(".prior-host", "data-study") == str(prior)
    assert [o.strip() for o in page.locator("#prior-select option").all_inner_texts()] == [
        "1 of 2 · 2 y earlier · final", "2 of 2 · 4 y earlier · not final"]
    assert page.locator(".prior-host rect.box-prior").count() == 1

    # Shift+P: the older prior, labelled the same way, its read not final (no boxes), still led
    # by the current views.
    page.keyboard.press("Shift+P")
    page.wait_for_selector(f".prior-host[data-study='{older}']")
    page.wait_for_selector("#viewer[data-prior-ready=true]")
    label = page.inner_text(".compare-prior")
    assert label.startswith("Prior exam eeeeeeee") and "· 4 y earlier · read not final" in label
    assert page.input_value("#prior-select") == "1"
    assert page.locator(".prior-host rect.box").count() == 0
    assert page.locator(".prior-host .mv-hanging").count() == 1
    rcc = page.locator("#viewer > .mv-hanging .mv-cell[data-slot=RCC]").bounding_box()
    page.mouse.move(rcc["x"] + rcc["width"] * 0.8, rcc["y"] + rcc["height"] * 0.5)
    page.mouse.wheel(0, -240)
    page.wait_for_timeout(200)
    assert state(s, "prior", "RCC")["view"]["zoom"] == pytest.approx(state(s, "layout", "RCC")["view"]["zoom"])
    assert state(s, "prior", "RCC")["view"]["zoom"] > 1.1
    s.shot("priors-older-prior")

    # Shift+P after the oldest: the most recent again; the selector picks one directly.
    page.keyboard.press("Shift+P")
    page.wait_for_selector(f".prior-host[data-study='{prior}']")
    assert "2 y earlier" in page.inner_text(".compare-prior")
    page.select_option("#prior-select", "1")
    page.wait_for_selector(f".prior-host[data-study='{older}']")
    assert s.errors() == []
