"""`manage.py users list | create NAME --roles reader[,senior_reader,admin] [--password P] |
set-roles NAME --roles ... | deactivate NAME | activate NAME` (thin: apps.accounts.services)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts import services
from apps.accounts.roles import ALL_ROLES, user_roles
from apps.common.errors import ApplicationError


def _roles(value: str) -> list[str]:
    roles = [r.strip() for r in value.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown:
        raise CommandError(f"Unknown roles: {', '.join(unknown)}; known: {', '.join(ALL_ROLES)}.")
    return roles


class Command(BaseCommand):
    help = "Manage readers and admins: list, create, set roles, deactivate, activate."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every user with roles and whether active")
        create = sub.add_parser("create", help="a new user (a strong password is generated unless given)")
        create.add_argument("username")
        create.add_argument("--roles", required=True, help=f"comma-separated: {', '.join(ALL_ROLES)}")
        create.add_argument("--password", default=None)
        create.add_argument("--email", default="")
        set_roles = sub.add_parser("set-roles", help="replace a user's roles")
        set_roles.add_argument("username")
        set_roles.add_argument("--roles", required=True)
        for name in ("deactivate", "activate"):
            sub.add_parser(name).add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        users = get_user_model().objects
        if action == "list":
            for user in users.order_by("username").prefetch_related("groups"):
                roles = ", ".join(sorted(user_roles(user) & set(ALL_ROLES))) or "-"
                self.stdout.write(f"{user.username:20} {roles:35} {'active' if user.is_active else 'inactive'}")
            return
        if action == "create":
            if users.filter(username=options["username"]).exists():
                raise CommandError(f"User {options['username']!r} exists; use set-roles or activate.")
            password = options["password"] or secrets.token_urlsafe(12)
            try:
                created = services.user_create(username=options["username"], password=password,
                                            roles=_roles(options["roles"]), email=options["email"])
            except ApplicationError as exc:
                raise CommandError(f"{exc.code}: {exc.message}") from exc
            shown = "" if options["password"] else f" with password {password} (shown once)"
            self.stdout.write(f"Created {created.username}{shown}; roles: {options['roles']}.")
            return
        found = users.filter(username=options["username"]).first()
        if found is None:
            raise CommandError(f"No user {options['username']!r}.")
        user = found
        if action == "set-roles":
            services.user_roles_set(user=user, roles=_roles(options["roles"]))
            self.stdout.write(f"{user.username}: roles {options['roles']}.")
        else:
            services.user_active_set(user=user, active=action == "activate")
            self.stdout.write(f"{user.username}: {'active' if action == 'activate' else 'deactivated'}.")
