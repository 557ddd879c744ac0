"""The reading workflow: the assignment's transitions in one table, the study's looked up in
apps/studies/workflow.py (the exam's one table, shared with ingest and CSV import).

Services look transitions up here (`assignment_transition`, `study_transition`) and raise 409
`invalid_transition` for anything not listed; nothing else in the code decides what may follow
what. The study's moves themselves are written by `studies_move` (apps/studies/services.py),
which also records them in the audit trail.

Assignment (one reader's task on one exam):

    assigned ──save──> in_progress ──submit──> submitted ──reopen (admin)──> reopened
       │  ▲                 ▲                                                  │
       └──┘ reassign        └───────────────────── save ───────────────────────┤
                                                   submitted <──── submit ─────┘

Study (the exam), the part the reading app drives (the whole machine: apps/studies/workflow.py):

    ready ──assign──> reading ──both submitted, concordant──> final
                         │  ──both submitted, discordant──> arbitration ──arbitrate──> final
    reading/arbitration/final ──reopen of a first/second read──> reading
    final ──reopen of the arbitration read──> arbitration
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from apps.common.errors import ConflictError
from apps.reading.errors import ReadingErrorCode
from apps.reading.models import AssignmentState
from apps.studies.workflow import STUDY_TRANSITIONS, StudyAction, study_next_state

__all__ = ["ASSIGNMENT_TRANSITIONS", "STUDY_TRANSITIONS", "AssignmentAction", "StudyAction",
           "assignment_transition", "invalid_transition", "study_transition"]


class AssignmentAction(StrEnum):
    SAVE = "save"
    SUBMIT = "submit"
    REOPEN = "reopen"
    REASSIGN = "reassign"


A = AssignmentState

# (action, from state) -> to state
ASSIGNMENT_TRANSITIONS: dict[tuple[AssignmentAction, str], str] = {
    (AssignmentAction.SAVE, A.ASSIGNED): A.IN_PROGRESS,
    (AssignmentAction.SAVE, A.IN_PROGRESS): A.IN_PROGRESS,
    (AssignmentAction.SAVE, A.REOPENED): A.REOPENED,
    # Submit needs a saved read: from "assigned" nothing was ever entered.
    (AssignmentAction.SUBMIT, A.IN_PROGRESS): A.SUBMITTED,
    (AssignmentAction.SUBMIT, A.REOPENED): A.SUBMITTED,
    (AssignmentAction.REOPEN, A.SUBMITTED): A.REOPENED,
    # Only an untouched assignment changes hands: a started read is that reader's work.
    (AssignmentAction.REASSIGN, A.ASSIGNED): A.ASSIGNED,
}


# Shown to readers instead of the study's state: the exam's state says whether the other read
# agreed (arbitration) or whether it is in at all, so it is for admins only (docs/api.md).
EXAM_NOT_OPEN = "This exam is not open for this step."


def invalid_transition(message: str, *, study_state: str | None = None, admin_message: str | None = None,
                       **extra: Any) -> ConflictError:
    """The 409 of every refused transition. `message` and `extra` reach readers too, so the study's
    state (and anything else about the exam beyond the reader's own assignment) goes only to
    admins: `study_state` and `admin_message` land in the error's admin-only part."""
    admin_extra = {"study_state": study_state} if study_state is not None else {}
    return ConflictError(message, code=ReadingErrorCode.INVALID_TRANSITION, extra=extra,
                         admin_message=admin_message, admin_extra=admin_extra)


def assignment_transition(*, action: AssignmentAction, state: str, study_state: str | None = None) -> str:
    """The state after `action`, or ConflictError(invalid_transition)."""
    try:
        return ASSIGNMENT_TRANSITIONS[(action, state)]
    except KeyError:
        raise invalid_transition(f"Cannot {action.value} an assignment that is {state}.",
                                 action=action.value, state=state, study_state=study_state) from None


def study_transition(*, action: StudyAction, state: str) -> str:
    """The study's state after `action` (apps/studies/workflow.py), or the reader-blinded 409."""
    target = study_next_state(action=action, state=state)
    if target is None:
        raise invalid_transition(EXAM_NOT_OPEN, action=action.value, study_state=state,
                                 admin_message=f"Cannot {action.value.replace('_', ' ')} a study that is {state}.")
    return target
