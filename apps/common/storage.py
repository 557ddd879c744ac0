"""Helpers for files that go through Django's storage API (never raw paths)."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def storage_save_bytes(*, name: str, content: bytes) -> str:
    """Write `content` at `name`, replacing what was there (renders are idempotent). One write:
    both configured backends overwrite in place (FileSystemStorage `allow_overwrite`, S3
    `file_overwrite`), so no exists/delete round trips before it (two S3 requests per output)."""
    stored = default_storage.save(name, ContentFile(content))
    if stored != name:
        raise RuntimeError(f"Storage renamed {name!r} to {stored!r}: configure it to overwrite (config/settings.py)")
    return stored
