"""Read side of datasets: exports visible to a user, per-exam labels, and the streamed CSV rows.

The row iterators run a fixed number of queries whatever the dataset size (server-side cursors
via .iterator(chunk_size)), so an export holds one chunk of rows in memory, never the dataset.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.accounts.access import require_role
from apps.accounts.roles import ROLE_ADMIN
from apps.common.errors import NotFoundError
from apps.common.expressions import Bytewise
from apps.datasets import measurements_csv, vindr_csv
from apps.datasets import split as split_labels
from apps.datasets.models import Export
from apps.reading.models import AssignmentKind, AssignmentState, BreastAssessment, Finding, Read, ReadOrigin
from apps.studies.models import Image, Project, Study

CHUNK = 2000
# Rows that were never imported sort after imported ones, in the canonical order.
NOT_IMPORTED = 2**31 - 1

User = AbstractBaseUser | AnonymousUser
EXPORTS_ADMIN_ONLY = "Only admins can see or create dataset exports."


def exports_for_project(*, user: User | None, project: Project) -> QuerySet[Export]:
    require_role(user, ROLE_ADMIN, system=True, message=EXPORTS_ADMIN_ONLY)
    return Export.objects.filter(project=project).select_related("project", "created_by")


def export_get_for_user(*, user: User | None, export_id: int) -> Export:
    require_role(user, ROLE_ADMIN, system=True, message=EXPORTS_ADMIN_ONLY)
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


# The column each field of a row type reads. values_list() takes them in the row type's own field
# order (a field without a lookup fails at import), so a reordered field cannot shift the others.
_IMAGE_LOOKUPS = {
    "study_id": "study__study_id", "series_id": "series__series_id", "image_id": "image_id",
    "laterality": "laterality", "view_position": "view_position", "height": "rows", "width": "columns",
    "breast_birads": None, "breast_density": None,  # annotations (_breast_of), never prefixed
    "split": "study__split",
}
_METADATA_LOOKUPS = {
    "study_id": "study__study_id", "series_id": "series__series_id", "image_id": "image_id",
    "sop_uid": "sop_uid", "series_uid": "series__series_uid", "study_uid": "study__study_uid",
    "sop_class_uid": "sop_class_uid", "patient_age": "study__patient_age", "patient_sex": "study__patient_sex",
    "laterality": "laterality", "view_position": "view_position", "rows": "rows", "columns": "columns",
    "pixel_spacing_row": "pixel_spacing_row", "pixel_spacing_col": "pixel_spacing_col",
    "photometric_interpretation": "photometric_interpretation", "bits_stored": "bits_stored",
    "manufacturer": "manufacturer", "manufacturer_model": "manufacturer_model",
    "full_depth_scale": "full_depth_scale", "full_depth_offset": "full_depth_offset",
}
_IMAGE_FIELDS = [(f.name, _IMAGE_LOOKUPS[f.name]) for f in fields(vindr_csv.ExportImageRow)]
_METADATA_FIELDS = [_METADATA_LOOKUPS[f.name] for f in fields(vindr_csv.ExportMetadataRow)]
_IMAGE_WIDTH = len(_IMAGE_FIELDS)


def _image_lookups(prefix: str = "") -> list[str]:
    """values_list() arguments of an ExportImageRow, from an Image (prefix "") or a Finding ("image__")."""
    return [name if lookup is None else f"{prefix}{lookup}" for name, lookup in _IMAGE_FIELDS]


def _with_breast(queryset: QuerySet[Any], *, read: str, laterality: str) -> QuerySet[Any]:
    return queryset.annotate(breast_birads=_breast_of("birads", read=read, laterality=laterality),
                             breast_density=_breast_of("density", read=read, laterality=laterality))


def _canonical_image_order(prefix: str = "") -> list[Any]:
    # Bytewise ("C") collation: the same order as Python's string comparison, whatever the
    # database's locale, so the two streams of finding_annotations.csv merge correctly.
    return [Bytewise(F(f"{prefix}study__study_id")), Bytewise(F(f"{prefix}laterality")),
            Bytewise(F(f"{prefix}view_position")), Bytewise(F(f"{prefix}image_id"))]


def _merge_key(line: int, image: vindr_csv.ExportImageRow, box_pk: int) -> tuple[int, str, str, str, str, int]:
    # Must match the ORDER BY of both finding querysets: line, _canonical_image_order(), box.
    return (line, image.study_id, image.laterality, image.view_position, image.image_id, box_pk)


def breast_rows(*, project: Project) -> Iterator[vindr_csv.ExportImageRow]:
    """One row per image of a final exam, in file order. One query."""
    queryset = (
        _with_breast(Image.objects.filter(study__in=final_exams(project=project)),
                     read="study__final_read", laterality="laterality")
        .annotate(line=Coalesce(F("imported_row__breast_line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order())
        .values_list(*_image_lookups())
    )
    for row in queryset.iterator(chunk_size=CHUNK):
        yield vindr_csv.ExportImageRow(*row)


def finding_rows(*, project: Project) -> Iterator[vindr_csv.ExportFindingRow]:
    """Boxes of final reads and one No Finding row per image without a box, in file order. 2 queries.

    Two ordered streams (boxes; images without boxes) merged on the same key: line in an imported
    file first, then study, laterality, view, image, box id.
    """
    boxes = (
        _with_breast(Finding.objects.filter(read__final_of_study__project=project),
                     read="read_id", laterality="image__laterality")
        .annotate(line=Coalesce(F("imported_row__line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order("image__"), "pk")
        .values_list(*_image_lookups("image__"), "line", "pk", "categories", "birads",
                     "xmin", "ymin", "xmax", "ymax", "imported_row__box_text")
    )
    no_box = Finding.objects.filter(read_id=OuterRef("study__final_read"), image_id=OuterRef("pk"))
    empty_images = (
        _with_breast(Image.objects.filter(study__in=final_exams(project=project)).filter(~Exists(no_box)),
                     read="study__final_read", laterality="laterality")
        .annotate(line=Coalesce(F("imported_row__no_finding_line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order())
        .values_list(*_image_lookups(), "line")
    )

    def keyed_boxes() -> Iterator[tuple[tuple[Any, ...], vindr_csv.ExportFindingRow]]:
        for row in boxes.iterator(chunk_size=CHUNK):
            image = vindr_csv.ExportImageRow(*row[:_IMAGE_WIDTH])
            line, pk, categories, birads, xmin, ymin, xmax, ymax, box_text = row[_IMAGE_WIDTH:]
            yield (_merge_key(line, image, pk),
                   vindr_csv.ExportFindingRow(image=image, categories=categories, birads=birads,
                                              box=(xmin, ymin, xmax, ymax), box_text=box_text))

    def keyed_empty() -> Iterator[tuple[tuple[Any, ...], vindr_csv.ExportFindingRow]]:
        for row in empty_images.iterator(chunk_size=CHUNK):
            image = vindr_csv.ExportImageRow(*row[:_IMAGE_WIDTH])
            (line,) = row[_IMAGE_WIDTH:]
            yield _merge_key(line, image, 0), vindr_csv.ExportFindingRow(image=image)

    for _key, row in heapq.merge(keyed_boxes(), keyed_empty(), key=lambda item: item[0]):
        yield row


def metadata_rows(*, project: Project) -> Iterator[vindr_csv.ExportMetadataRow]:
    """One row per image of a final exam, in the breast-level file's order. One query."""
    queryset = (
        Image.objects.filter(study__in=final_exams(project=project))
        .annotate(line=Coalesce(F("imported_row__breast_line"), Value(NOT_IMPORTED)))
        .order_by("line", *_canonical_image_order())
        .values_list(*_METADATA_FIELDS)
    )
    for row in queryset.iterator(chunk_size=CHUNK):
        yield vindr_csv.ExportMetadataRow(*row)


