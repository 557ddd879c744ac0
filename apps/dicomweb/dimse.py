"""C-FIND and C-GET (Query/Retrieve, Study Root and Patient Root) over the query module QIDO-RS
uses.

The receiver (apps/studies/listener.py) calls `find_parse` on a request's identifier, then
iterates `find_results`. A C-FIND identifier is translated into the same `selectors.Query` a
QIDO-RS URL becomes: each non-empty element is a matching key (`filters`), every element is a
return key (`includefields`); the answers are the `*_search` results (DICOM JSON) cut down to the
requested keys. So C-FIND and QIDO-RS match and answer alike, and an attribute de-identification
removed (PatientID, StudyDate, AccessionNumber, ...) is returned empty and matches only `*`/empty.

PS3.4 C.4.1: failures answer A900 (identifier does not match the SOP class: no or a wrong
QueryRetrieveLevel, a unique key below the level) or C000 (unable to process) with the reason in
ErrorComment. Matching is relational (PS3.4 C.4.1.2.2.1): a SERIES or IMAGE query needs no
higher-level unique key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from apps.dicomweb import selectors, services
from apps.studies.models import Image, Study

STATUS_IDENTIFIER_MISMATCH = 0xA900  # Identifier does not match SOP Class
STATUS_UNABLE_TO_PROCESS = 0xC000

LEVELS = {"STUDY": selectors.LEVEL_STUDY, "SERIES": selectors.LEVEL_SERIES, "IMAGE": selectors.LEVEL_INSTANCE}
# Unique keys that place a query below a level (PS3.4 C.6.2.1.2: an identifier carries no keys of a
# lower level than its QueryRetrieveLevel).
_BELOW = {"STUDY": {"SeriesInstanceUID", "SOPInstanceUID"}, "SERIES": {"SOPInstanceUID"}, "IMAGE": set()}
_NOT_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet", "TimezoneOffsetFromUTC"}


@dataclass
class FindFailure(Exception):
    status: int
    comment: str


@dataclass
class FindRequest:
    level: str  # QueryRetrieveLevel as sent: STUDY, SERIES, IMAGE
    query: selectors.Query
    returned: list[DataElement] = field(default_factory=list)  # the return keys, in the request's order


def _match_value(element: DataElement) -> str:
    value = element.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list):
        return "\\".join(str(v) for v in value)
    return str(value)


def find_parse(*, identifier: Dataset, patient_root: bool) -> FindRequest:
    """The request's Query, or FindFailure naming what is wrong with it."""
    raw_level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if not raw_level:
        raise FindFailure(STATUS_IDENTIFIER_MISMATCH, "QueryRetrieveLevel (0008,0052) is missing")
    if raw_level == "PATIENT" and patient_root:
        raise FindFailure(STATUS_UNABLE_TO_PROCESS,
                          "PATIENT level not offered: de-identified data has no patients")
    if raw_level not in LEVELS:
        raise FindFailure(STATUS_IDENTIFIER_MISMATCH,
                          f"QueryRetrieveLevel {raw_level[:16]!r} is not STUDY, SERIES or IMAGE")
    request = FindRequest(level=raw_level, query=selectors.Query(level=LEVELS[raw_level],
                                                                 limit=settings.DICOMWEB_QIDO_MAX_LIMIT))
    for element in identifier:
        keyword = element.keyword
        if keyword in _NOT_KEYS:
            continue
        if element.VR == "SQ":
            if any(len(item) for item in element.value or ()):
                raise FindFailure(STATUS_UNABLE_TO_PROCESS, f"{keyword or element.tag}: sequence matching "
                                                            "is not supported")
            request.returned.append(element)
            continue
        value = _match_value(element)
        if not keyword:
            if value:
                raise FindFailure(STATUS_UNABLE_TO_PROCESS,
                                  f"{element.tag} is not a standard attribute and cannot be matched")
            request.returned.append(element)
            continue
        if keyword in _BELOW[raw_level]:
            raise FindFailure(STATUS_IDENTIFIER_MISMATCH, f"{keyword} is below the {raw_level} level")
        if value:
            request.query.filters[keyword] = value
        request.query.includefields.add(keyword)
        request.returned.append(element)
    return request


def _response(request: FindRequest, result: dict[str, dict[str, object]], *, ae_title: str) -> Dataset:
    answer: dict[str, dict[str, object]] = {}
    for element in request.returned:
        tag = f"{element.tag:08X}"
        held = result.get(tag)
        vr = str(held["vr"]) if held else element.VR
        if " or " in vr:  # an ambiguous dictionary VR (US or SS): the request's, else the first
            vr = element.VR if " or " not in element.VR else vr.split(" or ")[0]
        answer[tag] = {**(held or {}), "vr": vr}
        if element.keyword == "RetrieveAETitle":
            answer[tag] = {"vr": "AE", "Value": [ae_title]}
    ds = Dataset.from_json(answer)
    ds.QueryRetrieveLevel = request.level
    return ds


def find_scope(*, project_slug: str) -> QuerySet[Study]:
    """The studies a calling AE title's C-FIND sees, with the header cache QIDO-RS also fills."""
    visible = selectors.studies_in_project(project_slug=project_slug)
    # By the image's own project, not `study__in`: the anti-join over the archive is 2-3x cheaper.
    services.headers_ensure(images=Image.objects.filter(project__slug=project_slug))
    return visible


def find_results(*, request: FindRequest, visible: QuerySet[Study], ae_title: str) -> Iterator[Dataset]:
    """Every match, one page (DICOMWEB_QIDO_MAX_LIMIT) of the shared search at a time: C-FIND has
    no paging of its own, and a page at a time keeps memory flat on a large archive."""
    search = {selectors.LEVEL_STUDY: selectors.study_search, selectors.LEVEL_SERIES: selectors.series_search,
              selectors.LEVEL_INSTANCE: selectors.instance_search}[request.query.level]
    query = request.query
    while True:
        page = search(visible=visible, query=query, base_url="")
        for result in page:
            yield _response(request, result, ae_title=ae_title)
        if len(page) < query.limit:
            return
        query.offset += query.limit


_UNIQUE = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}


def get_images(*, identifier: Dataset, patient_root: bool, project_slug: str) -> list[Image]:
    """C-GET: the stored (de-identified) instances the identifier's unique keys name, in the
    calling AE title's project. PS3.4 C.4.3.2.1: a retrieve names its level's unique key; without
    one (or with a wildcard) it would be "send me everything", so that is A900, not a match-all."""
    request = find_parse(identifier=identifier, patient_root=patient_root)
    unique = _UNIQUE[request.level]
    value = request.query.filters.get(unique, "")
    if not value.strip() or "*" in value or "?" in value:
        raise FindFailure(STATUS_IDENTIFIER_MISMATCH, f"C-GET at {request.level} level needs {unique} (UIDs)")
    keys = {k: v for k, v in request.query.filters.items() if k in _UNIQUE.values()}
    query = selectors.Query(level=selectors.LEVEL_INSTANCE, filters=keys)
    return list(selectors.images_matching(visible=selectors.studies_in_project(project_slug=project_slug),
                                          query=query))
