"""Logins, passwords, sessions and security headers (issue 9, item 10)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.roles import ROLE_READER
from apps.accounts.services import user_create
from apps.common.errors import ApplicationError

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _login(client: Client, username: str, password: str) -> int:
    return client.post("/accounts/login/", {"username": username, "password": password}).status_code


def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_password(reader1) -> None:
    client = Client()
    wrong = [_login(client, "reader1", f"guess-{i}") for i in range(settings.AXES_FAILURE_LIMIT + 5)]

    right = _login(client, "reader1", "pw-reader1")

    assert wrong[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(wrong[settings.AXES_FAILURE_LIMIT - 1:]) == {429}
    assert right == 429
    assert client.get("/api/me/").status_code == 403
    call_command("axes_reset_username", "reader1")
    assert _login(client, "reader1", "pw-reader1") == 302
    assert client.get("/api/me/").status_code == 200


def test_a_successful_login_resets_the_count_of_failures(reader1) -> None:
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "reader1", f"guess-{i}") == 200
    assert _login(client, "reader1", "pw-reader1") == 302
    client.post("/accounts/logout/")
    assert [_login(client, "reader1", f"again-{i}") for i in range(settings.AXES_FAILURE_LIMIT - 1)] == [200] * (
        settings.AXES_FAILURE_LIMIT - 1)


def test_a_lockout_of_one_user_does_not_lock_the_others(reader1, reader2) -> None:
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "reader1", f"guess-{i}")
    assert _login(client, "reader2", "pw-reader2") == 302


@pytest.mark.parametrize("password", ["1", "reader9", "password123", "12345678901", "short"])
def test_user_create_refuses_weak_passwords_and_saves_nothing(password: str) -> None:
    with pytest.raises(ApplicationError) as raised:
        user_create(username="reader9", password=password, roles=[ROLE_READER])
    assert raised.value.code == "invalid_password" and raised.value.extra["field"] == "password"
    assert raised.value.extra["errors"]
    assert not get_user_model().objects.filter(username="reader9").exists()


def test_user_create_accepts_a_strong_password() -> None:
    user = user_create(username="reader9", password="Harbour-tulip-glass-42", roles=[ROLE_READER])
    assert user.check_password("Harbour-tulip-glass-42")


def test_the_django_password_change_form_applies_the_validators(reader1) -> None:
    client = Client()
    client.force_login(reader1)
    response = client.post("/accounts/password_change/", {
        "old_password": "pw-reader1", "new_password1": "1", "new_password2": "1"})
    assert response.status_code == 200 and b"too short" in response.content
    reader1.refresh_from_db()
    assert reader1.check_password("pw-reader1")


def test_a_session_ends_after_the_idle_time_and_activity_renews_it(reader1) -> None:
    client = Client()
    assert _login(client, "reader1", "pw-reader1") == 302
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == settings.SESSION_COOKIE_AGE

    stored = Session.objects.get(pk=key).expire_date
    assert client.get("/api/me/").status_code == 200
    assert Session.objects.get(pk=key).expire_date == stored  # renewed less than a minute ago: no write

    Session.objects.filter(pk=key).update(expire_date=timezone.now() + timedelta(seconds=5))
    assert client.get("/api/me/").status_code == 200
    renewed = Session.objects.get(pk=key).expire_date
    assert renewed > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)

    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/me/").status_code == 403
    assert client.get("/").status_code == 302


def test_every_page_carries_a_content_security_policy(admin_user) -> None:
    client = Client()
    client.force_login(admin_user)
    for url in ("/accounts/login/", "/admin/", "/api/me/", "/api/schema/"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, url
        assert "script-src 'self';" in policy, url
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "script-src 'self' 'unsafe-inline'" in docs["Content-Security-Policy"]


def _check_deploy(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
           "ALLOWED_HOSTS": "mammolab.example.org", **extra_env}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = _check_deploy({"HTTPS": "true"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_a_deployment_without_https() -> None:
    result = _check_deploy({"HTTPS": "false"})
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr
