"""Shared fixtures: the real PostgreSQL + Redis, a media folder per session, and one user per role.

Services are checked once at start; a missing one fails the run with the command that starts it
(tests never skip because a service is down).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR
from apps.accounts.services import user_create
from tests.storage import any_storage, s3_endpoint  # noqa: F401  (fixtures: FileSystem and S3 runs)

START_COMMANDS = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def on_embedded_default() -> bool:
    """True when the suite runs on the embedded default: SQLite with Celery eager (no broker)."""
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def pytest_sessionstart(session: pytest.Session) -> None:
    db = settings.DATABASES["default"]
    if on_embedded_default():
        # The embedded default runs every user journey too; it has no broker by design, so the
        # tests that start a real worker (marker `worker`) are deselected by bin/test for this pass.
        if settings.CELERY_BROKER_URL:
            pytest.exit("The SQLite pass runs Celery eagerly: unset CELERY_BROKER_URL (bin/test does this).",
                        returncode=2)
        return
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit(
            "Tests run on PostgreSQL (DATABASE_URL=postgres://postgres@127.0.0.1:5432/test) or on the "
            "embedded SQLite default (DATABASE_URL unset); bin/test runs both.", returncode=2)
    if not _port_open(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)):
        pytest.exit(f"PostgreSQL is not reachable at {db.get('HOST')}:{db.get('PORT')}. "
                    f"Start it with: {START_COMMANDS['postgresql']}", returncode=2)
    broker = urlparse(settings.CELERY_BROKER_URL or "")
    if broker.scheme != "redis":
        pytest.exit("Tests need Redis as the Celery broker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/15 "
                    "(bin/test does this).", returncode=2)
    if not _port_open(broker.hostname or "127.0.0.1", broker.port or 6379):
        pytest.exit(f"Redis is not reachable at {broker.hostname}:{broker.port}. "
                    f"Start it with: {START_COMMANDS['redis']}", returncode=2)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    # PBKDF2's deliberate slowness made user fixtures dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory: pytest.TempPathFactory) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _celery_eager() -> Iterator[None]:
    """Most tests run tasks in-process; tests marked `worker` start a real worker instead."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    return user_create(username="admin", password="pw-admin", roles=[ROLE_ADMIN], validate_password=False)


@pytest.fixture
def reader1(db):  # type: ignore[no-untyped-def]
    return user_create(username="reader1", password="pw-reader1", roles=[ROLE_READER], validate_password=False)


@pytest.fixture
def reader2(db):  # type: ignore[no-untyped-def]
    return user_create(username="reader2", password="pw-reader2", roles=[ROLE_READER], validate_password=False)


@pytest.fixture
def senior(db):  # type: ignore[no-untyped-def]
    return user_create(username="senior1", password="pw-senior1", roles=[ROLE_READER, ROLE_SENIOR], validate_password=False)


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    """Logged in, but holds no role at all."""
    return user_create(username="outsider", password="pw-outsider", roles=[], validate_password=False)


def _client_for(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def api_for():  # type: ignore[no-untyped-def]
    """`api_for(user)` gives an authenticated DRF test client."""
    return _client_for
