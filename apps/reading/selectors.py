"""Read side of the reading app: every fetch checks who is asking and owns its query plan.

Visibility (blinding): a reader sees only assignments they hold, and through them only their own
read; the arbiter of an exam additionally sees the two reads being arbitrated, without reader
identities. Admins see everything. Anything else is "not found" (404), never "forbidden", so
the existence of other readers' work does not leak.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Case,
    Count,
    F,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from apps.accounts.roles import is_admin
from apps.common.errors import NotFoundError
from apps.reading.agreement import Agreement, ExamReads, agreement_report
from apps.reading.concordance import DiscordanceRules
from apps.reading.models import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    AuditEvent,
    BreastAssessment,
    Finding,
    Read,
)
from apps.reading.rules import BreastData, FindingData, ImageInfo, ReadData, Violation, read_validate
from apps.studies.models import Image, Project, Study, StudyState
from apps.studies.selectors import PRIOR_STATES, image_urls, priors_of

User = AbstractBaseUser | AnonymousUser

_VIEW_ORDER = {"CC": 0, "MLO": 1}


def _breasts_queryset() -> QuerySet[BreastAssessment]:
    return BreastAssessment.objects.order_by("-laterality")


def _findings_queryset() -> QuerySet[Finding]:
    # The payload needs only the image's laterality: a joined column, not the whole image row.
    return Finding.objects.annotate(image_laterality=F("image__laterality")).order_by("id")


def _read_queryset() -> QuerySet[Read]:
    return Read.objects.prefetch_related(Prefetch("breasts", queryset=_breasts_queryset()),
                                         Prefetch("findings", queryset=_findings_queryset()))


def read_parts(*, read_id: int) -> tuple[list[BreastAssessment], list[Finding]]:
    """Internal: the breasts and findings of a read, in payload order (two queries)."""
    return (list(_breasts_queryset().filter(read_id=read_id)),
            list(_findings_queryset().filter(read_id=read_id)))


def read_get(*, read_id: int) -> Read:
    """Internal: a read with its breasts and findings (callers have checked access)."""
    return _read_queryset().get(pk=read_id)


def read_of_assignment(*, assignment: Assignment) -> Read:
    """Internal: the assignment's read with its breasts and findings (three queries)."""
    return _read_queryset().get(assignment=assignment)


def read_queryset() -> QuerySet[Read]:
    """Internal: reads with their breasts and findings prefetched, in payload order."""
    return _read_queryset()


def read_data(read: Read) -> ReadData:
    """The rules/concordance view of a stored read (uses prefetched breasts and findings)."""
    breasts = {b.laterality: BreastData(laterality=b.laterality, birads=b.birads, density=b.density)
               for b in read.breasts.all()}
    findings = tuple(
        FindingData(key=finding_key(f), image_id=f.image_id, xmin=f.xmin, ymin=f.ymin, xmax=f.xmax,
                    ymax=f.ymax, categories=tuple(f.categories), birads=f.birads, id=f.pk,
                    source_finding_id=f.source_finding_id)
        for f in read.findings.all()
    )
    return ReadData(breasts=breasts, findings=findings)


def finding_key(finding: Finding) -> str:
    return finding.client_key or f"f{finding.pk}"


def read_payload(read: Read) -> dict[str, Any]:
    """The documented Read JSON (docs/api.md), from a read fetched with `read_get`."""
    return read_payload_of(read, breasts=read.breasts.all(), findings=read.findings.all())


def read_payload_of(read: Read, *, breasts: Iterable[BreastAssessment], findings: Iterable[Finding]) -> dict[str, Any]:
    """The Read JSON from parts already in memory (`read_save` builds it without re-reading).

    Findings carry `image_laterality` (`_findings_queryset`, or set by the caller)."""
    by_side = {b.laterality: b for b in breasts}
    return {
        "id": read.pk,
        "origin": read.origin,
        "breasts": [{"laterality": lat,
                     "birads": by_side[lat].birads if lat in by_side else None,
                     "density": by_side[lat].density if lat in by_side else None} for lat in ("R", "L")],
        "findings": [{"id": f.pk, "key": finding_key(f), "image": f.image_id,
                      "laterality": f.image_laterality,  # type: ignore[attr-defined]
                      "xmin": f.xmin, "ymin": f.ymin, "xmax": f.xmax, "ymax": f.ymax,
                      "categories": list(f.categories), "birads": f.birads,
                      "source_finding": f.source_finding_id} for f in findings],
        "measurements": list(read.measurements or []),
    }


def image_payload(image: Image) -> dict[str, Any]:
    """An image as the reading API returns it (docs/api.md)."""
    return {
        "id": image.pk, "image_id": image.image_id, "series_id": image.series.series_id,
        "laterality": image.laterality, "view_position": image.view_position,
        "rows": image.rows, "columns": image.columns,
        "photometric_interpretation": image.photometric_interpretation,
        "window_presets": [{"center": float(p["center"]), "width": float(p["width"]),
                            "explanation": str(p.get("explanation", ""))} for p in image.window_presets or []],
        "display_flip_horizontal": image.display_flip_horizontal,
        "full_depth_scale": image.full_depth_scale, "full_depth_offset": image.full_depth_offset,
        "urls": image_urls(image),
        # The breast's extent (render time) for fit-to-breast; null: the viewer fits the film.
        "tissue_bounds": dict(zip(("xmin", "ymin", "xmax", "ymax"), map(float, image.tissue_bounds), strict=True))
        if image.tissue_bounds else None,
        "tissue_window": ({"center": float(image.tissue_window["center"]), "width": float(image.tissue_window["width"]),
                           "explanation": str(image.tissue_window.get("explanation", "tissue"))}
                          if image.tissue_window else None),
        # mm per pixel (row, column) from PixelSpacing, else ImagerPixelSpacing (at the detector).
        "pixel_spacing": ([image.pixel_spacing_row, image.pixel_spacing_col]
                          if image.pixel_spacing_row and image.pixel_spacing_col else None),
        "pixel_spacing_source": image.pixel_spacing_source or None,
    }


def study_images(*, study_id: int) -> list[Image]:
    images = list(Image.objects.filter(study_id=study_id).select_related("series"))
    images.sort(key=_hanging_key)
    return images


def _hanging_key(image: Image) -> tuple[int, int, str, int]:
    # Hanging order: R before L, CC before MLO, other views after, then by id.
    return (0 if image.laterality == "R" else 1, _VIEW_ORDER.get(image.view_position, 2), image.view_position,
            image.pk)


def images_info(images: Iterable[Image]) -> dict[int, ImageInfo]:
    return {i.pk: ImageInfo(id=i.pk, laterality=i.laterality, rows=i.rows, columns=i.columns,
                            tissue_bounds=tuple(i.tissue_bounds) if i.tissue_bounds else None)
            for i in images}


def _assignment_queryset() -> QuerySet[Assignment]:
    return Assignment.objects.select_related("study__project", "reader")


def _assignment_get_for_user(*, user: User, assignment_id: int, queryset: QuerySet[Assignment]) -> Assignment:
    if not is_admin(user):
        queryset = queryset.filter(reader_id=user.pk)
    try:
        return queryset.get(pk=assignment_id)
    except Assignment.DoesNotExist:
        raise NotFoundError() from None


def assignment_get_for_user(*, user: User, assignment_id: int) -> Assignment:
    """The assignment if `user` holds it or is an admin; otherwise not found."""
    return _assignment_get_for_user(user=user, assignment_id=assignment_id, queryset=_assignment_queryset())


@dataclass
class ExamForReading:
    assignment: Assignment
    images: list[Image]
    read: Read
    violations: list[Violation]
    read_a: Read | None = None
    read_b: Read | None = None
    show_identities: bool = False


def exam_for_reading(*, user: User, assignment_id: int) -> ExamForReading:
    """Everything the read screen needs, in a constant number of queries (four for a first or
    second read: assignment with its read, images, breasts, findings)."""
    assignment = _assignment_get_for_user(user=user, assignment_id=assignment_id,
                                          queryset=_assignment_queryset().select_related("read"))
    images = study_images(study_id=assignment.study_id)
    read = assignment.read
    prefetch_related_objects([read], Prefetch("breasts", queryset=_breasts_queryset()),
                             Prefetch("findings", queryset=_findings_queryset()))
    exam = ExamForReading(assignment=assignment, images=images, read=read,
                          violations=read_validate(read_data(read), images_info(images)),
                          show_identities=is_admin(user))
    if assignment.kind == AssignmentKind.ARBITRATION:
        # Only the arbiter (and admins) reach this branch: the two reads under arbitration.
        reads = {r.assignment.kind: r  # type: ignore[union-attr]
                 for r in _read_queryset().select_related("assignment__reader").filter(
                     study_id=assignment.study_id, assignment__kind__in=[AssignmentKind.FIRST, AssignmentKind.SECOND])}
        exam.read_a = reads.get(AssignmentKind.FIRST)
        exam.read_b = reads.get(AssignmentKind.SECOND)
    return exam


