"""Stable error codes of the accounts app."""

from __future__ import annotations

from enum import StrEnum


class AccountsErrorCode(StrEnum):
    INVALID_PASSWORD = "invalid_password"  # noqa: S105 (an error code, not a password)
