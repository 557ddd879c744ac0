"""Write side of the reading workflow. One @transaction.atomic function per transition.

Locking order, everywhere: Study row first, then Assignment rows. `read_submit` of the second read
is where an exam gets compared, so two readers submitting at the same moment must serialise on the
study row: whoever locks second sees the other's submission and runs the comparison exactly once.
`read_save` only locks its assignment (it never changes the study).

Every change writes an AuditEvent in the same transaction (append-only: nothing here updates or
deletes audit rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.accounts.access import require_role
from apps.accounts.roles import ROLE_ADMIN, ROLE_SENIOR, is_admin, is_reader, is_senior
from apps.common.audit import (
    ArbitersSetPayload,
    ArbitratePayload,
    ArbitrationAssignPayload,
    ArbitrationUnassignedPayload,
    ArbitrationWithdrawPayload,
    AssignPayload,
    AuditAction,
    AuditEntry,
    AuditObject,
    BreastUpdatePayload,
    ComparePayload,
    ConsensusCreatePayload,
    ConsensusDeletePayload,
    FindingCreatePayload,
    FindingDeletePayload,
    FindingFields,
    FindingUpdatePayload,
    MeasurementsUpdatePayload,
    ReadStartPayload,
    ReassignPayload,
    ReopenPayload,
    SubmitPayload,
    audit_record,
    audit_records,
)
from apps.common.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from apps.reading.concordance import DiscordanceRules, Reason, reads_compare, reads_merge
from apps.reading.errors import ReadingErrorCode
from apps.reading.measurements import ImageGeometry, measurements_normalize
from apps.reading.models import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    BreastAssessment,
    Discordance,
    Finding,
    Read,
    ReadOrigin,
)
from apps.reading.rules import (
    BreastData,
    FindingData,
    ImageInfo,
    ReadData,
    Violation,
    read_validate,
    save_rejections,
    save_warnings,
    submit_blockers,
)
from apps.reading.selectors import (
    images_info,
    read_data,
    read_get,
    read_of_assignment,
    read_parts,
    read_payload,
    read_payload_of,
    read_queryset,
    study_images,
)
from apps.reading.workflow import (
    EXAM_NOT_OPEN,
    AssignmentAction,
    StudyAction,
    assignment_transition,
    invalid_transition,
    study_transition,
)
from apps.studies.models import Project, Study, StudyState
from apps.studies.services import studies_move

UserModel = get_user_model()

# Project.settings key holding the arbiter pool (user ids); absent = every senior reader.
ARBITERS_SETTING = "arbiters"
# Project.settings key: pauses in input longer than this many seconds are not reading time.
READING_IDLE_SETTING = "reading_idle_seconds"
READING_IDLE_DEFAULT = 60
# Clock and network slack allowed when bounding a client's reported active time.
ACTIVE_TIME_SLACK_SECONDS = 5


def project_rules(*, project: Project) -> DiscordanceRules:
    try:
        return DiscordanceRules.from_project_settings(project.settings)
    except ValueError as exc:
        raise ApplicationError(f"The project's discordance settings are invalid: {exc}.",
                               code=ReadingErrorCode.INVALID_PROJECT_SETTINGS) from exc


def reading_idle_seconds(*, project: Project) -> int:
    value = (project.settings or {}).get(READING_IDLE_SETTING, READING_IDLE_DEFAULT)
    if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 3600:
        raise ApplicationError(f"The project's {READING_IDLE_SETTING} must be a whole number of seconds "
                               "from 5 to 3600.", code=ReadingErrorCode.INVALID_PROJECT_SETTINGS)
    return value


def active_seconds_merge(*, stored: int, sent: int | None, last_write: Any, now: Any) -> int:
    """The read's active time after a client reports its total `sent`.

    Monotonic (two tabs, or a retried old save, never lower it: the larger total wins) and
    bounded: a total cannot grow by more than the wall time since the read was last written
    (plus a little slack), so a wrong or hostile client cannot inflate it.
    """
    if sent is None:
        return stored
    bound = stored + max(0, int((now - last_write).total_seconds())) + ACTIVE_TIME_SLACK_SECONDS
    return max(stored, min(sent, bound))


def _validation_failed(message: str, violations: Sequence[Violation]) -> ApplicationError:
    return ApplicationError(message, code=ReadingErrorCode.VALIDATION_FAILED,
                            extra={"violations": [v.as_dict() for v in violations]})


def _lock_assignment_for_holder(*, actor: User, assignment_id: int) -> Assignment:
    """Lock the assignment; only its holder may write it (admins get 403, others 404)."""
    try:
        assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
    except Assignment.DoesNotExist:
        raise NotFoundError() from None
    if assignment.reader_id != actor.pk:
        if is_admin(actor):
            raise ForbiddenError("Only the reader who holds this assignment can change its read.",
                                 code=ReadingErrorCode.NOT_ASSIGNEE)
        raise NotFoundError()
    return assignment


def _lock_study_of_assignment(*, assignment_id: int) -> Study:
    # One query: the study found through the assignment, only the study row locked (OF self).
    try:
        return (Study.objects.select_for_update(of=("self",)).select_related("project")
                .get(assignments__pk=assignment_id))
    except Study.DoesNotExist:
        raise NotFoundError() from None


def _check_version(assignment: Assignment, version: int) -> None:
    if version != assignment.version:
        read = read_get(read_id=Read.objects.values_list("id", flat=True).get(assignment=assignment))
        raise ConflictError(
            "This read was changed elsewhere (another tab or device). Reload it before saving again.",
            code=ReadingErrorCode.STALE_VERSION,
            extra={"current_version": assignment.version, "read": read_payload(read)})


def _study_move(study: Study, *, action: StudyAction, actor: User | None, **fields: Any) -> None:
    """The exam's move (studies_move: guarded, audited), refused with the reader-blinded 409."""
    studies_move(studies=[study], action=action, actor=actor, refuse=lambda s: invalid_transition(
        EXAM_NOT_OPEN, action=action.value, study_state=s.state,
        admin_message=f"Cannot {action.value.replace('_', ' ')} a study that is {s.state}."), **fields)


