"""Export API: admins create, follow and download exports; everyone else is denied."""

from __future__ import annotations

import pytest

from apps.datasets import services, vindr_csv
from apps.datasets.models import Export
from tests.datasets.factories import final_exam_create
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="api-project")
    final_exam_create(project=project, right=(4, "C"), findings=[("RCC", ["Mass"], 4, (10.5, 20.0, 30.0, 40.0))])
    final_exam_create(project=project)
    return project


def test_an_admin_creates_an_export_that_runs_as_a_job_and_finishes(  # type: ignore[no-untyped-def]
        admin_user, api_for, project, django_capture_on_commit_callbacks) -> None:
    client = api_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/projects/api-project/exports/", {"test_fraction": 0.5, "seed": 5}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    detail = client.get(f"/api/exports/{response.json()['id']}/").json()
    assert (detail["status"], detail["progress"], detail["stage"]) == ("done", 100, "done")
    assert detail["params"] == {"test_fraction": 0.5, "seed": 5, "images": "none"}
    assert detail["created_by"] == "admin"
    assert detail["manifest"]["counts"]["exams"] == {"training": 1, "test": 1, "total": 2}
    names = {f["name"]: f["url"] for f in detail["files"]}
    download = client.get(names[vindr_csv.FINDING_FILE])
    assert download.status_code == 200
    content = b"".join(download.streaming_content).decode()
    assert content.startswith(",".join(vindr_csv.FINDING_COLUMNS) + "\n")
    assert ",['Mass'],BI-RADS 4,10.5,20,30,40," in content


def test_past_exports_are_listed_newest_first(admin_user, api_for, project) -> None:  # type: ignore[no-untyped-def]
    older = Export.objects.create(project=project, params={"seed": 1})
    newer = Export.objects.create(project=project, params={"seed": 2})
    response = api_for(admin_user).get("/api/projects/api-project/exports/")
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["results"]] == [newer.pk, older.pk]


def test_invalid_parameters_are_rejected(admin_user, api_for, project) -> None:  # type: ignore[no-untyped-def]
    client = api_for(admin_user)
    response = client.post("/api/projects/api-project/exports/", {"images": "jpeg"}, format="json")
    assert response.status_code == 400
    response = client.post("/api/projects/api-project/exports/", {"test_fraction": 1.0}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "export_invalid_params"
    assert not Export.objects.exists()


def test_an_unknown_project_answers_404(admin_user, api_for) -> None:  # type: ignore[no-untyped-def]
    assert api_for(admin_user).get("/api/projects/nope/exports/").status_code == 404


def test_a_file_of_an_unfinished_export_cannot_be_downloaded(admin_user, api_for, project) -> None:  # type: ignore[no-untyped-def]
    export = Export.objects.create(project=project)
    response = api_for(admin_user).get(f"/api/exports/{export.pk}/files/{vindr_csv.BREAST_FILE}")
    assert response.status_code == 409


@pytest.mark.parametrize("who", ["reader1", "senior", "outsider"])
def test_other_users_are_denied_every_export_endpoint(request, api_for, project, who) -> None:  # type: ignore[no-untyped-def]
    export = Export.objects.create(project=project)
    client = api_for(request.getfixturevalue(who))
    assert client.post("/api/projects/api-project/exports/", {}, format="json").status_code == 403
    assert client.get("/api/projects/api-project/exports/").status_code == 403
    assert client.get(f"/api/exports/{export.pk}/").status_code == 403
    assert client.get(f"/api/exports/{export.pk}/files/{vindr_csv.BREAST_FILE}").status_code == 403
    assert Export.objects.count() == 1


def test_anonymous_users_are_denied(client, project) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/projects/api-project/exports/").status_code in (401, 403)
    assert client.post("/api/projects/api-project/exports/", {}).status_code in (401, 403)


def test_the_admin_add_export_button_runs_an_export(client, admin_user, project,  # type: ignore[no-untyped-def]
                                                   django_capture_on_commit_callbacks) -> None:
    client.force_login(admin_user)
    assert client.get("/admin/datasets/export/add/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/datasets/export/add/", {"project": project.pk, "test_fraction": 0.5,
                                                               "seed": 9, "images": "none"})
    assert response.status_code == 302
    export = Export.objects.get()
    assert (export.status, export.params) == ("done", {"test_fraction": 0.5, "seed": 9, "images": "none"})
    page = client.get(f"/admin/datasets/export/{export.pk}/change/")
    assert page.status_code == 200
    assert f"/api/exports/{export.pk}/files/{vindr_csv.BREAST_FILE}" in page.content.decode()


def test_a_failed_export_says_why_through_the_api_and_on_the_admin_page(  # type: ignore[no-untyped-def]
        client, admin_user, api_for, project, monkeypatch, django_capture_on_commit_callbacks) -> None:
    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(services.stats, "write_tables", fail)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/datasets/export/add/", {"project": project.pk, "test_fraction": 0.5,
                                                               "seed": 9, "images": "none"})
    assert response.status_code == 302  # not a 500 page
    export = Export.objects.get()
    page = client.get(f"/admin/datasets/export/{export.pk}/change/").content.decode()
    assert "Failed" in page and "No space left on device" in page
    listing = client.get("/admin/datasets/export/").content.decode()
    assert "No space left on device" in listing
    detail = api_for(admin_user).get(f"/api/exports/{export.pk}/").json()
    assert (detail["status"], detail["files"]) == ("failed", [])
    assert "No space left on device" in detail["error"]


def test_the_admin_export_pages_deny_readers(client, reader1, project) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reader1)
    assert client.get("/admin/datasets/export/add/").status_code == 302  # to the admin login
    assert not Export.objects.exists()
