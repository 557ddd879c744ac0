"""One view per operation where two operations share a URL (apps/common/views.py): GET lists and
POST creates through their own views, and the API schema describes each operation by its view."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator

from apps.common.views import by_method
from apps.datasets.apis import ExportCreateApi, ExportListApi
from apps.studies.apis import ProjectCreateApi, ProjectListApi
from tests.factories import ProjectFactory


@pytest.mark.django_db
def test_a_shared_url_answers_each_method_through_its_operation_and_refuses_the_others(
        admin_user, reader1, api_for) -> None:  # type: ignore[no-untyped-def]
    admin, reader = api_for(admin_user), api_for(reader1)

    created = admin.post("/api/projects/", {"slug": "screening", "name": "Screening"}, format="json")
    listed = admin.get("/api/projects/")
    assert created.status_code == 201 and created.json()["slug"] == "screening"
    assert listed.status_code == 200 and [p["slug"] for p in listed.json()["results"]] == ["screening"]
    assert admin.head("/api/projects/").status_code == 200

    refused = admin.put("/api/projects/", {}, format="json")
    assert refused.status_code == 405 and refused.json()["code"] == "method_not_allowed"
    assert refused["Allow"] == "GET, POST, HEAD, OPTIONS"
    # The shared permission runs first, as in the operations: a reader learns nothing of the URL.
    assert [reader.get("/api/projects/").status_code, reader.post("/api/projects/", {}).status_code,
            reader.put("/api/projects/", {}).status_code] == [403, 403, 403]


def test_the_routes_hand_each_method_to_its_own_view() -> None:
    projects, exports = resolve("/api/projects/").func, resolve("/api/projects/p/exports/").func
    assert {m: v.cls for m, v in projects.views.items()} == {"get": ProjectListApi, "post": ProjectCreateApi}
    assert {m: v.cls for m, v in exports.views.items()} == {"get": ExportListApi, "post": ExportCreateApi}


def test_the_schema_keeps_the_operation_ids_and_describes_each_operation_by_its_view() -> None:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    operations = {(path, method): (op["operationId"], op["description"])
                  for path in ("/api/projects/", "/api/projects/{slug}/exports/")
                  for method, op in paths[path].items()}
    assert operations == {
        ("/api/projects/", "get"): ("api_projects_retrieve", ProjectListApi.__doc__),
        ("/api/projects/", "post"): ("api_projects_create", ProjectCreateApi.__doc__),
        ("/api/projects/{slug}/exports/", "get"): ("api_projects_exports_retrieve", ExportListApi.__doc__),
        ("/api/projects/{slug}/exports/", "post"): ("api_projects_exports_create", ExportCreateApi.__doc__),
    }


def test_an_operation_view_without_the_method_it_is_mounted_for_is_refused_at_start_up() -> None:
    with pytest.raises(ImproperlyConfigured, match="ProjectCreateApi has no get"):
        by_method(get=ProjectCreateApi, post=ProjectCreateApi)


@pytest.mark.django_db
def test_exports_list_and_create_on_one_url(admin_user, api_for, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="screening")
    admin = api_for(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        started = admin.post(f"/api/projects/{project.slug}/exports/", {}, format="json")
    assert started.status_code == 202
    assert [e["id"] for e in admin.get(f"/api/projects/{project.slug}/exports/").json()["results"]] == [
        started.json()["id"]]
