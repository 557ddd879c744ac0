"""Every /api/ error is JSON in the documented shape, also when no DRF view answers (issue 9,
item 13), and the schema documents pages and error answers."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "extra"}


def test_an_unknown_api_path_answers_json_404(reader1) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader1)
    for method in ("get", "post", "put", "delete"):
        response = getattr(client, method)("/api/no-such-endpoint/")
        assert response.status_code == 404, method
        assert response["Content-Type"] == "application/json" and set(response.json()) == ERROR_KEYS
        assert response.json()["code"] == "not_found"


def test_an_id_that_is_not_a_number_answers_json_404_not_the_csrf_page(reader1) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader1)
    response = client.put("/api/assignments/null/read/", {}, content_type="application/json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_an_endpoint_without_its_trailing_slash_still_redirects_a_get(reader1) -> None:
    client = Client()
    client.force_login(reader1)
    response = client.get("/api/worklist?state=open")
    assert response.status_code == 301 and response["Location"] == "/api/worklist/?state=open"
    posted = client.post("/api/assignments/1/submit", {})
    assert posted.status_code == 404 and "/api/assignments/1/submit/" in posted.json()["message"]


def test_a_crash_under_api_answers_json_500(reader1, monkeypatch) -> None:
    from apps.accounts import apis

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(apis.MeApi, "get", crash)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(reader1)
    response = client.get("/api/me/")
    assert response.status_code == 500
    assert response.json() == {"code": "server_error", "message": "Internal server error.", "extra": {}}
    assert "boom" not in response.content.decode()


def test_a_page_outside_the_api_keeps_the_html_404(reader1) -> None:
    client = Client()
    client.force_login(reader1)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_the_schema_documents_pages_and_error_answers(admin_user) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    schema = client.get("/api/schema/?format=json").json()
    ok = {path: schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
          for path in ("/api/projects/", "/api/projects/{slug}/exports/", "/api/review/images/")}
    assert ok == {"/api/projects/": {"$ref": "#/components/schemas/ProjectPage"},
                  "/api/projects/{slug}/exports/": {"$ref": "#/components/schemas/ExportPage"},
                  "/api/review/images/": {"$ref": "#/components/schemas/ReviewImagePage"}}
    page = schema["components"]["schemas"]["ProjectPage"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            assert {"400", "403", "404"} <= set(operation["responses"]), (method, path)
    assert "409" in schema["paths"]["/api/assignments/{assignment_id}/submit/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/exports/{export_id}/files/{name}"]["get"]["responses"]
    assert "409" in schema["paths"]["/api/projects/"]["post"]["responses"]


def test_an_id_too_large_for_the_database_is_a_400_naming_the_field(admin_user) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    marked = client.post("/api/review/images/mark-reviewed/", {"image_ids": [1, 2**70]}, format="json")
    assigned = client.post("/api/projects/none/assign/", {"readers": ["a", "b"], "study_ids": [-1]}, format="json")
    assert marked.status_code == 400 and "image_ids" in marked.json()["extra"]["fields"]
    assert assigned.status_code == 400 and "study_ids" in assigned.json()["extra"]["fields"]
