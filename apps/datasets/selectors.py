"""Read side of datasets: exports visible to a user, per-exam labels, and the streamed CSV rows.

The row iterators run a fixed number of queries whatever the dataset size (server-side cursors
via .iterator(chunk_size)), so an export holds one chunk of rows in memory, never the dataset.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.accounts.roles import is_admin
from apps.common.errors import ForbiddenError, NotFoundError
from apps.common.expressions import Bytewise
from apps.datasets import split as split_labels
from apps.datasets.models import Export
from apps.reading.models import BreastAssessment, Finding
from apps.studies.models import Image, Project, Study

CHUNK = 2000
# Rows that were never imported sort after imported ones, in the canonical order.
NOT_IMPORTED = 2**31 - 1

User = AbstractBaseUser | AnonymousUser


def _require_admin(user: User | None) -> None:
    # user None = the system (management commands, Celery); everyone else must be an admin.
    if user is not None and not is_admin(user):
        raise ForbiddenError("Only admins can see or create dataset exports.")


def project_get_for_export(*, user: User | None, slug: str) -> Project:
    _require_admin(user)
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise NotFoundError("Project not found.", code="project_not_found")
    return project


def exports_for_project(*, user: User | None, project: Project) -> QuerySet[Export]:
    _require_admin(user)
    return Export.objects.filter(project=project).select_related("project", "created_by")


def export_get_for_user(*, user: User | None, export_id: int) -> Export:
    _require_admin(user)
    export = Export.objects.select_related("project", "created_by").filter(pk=export_id).first()
    if export is None:
        raise NotFoundError("Export not found.", code="export_not_found")
    return export


# ---- per-exam labels ------------------------------------------------------------------------------

@dataclass
class ExamLabels:
    study_pk: int
    study_id: str
    split: str
    age: int | None
    images: int = 0
    labels: Counter[str] = field(default_factory=Counter)


def final_exams(*, project: Project) -> QuerySet[Study]:
    return Study.objects.filter(project=project, final_read__isnull=False)


def exam_labels(*, project: Project) -> dict[int, ExamLabels]:
    """Label counts of every exam with a final read (split.py says what is counted). 4 queries."""
    exams = {
        pk: ExamLabels(study_pk=pk, study_id=study_id, split=split, age=age)
        for pk, study_id, split, age in final_exams(project=project)
        .values_list("pk", "study_id", "split", "patient_age").iterator(chunk_size=CHUNK)
    }
    for study_pk, birads, density in (
        BreastAssessment.objects.filter(read__final_of_study__project=project)
        .values_list("read__final_of_study__pk", "birads", "density").iterator(chunk_size=CHUNK)
    ):
        split_labels.add_breast(exams[study_pk].labels, birads=birads, density=density)
    boxed_images: dict[int, set[int]] = {}
    for study_pk, image_pk, categories, birads in (
        Finding.objects.filter(read__final_of_study__project=project)
        .values_list("read__final_of_study__pk", "image_id", "categories", "birads").iterator(chunk_size=CHUNK)
    ):
        split_labels.add_finding(exams[study_pk].labels, categories=categories, birads=birads)
        boxed_images.setdefault(study_pk, set()).add(image_pk)
    for study_pk, image_pk in (
        Image.objects.filter(study__in=final_exams(project=project))
        .values_list("study_id", "pk").iterator(chunk_size=CHUNK)
    ):
        exam = exams[study_pk]
        exam.images += 1
        if image_pk not in boxed_images.get(study_pk, ()):
            exam.labels[split_labels.NO_FINDING_LABEL] += 1
    return exams


def exams_with_unpublished_values(*, project: Project) -> list[str]:
    """study_ids of final exams with a breast BI-RADS 0: valid in the platform (incomplete, needs
    more imaging) but absent from the published release, whose readers reject it. One query."""
    return sorted(set(BreastAssessment.objects.filter(read__final_of_study__project=project, birads=0)
                      .values_list("read__final_of_study__study_id", flat=True)))


# ---- streamed CSV rows ----------------------------------------------------------------------------

def _breast_of(field_name: str, *, read: str, laterality: str) -> Subquery:
    return Subquery(BreastAssessment.objects.filter(read_id=OuterRef(read), laterality=OuterRef(laterality))
                    .values(field_name)[:1])


IMAGE_ROW_FIELDS = ("study__study_id", "series__series_id", "image_id", "laterality", "view_position",
                    "rows", "columns", "breast_birads", "breast_density", "study__split")


def _canonical_image_order(prefix: str = "") -> list[Any]:
    # Bytewise ("C") collation: the same order as Python's string comparison, whatever the
    # database's locale, so the two streams of finding_annotations.csv merge correctly.
    return [Bytewise(F(f"{prefix}study__study_id")), Bytewise(F(f"{prefix}laterality")),
            Bytewise(F(f"{prefix}view_position")), Bytewise(F(f"{prefix}image_id"))]


def breast_rows(*, project: Project) -> Iterator[tuple[Any, ...]]:
    """One tuple per image of a final exam: IMAGE_ROW_FIELDS order. One query."""
    queryset = (
        Image.objects.filter(study__in=final_exams(project=project))
        .annotate(breast_birads=_breast_of("birads", read="study__final_read", laterality="laterality"),
                  breast_density=_breast_of("density", read="study__final_read", laterality="laterality"),
                  line=Coalesce(F("imported_row__breast_line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order())
        .values_list(*IMAGE_ROW_FIELDS)
    )
    return queryset.iterator(chunk_size=CHUNK)


@dataclass(frozen=True)
class FindingCsvRow:
    image: tuple[Any, ...]  # IMAGE_ROW_FIELDS
    categories: list[str] | None  # None: the image's ['No Finding'] row
    birads: int | None
    box: tuple[float, float, float, float] | None
    box_text: list[str] | None = None  # the coordinates as an imported file spelled them


def finding_rows(*, project: Project) -> Iterator[FindingCsvRow]:
    """Boxes of final reads and one No Finding row per image without a box, in file order. 2 queries.

    Two ordered streams (boxes; images without boxes) merged on the same key: line in an imported
    file first, then study, laterality, view, image, box id.
    """
    boxes = (
        Finding.objects.filter(read__final_of_study__project=project)
        .annotate(breast_birads=_breast_of("birads", read="read_id", laterality="image__laterality"),
                  breast_density=_breast_of("density", read="read_id", laterality="image__laterality"),
                  line=Coalesce(F("imported_row__line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order("image__"), "pk")
        .values_list("line", *(f"image__{f}" for f in IMAGE_ROW_FIELDS[:7]), "breast_birads",
                     "breast_density", "image__study__split", "pk", "categories", "birads",
                     "xmin", "ymin", "xmax", "ymax", "imported_row__box_text")
    )
    no_box = Finding.objects.filter(read_id=OuterRef("study__final_read"), image_id=OuterRef("pk"))
    empty_images = (
        Image.objects.filter(study__in=final_exams(project=project)).filter(~Exists(no_box))
        .annotate(breast_birads=_breast_of("birads", read="study__final_read", laterality="laterality"),
                  breast_density=_breast_of("density", read="study__final_read", laterality="laterality"),
                  line=Coalesce(F("imported_row__no_finding_line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order())
        .values_list("line", *IMAGE_ROW_FIELDS)
    )

    def sort_key(line: int, image: tuple[Any, ...], pk: int) -> tuple[Any, ...]:
        # Must match the ORDER BY of both querysets: line, study_id, laterality, view, image_id, box.
        return (line, image[0], image[3], image[4], image[2], pk)

    def keyed_boxes() -> Iterator[tuple[tuple[Any, ...], FindingCsvRow]]:
        for row in boxes.iterator(chunk_size=CHUNK):
            image, (pk, categories, birads, *box, box_text) = row[1:11], row[11:]
            yield (sort_key(row[0], image, pk),
                   FindingCsvRow(image=image, categories=categories, birads=birads,
                                 box=(box[0], box[1], box[2], box[3]), box_text=box_text))

    def keyed_empty() -> Iterator[tuple[tuple[Any, ...], FindingCsvRow]]:
        for row in empty_images.iterator(chunk_size=CHUNK):
            yield (sort_key(row[0], row[1:11], 0),
                   FindingCsvRow(image=row[1:11], categories=None, birads=None, box=None))

    for _key, row in heapq.merge(keyed_boxes(), keyed_empty(), key=lambda item: item[0]):
        yield row


METADATA_FIELDS = (
    "study__study_id", "series__series_id", "image_id", "sop_uid", "series__series_uid", "study__study_uid",
    "sop_class_uid", "study__patient_age", "study__patient_sex", "laterality", "view_position", "rows",
    "columns", "pixel_spacing_row", "pixel_spacing_col", "photometric_interpretation", "bits_stored",
    "manufacturer", "manufacturer_model", "full_depth_scale", "full_depth_offset",
)


def metadata_rows(*, project: Project) -> Iterator[tuple[Any, ...]]:
    """One tuple per image of a final exam (METADATA_FIELDS), in the breast-level file's order."""
    return (
        Image.objects.filter(study__in=final_exams(project=project))
        .annotate(line=Coalesce(F("imported_row__breast_line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order())
        .values_list(*METADATA_FIELDS)
        .iterator(chunk_size=CHUNK)
    )


def image_files(*, project: Project, kind: str) -> Iterator[tuple[str, str, str]]:
    """(study_id, image_id, storage name) of every image of a final exam; kind 'dicom' or 'png'."""
    name_field = "dicom_file" if kind == "dicom" else "full_depth_file"
    return (
        Image.objects.filter(study__in=final_exams(project=project))
        .order_by("study__study_id", "image_id")
        .values_list("study__study_id", "image_id", name_field)
        .iterator(chunk_size=CHUNK)
    )
