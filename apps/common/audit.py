"""The audit trail's writing API: one enum of actions, one typed payload per action, one function.

Every app writes the trail through `audit_record` / `audit_records`, below studies, reading and
datasets. Each action has one frozen payload dataclass registered against it (`PAYLOADS`); a
payload checks its field types when it is built and knows the `before`/`after` JSON it stores, so
the keys of an action's rows are written in one place and cannot drift between callers.

The table stays the reading app's AuditEvent model (reading_auditevent): moving the model to
another app would need a SeparateDatabaseAndState migration pair while colleagues add sibling
migrations to reading, and a renamed ContentType for its admin permissions; keeping the table and
moving only the writing API changes no schema. The model is looked up through the app registry,
so no app below reading imports it.

The trail is append-only and for people (the audit page, the admin); no domain decision reads it
back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser
from django.db import models

# What before/after hold: JSON objects (or lists, e.g. measurements) of the changed fields.
Json = dict[str, Any] | list[Any] | None


class AuditAction(StrEnum):
    # studies: ingest and review
    STUDY_STATE = "study_state"
    IMAGES_REVIEWED = "images_reviewed"
    # reading: assignment and workflow
    ARBITERS_SET = "arbiters_set"
    ASSIGN = "assign"
    REASSIGN = "reassign"
    READ_START = "read_start"
    SUBMIT = "submit"
    COMPARE = "compare"
    CONSENSUS_CREATE = "consensus_create"
    CONSENSUS_DELETE = "consensus_delete"
    ARBITRATION_ASSIGN = "arbitration_assign"
    ARBITRATION_UNASSIGNED = "arbitration_unassigned"
    ARBITRATION_WITHDRAW = "arbitration_withdraw"
    ARBITRATE = "arbitrate"
    REOPEN = "reopen"
    # reading: the content of a read
    BREAST_UPDATE = "breast_update"
    FINDING_CREATE = "finding_create"
    FINDING_UPDATE = "finding_update"
    FINDING_DELETE = "finding_delete"
    MEASUREMENTS_UPDATE = "measurements_update"
    # datasets
    ANNOTATIONS_IMPORT = "annotations_import"


class AuditObject(StrEnum):
    PROJECT = "project"
    STUDY = "study"
    ASSIGNMENT = "assignment"
    READ = "read"
    BREAST = "breast"
    FINDING = "finding"


# --- typed payloads ------------------------------------------------------------------------------

class AuditPayloadError(TypeError):
    """A payload built with a field of the wrong type, or recorded under another action."""


def _conforms(value: Any, hint: Any) -> bool:
    """Whether `value` is of the annotated type (the few shapes payloads use: classes, unions,
    list/tuple/dict of those, Any). int is not bool; float accepts int (JSON does not tell them apart)."""
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_conforms(k, args[0]) and _conforms(v, args[1])
                                               for k, v in value.items())
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check_fields(obj: Any, *, action: str, prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        name = prefix + f.name
        if not _conforms(value, hint):
            raise AuditPayloadError(f"audit action {action!r}: field {name!r} must be "
                                    f"{_type_name(hint)}, not {type(value).__name__} ({value!r})")
        if dataclasses.is_dataclass(value):
            _check_fields(value, action=action, prefix=f"{name}.")


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)


class AuditPayload:
    """Base of the per-action payloads (frozen dataclasses registered with `@_payload`).

    By default a payload is stored as `after`, one key per field, in field order, and `before` is
    empty (the other way round for a payload of what was `removed`); a payload that records a
    change overrides `stored()`.
    """

    action: ClassVar[AuditAction]
    removed: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_fields(self, action=self.action.value)

    def stored(self) -> tuple[Json, Json]:
        """The (before, after) JSON of the row."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return (fields, None) if self.removed else (None, fields)


PAYLOADS: dict[AuditAction, type[AuditPayload]] = {}

P = TypeVar("P", bound=type[AuditPayload])


