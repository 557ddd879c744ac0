"""Blinding holds on the error paths too: no answer to a reader carries the exam's state or the
other reader's work (issue 9, item 7). Admins still get the details."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.common.errors import ApplicationError
from apps.reading.models import Assignment
from apps.studies.models import StudyState
from tests.factories import exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

pytestmark = pytest.mark.django_db

STUDY_STATES = {StudyState.READING, StudyState.ARBITRATION, StudyState.FINAL}


def _both_read(admin_user: Any, reader1: Any, reader2: Any, senior: Any, *, agree: bool
               ) -> tuple[Assignment, Assignment]:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2, seniors=[senior])
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    other = (1, "B") if agree else (4, "B")
    save_and_submit(b, reader2, breasts(other, (1, "B")),
                    [] if agree else [finding(image_of(study, "R"), "theirs", birads=4)])
    study.refresh_from_db()
    assert study.state == (StudyState.FINAL if agree else StudyState.ARBITRATION)
    a.refresh_from_db()
    return a, b


def _reader_answers(api: Any, a: Assignment) -> list[tuple[int, Any]]:
    """Every write a reader can send on their submitted assignment, with stale and current versions."""
    answers = []
    for version in (a.version, a.version - 1, a.version + 5):
        for response in (
            api.post(f"/api/assignments/{a.pk}/submit/", {"version": version}, format="json"),
            api.put(f"/api/assignments/{a.pk}/read/", {"version": version, "breasts": breasts(), "findings": []},
                    format="json"),
        ):
            answers.append((response.status_code, response.json()))
    return answers


def _mentions_study_state(body: Any) -> bool:
    text = json.dumps(body)
    return "study_state" in text or any(f'"{s}"' in text or f" {s}" in text for s in STUDY_STATES)


def test_a_first_reader_resubmitting_after_both_reads_learns_nothing_of_the_exam(
        admin_user, reader1, reader2, senior, api_for) -> None:
    a, _ = _both_read(admin_user, reader1, reader2, senior, agree=False)

    response = api_for(reader1).post(f"/api/assignments/{a.pk}/submit/", {"version": a.version}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_transition"
    assert body["extra"] == {"action": "submit", "state": "submitted"}
    assert not _mentions_study_state(body)


def test_a_readers_error_answers_are_the_same_whether_the_other_reader_agreed_or_not(
        admin_user, reader1, reader2, senior, api_for) -> None:
    agreed, _ = _both_read(admin_user, reader1, reader2, senior, agree=True)
    disagreed, _ = _both_read(admin_user, reader1, reader2, senior, agree=False)
    api = api_for(reader1)

    when_agreed = _reader_answers(api, agreed)
    when_disagreed = _reader_answers(api, disagreed)

    assert [status for status, _ in when_agreed] == [409] * 6
    assert when_agreed == when_disagreed
    assert not any(_mentions_study_state(body) for _, body in when_agreed)


def test_admins_still_get_the_study_state_of_a_refused_transition(
        admin_user, reader1, reader2, senior, api_for) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2, seniors=[senior])

    response = api_for(admin_user).post(f"/api/assignments/{a.pk}/reopen/", {"reason": "x"}, format="json")

    assert response.status_code == 409
    assert response.json()["extra"] == {"action": "reopen", "state": "assigned", "study_state": "reading"}


def test_admin_only_details_of_an_error_reach_admins_only(admin_user, reader1) -> None:
    error = ApplicationError("Refused.", code="x", extra={"mine": 1}, admin_message="Refused: exam is final.",
                             admin_extra={"study_state": "final"})

    assert error.body_for(reader1) == {"code": "x", "message": "Refused.", "extra": {"mine": 1}}
    assert error.body_for(None) == {"code": "x", "message": "Refused.", "extra": {"mine": 1}}
    assert error.body_for(admin_user) == {"code": "x", "message": "Refused: exam is final.",
                                          "extra": {"mine": 1, "study_state": "final"}}
