"""Access checks shared by every app: who may do what, asked in one place (roles.py names roles).

`user=None` is the system (management commands, Celery tasks): it runs with the server's own
rights, so callers that accept it say so with `system=True`; elsewhere None is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from rest_framework.exceptions import NotAuthenticated

from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR, is_admin, is_reader, is_senior
from apps.common.errors import ForbiddenError

if TYPE_CHECKING:
    from django.contrib.auth.models import User as UserModel

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


def acting_user(request: HttpRequest) -> UserModel:
    """The logged-in user of a request, typed as the user model services take as `actor`.

    Precondition: the view's permission class admits only authenticated users; an anonymous
    request that reaches here anyway is refused (401/403), never passed on as an actor."""
    user = request.user
    if not isinstance(user, get_user_model()):
        raise NotAuthenticated()
    return cast("UserModel", user)