def _payload(action: AuditAction) -> Callable[[P], P]:
    def register(cls: P) -> P:
        if action in PAYLOADS:
            raise AuditPayloadError(f"audit action {action.value!r} has two payloads: "
                                    f"{PAYLOADS[action].__name__} and {cls.__name__}")
        cls.action = action
        PAYLOADS[action] = cls
        return cls
    return register


@dataclass(frozen=True)
class FindingFields:
    """A finding's audited fields, the same for a payload box and a stored one (so they compare)."""

    image: int
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    categories: list[str]
    birads: int | None
    source_finding: int | None


@dataclass(frozen=True)
class _StateChange(AuditPayload):
    """A state moved: `{state}` -> `{state}` (the base of the actions that record only that)."""

    from_state: str
    to_state: str

    def stored(self) -> tuple[Json, Json]:
        return {"state": self.from_state}, {"state": self.to_state}


@dataclass(frozen=True)
class _ReaderGiven(AuditPayload):
    """An assignment went to a reader: `-` -> `{reader, kind}`."""

    reader: int
    kind: str


# studies

@_payload(AuditAction.STUDY_STATE)
class StudyStatePayload(_StateChange):
    """Every move of an exam's state, whichever app drives it (`studies_move`): ingest, review,
    release, new image, assign, comparison, arbitration, reopen, CSV import of final reads."""


@_payload(AuditAction.IMAGES_REVIEWED)
@dataclass(frozen=True)
class ImagesReviewedPayload(AuditPayload):
    images: list[int]


# reading: assignment and workflow

@_payload(AuditAction.ARBITERS_SET)
@dataclass(frozen=True)
class ArbitersSetPayload(AuditPayload):
    """The project's senior pool (user ids); None before the first one was set."""

    from_seniors: list[int] | None
    to_seniors: list[int]

    def stored(self) -> tuple[Json, Json]:
        return self.from_seniors, self.to_seniors


@_payload(AuditAction.ASSIGN)
class AssignPayload(_ReaderGiven):
    """A first or second read given to a reader."""


@_payload(AuditAction.REASSIGN)
@dataclass(frozen=True)
class ReassignPayload(AuditPayload):
    from_reader: int
    to_reader: int

    def stored(self) -> tuple[Json, Json]:
        return {"reader": self.from_reader}, {"reader": self.to_reader}


@_payload(AuditAction.READ_START)
class ReadStartPayload(_StateChange):
    """The holder's first save of an assignment."""


@_payload(AuditAction.SUBMIT)
class SubmitPayload(_StateChange):
    """The holder submitted the read."""


@_payload(AuditAction.COMPARE)
@dataclass(frozen=True)
class ComparePayload(AuditPayload):
    """`reasons`: the discordance reasons (Reason.as_dict); `rules`: the project's rules used."""

    concordant: bool
    reasons: list[dict[str, Any]]
    rules: dict[str, Any]


@_payload(AuditAction.CONSENSUS_CREATE)
@dataclass(frozen=True)
class ConsensusCreatePayload(AuditPayload):
    final_read: int
    from_reads: list[int]

    def stored(self) -> tuple[Json, Json]:
        return None, {"final_read": self.final_read, "from": self.from_reads}


@_payload(AuditAction.CONSENSUS_DELETE)
@dataclass(frozen=True)
class ConsensusDeletePayload(AuditPayload):
    removed = True
    final_read: int


@_payload(AuditAction.ARBITRATION_ASSIGN)
class ArbitrationAssignPayload(_ReaderGiven):
    """A discordant exam given to a senior who is neither of its readers."""


@_payload(AuditAction.ARBITRATION_UNASSIGNED)
@dataclass(frozen=True)
class ArbitrationUnassignedPayload(AuditPayload):
    reason: str


@_payload(AuditAction.ARBITRATION_WITHDRAW)
@dataclass(frozen=True)
class ArbitrationWithdrawPayload(AuditPayload):
    removed = True
    reader: int


@_payload(AuditAction.ARBITRATE)
@dataclass(frozen=True)
class ArbitratePayload(AuditPayload):
    final_read: int


