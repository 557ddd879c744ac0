"""Read side of the studies app: fetching with permission checks and the right joins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.urls import reverse

from apps.accounts.access import require_role
from apps.accounts.roles import ROLE_ADMIN, is_admin
from apps.common.errors import NotFoundError
from apps.studies import dicom
from apps.studies.models import (
    Image,
    ImageState,
    ImportBatch,
    ImportItem,
    ImportItemStatus,
    Project,
    Study,
    StudyState,
)

User = AbstractBaseUser | AnonymousUser


def image_urls(image: Image) -> dict[str, str]:
    """The viewer's file URLs of one image (the `urls` object of the image JSON contract).
    `depth` (the reduced full-depth PNG, loaded first) only once the image has one."""
    kinds = ("display", "thumbnail", "full", "depth") if image.depth_preview_file else ("display", "thumbnail", "full")
    return {kind: reverse("studies:image-file", kwargs={"pk": image.pk, "kind": kind}) for kind in kinds}


def project_list(*, user: User) -> QuerySet[Project]:
    require_role(user, ROLE_ADMIN)
    return Project.objects.annotate(study_count=Count("studies", distinct=True)).order_by("slug")


def project_get_for(user: User | None, slug: str, *, system: bool = False, message: str | None = None) -> Project:
    """The project `slug` for an admin (403 otherwise, with `message`; the system where `system`);
    404 if there is none. Every app fetches a project by slug through here: managing projects,
    the reading admin screens and dataset exports."""
    require_role(user, ROLE_ADMIN, system=system, message=message)
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise NotFoundError(f"No project {slug!r}.", code="project_not_found")
    return project


def batch_get(*, user: User, batch_id: int) -> ImportBatch:
    """A batch with its per-status item counts as attributes (`count_<status>`, `count_total`)."""
    require_role(user, ROLE_ADMIN)
    counts = {f"count_{s}": Count("items", filter=Q(items__status=s)) for s in ImportItemStatus.values}
    batch = (ImportBatch.objects.select_related("project", "created_by")
             .annotate(count_total=Count("items"), **counts).filter(pk=batch_id).first())
    if batch is None:
        raise NotFoundError("No such import batch.")
    return batch


def batch_items(*, batch: ImportBatch, status: str | None = None) -> QuerySet[ImportItem]:
    items = batch.items.select_related("image").order_by("pk")
    return items.filter(status=status) if status else items


def images_awaiting_review(*, user: User, project_slug: str | None = None) -> QuerySet[Image]:
    require_role(user, ROLE_ADMIN)
    images = (Image.objects.filter(state=ImageState.RENDERED)
              .select_related("study", "series", "project").order_by("study_id", "laterality", "view_position", "pk"))
    return images.filter(project__slug=project_slug) if project_slug else images


def exams_awaiting_review(*, user: User, project_slug: str | None = None) -> QuerySet[Study]:
    """Exams with at least one rendered image not yet reviewed, oldest first, their images and
    project joined (the review grid shows them exam by exam). Two queries per page."""
    require_role(user, ROLE_ADMIN)
    pending = Image.objects.filter(state=ImageState.RENDERED)
    exams = (Study.objects.filter(images__in=pending.values("pk")).distinct()
             .select_related("project").order_by("created_at", "pk")
             .prefetch_related(Prefetch("images", queryset=Image.objects.order_by("laterality", "view_position", "pk"))))
    return exams.filter(project__slug=project_slug) if project_slug else exams


@dataclass
class MaskReview:
    """What the review grid shows of one image's masks: each box as percentages of the image,
    whether it overlaps the breast's bounding box, and the tissue bounds themselves."""

    masks: list[dict[str, Any]]
    overlaps: int
    max_overlap: float
    tissue: dict[str, float] | None


# What imports applied before mask boxes were recorded (studies migration 0005): the then
# default, a 12% x 6% box at each of the four corners of the stored image.
CORNER_MASK_BEFORE_MASK_BOXES = [[0.0, 0.0, 0.12, 0.06], [0.88, 0.0, 1.0, 0.06],
                                 [0.0, 0.94, 0.12, 1.0], [0.88, 0.94, 1.0, 1.0]]


