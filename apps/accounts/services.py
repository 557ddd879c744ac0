from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.errors import AccountsErrorCode
from apps.accounts.roles import ALL_ROLES, ROLE_ADMIN, ensure_role_groups
from apps.common.errors import ApplicationError


@transaction.atomic
def user_create(*, username: str, password: str, roles: list[str], email: str = "",
                validate_password: bool = True) -> AbstractUser:
    """Create (or update the password and roles of) a user. Admins also get Django admin access.

    The password must pass settings.AUTH_PASSWORD_VALIDATORS (400 `invalid_password`, nothing
    saved). Only fixtures that are weak on purpose pass `validate_password=False`: the demo's
    accounts (password = username, `load_demo`) and test users.
    """
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {list(ALL_ROLES)}")
    ensure_role_groups()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    if validate_password:
        try:
            password_validation.validate_password(password, user=user)
        except ValidationError as exc:
            raise ApplicationError("The password is too weak: " + " ".join(exc.messages),
                                   code=AccountsErrorCode.INVALID_PASSWORD,
                                   extra={"field": "password", "errors": exc.messages}) from exc
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
