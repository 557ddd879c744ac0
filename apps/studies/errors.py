"""Stable error codes of the studies app (the frontend branches on these)."""

from __future__ import annotations

from enum import StrEnum

from apps.common.errors import ApplicationError, ConflictError, NotFoundError


class StudiesErrorCode(StrEnum):
    PROJECT_EXISTS = "project_exists"
    INVALID_MANIFEST = "invalid_manifest"
    NO_FILES = "no_files"
    IMAGE_NOT_RENDERED = "image_not_rendered"
    STUDY_NOT_REVIEWED = "study_not_reviewed"
    INVALID_TRANSITION = "invalid_transition"
    FILE_NOT_AVAILABLE = "file_not_available"
    INVALID_GROUP_RULE = "invalid_group_rule"
    UPLOAD_TOO_LARGE = "upload_too_large"


class ProjectExists(ConflictError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"Project {slug!r} already exists.", code=StudiesErrorCode.PROJECT_EXISTS,
                         extra={"slug": slug})


class InvalidManifest(ApplicationError):
    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message, code=StudiesErrorCode.INVALID_MANIFEST, extra={"line": line})


class NoFiles(ApplicationError):
    def __init__(self) -> None:
        super().__init__("No files were given.", code=StudiesErrorCode.NO_FILES)


class StudyNotReviewed(ConflictError):
    def __init__(self, study_id: str, unreviewed: int) -> None:
        super().__init__(f"Exam {study_id} still has {unreviewed} unreviewed image(s).",
                         code=StudiesErrorCode.STUDY_NOT_REVIEWED,
                         extra={"study_id": study_id, "unreviewed": unreviewed})


class InvalidStudyTransition(ConflictError):
    def __init__(self, study_id: str, current: str, target: str) -> None:
        super().__init__(f"Exam {study_id} cannot go from {current} to {target}.",
                         code=StudiesErrorCode.INVALID_TRANSITION,
                         extra={"study_id": study_id, "current_state": current, "target_state": target})


class FileNotAvailable(NotFoundError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"The {kind} file of this image is not available yet.",
                         code=StudiesErrorCode.FILE_NOT_AVAILABLE, extra={"kind": kind})


class InvalidGroupRule(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=StudiesErrorCode.INVALID_GROUP_RULE)


class UploadTooLarge(ApplicationError):
    http_status = 413

    def __init__(self, message: str, *, limit: int, setting: str) -> None:
        super().__init__(message, code=StudiesErrorCode.UPLOAD_TOO_LARGE,
                         extra={"limit": limit, "setting": setting})