def image_mask_review(image: Image) -> MaskReview:
    """Pure over the image row (no query). Images imported before mask boxes were recorded are
    assumed masked with CORNER_MASK_BEFORE_MASK_BOXES, which is what their import applied
    unless the site had set CORNER_MASK."""
    boxes = image.mask_boxes
    if boxes is None:
        boxes = [list(b) for b in dicom.corner_boxes(image.rows, image.columns, CORNER_MASK_BEFORE_MASK_BOXES)]
    overlaps = {o.box: o.fraction for o in dicom.mask_tissue_overlaps(boxes, image.tissue_bounds)}
    cols, rows = max(image.columns, 1), max(image.rows, 1)

    def pct(x0: float, y0: float, x1: float, y1: float) -> dict[str, float]:
        return {"left": 100 * x0 / cols, "top": 100 * y0 / rows, "width": 100 * (x1 - x0) / cols,
                "height": 100 * (y1 - y0) / rows}

    masks = [{**pct(*b), "overlap": overlaps.get((int(b[0]), int(b[1]), int(b[2]), int(b[3])), 0.0)} for b in boxes]
    return MaskReview(masks=masks, overlaps=len(overlaps), max_overlap=max(overlaps.values(), default=0.0),
                      tissue=pct(*image.tissue_bounds) if image.tissue_bounds else None)


def image_get_for_file(*, user: User, image_pk: int, kind: str = "dicom") -> Image:
    """Admins always; anyone else only with an assignment on the image's exam, or, for the
    renders (`kind` not "dicom"), while reading a later exam of the same patient (the image is a
    prior's); else 404 (the image's existence does not leak)."""
    image = Image.objects.filter(pk=image_pk).first()
    if image is None or not user.is_authenticated:
        raise NotFoundError()
    if is_admin(user):
        return image
    if any(check(user, image.study_id) for check in _exam_access_checks):
        return image
    if kind != "dicom" and any(check(user, image.study_id) for check in _render_access_checks):
        return image
    raise NotFoundError()


# Who besides admins may see an exam's images is decided by the app that hands exams out
# (reading: an assignment on the exam), which sits above studies. It registers its check here at
# start-up (apps/reading/apps.py), so studies imports nothing of it. No check registered: admins
# only (fails closed).
ExamAccessCheck = Callable[[User, int], bool]  # (user, study pk) -> may see the exam's images
_exam_access_checks: list[ExamAccessCheck] = []


def exam_access_register(check: ExamAccessCheck) -> None:
    """Add a non-admin access check for `image_get_for_file`; registering twice adds it once."""
    if check not in _exam_access_checks:
        _exam_access_checks.append(check)


# Who may see an exam's renders only (display, thumbnail, full depth; never the DICOM): a reader
# of a later exam of the same patient, to whom the exam is a prior (registered by reading).
_render_access_checks: list[ExamAccessCheck] = []


def exam_renders_access_register(check: ExamAccessCheck) -> None:
    """Add a non-admin access check for the renders in `image_get_for_file`; once per check."""
    if check not in _render_access_checks:
        _render_access_checks.append(check)


# An exam's images are shown as a prior only once they passed the de-identification review.
PRIOR_STATES = (StudyState.READY, StudyState.READING, StudyState.ARBITRATION, StudyState.FINAL)


def _earlier_than(study: Study) -> Q:
    """Exams earlier than `study`: by the (shifted) exam date when both have one; otherwise, with
    no date to go by, imported before it. The same day is not earlier (a same-day diagnostic
    work-up is not a prior)."""
    if study.exam_date is None:
        return Q(created_at__lt=study.created_at)
    return Q(exam_date__lt=study.exam_date) | Q(exam_date__isnull=True, created_at__lt=study.created_at)


def priors_of(study: Study) -> QuerySet[Study]:
    """The patient's earlier exams in the same project, most recent first, whose images may be
    shown (reviewed); none when the exam has no patient link (patient_key blank)."""
    if not study.patient_key:
        return Study.objects.none()
    return (Study.objects.filter(_earlier_than(study), project_id=study.project_id, patient_key=study.patient_key,
                                 state__in=PRIOR_STATES)
            .exclude(pk=study.pk).order_by(F("exam_date").desc(nulls_last=True), "-created_at", "-pk"))


def batch_wait(*, batch_id: int, timeout_s: float, poll_s: float = 0.5) -> ImportBatch:
    """Poll until the batch is done (a real worker runs it) or the timeout passes."""
    import time

    from apps.studies.models import ImportBatchState

    deadline = time.monotonic() + timeout_s
    while True:
        batch = ImportBatch.objects.get(pk=batch_id)
        if batch.state == ImportBatchState.DONE or time.monotonic() >= deadline:
            return batch
        time.sleep(poll_s)