def _read_create(*, study_id: int, assignment: Assignment | None, origin: str,
                 data: ReadData | None = None) -> Read:
    read = Read.objects.create(study_id=study_id, assignment=assignment, origin=origin)
    BreastAssessment.objects.bulk_create([
        BreastAssessment(read=read, laterality=lat,
                         birads=data.breast(lat).birads if data else None,
                         density=data.breast(lat).density if data else None)
        for lat in ("R", "L")])
    if data:
        Finding.objects.bulk_create([
            Finding(read=read, image_id=f.image_id, xmin=f.xmin, ymin=f.ymin, xmax=f.xmax, ymax=f.ymax,
                    categories=list(f.categories), birads=f.birads, source_finding_id=f.source_finding_id,
                    client_key=f.key)
            for f in data.findings])
    return read


# --- assignment ----------------------------------------------------------------------------------

@dataclass
class AssignResult:
    assigned_studies: list[int] = field(default_factory=list)
    arbitrations_assigned: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    assignments_created: int = 0
    # Exams of the project that no assignment run can take yet, by why: awaiting review (images
    # not yet approved), lacking views (awaiting review and missing a standard view: an admin
    # must release them explicitly), importing. Lets "assigned 0" say why.
    not_assignable: dict[str, int] = field(default_factory=dict)


def _not_assignable(project: Project) -> dict[str, int]:
    counts = {"awaiting_review": 0, "lacking_views": 0, "importing": 0}
    rows = (Study.objects.filter(project=project, state__in=[StudyState.AWAITING_REVIEW, StudyState.IMPORTING])
            .values_list("state", "has_standard_views").annotate(n=Count("id")).order_by())
    for state, has_views, n in rows:
        if state == StudyState.IMPORTING:
            counts["importing"] += n
        elif has_views:
            counts["awaiting_review"] += n
        else:
            counts["lacking_views"] += n
    return counts


def _open_loads(user_ids: Sequence[int]) -> dict[int, int]:
    rows = (Assignment.objects.filter(reader_id__in=user_ids).exclude(state=AssignmentState.SUBMITTED)
            .values_list("reader_id").annotate(n=Count("id")))
    loads = dict.fromkeys(user_ids, 0)
    loads.update(dict(rows))
    return loads


def _check_readers(users: Sequence[User], *, senior: bool) -> None:
    for user in users:
        if not user.is_active or not (is_senior(user) if senior else is_reader(user)):
            role = "senior reader" if senior else "reader"
            raise ApplicationError(f"{user.get_username()} is not an active {role}.",
                                   code=ReadingErrorCode.INVALID_READER, extra={"user": user.get_username()})


