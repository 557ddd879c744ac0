"""Admins manage readers: in the Django admin (role-based, no model permissions) and by command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from apps.accounts.roles import ROLE_READER, ROLE_SENIOR, is_senior

pytestmark = pytest.mark.django_db
User = get_user_model()
STRONG = "correct-horse-battery-staple-42"


def _login_request():  # type: ignore[no-untyped-def]
    # The lockout backend (django-axes) checks every password login against its request.
    return RequestFactory().post("/accounts/login/")


def test_an_admin_creates_a_reader_from_the_django_admin(client, admin_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    assert client.get("/admin/auth/user/add/").status_code == 200  # was 403
    response = client.post("/admin/auth/user/add/", {"username": "dr-new", "email": "",
                                                       "password1": STRONG, "password2": STRONG,
                                                       "roles": [ROLE_READER, ROLE_SENIOR],
                                                       "usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="dr-new")
    assert is_senior(user) and not user.is_staff
    assert authenticate(_login_request(), username="dr-new", password=STRONG) == user


def test_an_admin_deactivates_a_reader_and_changes_roles(client, admin_user, reader1) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    listing = client.get("/admin/auth/user/").content.decode()
    assert "reader1" in listing and "reader" in listing
    client.post("/admin/auth/user/", {"action": "deactivate", "_selected_action": [reader1.pk]})
    reader1.refresh_from_db()
    assert not reader1.is_active
    assert authenticate(_login_request(), username="reader1", password="pw-reader1") is None


def test_an_admin_role_user_cannot_edit_a_superuser(client, admin_user) -> None:  # type: ignore[no-untyped-def]
    root = User.objects.create_superuser("root", password=STRONG)
    client.force_login(admin_user)
    client.post(f"/admin/auth/user/{root.pk}/change/", {"username": "root", "is_active": "", "roles": []})
    root.refresh_from_db()
    assert root.is_active and root.is_superuser


def test_readers_are_denied_the_user_admin(client, reader1) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reader1)
    assert client.get("/admin/auth/user/add/").status_code == 302  # to the admin login
    client.post("/admin/auth/user/add/", {"username": "sneaky", "password1": STRONG, "password2": STRONG})
    assert not User.objects.filter(username="sneaky").exists()


def test_the_users_command_creates_lists_sets_roles_and_deactivates(admin_user) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("users", "create", "dr-cli", "--roles", "reader", stdout=out)
    assert "with password" in out.getvalue()
    call_command("users", "set-roles", "dr-cli", "--roles", "reader,senior_reader", stdout=out)
    assert is_senior(User.objects.get(username="dr-cli"))
    call_command("users", "deactivate", "dr-cli", stdout=out)
    assert not User.objects.get(username="dr-cli").is_active
    listing = StringIO()
    call_command("users", "list", stdout=listing)
    assert "dr-cli" in listing.getvalue() and "inactive" in listing.getvalue()
    with pytest.raises(CommandError, match="Unknown roles: radiologist"):
        call_command("users", "create", "dr-x", "--roles", "radiologist")
    assert not User.objects.filter(username="dr-x").exists()
