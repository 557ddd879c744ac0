"""Read side of DICOMweb and DIMSE: what a caller may see, query matching, WADO-RS lookups.

The one query module of both protocols: QIDO-RS (apps/dicomweb/apis.py) and C-FIND
(apps/dicomweb/dimse.py, served by the receiver) parse into the same `Query` and run the same
`*_search` over a scope of visible studies, so both answer the same de-identified data.

Visibility over DICOMweb is the reading app's: admins see every exam; a reader sees the exams
of the assignments they hold (`apps.reading.selectors.worklist_for_reader`), so access ends when
the assignment does; anyone else sees nothing. Over DIMSE the scope is the calling AE title's
project (`studies_in_project`; DICOM_CALLING_AES), looked up by slug on each query. Only
de-identified data is served (the stored files and what ingest derived from them). Blinding: no
answer carries study state, reads, assignments or anything about other readers; a study another
user may see is "not found".

An exam imported into two projects has the same de-identified UIDs in both; answers are keyed by
UID, so it appears once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Max, Min, QuerySet
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from apps.accounts.roles import is_admin, is_reader
from apps.common.errors import NotFoundError
from apps.dicomweb.errors import InvalidQuery
from apps.dicomweb.media import element
from apps.dicomweb.models import InstanceHeader
from apps.reading.selectors import worklist_for_reader
from apps.studies.models import Image, Series, Study

User = AbstractBaseUser | AnonymousUser

LEVEL_STUDY, LEVEL_SERIES, LEVEL_INSTANCE = "study", "series", "instance"
CONTROL_PARAMETERS = {"limit", "offset", "includefield", "fuzzymatching"}


# ---------------------------------------------------------------------------------------------
# Visibility


def studies_visible(*, user: User) -> QuerySet[Study]:
    if not user.is_authenticated:
        return Study.objects.none()
    if is_admin(user):
        return Study.objects.all()
    if not is_reader(user):
        return Study.objects.none()  # a former reader keeps no access through old assignments
    return Study.objects.filter(pk__in=worklist_for_reader(user=user).values("study_id"))


def images_visible(*, user: User) -> QuerySet[Image]:
    return Image.objects.filter(study__in=studies_visible(user=user))


def studies_in_project(*, project_slug: str) -> QuerySet[Study]:
    """The C-FIND scope of a calling AE title: its project's exams, whatever their workflow state."""
    return Study.objects.filter(project__slug=project_slug)


# ---------------------------------------------------------------------------------------------
# Query parameters


