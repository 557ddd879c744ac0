"""Who a management command acts as: commands run without a logged-in user, yet the audit trail
records an admin. One rule for every command."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from apps.accounts.roles import ROLE_ADMIN, is_admin


def command_actor(username: str | None = None) -> Any:
    """The named user (who must be an admin), else the first active superuser, else the first
    active member of the admin role. CommandError when there is none."""
    users = get_user_model().objects
    if username:
        actor = users.filter(username=username).first()
        if actor is None:
            raise CommandError(f"Unknown user {username!r} (--actor).")
    else:
        actor = users.filter(is_superuser=True, is_active=True).order_by("id").first()
        if actor is None:
            actor = users.filter(is_active=True, groups__name=ROLE_ADMIN).order_by("id").first()
    if actor is None or not is_admin(actor):
        raise CommandError("An admin user must exist (or pass --actor) to record who did this.")
    return actor
