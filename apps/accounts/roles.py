"""Roles are Django groups. One place names them; services and permissions ask through here."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

ROLE_ADMIN = "admin"
ROLE_READER = "reader"
ROLE_SENIOR = "senior_reader"
ALL_ROLES = (ROLE_ADMIN, ROLE_READER, ROLE_SENIOR)


def ensure_role_groups() -> None:
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_mammolab_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        if user.is_superuser:  # type: ignore[attr-defined]
            cached.add(ROLE_ADMIN)
        user._mammolab_roles = cached  # type: ignore[union-attr,attr-defined]
    return cached


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return ROLE_ADMIN in user_roles(user)


def is_reader(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user_roles(user) & {ROLE_READER, ROLE_SENIOR})


def is_senior(user: AbstractBaseUser | AnonymousUser) -> bool:
    return ROLE_SENIOR in user_roles(user)
