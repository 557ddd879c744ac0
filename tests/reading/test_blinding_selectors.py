"""Blinding is decided in the selectors (apps/reading/selectors.py), not in the views: the JSON a
reader or an arbiter gets never names another reader nor shows the exam's state; an admin's does."""

from __future__ import annotations

import pytest

from apps.reading import selectors
from apps.reading.models import Assignment, AssignmentKind
from tests.factories import exam_create
from tests.reading.helpers import assign_pair, breasts, save_and_submit

pytestmark = pytest.mark.django_db


def _discordant_exam(admin_user, reader1, reader2):  # type: ignore[no-untyped-def]
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((2, "B"), (1, "C")))
    return a, b, Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)


def test_the_arbiter_never_gets_the_names_of_the_two_readers_or_the_exam_state(
        admin_user, reader1, reader2, senior) -> None:
    _, _, arbitration = _discordant_exam(admin_user, reader1, reader2)

    payload = selectors.exam_payload(selectors.exam_for_reading(user=senior, assignment_id=arbitration.pk),
                                     idle_after_seconds=60)

    assert payload["read_a"] is not None and payload["read_b"] is not None
    assert payload["reader"] is None and payload["read_a_reader"] is None and payload["read_b_reader"] is None
    assert payload["study"]["state"] is None
    assert "reader1" not in str(payload) and "reader2" not in str(payload)


def test_an_admin_gets_every_reader_name_and_the_exam_state(admin_user, reader1, reader2, senior) -> None:
    _, _, arbitration = _discordant_exam(admin_user, reader1, reader2)

    payload = selectors.exam_payload(selectors.exam_for_reading(user=admin_user, assignment_id=arbitration.pk),
                                     idle_after_seconds=60)

    assert payload["reader"]["username"] == senior.username
    assert {payload["read_a_reader"]["username"], payload["read_b_reader"]["username"]} == {"reader1", "reader2"}
    assert payload["study"]["state"] == arbitration.study.state


def test_a_reader_gets_no_name_or_exam_state_in_any_assignment_row(admin_user, reader1, reader2, senior) -> None:
    a, _, _ = _discordant_exam(admin_user, reader1, reader2)

    summary = selectors.assignment_summary_for(user=reader1, assignment_id=a.pk)
    rows = selectors.worklist_rows(selectors.worklist_for_reader(user=reader1))
    listed = selectors.assignment_rows_for(user=reader1, assignments=[a])

    for row in (summary, *rows, *listed):
        assert row["reader"] is None and row["study"]["state"] is None
    assert selectors.assignment_summary_for(user=admin_user, assignment_id=a.pk)["reader"]["username"] == "reader1"