@transaction.atomic
def exams_assign(*, actor: User, project: Project, readers: Sequence[User],
                 seniors: Sequence[User] | None = None, study_ids: Sequence[int] | None = None,
                 limit: int | None = None) -> AssignResult:
    """Give every `ready` exam of the project two different readers, least open work first.

    An exam missing a standard view is only `ready` when an admin released it explicitly
    (apps.studies.services.study_mark_ready: flagged, not silently read), so every `ready` exam is
    assignable; the read screen shows `has_standard_views`. `seniors`, when
    given and not empty, becomes the project's arbiter pool; exams waiting in arbitration without
    an arbiter get one from the pool.
    """
    require_role(actor, ROLE_ADMIN)
    unique_readers = list({u.pk: u for u in readers}.values())
    if len(unique_readers) < 2:
        raise ApplicationError("Double reading needs at least two different readers.",
                               code=ReadingErrorCode.NOT_ENOUGH_READERS)
    _check_readers(unique_readers, senior=False)
    # An empty list keeps the current pool: clearing it by accident would strand every
    # discordant exam without an arbiter.
    if seniors:
        _check_readers(seniors, senior=True)
        locked = Project.objects.select_for_update().get(pk=project.pk)
        before = locked.settings.get(ARBITERS_SETTING)
        locked.settings = {**locked.settings, ARBITERS_SETTING: sorted({u.pk for u in seniors})}
        locked.save(update_fields=["settings"])
        project.settings = locked.settings
        audit_record(actor=actor, action=AuditAction.ARBITERS_SET, object_type=AuditObject.PROJECT, object_id=project.pk,
                     payload=ArbitersSetPayload(from_seniors=before, to_seniors=locked.settings[ARBITERS_SETTING]))

    result = AssignResult()
    queryset = Study.objects.filter(project=project).order_by("id")
    if study_ids is not None:
        queryset = queryset.filter(pk__in=study_ids)
        found = set(queryset.values_list("pk", flat=True))
        result.skipped.extend({"study": sid, "reason": "not_found"} for sid in study_ids if sid not in found)
    # skip_locked: two admins assigning at once each take different exams instead of waiting and
    # then failing the guarded update.
    candidates = list(queryset.filter(state=StudyState.READY).select_for_update(skip_locked=True)
                      .only("id", "state"))
    if study_ids is not None:
        ready_ids = {s.pk for s in candidates}
        result.skipped.extend({"study": sid, "reason": "not_ready"}
                              for sid in study_ids if sid in found and sid not in ready_ids)
    studies = candidates if limit is None else candidates[:limit]

    order = {u.pk: i for i, u in enumerate(unique_readers)}
    loads = _open_loads(list(order))
    assignments: list[Assignment] = []
    for study in studies:
        first, second = sorted(order, key=lambda uid: (loads[uid], order[uid]))[:2]
        for kind, reader_id in ((AssignmentKind.FIRST, first), (AssignmentKind.SECOND, second)):
            assignments.append(Assignment(study_id=study.pk, reader_id=reader_id, kind=kind))
            loads[reader_id] += 1
    if studies:
        studies_move(studies=studies, action=StudyAction.ASSIGN, actor=actor, refuse=lambda s: invalid_transition(
            "Some exams changed state while being assigned; nothing was assigned.", action=StudyAction.ASSIGN.value))
        Assignment.objects.bulk_create(assignments)
        reads = Read.objects.bulk_create([Read(study_id=a.study_id, assignment=a, origin=ReadOrigin.READER)
                                          for a in assignments])
        BreastAssessment.objects.bulk_create([BreastAssessment(read=r, laterality=lat)
                                              for r in reads for lat in ("R", "L")])
        audit_records([
            AuditEntry(actor=actor, action=AuditAction.ASSIGN, object_type=AuditObject.ASSIGNMENT, object_id=a.pk,
                       study_id=a.study_id, payload=AssignPayload(reader=a.reader_id, kind=a.kind))
            for a in assignments])
    result.assigned_studies = [s.pk for s in studies]
    result.assignments_created = len(assignments)
    result.not_assignable = _not_assignable(project)

    waiting = (Study.objects.filter(project=project, state=StudyState.ARBITRATION)
               .exclude(assignments__kind=AssignmentKind.ARBITRATION).select_for_update(skip_locked=True)
               .order_by("id"))
    for study in waiting:
        first_second = list(Assignment.objects.filter(study=study).order_by("kind").values_list("reader_id", flat=True))
        reasons = _reasons_of(study)
        if _arbitration_assign(actor=actor, study=study, exclude=first_second, reasons=reasons) is not None:
            result.arbitrations_assigned.append(study.pk)
            result.assignments_created += 1
    return result