@dataclass
class Prior:
    """One earlier exam of the patient as the read screen shows it: its images always, its read
    only when the exam is final (then the final read), never anything of reads in progress."""

    study: Study
    images: list[Image]
    final_read: Read | None
    days_before: int | None


def priors_for(*, user: User, assignment_id: int) -> list[Prior]:
    """The priors of the exam of an assignment `user` holds (any, for an admin); else not found.
    Five queries whatever the number of priors: assignment, priors, images, final reads' breasts
    and findings."""
    study = _assignment_get_for_user(user=user, assignment_id=assignment_id, queryset=_assignment_queryset()).study
    studies = list(priors_of(study).select_related("final_read"))
    if not studies:
        return []
    images: dict[int, list[Image]] = {s.pk: [] for s in studies}
    for image in Image.objects.filter(study_id__in=images).select_related("series"):
        images[image.study_id].append(image)
    finals = [s.final_read for s in studies if s.state == StudyState.FINAL and s.final_read is not None]
    prefetch_related_objects(finals, Prefetch("breasts", queryset=_breasts_queryset()),
                             Prefetch("findings", queryset=_findings_queryset()))
    return [Prior(study=s, images=sorted(images[s.pk], key=_hanging_key),
                  final_read=s.final_read if s.state == StudyState.FINAL else None,
                  days_before=(study.exam_date - s.exam_date).days if study.exam_date and s.exam_date else None)
            for s in studies]


def priors_payload(priors: Iterable[Prior]) -> list[dict[str, Any]]:
    """The Prior JSON: the same for readers and admins, as it names no reader and shows a prior's
    state only as whether its read is final."""
    return [{"study": {"id": p.study.pk, "study_id": p.study.study_id, "patient_age": p.study.patient_age,
                       "has_standard_views": p.study.has_standard_views},
             "days_before": p.days_before,
             "read_final": p.final_read is not None,
             "read": _prior_read(p.final_read) if p.final_read is not None else None,
             "images": [image_payload(i) for i in p.images]}
            for p in priors]


def _prior_read(read: Read) -> dict[str, Any]:
    """A prior's final read: its BI-RADS, density and boxes, without the ids that lead back to
    the readers' own findings (`id`, `key`, `source_finding`)."""
    payload = read_payload(read)
    return {"breasts": payload["breasts"],
            "findings": [{k: f[k] for k in PRIOR_FINDING_FIELDS} for f in payload["findings"]]}


PRIOR_FINDING_FIELDS = ("image", "laterality", "xmin", "ymin", "xmax", "ymax", "categories", "birads")


def reader_reads_later_exam_of_patient(user: User, study_id: int) -> bool:
    """Whether `study_id` is a prior of an exam `user` holds an assignment on: its renders are
    then theirs to load (registered with apps/studies/selectors.py at start-up)."""
    prior = Study.objects.filter(pk=study_id, state__in=PRIOR_STATES).exclude(patient_key="").first()
    if prior is None:
        return False
    held = Study.objects.filter(project_id=prior.project_id, patient_key=prior.patient_key,
                                assignments__reader_id=user.pk).distinct()
    return any(priors_of(s).filter(pk=prior.pk).exists() for s in held)


# --- blinding: what each asker sees of readers and exam states ---------------------------------
# Reader names and an exam's state are shown only to admins (`show_identities`). Every JSON the
# reading API answers with an assignment in it is built here, so no view decides blinding.


def _user_ref(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "username": user.get_username()}


def assignment_summary(assignment: Assignment, *, show_identities: bool) -> dict[str, Any]:
    """The AssignmentSummary JSON; without `show_identities` the reader and the exam's state are null."""
    study = assignment.study
    return {
        "id": assignment.pk, "kind": assignment.kind, "state": assignment.state, "version": assignment.version,
        "study": {"id": study.pk, "study_id": study.study_id, "project": study.project.slug,
                  "state": study.state if show_identities else None,
                  "image_count": getattr(assignment, "image_count", None) or study.images.count()},
        "created_at": assignment.created_at, "started_at": assignment.started_at,
        "submitted_at": assignment.submitted_at,
        "reader": _user_ref(assignment.reader) if show_identities else None,
        "active_seconds": assignment.active_seconds,
    }


def worklist_rows(assignments: Iterable[Assignment]) -> list[dict[str, Any]]:
    """A worklist page's rows: always blinded, even for an admin reading their own worklist."""
    return [assignment_summary(a, show_identities=False) for a in assignments]


def assignment_rows_for(*, user: User, assignments: Iterable[Assignment]) -> list[dict[str, Any]]:
    """Assignment rows as `user` may see them (identities for admins only)."""
    show = is_admin(user)
    return [assignment_summary(a, show_identities=show) for a in assignments]