def attribute_keyword(name: str) -> str | None:
    """A QIDO attribute given as keyword (`StudyInstanceUID`) or tag (`0020000D`) -> keyword."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


def tag_hex(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


@dataclass
class Query:
    level: str
    filters: dict[str, str] = field(default_factory=dict)  # keyword -> match value
    includefields: set[str] = field(default_factory=set)  # keywords; "all" = every attribute we hold
    limit: int = 0
    offset: int = 0


def query_parse(*, params: Mapping[str, Sequence[str]], level: str) -> Query:
    """Validate QIDO-RS parameters; anything that is neither a control parameter nor a DICOM
    attribute is a 400 naming it (clients misspelling a key would otherwise get everything)."""
    query = Query(level=level, limit=settings.DICOMWEB_QIDO_MAX_LIMIT)
    for name, values in params.items():
        if name == "includefield":
            for value in (v for raw in values for v in raw.split(",") if v):
                if value == "all":
                    query.includefields.add("all")
                    continue
                keyword = attribute_keyword(value)
                if keyword is None:
                    raise InvalidQuery(f"includefield {value!r} is not a DICOM attribute", parameter="includefield")
                query.includefields.add(keyword)
        elif name in ("limit", "offset"):
            try:
                number = int(values[-1])
            except ValueError:
                raise InvalidQuery(f"{name}={values[-1]!r} is not an integer", parameter=name) from None
            if number < 0:
                raise InvalidQuery(f"{name} must not be negative", parameter=name)
            if name == "limit":
                query.limit = min(number, settings.DICOMWEB_QIDO_MAX_LIMIT) if number else query.limit
            else:
                query.offset = number
        elif name == "fuzzymatching":
            continue  # accepted and not applied: no fuzzy matching on de-identified data
        else:
            keyword = attribute_keyword(name)
            if keyword is None:
                raise InvalidQuery(f"{name!r} is neither a DICOM attribute nor a QIDO-RS parameter "
                                   "(limit, offset, includefield, fuzzymatching)", parameter=name)
            query.filters[keyword] = values[-1]
    return query


def _uids(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\\]", value) if v.strip()]


def _is_universal(value: str) -> bool:
    return value.strip() in ("", "*")


def _wildcard_regex(value: str) -> str:
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value) + "$"


# Attributes MammoLab holds (on the rows, or in the header cache) per level: keyword -> ORM
# lookup relative to the level's model. Every other DICOM attribute is empty in de-identified
# data (dates, names, ids, accession numbers are removed), so a non-universal match on one
# matches nothing: the answer PS3.4 C.2.2.2 gives for an attribute with no value.
_STUDY_KEYS = {"StudyInstanceUID": "study_uid", "PatientSex": "patient_sex",
               "ModalitiesInStudy": "images__dicomweb_header__modality"}
_SERIES_KEYS = {"StudyInstanceUID": "study__study_uid", "SeriesInstanceUID": "series_uid",
                "Modality": "images__dicomweb_header__modality"}
_INSTANCE_KEYS = {"StudyInstanceUID": "study__study_uid", "SeriesInstanceUID": "series__series_uid",
                  "SOPInstanceUID": "sop_uid", "SOPClassUID": "sop_class_uid",
                  "Modality": "dicomweb_header__modality", "ImageLaterality": "laterality",
                  "ViewPosition": "view_position"}
_UID_KEYS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}
_KEYS = {LEVEL_STUDY: _STUDY_KEYS, LEVEL_SERIES: _SERIES_KEYS, LEVEL_INSTANCE: _INSTANCE_KEYS}


def _apply_filters(queryset: QuerySet[Any], query: Query) -> QuerySet[Any]:
    keys = _KEYS[query.level]
    for keyword, value in query.filters.items():
        if _is_universal(value):
            continue
        lookup = keys.get(keyword)
        if lookup is None:
            return queryset.none()
        if keyword in _UID_KEYS:
            queryset = queryset.filter(**{f"{lookup}__in": _uids(value)})
        elif keyword in ("ModalitiesInStudy", "Modality"):
            queryset = queryset.filter(**{f"{lookup}__in": [v.upper() for v in _uids(value)]})
        elif "*" in value or "?" in value:
            queryset = queryset.filter(**{f"{lookup}__regex": _wildcard_regex(value)})
        else:
            queryset = queryset.filter(**{lookup: value})
    return queryset


# ---------------------------------------------------------------------------------------------
# Header cache


def images_without_header(*, images: QuerySet[Image]) -> QuerySet[Image]:
    return images.filter(dicomweb_header__isnull=True).exclude(dicom_file="")


def headers_for(*, image_pks: Sequence[int]) -> dict[int, InstanceHeader]:
    return {h.image_id: h for h in InstanceHeader.objects.filter(image_id__in=image_pks)}


# ---------------------------------------------------------------------------------------------
# QIDO-RS


def _include(result: dict[str, Any], query: Query, held: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Requested extra attributes: from `held` (DICOM JSON by tag) when we have them, else
    present and empty (the attribute exists in the model; de-identification removed its value)."""
    for keyword in query.includefields - {"all"}:
        tag = tag_hex(keyword)
        if tag not in result:
            result[tag] = held.get(tag) or {"vr": dictionary_VR(keyword)}
    if "all" in query.includefields:
        for tag, value in held.items():
            result.setdefault(tag, value)
    return dict(sorted(result.items()))


def study_search(*, visible: QuerySet[Study], query: Query, base_url: str) -> list[dict[str, Any]]:
    """`visible`: the caller's scope (`studies_visible`, `studies_in_project`)."""
    studies = _apply_filters(visible, query)
    # The page first (no joins), then the counts for its studies only: counting over every
    # visible study on each request is what made a page cost O(archive).
    uids = list(studies.values("study_uid").annotate(first=Min("pk")).order_by("first")
                .values_list("study_uid", flat=True)[query.offset:query.offset + query.limit])
    counted = {row["study_uid"]: row for row in visible.filter(study_uid__in=uids)
               .values("study_uid").annotate(n_series=Count("series__series_uid", distinct=True),
                                             n_instances=Count("images__sop_uid", distinct=True),
                                             sex=Max("patient_sex"), age=Max("patient_age"))}
    rows = [counted[uid] for uid in uids if uid in counted]
    modalities: dict[str, set[str]] = {}
    for uid, modality in (InstanceHeader.objects.filter(image__study__study_uid__in=uids)
                          .values_list("image__study__study_uid", "modality").distinct()):
        modalities.setdefault(uid, set()).add(modality)
    results = []
    for row in rows:
        uid = row["study_uid"]
        age = f"{row['age']:03d}Y" if row["age"] is not None else None
        result = {
            tag_hex("StudyDate"): element("DA"), tag_hex("StudyTime"): element("TM"),
            tag_hex("AccessionNumber"): element("SH"),
            tag_hex("ModalitiesInStudy"): element("CS", *sorted(modalities.get(uid, ()))),
            tag_hex("ReferringPhysicianName"): element("PN"), tag_hex("PatientName"): element("PN"),
            tag_hex("PatientID"): element("LO"), tag_hex("PatientBirthDate"): element("DA"),
            tag_hex("PatientSex"): element("CS", row["sex"]), tag_hex("PatientAge"): element("AS", age),
            tag_hex("StudyInstanceUID"): element("UI", uid), tag_hex("StudyID"): element("SH"),
            tag_hex("NumberOfStudyRelatedSeries"): element("IS", row["n_series"]),
            tag_hex("NumberOfStudyRelatedInstances"): element("IS", row["n_instances"]),
            tag_hex("RetrieveURL"): element("UR", f"{base_url}/studies/{uid}"),
        }
        results.append(_include(result, query, {}))
    return results


