"""Database sessions with an idle timeout that does not cost a write per request.

Idle timeout is SESSION_SAVE_EVERY_REQUEST: each request pushes the session's expiry forward. Done
literally that is an UPDATE of the session row on every API call (autosaves included) for nothing
but a timestamp. This store skips that write while the stored expiry was renewed less than
SESSION_RENEW_AFTER_S ago, so a session ends between SESSION_COOKIE_AGE - SESSION_RENEW_AFTER_S
and SESSION_COOKIE_AGE after its last request, never later. A change of the session's data is
saved at once, as always.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.utils import timezone


class SessionStore(DbSessionStore):
    _loaded_expiry: datetime | None = None

    def _get_session_from_db(self) -> Any:
        session = super()._get_session_from_db()  # type: ignore[misc]  # private in django-stubs
        self._loaded_expiry = session.expire_date if session is not None else None
        return session

    def save(self, must_create: bool = False) -> None:
        if not must_create and not self.modified and self.session_key is not None and self._loaded_expiry:
            renewed_at_least = timezone.now() + timedelta(
                seconds=self.get_session_cookie_age() - settings.SESSION_RENEW_AFTER_S)
            if self._loaded_expiry > renewed_at_least:
                return
        super().save(must_create=must_create)
        self._loaded_expiry = None
