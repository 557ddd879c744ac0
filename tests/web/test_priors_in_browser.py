"""Current vs prior in headless Chromium on the real mammograms (issue 12 item 6): P hangs the
current exam's view pair over the same pair of the patient's earlier exam, labelled with the
prior's final read. Screenshots land in test-output/screenshots/ (look at them)."""

from __future__ import annotations

import datetime

import pytest

from tests.web.browser import Demo, Session
from tests.web.test_reading_in_browser import api, open_read_screen
from tests.web.test_workstation_tools import grey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def one_patient(demo: Demo) -> tuple[int, int]:
    """The two demo exams as two exams of one patient, the second two years before the first,
    and that prior read alike by reader2 and senior1 (final; reader1 holds nothing of it).
    Returns (current, prior) study pks."""
    from apps.reading.models import Assignment
    from apps.reading.services import assignment_reassign
    from apps.studies.models import Study, StudyState
    from tests.reading.helpers import breasts, save_and_submit

    current, prior = demo.study_ids
    Study.objects.filter(pk=current).update(patient_key="c" * 32, exam_date=datetime.date(2020, 5, 4))
    Study.objects.filter(pk=prior).update(patient_key="c" * 32, exam_date=datetime.date(2018, 5, 3))
    assignment_reassign(actor=demo.users["admin"], reader=demo.users["senior1"],
                        assignment_id=Assignment.objects.get(study_id=prior, reader__username="reader1").pk)
    for username in ("senior1", "reader2"):
        save_and_submit(Assignment.objects.get(study_id=prior, reader__username=username), demo.users[username],
                        breasts((2, "C"), (1, "C")))
    assert Study.objects.get(pk=prior).state == StudyState.FINAL
    return current, prior


def cells(s: Session, host: str, view: str) -> list[dict[str, float]]:
    return [s.page.locator(f"{host} .mv-cell[data-slot={side}{view}]").bounding_box() for side in "RL"]


def drawn(s: Session, box: dict[str, float]) -> float:
    """How much of a cell is lit: breast tissue drawn, not an empty black viewport."""
    return float((grey(s, box) > 40).mean())


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
    assert "Prior exam" in label and "2 y earlier" in label and "final read: R BI-RADS 2, L BI-RADS 1" in label
    assert page.inner_text(".compare-current").startswith("Current exam")
    page.wait_for_timeout(500)
    s.shot("priors-cc-current-over-prior")
    now, before = cells(s, "#viewer > .mv-hanging", "CC"), cells(s, ".prior-host", "CC")
    for c, p in zip(now, before, strict=True):
        # Each current view above its prior, in the same column; both drawn.
        assert p["y"] >= c["y"] + c["height"] and p["x"] == pytest.approx(c["x"], abs=2)
        assert drawn(s, c) > 0.05 and drawn(s, p) > 0.03
    assert page.locator("#viewer > .mv-hanging .mv-cell[data-slot=RMLO]").is_hidden()

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
