"""Access checks shared by every app: who may do what, asked in one place (roles.py names roles).

`user=None` is the system (management commands, Celery tasks): it runs with the server's own
rights, so callers that accept it say so with `system=True`; elsewhere None is refused.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR, is_admin, is_reader, is_senior
from apps.common.errors import ForbiddenError

User = AbstractBaseUser | AnonymousUser

_CHECKS = {ROLE_ADMIN: is_admin, ROLE_READER: is_reader, ROLE_SENIOR: is_senior}


def require_role(user: User | None, role: str, *, system: bool = False, message: str | None = None) -> None:
    """ForbiddenError (403) unless `user` holds `role` (or is the system where `system` is True)."""
    if user is None:
        if system:
            return
        raise ForbiddenError(message) if message else ForbiddenError()
    if not _CHECKS[role](user):
        raise ForbiddenError(message) if message else ForbiddenError()
