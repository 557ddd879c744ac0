"""Stable error codes of the DICOMweb endpoints (the JSON shape of apps/common/errors.py)."""

from __future__ import annotations

from enum import StrEnum

from rest_framework import status

from apps.common.errors import ApplicationError


class DicomwebErrorCode(StrEnum):
    INVALID_QUERY = "dicomweb_invalid_query"
    NOT_ACCEPTABLE = "dicomweb_not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "dicomweb_unsupported_media_type"
    INVALID_BODY = "dicomweb_invalid_body"
    REQUEST_TOO_LARGE = "dicomweb_request_too_large"
    NO_PROJECT = "dicomweb_no_project"


class InvalidQuery(ApplicationError):
    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message, code=DicomwebErrorCode.INVALID_QUERY, extra={"parameter": parameter})


class NotAcceptable(ApplicationError):
    http_status = status.HTTP_406_NOT_ACCEPTABLE

    def __init__(self, *, accept: str, offered: str) -> None:
        super().__init__(f"Accept {accept!r} allows none of what this resource is served as: {offered}.",
                         code=DicomwebErrorCode.NOT_ACCEPTABLE, extra={"offered": offered})


class UnsupportedMediaType(ApplicationError):
    http_status = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE

    def __init__(self, content_type: str) -> None:
        super().__init__(f'Content-Type {content_type!r}: STOW-RS takes multipart/related; '
                         'type="application/dicom" with a boundary.',
                         code=DicomwebErrorCode.UNSUPPORTED_MEDIA_TYPE, extra={"content_type": content_type})


class InvalidBody(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=DicomwebErrorCode.INVALID_BODY)


class RequestTooLarge(ApplicationError):
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, *, size: int | None, limit: int) -> None:
        super().__init__(f"The request body is {size if size is not None else 'of unknown'} bytes; the limit "
                         f"is {limit} bytes (DICOMWEB_MAX_REQUEST_BYTES).",
                         code=DicomwebErrorCode.REQUEST_TOO_LARGE, extra={"limit": limit, "size": size})


class NoProject(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=DicomwebErrorCode.NO_PROJECT, extra={"parameter": "project"})
