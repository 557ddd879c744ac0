"""The audit trail's writing API: one enum of actions, one enum of objects, one function.

Every app writes the trail through `audit_record` / `audit_records`, below studies, reading and
datasets. The table stays the reading app's AuditEvent model (reading_auditevent): moving the
model to another app would need a SeparateDatabaseAndState migration pair while colleagues add
sibling migrations to reading, and a renamed ContentType for its admin permissions; keeping the
table and moving only the writing API changes no schema. The model is looked up through the app
registry, so no app below reading imports it.

The trail is append-only and for people (the audit page, the admin); no domain decision reads it
back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser
from django.db import models

# What before/after hold: JSON objects (or lists, e.g. measurements) of the changed fields.
Payload = dict[str, Any] | list[Any] | None


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


@dataclass(frozen=True)
class AuditEntry:
    """One event to write; `audit_records` writes many in one query."""

    actor: AbstractBaseUser | None
    action: AuditAction
    object_type: AuditObject
    object_id: int | None
    study_id: int | None = None
    before: Payload = None
    after: Payload = None


def _model() -> type[models.Model]:
    return apps.get_model("reading", "AuditEvent")


def _row(entry: AuditEntry) -> models.Model:
    return _model()(actor=entry.actor, action=entry.action.value, object_type=entry.object_type.value,
                    object_id=entry.object_id, study_id=entry.study_id, before=entry.before, after=entry.after)


def audit_record(*, actor: AbstractBaseUser | None, action: AuditAction, object_type: AuditObject,
                 object_id: int | None, study_id: int | None = None, before: Payload = None,
                 after: Payload = None) -> Any:
    """Append one event; call it inside the transaction of the change it records."""
    row = _row(AuditEntry(actor=actor, action=action, object_type=object_type, object_id=object_id,
                          study_id=study_id, before=before, after=after))
    row.save(force_insert=True)
    return row


def audit_records(entries: list[AuditEntry]) -> None:
    """Append many events in one INSERT (bulk assignment, imports)."""
    _model()._default_manager.bulk_create([_row(e) for e in entries])