def series_search(*, visible: QuerySet[Study], query: Query, base_url: str) -> list[dict[str, Any]]:
    series = _apply_filters(Series.objects.filter(study__in=visible), query)
    rows = list(series.values("series_uid", "study__study_uid").annotate(
        first=Min("pk"), instances=Count("images__sop_uid", distinct=True),
        modality=Max("images__dicomweb_header__modality"),
    ).order_by("first")[query.offset:query.offset + query.limit])
    results = []
    for row in rows:
        study_uid, uid = row["study__study_uid"], row["series_uid"]
        result = {
            tag_hex("StudyInstanceUID"): element("UI", study_uid),
            tag_hex("SeriesInstanceUID"): element("UI", uid),
            tag_hex("Modality"): element("CS", row["modality"]), tag_hex("SeriesNumber"): element("IS"),
            tag_hex("SeriesDescription"): element("LO"),
            tag_hex("NumberOfSeriesRelatedInstances"): element("IS", row["instances"]),
            tag_hex("RetrieveURL"): element("UR", f"{base_url}/studies/{study_uid}/series/{uid}"),
        }
        results.append(_include(result, query, {}))
    return results


def _distinct_images(images: QuerySet[Image]) -> QuerySet[Image]:
    """One row per SOP Instance UID (the same exam in two projects), in ingest order."""
    firsts = images.values("sop_uid").annotate(first=Min("pk")).values("first")
    return Image.objects.filter(pk__in=firsts).select_related("study", "series").order_by("pk")


def images_matching(*, visible: QuerySet[Study], query: Query) -> QuerySet[Image]:
    """The stored instances an instance-level query matches (C-GET's sub-operations)."""
    assert query.level == LEVEL_INSTANCE, query.level
    return _distinct_images(_apply_filters(Image.objects.filter(study__in=visible), query)).exclude(dicom_file="")


_INSTANCE_FROM_HEADER = ("SOPClassUID", "Modality", "Rows", "Columns", "BitsAllocated", "NumberOfFrames",
                         "ImageLaterality", "Laterality", "ViewPosition", "PhotometricInterpretation")


def instance_search(*, visible: QuerySet[Study], query: Query, base_url: str) -> list[dict[str, Any]]:
    images = _apply_filters(Image.objects.filter(study__in=visible), query)
    page = list(_distinct_images(images)[query.offset:query.offset + query.limit])
    headers = headers_for(image_pks=[i.pk for i in page])
    results = []
    for image in page:
        held = headers[image.pk].metadata if image.pk in headers else {}
        url = f"{base_url}/studies/{image.study.study_uid}/series/{image.series.series_uid}/instances/{image.sop_uid}"
        result: dict[str, Any] = {
            tag_hex("StudyInstanceUID"): element("UI", image.study.study_uid),
            tag_hex("SeriesInstanceUID"): element("UI", image.series.series_uid),
            tag_hex("SOPInstanceUID"): element("UI", image.sop_uid),
            tag_hex("SOPClassUID"): element("UI", image.sop_class_uid),
            tag_hex("InstanceNumber"): element("IS"),
            tag_hex("Rows"): element("US", image.rows), tag_hex("Columns"): element("US", image.columns),
            tag_hex("NumberOfFrames"): element("IS", 1),
            tag_hex("RetrieveURL"): element("UR", url),
        }
        # What the view is matched on (ingest's reading of the header, or the manifest's), so an
        # answer shows the value it matched; a header without ImageLaterality keeps its own below.
        for keyword, value in (("ImageLaterality", image.laterality), ("ViewPosition", image.view_position)):
            if value:
                result[tag_hex(keyword)] = element("CS", value)
        for keyword in _INSTANCE_FROM_HEADER:
            if tag_hex(keyword) in held:
                result.setdefault(tag_hex(keyword), held[tag_hex(keyword)])
        results.append(_include(result, query, held))
    return results


# ---------------------------------------------------------------------------------------------
# WADO-RS


def instances_for_retrieve(*, user: User, study_uid: str, series_uid: str | None = None,
                           sop_uid: str | None = None) -> list[Image]:
    """The visible instances of a study / series / one instance; none visible -> not found
    (whether it exists elsewhere does not leak)."""
    images = images_visible(user=user).filter(study__study_uid=study_uid)
    if series_uid is not None:
        images = images.filter(series__series_uid=series_uid)
    if sop_uid is not None:
        images = images.filter(sop_uid=sop_uid)
    found = list(_distinct_images(images.exclude(dicom_file="")))
    if not found:
        raise NotFoundError("No such study, series or instance.")
    # Hanging order inside a study: R before L, CC before MLO, then ingest order.
    found.sort(key=lambda i: (i.laterality != "R", {"CC": 0, "MLO": 1}.get(i.view_position, 2), i.pk))
    return found
