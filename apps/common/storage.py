"""Helpers for files that go through Django's storage API (never raw paths)."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def storage_save_bytes(*, name: str, content: bytes) -> str:
    """Write `content` at `name`, replacing what was there (renders are idempotent)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))
