"""Authentication that loads a user's roles with the user, in one query: sessions and tokens.

Every API request authenticates (session -> user) and then asks the user's roles (permission
classes, selectors). Done apart that was a second query on every request; here the roles are
EXISTS columns of the user row's query and land in the per-object cache `user_roles` reads.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from apps.accounts.roles import ALL_ROLES, ROLE_ADMIN


def _role_column(role: str) -> str:
    return f"has_role_{role}"


def role_annotations(user_ref: str = "pk") -> dict[str, Exists]:
    """EXISTS columns, one per role, for a query whose rows lead to a user through `user_ref`."""
    return {_role_column(role): Exists(Group.objects.filter(user=OuterRef(user_ref), name=role))
            for role in ALL_ROLES}


def cache_roles(user: Any, row: Any) -> None:
    """Put the roles read by `role_annotations` on `row` into the per-object cache of `user`."""
    cached = {role for role in ALL_ROLES if getattr(row, _role_column(role))}
    if user.is_superuser:
        cached.add(ROLE_ADMIN)
    user._mammolab_roles = cached


class RolesModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        user = get_user_model()._default_manager.annotate(**role_annotations()).filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        cache_roles(user, user)
        return user


class RolesTokenAuthentication(TokenAuthentication):
    """DRF's token authentication with the roles in the token's query (scripts and DICOMweb
    clients authenticate this way on every request): one query where DRF's own made two."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = (self.get_model()._default_manager.select_related("user").annotate(**role_annotations("user_id"))
                 .filter(key=key).first())
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        cache_roles(token.user, token)
        return token.user, token