def _reasons_of(study: Study) -> list[dict[str, Any]]:
    """The discordance reasons of the study's latest comparison."""
    reasons = Discordance.objects.filter(study=study).values_list("reasons", flat=True).first()
    return list(reasons or [])


def _arbitration_assign(*, actor: User | None, study: Study, exclude: Sequence[int],
                        reasons: list[dict[str, Any]]) -> Assignment | None:
    """Give the exam to the least loaded senior of the project's pool who is not one of its readers.

    Returns None (and records why) when nobody is eligible: the exam then waits in arbitration
    until an admin runs assign again with a senior.
    """
    seniors = UserModel.objects.filter(is_active=True, groups__name=ROLE_SENIOR).distinct()
    pool = study.project.settings.get(ARBITERS_SETTING)
    if pool is not None:
        seniors = seniors.filter(pk__in=pool)
    candidates = list(seniors.exclude(pk__in=list(exclude)).values_list("pk", flat=True))
    if not candidates:
        audit_record(actor=actor, action=AuditAction.ARBITRATION_UNASSIGNED, object_type=AuditObject.STUDY, object_id=study.pk,
                     study_id=study.pk, payload=ArbitrationUnassignedPayload(reason="no_eligible_senior"))
        return None
    loads = _open_loads(candidates)
    senior_id = min(candidates, key=lambda uid: (loads[uid], uid))
    assignment = Assignment.objects.create(study=study, reader_id=senior_id, kind=AssignmentKind.ARBITRATION,
                                           discordance_reasons=reasons)
    _read_create(study_id=study.pk, assignment=assignment, origin=ReadOrigin.ARBITRATION)
    audit_record(actor=actor, action=AuditAction.ARBITRATION_ASSIGN, object_type=AuditObject.ASSIGNMENT, object_id=assignment.pk,
                 study_id=study.pk, payload=ArbitrationAssignPayload(reader=senior_id, kind=AssignmentKind.ARBITRATION))
    return assignment


@transaction.atomic
def assignment_reassign(*, actor: User, assignment_id: int, reader: User) -> Assignment:
    """Hand an untouched assignment to another reader (admins only)."""
    require_role(actor, ROLE_ADMIN)
    study = _lock_study_of_assignment(assignment_id=assignment_id)
    assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
    assignment_transition(action=AssignmentAction.REASSIGN, state=assignment.state, study_state=study.state)
    _check_readers([reader], senior=assignment.kind == AssignmentKind.ARBITRATION)
    if Assignment.objects.filter(study_id=assignment.study_id, reader=reader).exists():
        raise ApplicationError(f"{reader.get_username()} already holds an assignment on this exam.",
                               code=ReadingErrorCode.INVALID_READER, extra={"user": reader.get_username()})
    before = assignment.reader_id
    assignment.reader = reader
    assignment.save(update_fields=["reader"])
    audit_record(actor=actor, action=AuditAction.REASSIGN, object_type=AuditObject.ASSIGNMENT, object_id=assignment.pk,
                 study_id=assignment.study_id, payload=ReassignPayload(from_reader=before, to_reader=reader.pk))
    return assignment


# --- saving a read -------------------------------------------------------------------------------

@dataclass
class SaveResult:
    assignment: Assignment
    read: Read
    warnings: list[Violation]
    payload: dict[str, Any] = field(default_factory=dict)  # the saved read's JSON (read_payload)


def _payload_read_data(*, breasts: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]]) -> ReadData:
    return ReadData(
        breasts={b["laterality"]: BreastData(laterality=b["laterality"], birads=b.get("birads"),
                                             density=b.get("density")) for b in breasts},
        findings=tuple(
            FindingData(key=f["key"], image_id=f["image"], xmin=float(f["xmin"]), ymin=float(f["ymin"]),
                        xmax=float(f["xmax"]), ymax=float(f["ymax"]), categories=tuple(f.get("categories") or ()),
                        birads=f.get("birads"), id=f.get("id"), source_finding_id=f.get("source_finding"))
            for f in findings),
    )


def _finding_fields(f: FindingData | Finding) -> FindingFields:
    """A finding's audited fields, the same for a payload box and a stored one (so they compare)."""
    return FindingFields(image=f.image_id, xmin=f.xmin, ymin=f.ymin, xmax=f.xmax, ymax=f.ymax,
                         categories=list(f.categories), birads=f.birads, source_finding=f.source_finding_id)


