from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from apps.accounts.roles import ALL_ROLES, ROLE_ADMIN, ensure_role_groups


@transaction.atomic
def user_create(*, username: str, password: str, roles: list[str], email: str = "") -> AbstractUser:
    """Create (or update the password and roles of) a user. Admins also get Django admin access."""
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {list(ALL_ROLES)}")
    ensure_role_groups()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_staff = ROLE_ADMIN in roles
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


@transaction.atomic
def user_roles_set(*, user: AbstractUser, roles: list[str]) -> AbstractUser:
    """Give `user` exactly these roles; the admin role also opens the Django admin (is_staff)."""
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {list(ALL_ROLES)}")
    ensure_role_groups()
    user.is_staff = ROLE_ADMIN in roles or user.is_superuser
    user.save(update_fields=["is_staff"])
    user.groups.set(Group.objects.filter(name__in=roles))
    user.__dict__.pop("_mammolab_roles", None)  # roles are cached on the instance (roles.user_roles)
    return user


def user_active_set(*, user: AbstractUser, active: bool) -> AbstractUser:
    """Deactivate (or reactivate) an account: a deactivated reader cannot log in and gets no new
    assignments; their reads and audit events stay."""
    user.is_active = active
    user.save(update_fields=["is_active"])
    return user