def assignment_summary_for(*, user: User, assignment_id: int) -> dict[str, Any]:
    """One assignment `user` holds (or any, for an admin) as they may see it; otherwise not found."""
    assignment = assignment_get_for_user(user=user, assignment_id=assignment_id)
    return assignment_summary(assignment, show_identities=is_admin(user))


def exam_payload(exam: ExamForReading, *, idle_after_seconds: int) -> dict[str, Any]:
    """The ExamForReading JSON of the read screen, blinded by `exam.show_identities`: a reader or
    arbiter never gets a reader's name (theirs or the two arbitrated readers') or the exam's state."""
    assignment, study = exam.assignment, exam.assignment.study
    show = exam.show_identities

    def reader_of(read: Read | None) -> dict[str, Any] | None:
        return _user_ref(read.assignment.reader) if (show and read is not None) else None  # type: ignore[union-attr]

    return {
        "id": assignment.pk, "kind": assignment.kind, "state": assignment.state, "version": assignment.version,
        "study": {"id": study.pk, "study_id": study.study_id, "project": study.project.slug,
                  "state": study.state if show else None, "patient_age": study.patient_age,
                  "patient_sex": study.patient_sex, "has_standard_views": study.has_standard_views},
        "images": [image_payload(i) for i in exam.images],
        "read": read_payload(exam.read),
        "violations": [v.as_dict() for v in exam.violations],
        "read_a": read_payload(exam.read_a) if exam.read_a else None,
        "read_b": read_payload(exam.read_b) if exam.read_b else None,
        "discordance_reasons": assignment.discordance_reasons if assignment.kind == AssignmentKind.ARBITRATION
        else [],
        "reader": _user_ref(assignment.reader) if show else None,
        "read_a_reader": reader_of(exam.read_a),
        "read_b_reader": reader_of(exam.read_b),
        "active_seconds": assignment.active_seconds,
        "idle_after_seconds": idle_after_seconds,
    }


