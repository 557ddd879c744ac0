"""Stable error codes of the reading app (docs/api.md lists them for the frontend)."""

from __future__ import annotations

from enum import StrEnum


class ReadingErrorCode(StrEnum):
    INVALID_TRANSITION = "invalid_transition"
    STALE_VERSION = "stale_version"
    VALIDATION_FAILED = "validation_failed"
    NOT_ASSIGNEE = "not_assignee"
    NOT_ENOUGH_READERS = "not_enough_readers"
    INVALID_READER = "invalid_reader"
    UNKNOWN_FINDING = "unknown_finding"
    INVALID_SOURCE_FINDING = "invalid_source_finding"
    INVALID_PROJECT_SETTINGS = "invalid_project_settings"
    INVALID_MEASUREMENT = "invalid_measurement"