def _image_geometry(images: Sequence[Any]) -> dict[int, ImageGeometry]:
    return {i.pk: ImageGeometry(columns=i.columns, rows=i.rows,
                                spacing=(i.pixel_spacing_row, i.pixel_spacing_col)
                                if i.pixel_spacing_row and i.pixel_spacing_col else None,
                                spacing_source=i.pixel_spacing_source) for i in images}


@transaction.atomic
def read_save(*, actor: User, assignment_id: int, version: int,
              breasts: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]],
              measurements: Sequence[dict[str, Any]] | None = None,
              active_seconds: int | None = None) -> SaveResult:
    """Replace the holder's read with the payload (whole-read save, idempotent for autosave).

    Preconditions checked here: holder, editable state, current version, mechanical rules.
    Findings with an `id` update that finding of this read; without one they are created; stored
    findings absent from the payload are deleted. `measurements` replaces the read's length
    measurements (None: left as they are, for clients that do not measure). `active_seconds`:
    the client's total active reading time (`active_seconds_merge`).
    """
    assignment = _lock_assignment_for_holder(actor=actor, assignment_id=assignment_id)
    new_state = assignment_transition(action=AssignmentAction.SAVE, state=assignment.state)
    _check_version(assignment, version)

    exam_images = study_images(study_id=assignment.study_id)
    images = images_info(exam_images)
    data = _payload_read_data(breasts=breasts, findings=findings)
    violations = read_validate(data, images)
    rejected = save_rejections(violations)
    if rejected:
        raise _validation_failed("The read cannot be saved: fix the marked boxes.", rejected)
    new_measurements: list[dict[str, Any]] | None = None
    if measurements is not None:
        new_measurements, problems = measurements_normalize(measurements, _image_geometry(exam_images))
        if problems:
            raise ApplicationError(
                "The read cannot be saved: " + "; ".join(f"measurement {k}: {p}" for k, p in problems.items()) + ".",
                code=ReadingErrorCode.INVALID_MEASUREMENT, extra={"measurements": problems})

    # Autosave is the hottest write: the read's rows are read once here and the response is built
    # from what was written, never re-read (the assignment lock keeps them ours meanwhile).
    read = Read.objects.only("id", "study_id", "assignment_id", "origin", "measurements", "updated_at").get(
        assignment=assignment)
    stored_breasts, stored_findings = read_parts(read_id=read.pk)
    stored = {f.pk: f for f in stored_findings}
    _check_finding_references(assignment=assignment, data=data, stored=stored)
    study_id = assignment.study_id
    saved: list[Finding] = []

    for breast in stored_breasts:
        new = data.breast(breast.laterality)
        if (breast.birads, breast.density) != (new.birads, new.density):
            change = BreastUpdatePayload(laterality=breast.laterality, from_birads=breast.birads,
                                         from_density=breast.density, to_birads=new.birads, to_density=new.density)
            breast.birads, breast.density = new.birads, new.density
            breast.save(update_fields=["birads", "density"])
            audit_record(actor=actor, action=AuditAction.BREAST_UPDATE, object_type=AuditObject.BREAST, object_id=breast.pk,
                         study_id=study_id, payload=change)

    kept: set[int] = set()
    for f in data.findings:
        if f.id is None:
            created = Finding.objects.create(
                read=read, image_id=f.image_id, xmin=f.xmin, ymin=f.ymin, xmax=f.xmax, ymax=f.ymax,
                categories=list(f.categories), birads=f.birads, source_finding_id=f.source_finding_id,
                client_key=f.key)
            created.image_laterality = images[f.image_id].laterality  # type: ignore[attr-defined]
            saved.append(created)
            audit_record(actor=actor, action=AuditAction.FINDING_CREATE, object_type=AuditObject.FINDING, object_id=created.pk,
                         study_id=study_id, payload=FindingCreatePayload(key=f.key, finding=_finding_fields(f)))
            continue
        kept.add(f.id)
        existing = stored[f.id]
        before = _finding_fields(existing)
        after = _finding_fields(f)
        if before != after or existing.client_key != f.key:
            Finding.objects.filter(pk=f.id).update(
                image_id=f.image_id, xmin=f.xmin, ymin=f.ymin, xmax=f.xmax, ymax=f.ymax,
                categories=list(f.categories), birads=f.birads, source_finding_id=f.source_finding_id,
                client_key=f.key)
            updated = Finding(pk=f.id, read_id=read.pk, image_id=f.image_id, xmin=f.xmin, ymin=f.ymin,
                              xmax=f.xmax, ymax=f.ymax, categories=list(f.categories), birads=f.birads,
                              source_finding_id=f.source_finding_id, client_key=f.key)
            updated.image_laterality = images[f.image_id].laterality  # type: ignore[attr-defined]
            saved.append(updated)
            if before != after:
                audit_record(actor=actor, action=AuditAction.FINDING_UPDATE, object_type=AuditObject.FINDING, object_id=f.id,
                             study_id=study_id, payload=FindingUpdatePayload(from_finding=before, to_finding=after))
        else:
            saved.append(existing)
    for finding_id, existing in stored.items():
        if finding_id not in kept:
            audit_record(actor=actor, action=AuditAction.FINDING_DELETE, object_type=AuditObject.FINDING, object_id=finding_id,
                         study_id=study_id, payload=FindingDeletePayload(finding=_finding_fields(existing)))
            existing.delete()

    now = timezone.now()
    read_fields: dict[str, Any] = {"updated_at": now}
    if new_measurements is not None and new_measurements != read.measurements:
        audit_record(actor=actor, action=AuditAction.MEASUREMENTS_UPDATE, object_type=AuditObject.READ, object_id=read.pk,
                     study_id=study_id, payload=MeasurementsUpdatePayload(from_measurements=read.measurements,
                                                                          to_measurements=new_measurements))
        read.measurements = read_fields["measurements"] = new_measurements
    update_fields = ["state", "version"]
    if assignment.started_at is None:
        assignment.started_at = now
        update_fields.append("started_at")
        audit_record(actor=actor, action=AuditAction.READ_START, object_type=AuditObject.ASSIGNMENT, object_id=assignment.pk,
                     study_id=study_id, payload=ReadStartPayload(from_state=assignment.state, to_state=new_state))
    merged = active_seconds_merge(stored=assignment.active_seconds, sent=active_seconds,
                                  last_write=read.updated_at, now=now)
    if merged != assignment.active_seconds:
        assignment.active_seconds = merged
        update_fields.append("active_seconds")
    assignment.state = new_state
    assignment.version += 1
    assignment.save(update_fields=update_fields)
    Read.objects.filter(pk=read.pk).update(**read_fields)
    saved.sort(key=lambda finding: finding.pk)
    return SaveResult(assignment=assignment, read=read, warnings=save_warnings(violations),
                      payload=read_payload_of(read, breasts=stored_breasts, findings=saved))


