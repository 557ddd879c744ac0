"""A bounded schemathesis run against the live OpenAPI schema, as a reader and as an admin
(issue 9, item 13): no 5xx, and every answer (status, content type, body) is the one the schema
documents. Runs in-process through the WSGI app on the test database; deterministic
(derandomized), about EXAMPLES cases per operation and role.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, save_and_submit

EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def in_process() -> Iterator[None]:
    """As Django's test client does: requests served in-process must not close the test's database
    connection (its transaction holds the fixtures) when they finish."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(in_process, admin_user, reader1, reader2, senior) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A small world so that some generated ids hit real rows: a project with one exam being read
    and one in arbitration; tokens for the two roles."""
    project = ProjectFactory(slug="demo")
    reading, discordant = exam_create(project=project), exam_create(project=project)
    assign_pair(reading, admin_user, reader1, reader2, seniors=[senior])
    a, b = assign_pair(discordant, admin_user, reader1, reader2, seniors=[senior])
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((4, "B"), (1, "B")))
    return {"reader": Token.objects.create(user=reader1).key, "admin": Token.objects.create(user=admin_user).key}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["reader", "admin"])
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_every_answer_conforms_to_the_schema(case: Any, role: str, tokens: dict[str, str]) -> None:
    response = case.call(headers={"Authorization": f"Token {tokens[role]}"})
    case.validate_response(response, checks=CHECKS)
