"""Authentication: a session-authenticated request loads the user and their roles in one query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR
from apps.accounts.services import user_create

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-passphrase-for-tests-7"


def _user(username: str, roles: list[str]):  # type: ignore[no-untyped-def]
    return user_create(username=username, password=PASSWORD, roles=roles)


def _logged_in(username: str, password: str = PASSWORD) -> APIClient:
    """Logged in through the login form, as a reader's browser is."""
    client = APIClient()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content[:300]
    return client


def test_a_session_request_costs_the_session_and_one_user_query_with_roles() -> None:
    _user("senior-a", [ROLE_READER, ROLE_SENIOR])
    client = _logged_in("senior-a")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/me/")
    assert response.status_code == 200 and response.json()["roles"] == ["reader", "senior_reader"]
    sql = [q["sql"] for q in ctx.captured_queries]
    assert len(sql) == 2, sql
    assert ' FROM "django_session"' in sql[0] and ' FROM "auth_user"' in sql[1] and '"auth_group"' in sql[1]


def test_roles_come_from_groups_and_superuser_is_admin() -> None:
    boss = _user("boss", [ROLE_READER])
    boss.is_superuser = True
    boss.save()
    assert _logged_in("boss").get("/api/me/").json()["roles"] == [ROLE_ADMIN, ROLE_READER]


def test_a_deactivated_user_is_logged_out_on_the_next_request() -> None:
    reader1 = _user("reader-a", [ROLE_READER])
    client = _logged_in("reader-a")
    reader1.is_active = False
    reader1.save()
    assert client.get("/api/me/").status_code in (401, 403)


def test_a_role_removed_takes_effect_on_the_next_request() -> None:
    reader1 = _user("reader-b", [ROLE_READER])
    client = _logged_in("reader-b")
    assert client.get("/api/worklist/").status_code == 200
    reader1.groups.clear()
    assert client.get("/api/worklist/").status_code == 403

