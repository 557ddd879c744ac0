"""The export endpoints cost a number of queries that does not grow with exports or exams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.datasets.models import Export
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _count(call: Callable[[], Any]) -> int:
    call()  # warm-up: the role lookup is cached on the force-authenticated user object
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def test_the_export_list_and_detail_cost_the_same_for_more_exports(admin_user, api_for) -> None:
    client = api_for(admin_user)
    project = ProjectFactory(slug="exp")
    first = Export.objects.create(project=project)
    few = [_count(lambda: client.get("/api/projects/exp/exports/")),
           _count(lambda: client.get(f"/api/exports/{first.pk}/"))]
    for _ in range(10):
        Export.objects.create(project=project)
    many = [_count(lambda: client.get("/api/projects/exp/exports/")),
            _count(lambda: client.get(f"/api/exports/{first.pk}/"))]
    assert few == many