def measurement_rows(*, project: Project) -> list[measurements_csv.ExportMeasurementRow]:
    """Length measurements of every final exam, in the canonical image order, then read (final,
    first, second), then as the read lists them. 2 queries.

    A consensus final read is the merge of two concordant reads and carries no measurements of
    its own, so its exam's measurements are those of the two submitted first/second reads.
    Measurements are a handful per read, so the rows are built in memory (sorted here).
    """
    finals = final_exams(project=project)
    reads = (
        Read.objects.filter(
            Q(final_of_study__in=finals)
            | Q(study__in=finals.filter(final_read__origin=ReadOrigin.CONSENSUS),
                assignment__kind__in=[AssignmentKind.FIRST, AssignmentKind.SECOND],
                assignment__state=AssignmentState.SUBMITTED))
        .exclude(measurements=[])
        .values_list("study_id", "final_of_study", "assignment__kind", "measurements")
    )
    by_study: dict[int, list[tuple[str, list[dict[str, Any]]]]] = {}
    for study_pk, final_of, kind, measurements in reads.iterator(chunk_size=CHUNK):
        role = measurements_csv.READ_FINAL if final_of is not None else str(kind)
        by_study.setdefault(study_pk, []).append((role, list(measurements or [])))
    if not by_study:
        return []
    images: dict[int, tuple[str, str, str, str, str, int, int, str]] = {
        pk: (study_id, series_id, image_id, laterality, view, rows, columns, subset)
        for pk, study_id, series_id, image_id, laterality, view, rows, columns, subset
        in Image.objects.filter(study_id__in=list(by_study)).values_list(
            "pk", "study__study_id", "series__series_id", "image_id", "laterality", "view_position",
            "rows", "columns", "study__split")
    }
    keyed: list[tuple[tuple[Any, ...], measurements_csv.ExportMeasurementRow]] = []
    for study_pk, read_list in by_study.items():
        for role, measurements in read_list:
            for index, item in enumerate(measurements):
                image = images.get(int(item["image"]))
                if image is None:
                    continue  # an image deleted since the read was saved
                study_id, series_id, image_id, laterality, view, rows, columns, subset = image
                row = measurements_csv.ExportMeasurementRow(
                    study_id=study_id, series_id=series_id, image_id=image_id, laterality=laterality,
                    view_position=view, height=rows, width=columns, read=role,
                    x1=float(item["x1"]), y1=float(item["y1"]), x2=float(item["x2"]), y2=float(item["y2"]),
                    length_mm=None if item.get("length_mm") is None else float(item["length_mm"]),
                    spacing_source=str(item.get("spacing_source") or ""), split=subset)
                keyed.append(((study_id, laterality, view, image_id, measurements_csv.READ_ORDER.get(role, 9),
                               index, study_pk), row))
    keyed.sort(key=lambda entry: entry[0])
    return [row for _key, row in keyed]


def image_files(*, project: Project, kind: str) -> Iterator[tuple[str, str, str]]:
    """(study_id, image_id, storage name) of every image of a final exam; kind 'dicom' or 'png'."""
    name_field = "dicom_file" if kind == "dicom" else "full_depth_file"
    return (
        Image.objects.filter(study__in=final_exams(project=project))
        .order_by("study__study_id", "image_id")
        .values_list("study__study_id", "image_id", name_field)
        .iterator(chunk_size=CHUNK)
    )
