"""Stored files reach users only through views that check them, in every mode (issue 9, item 8):
no /media/ route even with DEBUG on, ranges and private caching on the authorising views."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import clear_url_caches

from apps.datasets.models import Export, ExportStatus
from apps.reading.models import Assignment, AssignmentKind
from apps.studies.models import Image, ImportBatch, Project, StudyState
from tests.studies.conftest import cbis_cases

pytestmark = pytest.mark.django_db

Ingest = Callable[..., ImportBatch]


@pytest.fixture
def imported(project: Project, ingest: Ingest) -> Image:
    ingest([cbis_cases()[0]["rcc"]], project=project)
    return Image.objects.get()


@pytest.fixture
def debug_urls(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The URLconf as bin/demo builds it: DEBUG on when config.urls is imported."""
    import config.urls

    settings.DEBUG = True
    importlib.reload(config.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_no_stored_file_is_served_under_media_even_with_debug_on(debug_urls, imported, admin_user) -> None:
    export_file = default_storage.save("exports/1/breast-level_annotations.csv", ContentFile(b"a,b\n"))
    names = [imported.display_file, imported.thumbnail_file, imported.full_depth_file, imported.dicom_file,
             export_file]
    assert all(default_storage.exists(name) for name in names)
    anonymous, admin = Client(), Client()
    admin.force_login(admin_user)

    answers = {name: (anonymous.get(f"/media/{name}").status_code, admin.get(f"/media/{name}").status_code)
               for name in names}

    assert answers == dict.fromkeys(names, (404, 404))


def test_anonymous_users_get_no_image_file(imported) -> None:
    for kind in ("display", "thumbnail", "full", "dicom"):
        assert Client().get(f"/api/images/{imported.pk}/file/{kind}/").status_code == 403


def test_an_assigned_reader_gets_a_byte_range_of_a_render_with_private_caching(api_for, reader1, imported) -> None:
    imported.study.state = StudyState.READING
    imported.study.save(update_fields=["state"])
    Assignment.objects.create(study=imported.study, reader=reader1, kind=AssignmentKind.FIRST)
    with default_storage.open(imported.display_file, "rb") as handle:
        stored = handle.read()
    url = f"/api/images/{imported.pk}/file/display/"
    client = api_for(reader1)

    whole = client.get(url)
    head = client.get(url, HTTP_RANGE="bytes=0-99")
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    past_the_end = client.get(url, HTTP_RANGE=f"bytes={len(stored)}-")

    assert whole.status_code == 200 and _body(whole) == stored
    assert whole["Content-Length"] == str(len(stored)) and whole["Accept-Ranges"] == "bytes"
    assert whole["Cache-Control"] == "private, max-age=3600"
    assert head.status_code == 206 and _body(head) == stored[:100]
    assert head["Content-Range"] == f"bytes 0-99/{len(stored)}" and head["Content-Length"] == "100"
    assert tail.status_code == 206 and _body(tail) == stored[-10:]
    assert past_the_end.status_code == 416 and past_the_end["Content-Range"] == f"bytes */{len(stored)}"


def test_a_dicom_download_is_an_attachment_that_is_revalidated(api_for, admin_user, imported) -> None:
    response = api_for(admin_user).get(f"/api/images/{imported.pk}/file/dicom/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{imported.image_id}.dcm"'
    assert response["Cache-Control"] == "private, no-cache"
    assert _body(response)[128:132] == b"DICM"


def test_an_export_file_is_served_with_ranges_to_admins_only(api_for, admin_user, reader1, project) -> None:
    export = Export.objects.create(project=project, status=ExportStatus.DONE,
                                   manifest={"files": [{"name": "breast-level_annotations.csv"}]})
    content = b"image_id,study_id\n" + b"x" * 1000
    default_storage.save(f"{export.storage_prefix}breast-level_annotations.csv", ContentFile(content))
    url = f"/api/exports/{export.pk}/files/breast-level_annotations.csv"

    whole = api_for(admin_user).get(url)
    part = api_for(admin_user).get(url, HTTP_RANGE="bytes=5-9")

    assert whole.status_code == 200 and _body(whole) == content
    assert whole["Content-Type"] == "text/csv" and whole["Cache-Control"] == "private, no-cache"
    assert whole["Content-Disposition"] == 'attachment; filename="breast-level_annotations.csv"'
    assert part.status_code == 206 and _body(part) == content[5:10]
    assert api_for(reader1).get(url).status_code == 403
    assert Client().get(url).status_code == 403