def audit_rows(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    """Audit events as the admin-only study audit answers them."""
    return [{"id": e.pk, "at": e.at, "actor": _user_ref(e.actor) if e.actor else None, "action": e.action,
             "object_type": e.object_type, "object_id": e.object_id, "before": e.before, "after": e.after}
            for e in events]


def _with_image_count(queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
    # A correlated subquery, not a join + GROUP BY: the paginator's count() then drops it (unused
    # annotations are stripped) and counts plain assignment rows.
    images = (Image.objects.filter(study_id=OuterRef("study_id")).order_by().values("study_id")
              .annotate(n=Count("pk")).values("n"))
    return queryset.annotate(image_count=Coalesce(Subquery(images), 0))


def reader_holds_exam(user: User, study_id: int) -> bool:
    """A reader holds an exam with any assignment on it, open or submitted: the image files of the
    exam are theirs to load (registered with apps/studies/selectors.py at start-up)."""
    return Assignment.objects.filter(study_id=study_id, reader_id=user.pk).exists()


def worklist_for_reader(*, user: User, state: str | None = None, project: str | None = None,
                        kind: str | None = None) -> QuerySet[Assignment]:
    """The user's own assignments: open ones first, then oldest first."""
    queryset = _assignment_queryset().filter(reader_id=user.pk)
    if state == "open":
        queryset = queryset.exclude(state=AssignmentState.SUBMITTED)
    elif state:
        queryset = queryset.filter(state=state)
    if project:
        queryset = queryset.filter(study__project__slug=project)
    if kind:
        queryset = queryset.filter(kind=kind)
    submitted_last = Case(When(state=AssignmentState.SUBMITTED, then=Value(1)), default=Value(0))
    return _with_image_count(queryset).order_by(submitted_last, "created_at", "id")


def next_assignment_id(*, user: User, project: str | None = None, first_page: list[Assignment] | None = None
                       ) -> int | None:
    """The oldest open assignment. `first_page`: the first page of an unfiltered (or state=open)
    worklist of the same project, which lists open assignments first, oldest first: its first open
    row is the answer without another query."""
    if first_page is not None:
        return next((a.pk for a in first_page if a.state != AssignmentState.SUBMITTED), None)
    queryset = Assignment.objects.filter(reader_id=user.pk).exclude(state=AssignmentState.SUBMITTED)
    if project:
        queryset = queryset.filter(study__project__slug=project)
    return queryset.order_by("created_at", "id").values_list("id", flat=True).first()


def study_get(*, study_id: int) -> Study:
    try:
        return Study.objects.select_related("project").get(pk=study_id)
    except Study.DoesNotExist:
        raise NotFoundError() from None


def assignments_for_project(*, project: Project, state: str | None = None, kind: str | None = None,
                            reader: str | None = None, study: int | None = None) -> QuerySet[Assignment]:
    queryset = _assignment_queryset().filter(study__project=project)
    if state:
        queryset = queryset.filter(state=state)
    if kind:
        queryset = queryset.filter(kind=kind)
    if reader:
        queryset = queryset.filter(reader__username=reader)
    if study:
        queryset = queryset.filter(study_id=study)
    return _with_image_count(queryset).order_by("study_id", "kind", "id")


def audit_for_study(*, study: Study) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(study=study).select_related("actor").order_by("at", "id")


@dataclass
class Progress:
    project: str
    studies: dict[str, int]
    assignments: dict[str, int]
    readers: list[dict[str, Any]] = field(default_factory=list)


def progress(*, project: Project) -> Progress:
    study_counts = dict(Study.objects.filter(project=project).values_list("state").annotate(n=Count("id")))
    assignment_counts: Counter[str] = Counter()
    readers: dict[int, dict[str, Any]] = {}
    rows = (Assignment.objects.filter(study__project=project)
            .values("reader_id", "reader__username", "state", "kind").annotate(n=Count("id"), t=Sum("active_seconds")))
    for row in rows:
        assignment_counts[row["state"]] += row["n"]
        entry = readers.setdefault(row["reader_id"], {
            "id": row["reader_id"], "username": row["reader__username"],
            **dict.fromkeys(AssignmentState.values, 0), "arbitration": 0,
            "active_seconds": 0, "submitted_active_seconds": 0, "mean_active_seconds": None})
        entry[row["state"]] += row["n"]
        entry["active_seconds"] += row["t"] or 0
        if row["state"] == AssignmentState.SUBMITTED:
            entry["submitted_active_seconds"] += row["t"] or 0
            entry["mean_active_seconds"] = entry["submitted_active_seconds"] / entry[AssignmentState.SUBMITTED]
        if row["kind"] == AssignmentKind.ARBITRATION:
            entry["arbitration"] += row["n"]
    return Progress(
        project=project.slug,
        studies={s: study_counts.get(s, 0) for s in StudyState.values},
        assignments={s: assignment_counts.get(s, 0) for s in AssignmentState.values},
        readers=sorted(readers.values(), key=lambda r: r["username"]),
    )


@dataclass
class AgreementReport:
    project: str
    rules: DiscordanceRules
    overall: Agreement
    pairs: list[tuple[dict[str, Any], dict[str, Any], Agreement]]


def agreement_for_project(*, project: Project, rules: DiscordanceRules) -> AgreementReport:
    """Agreement over every exam whose first and second reads are both submitted (6 queries)."""
    reads = list(_read_queryset().select_related("assignment__reader").filter(
        study__project=project, assignment__kind__in=[AssignmentKind.FIRST, AssignmentKind.SECOND],
        assignment__state=AssignmentState.SUBMITTED))
    by_study: dict[int, list[Read]] = {}
    for read in reads:
        by_study.setdefault(read.study_id, []).append(read)
    complete = {sid: pair for sid, pair in by_study.items() if len(pair) == 2}
    images_by_study: dict[int, dict[int, ImageInfo]] = {}
    for image in Image.objects.filter(study_id__in=list(complete)).only("id", "study_id", "laterality", "rows",
                                                                          "columns"):
        images_by_study.setdefault(image.study_id, {})[image.pk] = ImageInfo(
            id=image.pk, laterality=image.laterality, rows=image.rows, columns=image.columns)
    users: dict[int, dict[str, Any]] = {}
    exams: list[ExamReads] = []
    for study_id, pair in sorted(complete.items()):
        first, second = sorted(pair, key=lambda r: r.assignment.reader_id)  # type: ignore[union-attr]
        for read in pair:
            reader = read.assignment.reader  # type: ignore[union-attr]
            users[reader.pk] = {"id": reader.pk, "username": reader.get_username()}
        exams.append(ExamReads(reader_a=first.assignment.reader_id,  # type: ignore[union-attr]
                               reader_b=second.assignment.reader_id,  # type: ignore[union-attr]
                               read_a=read_data(first), read_b=read_data(second),
                               images=images_by_study.get(study_id, {})))
    overall, pairs = agreement_report(exams, rules)
    return AgreementReport(project=project.slug, rules=rules, overall=overall,
                           pairs=[(users[a], users[b], agreement) for (a, b), agreement in pairs.items()])
