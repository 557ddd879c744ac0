"""DICOMweb endpoints (QIDO-RS, WADO-RS, STOW-RS) under /dicomweb/; docs/dicom.md.

Thin views: parse and negotiate here, the selectors decide what the caller sees, the services
store. Authentication is the API's (DRF session or `Authorization: Token ...`). These are a
standard protocol, documented in docs/dicom.md, so they stay out of the /api/ OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pydicom
from django.core.files.storage import default_storage
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.access import acting_user
from apps.common.errors import NotFoundError
from apps.dicomweb import media, selectors, services
from apps.dicomweb.errors import InvalidQuery, NotAcceptable
from apps.studies.models import Image

BLOCK = 256 * 1024
DICOM_PART = f"application/dicom; transfer-syntax={media.EXPLICIT_VR_LITTLE_ENDIAN}"
FRAME_PART = f"application/octet-stream; transfer-syntax={media.EXPLICIT_VR_LITTLE_ENDIAN}"


class DicomJsonRenderer(JSONRenderer):
    media_type = media.DICOM_JSON
    format = "dicomjson"


class AnyRenderer(BaseRenderer):
    """Lets every Accept header through DRF's negotiation: the views negotiate themselves
    (multipart/related; type=... is beyond DRF's renderer matching) and answer with Django
    responses; errors are still rendered as JSON by the first renderer."""

    media_type = "*/*"
    format = "any"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Mapping[str, Any] | None = None) -> bytes:
        return JSONRenderer().render(data)


def _base_url(request: Request) -> str:
    return request.build_absolute_uri(reverse("dicomweb:studies")).removesuffix("/studies")


@extend_schema(exclude=True)
class DicomwebApi(APIView):
    renderer_classes = [DicomJsonRenderer, AnyRenderer]

    def _accept(self, request: Request) -> list[media.MediaRange]:
        return media.parse_accept(request.headers.get("Accept"))

    def _require(self, request: Request, offered: str, *, part_type: str | None = None,
                 transfer_syntax: str | None = None) -> None:
        if not media.accepts(self._accept(request), offered, part_type=part_type, transfer_syntax=transfer_syntax):
            shown = f'{offered}; type="{part_type}"' if part_type else offered
            raise NotAcceptable(accept=request.headers.get("Accept", ""), offered=shown)


def _json_response(data: Any) -> Response:
    return Response(data, content_type=media.DICOM_JSON)


# ---------------------------------------------------------------------------------------------
# QIDO-RS


class _QidoApi(DicomwebApi):
    level = selectors.LEVEL_STUDY

    def get(self, request: Request, study_uid: str | None = None, series_uid: str | None = None) -> Response:
        if not (media.accepts(self._accept(request), media.DICOM_JSON)
                or media.accepts(self._accept(request), "application/json")):
            raise NotAcceptable(accept=request.headers.get("Accept", ""), offered=media.DICOM_JSON)
        query = selectors.query_parse(params=dict(request.query_params.lists()), level=self.level)
        for keyword, value in (("StudyInstanceUID", study_uid), ("SeriesInstanceUID", series_uid)):
            if value is not None:
                if query.filters.get(keyword, value) != value:
                    raise InvalidQuery(f"{keyword} in the query differs from the one in the path", parameter=keyword)
                query.filters[keyword] = value
        services.headers_ensure(images=selectors.images_visible(user=request.user))
        search = {selectors.LEVEL_STUDY: selectors.study_search, selectors.LEVEL_SERIES: selectors.series_search,
                  selectors.LEVEL_INSTANCE: selectors.instance_search}[self.level]
        return _json_response(search(visible=selectors.studies_visible(user=request.user), query=query,
                                     base_url=_base_url(request)))


class StudiesApi(_QidoApi):
    """GET: QIDO-RS search for studies. POST: STOW-RS."""

    def post(self, request: Request) -> Response:
        return _stow(request, study_uid=None)


class StudySeriesSearchApi(_QidoApi):
    level = selectors.LEVEL_SERIES


class InstancesSearchApi(_QidoApi):
    level = selectors.LEVEL_INSTANCE


# ---------------------------------------------------------------------------------------------
# STOW-RS


def _stow(request: Request, *, study_uid: str | None) -> Response:
    actor = acting_user(request)
    project = services.stow_project(actor=actor, slug=request.query_params.get("project"))
    django_request = request._request
    meta = django_request.META
    boundary, length = services.stow_check_headers(
        content_type=meta.get("CONTENT_TYPE", ""), content_length=meta.get("CONTENT_LENGTH"),
        input_terminated=bool(meta.get("wsgi.input_terminated")))
    # Read in chunks, never whole: Django's request stream (a LimitedStream over wsgi.input), or
    # for a chunked body the server's decoded wsgi.input itself.
    stream = django_request if length is not None else meta["wsgi.input"]
    result = services.stow_store(actor=actor, project=project, stream=stream, boundary=boundary,
                                 length=length, study_uid=study_uid)
    body = services.stow_response(result=result, base_url=_base_url(request))
    return Response(body, status=result.http_status, content_type=media.DICOM_JSON)


# ---------------------------------------------------------------------------------------------
# WADO-RS


def _file_chunks(name: str) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with default_storage.open(name, "rb") as handle:
            while block := handle.read(BLOCK):
                yield block

    return chunks


class _RetrieveApi(DicomwebApi):
    def _images(self, request: Request, study_uid: str, series_uid: str | None = None,
                sop_uid: str | None = None) -> list[Image]:
        return selectors.instances_for_retrieve(user=request.user, study_uid=study_uid, series_uid=series_uid,
                                                sop_uid=sop_uid)


class RetrieveApi(_RetrieveApi):
    """Study, series or instance as multipart/related; type="application/dicom" (the stored
    de-identified files, Explicit VR Little Endian, streamed)."""

    def get(self, request: Request, study_uid: str, series_uid: str | None = None,
            sop_uid: str | None = None) -> StreamingHttpResponse:
        self._require(request, "multipart/related", part_type="application/dicom",
                      transfer_syntax=media.EXPLICIT_VR_LITTLE_ENDIAN)
        images = self._images(request, study_uid, series_uid, sop_uid)
        boundary = media.new_boundary()
        stream = media.multipart_stream(((DICOM_PART, _file_chunks(i.dicom_file)) for i in images),
                                        boundary=boundary)
        response = StreamingHttpResponse(stream, content_type=media.multipart_content_type("application/dicom",
                                                                                           boundary))
        response["Cache-Control"] = "private, no-cache"
        return response


class StudyApi(RetrieveApi):
    """GET: WADO-RS retrieve study. POST: STOW-RS into this study."""

    def post(self, request: Request, study_uid: str) -> Response:
        return _stow(request, study_uid=study_uid)


class MetadataApi(_RetrieveApi):
    def get(self, request: Request, study_uid: str, series_uid: str | None = None,
            sop_uid: str | None = None) -> Response:
        if not (media.accepts(self._accept(request), media.DICOM_JSON)
                or media.accepts(self._accept(request), "application/json")):
            raise NotAcceptable(accept=request.headers.get("Accept", ""), offered=media.DICOM_JSON)
        images = self._images(request, study_uid, series_uid, sop_uid)
        headers = selectors.headers_for(image_pks=[i.pk for i in images])
        missing = [i for i in images if i.pk not in headers]
        if missing:
            services.headers_fill(images=missing)
            headers = selectors.headers_for(image_pks=[i.pk for i in images])
        base = _base_url(request)
        results = []
        for image in images:
            if image.pk not in headers:
                continue
            metadata = dict(headers[image.pk].metadata)
            url = f"{base}/studies/{study_uid}/series/{image.series.series_uid}/instances/{image.sop_uid}"
            metadata["7FE00010"] = {"vr": "OW", "BulkDataURI": f"{url}/frames/1"}
            # The file meta group is not in the data set; viewers (OHIF) read the syntax here.
            metadata["00020010"] = {"vr": "UI", "Value": [media.EXPLICIT_VR_LITTLE_ENDIAN]}
            results.append(metadata)
        return _json_response(results)


def _frame_numbers(frames: str) -> list[int]:
    try:
        numbers = [int(f) for f in frames.split(",") if f.strip()]
    except ValueError:
        raise InvalidQuery(f"frame list {frames!r} is not a comma-separated list of numbers",
                           parameter="frames") from None
    if not numbers or min(numbers) < 1:
        raise InvalidQuery("frame numbers start at 1", parameter="frames")
    return numbers


class FramesApi(_RetrieveApi):
    """Frames as multipart/related; type="application/octet-stream" (uncompressed pixel data;
    every stored image has one frame: multi-frame input is not accepted at ingest)."""

    def get(self, request: Request, study_uid: str, series_uid: str, sop_uid: str, frames: str) -> HttpResponse:
        numbers = _frame_numbers(frames)
        self._require(request, "multipart/related", part_type="application/octet-stream",
                      transfer_syntax=media.EXPLICIT_VR_LITTLE_ENDIAN)
        image = self._images(request, study_uid, series_uid, sop_uid)[0]
        if max(numbers) > 1:
            raise NotFoundError(f"The instance has 1 frame; frame {max(numbers)} does not exist.")
        with default_storage.open(image.dicom_file, "rb") as handle:
            pixels = bytes(pydicom.dcmread(handle).PixelData)
        boundary = media.new_boundary()
        body = b"".join(media.multipart_stream(
            ((FRAME_PART, lambda: iter([pixels])) for _ in numbers), boundary=boundary))
        return HttpResponse(body, content_type=media.multipart_content_type("application/octet-stream", boundary))


class _PngApi(_RetrieveApi):
    field = "display_file"

    def get(self, request: Request, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None,
            frames: str | None = None) -> StreamingHttpResponse:
        if frames is not None and max(_frame_numbers(frames)) > 1:
            raise NotFoundError("The instance has 1 frame.")
        self._require(request, "image/png")
        image = self._images(request, study_uid, series_uid, sop_uid)[0]
        name = getattr(image, self.field)
        if not name:
            raise NotFoundError("This instance has no render yet.")
        response = StreamingHttpResponse(_file_chunks(name)(), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class RenderedApi(_PngApi):
    """Our display render (8-bit PNG, default window, <= RENDER_DISPLAY_MAX_SIDE)."""

    field = "display_file"


class ThumbnailApi(_PngApi):
    """Our thumbnail (8-bit PNG, <= RENDER_THUMBNAIL_MAX_SIDE); of a study or series: its first
    instance in hanging order."""

    field = "thumbnail_file"
