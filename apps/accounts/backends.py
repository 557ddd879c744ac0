"""Authentication backend that loads a user's roles with the user, in one query.

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

from apps.accounts.roles import ALL_ROLES, ROLE_ADMIN


def _role_column(role: str) -> str:
    return f"has_role_{role}"


class RolesModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        roles = {_role_column(role): Exists(Group.objects.filter(user=OuterRef("pk"), name=role))
                 for role in ALL_ROLES}
        user = get_user_model()._default_manager.annotate(**roles).filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        cached = {role for role in ALL_ROLES if getattr(user, _role_column(role))}
        if user.is_superuser:  # type: ignore[attr-defined]
            cached.add(ROLE_ADMIN)
        user._mammolab_roles = cached  # type: ignore[attr-defined]
        return user