def _check_finding_references(*, assignment: Assignment, data: ReadData, stored: dict[int, Finding]) -> None:
    ids = [f.id for f in data.findings if f.id is not None]
    unknown = sorted({i for i in ids if i not in stored} | {i for i in ids if ids.count(i) > 1})
    if unknown:
        raise ApplicationError("Some findings are not part of this read (or appear twice).",
                               code=ReadingErrorCode.UNKNOWN_FINDING, extra={"findings": unknown})
    sources = {f.source_finding_id for f in data.findings if f.source_finding_id is not None}
    new_sources = {f.source_finding_id for f in data.findings
                   if f.source_finding_id is not None
                   and (f.id is None or stored[f.id].source_finding_id != f.source_finding_id)}
    if not new_sources:
        return
    # Only an arbiter adopts findings, and only from the two reads under arbitration.
    allowed: set[int] = set()
    if assignment.kind == AssignmentKind.ARBITRATION:
        allowed = set(Finding.objects.filter(
            read__study_id=assignment.study_id,
            read__assignment__kind__in=[AssignmentKind.FIRST, AssignmentKind.SECOND],
            pk__in=list(sources)).values_list("pk", flat=True))
    bad = sorted(new_sources - allowed)
    if bad:
        raise ApplicationError("Adopted findings must come from the two reads under arbitration.",
                               code=ReadingErrorCode.INVALID_SOURCE_FINDING, extra={"findings": bad})


# --- submit, compare, arbitrate ------------------------------------------------------------------

@dataclass
class SubmitResult:
    assignment: Assignment
    outcome: str
    study_state: str
    reasons: list[Reason] = field(default_factory=list)