@_payload(AuditAction.REOPEN)
@dataclass(frozen=True)
class ReopenPayload(AuditPayload):
    from_state: str
    to_state: str
    reason: str

    def stored(self) -> tuple[Json, Json]:
        return {"state": self.from_state}, {"state": self.to_state, "reason": self.reason}


# reading: the content of a read

@_payload(AuditAction.BREAST_UPDATE)
@dataclass(frozen=True)
class BreastUpdatePayload(AuditPayload):
    laterality: str
    from_birads: int | None
    from_density: str | None
    to_birads: int | None
    to_density: str | None

    def stored(self) -> tuple[Json, Json]:
        return ({"laterality": self.laterality, "birads": self.from_birads, "density": self.from_density},
                {"laterality": self.laterality, "birads": self.to_birads, "density": self.to_density})


@_payload(AuditAction.FINDING_CREATE)
@dataclass(frozen=True)
class FindingCreatePayload(AuditPayload):
    key: str
    finding: FindingFields

    def stored(self) -> tuple[Json, Json]:
        return None, {"key": self.key, **dataclasses.asdict(self.finding)}


@_payload(AuditAction.FINDING_UPDATE)
@dataclass(frozen=True)
class FindingUpdatePayload(AuditPayload):
    from_finding: FindingFields
    to_finding: FindingFields

    def stored(self) -> tuple[Json, Json]:
        return dataclasses.asdict(self.from_finding), dataclasses.asdict(self.to_finding)


@_payload(AuditAction.FINDING_DELETE)
@dataclass(frozen=True)
class FindingDeletePayload(AuditPayload):
    finding: FindingFields

    def stored(self) -> tuple[Json, Json]:
        return dataclasses.asdict(self.finding), None


@_payload(AuditAction.MEASUREMENTS_UPDATE)
@dataclass(frozen=True)
class MeasurementsUpdatePayload(AuditPayload):
    """The read's whole list of length measurements, before and after."""

    from_measurements: list[dict[str, Any]]
    to_measurements: list[dict[str, Any]]

    def stored(self) -> tuple[Json, Json]:
        return self.from_measurements, self.to_measurements


# datasets

@_payload(AuditAction.ANNOTATIONS_IMPORT)
@dataclass(frozen=True)
class AnnotationsImportPayload(AuditPayload):
    exams: int
    images: int
    findings: int


# --- writing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditEntry:
    """One event to write; `audit_records` writes many in one query."""

    actor: AbstractBaseUser | None
    action: AuditAction
    object_type: AuditObject
    object_id: int | None
    payload: AuditPayload
    study_id: int | None = None

    def __post_init__(self) -> None:
        expected = PAYLOADS[self.action]
        if type(self.payload) is not expected:
            other = getattr(type(self.payload), "action", None)
            raise AuditPayloadError(f"audit action {self.action.value!r} takes {expected.__name__}, not "
                                    f"{type(self.payload).__name__}"
                                    + (f" (the payload of {other.value!r})" if other is not None else ""))


def _model() -> type[models.Model]:
    return apps.get_model("reading", "AuditEvent")


def _row(entry: AuditEntry) -> models.Model:
    before, after = entry.payload.stored()
    return _model()(actor=entry.actor, action=entry.action.value, object_type=entry.object_type.value,
                    object_id=entry.object_id, study_id=entry.study_id, before=before, after=after)


def audit_record(*, actor: AbstractBaseUser | None, action: AuditAction, object_type: AuditObject,
                 object_id: int | None, payload: AuditPayload, study_id: int | None = None) -> Any:
    """Append one event; call it inside the transaction of the change it records."""
    row = _row(AuditEntry(actor=actor, action=action, object_type=object_type, object_id=object_id,
                          payload=payload, study_id=study_id))
    row.save(force_insert=True)
    return row


def audit_records(entries: list[AuditEntry]) -> None:
    """Append many events in one INSERT (bulk assignment, imports)."""
    _model()._default_manager.bulk_create([_row(e) for e in entries])
