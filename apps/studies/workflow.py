"""The study (exam) state machine: every allowed transition, whichever app drives it, in one table.

It sits in studies, below reading and datasets, which import it (reading wraps refusals in its
reader-blinded 409, apps/reading/workflow.py). Nothing else in the code decides what may follow
what; a service looks its action up here and refuses anything the table does not list.

    importing ──ingest_done──> awaiting_review ──review_done / release (admin)──> ready
                                     ▲                                              │
                                     └──────────────── new_image ───────────────────┤
    ready ──assign──> reading ──both submitted, concordant──> final                 │
                         │  ──both submitted, discordant──> arbitration ──arbitrate──> final
    reading/arbitration/final ──reopen of a first/second read──> reading
    final ──reopen of the arbitration read──> arbitration
    importing/awaiting_review/ready ──import_final (VinDr CSV import)──> final

An exam being read (reading, arbitration) never takes an imported final read: the readers' work
would be overwritten under them.
"""

from __future__ import annotations

from enum import StrEnum

from apps.studies.models import StudyState


class StudyAction(StrEnum):
    INGEST_DONE = "ingest_done"
    REVIEW_DONE = "review_done"
    RELEASE = "release"
    NEW_IMAGE = "new_image"
    ASSIGN = "assign"
    COMPARE_CONCORDANT = "compare_concordant"
    COMPARE_DISCORDANT = "compare_discordant"
    ARBITRATE = "arbitrate"
    REOPEN_READ = "reopen_read"
    REOPEN_ARBITRATION = "reopen_arbitration"
    IMPORT_FINAL = "import_final"


S = StudyState

# (action, from state) -> to state
STUDY_TRANSITIONS: dict[tuple[StudyAction, str], str] = {
    # ingest and review (apps/studies/services.py)
    (StudyAction.INGEST_DONE, S.IMPORTING): S.AWAITING_REVIEW,
    (StudyAction.REVIEW_DONE, S.AWAITING_REVIEW): S.READY,
    # An admin releases a fully reviewed exam that lacks a standard view.
    (StudyAction.RELEASE, S.AWAITING_REVIEW): S.READY,
    # A new, unreviewed image sends a ready exam back through review.
    (StudyAction.NEW_IMAGE, S.READY): S.AWAITING_REVIEW,
    # reading (apps/reading/services.py)
    (StudyAction.ASSIGN, S.READY): S.READING,
    (StudyAction.COMPARE_CONCORDANT, S.READING): S.FINAL,
    (StudyAction.COMPARE_DISCORDANT, S.READING): S.ARBITRATION,
    (StudyAction.ARBITRATE, S.ARBITRATION): S.FINAL,
    (StudyAction.REOPEN_READ, S.READING): S.READING,
    (StudyAction.REOPEN_READ, S.ARBITRATION): S.READING,
    (StudyAction.REOPEN_READ, S.FINAL): S.READING,
    (StudyAction.REOPEN_ARBITRATION, S.FINAL): S.ARBITRATION,
    # CSV import of final reads (apps/datasets/services.py); a final exam is refused earlier by
    # its final read, an exam in reading or arbitration by this table.
    (StudyAction.IMPORT_FINAL, S.IMPORTING): S.FINAL,
    (StudyAction.IMPORT_FINAL, S.AWAITING_REVIEW): S.FINAL,
    (StudyAction.IMPORT_FINAL, S.READY): S.FINAL,
}


def study_next_state(*, action: StudyAction, state: str) -> str | None:
    """The state after `action`, or None when the table does not allow it from `state`."""
    return STUDY_TRANSITIONS.get((action, state))


def study_action_target(action: StudyAction) -> str:
    """The one state an action leads to (every action has exactly one)."""
    return next(to for (a, _from), to in STUDY_TRANSITIONS.items() if a == action)


def study_action_sources(action: StudyAction) -> set[str]:
    """The states an action may start from."""
    return {state for (a, state) in STUDY_TRANSITIONS if a == action}