@transaction.atomic
def read_submit(*, actor: User, assignment_id: int, version: int, active_seconds: int | None = None) -> SubmitResult:
    """Submit the holder's read. The second of the two reads triggers the comparison; an
    arbitration read becomes the exam's final read (`exam_arbitrate`). `active_seconds`: the
    client's final total of active reading time (`active_seconds_merge`)."""
    study = _lock_study_of_assignment(assignment_id=assignment_id)
    assignment = _lock_assignment_for_holder(actor=actor, assignment_id=assignment_id)
    new_state = assignment_transition(action=AssignmentAction.SUBMIT, state=assignment.state,
                                      study_state=study.state)
    _check_version(assignment, version)
    if assignment.kind == AssignmentKind.ARBITRATION:
        # Checked before anything is written: the exam must be waiting for this arbitration.
        study_transition(action=StudyAction.ARBITRATE, state=study.state)
    elif study.state != StudyState.READING:
        raise invalid_transition(EXAM_NOT_OPEN,
                                 admin_message=f"Cannot submit a read of a study that is {study.state}.",
                                 action=AssignmentAction.SUBMIT.value, state=assignment.state,
                                 study_state=study.state)

    read = read_of_assignment(assignment=assignment)
    images = images_info(study_images(study_id=study.pk))
    blockers = submit_blockers(read_validate(read_data(read), images))
    if blockers:
        raise _validation_failed("The read cannot be submitted yet.", blockers)

    before_state = assignment.state
    assignment.state = new_state
    assignment.version += 1
    assignment.submitted_at = timezone.now()
    assignment.active_seconds = active_seconds_merge(stored=assignment.active_seconds, sent=active_seconds,
                                                     last_write=read.updated_at, now=assignment.submitted_at)
    assignment.save(update_fields=["state", "version", "submitted_at", "active_seconds"])
    # What the response shows of the assignment, without reading it again (the caller holds it).
    assignment.study, assignment.reader = study, actor
    assignment.image_count = len(images)  # type: ignore[attr-defined]
    audit_record(actor=actor, action=AuditAction.SUBMIT, object_type=AuditObject.ASSIGNMENT, object_id=assignment.pk,
                 study_id=study.pk, payload=SubmitPayload(from_state=before_state, to_state=new_state))

    if assignment.kind == AssignmentKind.ARBITRATION:
        exam_arbitrate(actor=actor, study=study, read=read)
        return SubmitResult(assignment=assignment, outcome="final", study_state=study.state)
    reasons = _compare_if_complete(actor=actor, study=study, images=images, submitted=read, assignment=assignment)
    return SubmitResult(assignment=assignment, outcome="submitted", study_state=study.state, reasons=reasons)


def exam_arbitrate(*, actor: User, study: Study, read: Read) -> None:
    """The arbiter's submitted read becomes the final read. Caller holds the study lock."""
    _study_move(study, action=StudyAction.ARBITRATE, final_read=read, actor=actor)
    audit_record(actor=actor, action=AuditAction.ARBITRATE, object_type=AuditObject.READ, object_id=read.pk, study_id=study.pk,
                 payload=ArbitratePayload(final_read=read.pk))


def _compare_if_complete(*, actor: User, study: Study, images: dict[int, ImageInfo], submitted: Read,
                         assignment: Assignment) -> list[Reason]:
    """`submitted` is the read of `assignment` just submitted (with its breasts and findings):
    only the other read is fetched."""
    others = list(read_queryset().select_related("assignment").filter(
        study=study, assignment__kind__in=[AssignmentKind.FIRST, AssignmentKind.SECOND],
        assignment__state=AssignmentState.SUBMITTED).exclude(pk=submitted.pk))
    reads = {r.assignment.kind: r for r in others}  # type: ignore[union-attr]
    reads[assignment.kind] = submitted
    readers = {r.assignment.kind: r.assignment.reader_id for r in others}  # type: ignore[union-attr]
    readers[assignment.kind] = assignment.reader_id
    if len(reads) < 2:
        return []
    first, second = reads[AssignmentKind.FIRST], reads[AssignmentKind.SECOND]
    rules = project_rules(project=study.project)
    reasons, match = reads_compare(read_data(first), read_data(second), images, rules)
    reason_dicts = [r.as_dict() for r in reasons]
    if not reasons:
        Discordance.objects.filter(study=study).delete()
        consensus = _read_create(study_id=study.pk, assignment=None, origin=ReadOrigin.CONSENSUS,
                                 data=reads_merge(read_data(first), read_data(second), match))
        _study_move(study, action=StudyAction.COMPARE_CONCORDANT, final_read=consensus, actor=actor)
        audit_record(actor=actor, action=AuditAction.COMPARE, object_type=AuditObject.STUDY, object_id=study.pk, study_id=study.pk,
                     payload=ComparePayload(concordant=True, reasons=[], rules=rules.as_dict()))
        audit_record(actor=actor, action=AuditAction.CONSENSUS_CREATE, object_type=AuditObject.READ, object_id=consensus.pk,
                     study_id=study.pk, payload=ConsensusCreatePayload(final_read=consensus.pk,
                                                                       from_reads=[first.pk, second.pk]))
        return []
    _study_move(study, action=StudyAction.COMPARE_DISCORDANT, actor=actor)
    Discordance.objects.update_or_create(study=study, defaults={"reasons": reason_dicts})
    audit_record(actor=actor, action=AuditAction.COMPARE, object_type=AuditObject.STUDY, object_id=study.pk, study_id=study.pk,
                 payload=ComparePayload(concordant=False, reasons=reason_dicts, rules=rules.as_dict()))
    _arbitration_assign(actor=actor, study=study, exclude=[readers[AssignmentKind.FIRST], readers[AssignmentKind.SECOND]],
                        reasons=reason_dicts)
    return reasons


# --- reopen --------------------------------------------------------------------------------------

@transaction.atomic
def read_reopen(*, actor: User, assignment_id: int, reason: str = "") -> Assignment:
    """Let the holder edit a submitted read again (admins only), undoing what its submit caused.

    First/second read: a consensus final read is deleted, an untouched arbitration is withdrawn,
    the study goes back to `reading`. Refused when the arbitration has started or is final (reopen
    the arbitration read instead). Arbitration read: the study goes back to `arbitration`.
    """
    require_role(actor, ROLE_ADMIN)
    study = _lock_study_of_assignment(assignment_id=assignment_id)
    assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
    new_state = assignment_transition(action=AssignmentAction.REOPEN, state=assignment.state,
                                      study_state=study.state)
    if assignment.kind == AssignmentKind.ARBITRATION:
        _study_move(study, action=StudyAction.REOPEN_ARBITRATION, final_read=None, actor=actor)
    else:
        _undo_comparison(actor=actor, study=study, assignment=assignment)
    assignment.state = new_state
    assignment.version += 1
    assignment.submitted_at = None
    assignment.save(update_fields=["state", "version", "submitted_at"])
    audit_record(actor=actor, action=AuditAction.REOPEN, object_type=AuditObject.ASSIGNMENT, object_id=assignment.pk,
                 study_id=study.pk,
                 payload=ReopenPayload(from_state=AssignmentState.SUBMITTED, to_state=new_state, reason=reason))
    return assignment


def _undo_comparison(*, actor: User, study: Study, assignment: Assignment) -> None:
    if study.state == StudyState.ARBITRATION:
        arbitration = Assignment.objects.select_for_update().filter(
            study=study, kind=AssignmentKind.ARBITRATION).first()
        if arbitration is not None and arbitration.state != AssignmentState.ASSIGNED:
            raise invalid_transition("The arbiter has started on this exam; reopen is refused.",
                                     action=AssignmentAction.REOPEN.value, state=assignment.state,
                                     study_state=study.state)
        if arbitration is not None:
            audit_record(actor=actor, action=AuditAction.ARBITRATION_WITHDRAW, object_type=AuditObject.ASSIGNMENT,
                         object_id=arbitration.pk, study_id=study.pk,
                         payload=ArbitrationWithdrawPayload(reader=arbitration.reader_id))
            arbitration.delete()
    elif study.state == StudyState.FINAL:
        final = study.final_read
        if final is None or final.origin != ReadOrigin.CONSENSUS:
            raise invalid_transition("The exam's final read comes from arbitration; reopen the arbitration "
                                     "read instead.", action=AssignmentAction.REOPEN.value,
                                     state=assignment.state, study_state=study.state)
        audit_record(actor=actor, action=AuditAction.CONSENSUS_DELETE, object_type=AuditObject.READ, object_id=final.pk,
                     study_id=study.pk, payload=ConsensusDeletePayload(final_read=final.pk))
        Study.objects.filter(pk=study.pk).update(final_read=None)
        final.delete()
        study.final_read = None
    _study_move(study, action=StudyAction.REOPEN_READ, actor=actor)
