"""REST endpoints of the studies app, with "other user is denied" for each."""

from __future__ import annotations

import io
from collections.abc import Callable

import pydicom
import pytest
from PIL import Image as PILImage

from apps.reading.models import Assignment, AssignmentKind
from apps.studies.models import Image, ImageState, ImportBatch, Project, Study, StudyState
from tests.studies.conftest import cbis_cases

Ingest = Callable[..., ImportBatch]


@pytest.fixture
def imported(project: Project, ingest: Ingest) -> Image:
    ingest([cbis_cases()[0]["rcc"]], project=project)
    return Image.objects.get()


@pytest.mark.django_db
def test_admin_creates_and_lists_projects(api_for, admin_user) -> None:  # type: ignore[no-untyped-def]
    client = api_for(admin_user)
    created = client.post("/api/projects/", {"slug": "screening-2024", "name": "Screening"}, format="json")
    assert created.status_code == 201
    assert created.json()["slug"] == "screening-2024"
    again = client.post("/api/projects/", {"slug": "screening-2024"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "project_exists"
    listed = client.get("/api/projects/").json()
    assert [p["slug"] for p in listed["results"]] == ["screening-2024"]


@pytest.mark.django_db
def test_other_users_are_denied_the_project_endpoints(api_for, reader1, outsider) -> None:  # type: ignore[no-untyped-def]
    for user in (reader1, outsider):
        assert api_for(user).get("/api/projects/").status_code == 403
        assert api_for(user).post("/api/projects/", {"slug": "x"}, format="json").status_code == 403
    assert not Project.objects.filter(slug="x").exists()


@pytest.mark.django_db
def test_upload_creates_a_batch_with_counts_and_paginated_results(
        api_for, admin_user, project, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    case = cbis_cases()[0]
    files = [io.BytesIO(case["rcc"].read_bytes()), io.BytesIO(b"garbage"), io.BytesIO(case["lcc"].read_bytes())]
    for handle, name in zip(files, ["rcc.dcm", "junk.dcm", "lcc.dcm"], strict=True):
        handle.name = name
    manifest = io.BytesIO(b"file,exam\nrcc.dcm,P1\nlcc.dcm,P1\n")
    manifest.name = "manifest.csv"
    client = api_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{project.slug}/imports/",
                               {"files": files, "manifest": manifest}, format="multipart")
    assert response.status_code == 201, response.json()
    batch_id = response.json()["id"]
    detail = client.get(f"/api/imports/{batch_id}/", {"page_size": 2}).json()
    assert detail["state"] == "done"
    assert detail["counts"] == {"total": 3, "pending": 0, "imported": 2, "duplicate": 0, "rejected": 1}
    assert detail["items"]["count"] == 3 and len(detail["items"]["results"]) == 2
    rejected = client.get(f"/api/imports/{batch_id}/", {"status": "rejected"}).json()["items"]["results"]
    # Upload names can hold patient ids (CBIS-DDSM): items carry a neutral label instead.
    assert rejected[0]["filename"] == "upload-2" and "upload-2: not a DICOM file" in rejected[0]["reason"]
    stored = " ".join(f"{i.filename} {i.reason}" for i in ImportBatch.objects.get(pk=batch_id).items.all())
    assert "junk" not in stored and "rcc" not in stored
    assert Study.objects.get().images.count() == 2


@pytest.mark.django_db
def test_other_users_are_denied_upload_and_batch_detail(api_for, reader1, project, imported) -> None:  # type: ignore[no-untyped-def]
    upload = io.BytesIO(b"x")
    upload.name = "x.dcm"
    response = api_for(reader1).post(f"/api/projects/{project.slug}/imports/", {"files": [upload]},
                                     format="multipart")
    assert response.status_code == 403
    batch = ImportBatch.objects.get()
    assert api_for(reader1).get(f"/api/imports/{batch.pk}/").status_code == 403
    assert ImportBatch.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("any_storage")
def test_admin_gets_every_kind_of_image_file(api_for, admin_user, imported) -> None:  # type: ignore[no-untyped-def]
    client = api_for(admin_user)
    display = client.get(f"/api/images/{imported.pk}/file/display/")
    assert display.status_code == 200 and display["Content-Type"] == "image/png"
    assert max(PILImage.open(io.BytesIO(b"".join(display.streaming_content))).size) <= 2048
    full = PILImage.open(io.BytesIO(b"".join(client.get(f"/api/images/{imported.pk}/file/full/").streaming_content)))
    assert full.size == (imported.columns, imported.rows)
    thumbnail = client.get(f"/api/images/{imported.pk}/file/thumbnail/")
    assert thumbnail.status_code == 200
    dicom = client.get(f"/api/images/{imported.pk}/file/dicom/")
    ds = pydicom.dcmread(io.BytesIO(b"".join(dicom.streaming_content)))
    assert ds.SOPInstanceUID == imported.sop_uid and "PatientName" not in ds
    assert client.get(f"/api/images/{imported.pk}/file/raw/").status_code == 404


@pytest.mark.django_db
def test_a_reader_gets_image_files_only_for_an_assigned_exam(api_for, reader1, reader2, imported) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/images/{imported.pk}/file/display/"
    assert api_for(reader1).get(url).status_code == 404
    Study.objects.update(state=StudyState.READING)
    Assignment.objects.create(study=imported.study, reader=reader1, kind=AssignmentKind.FIRST)
    assert api_for(reader1).get(url).status_code == 200
    assert api_for(reader2).get(url).status_code == 404  # other user is denied
    assert api_for(reader2).get(f"/api/images/{imported.pk + 1000}/file/display/").status_code == 404


@pytest.mark.django_db
def test_admin_lists_images_awaiting_review_and_marks_them(api_for, admin_user, imported) -> None:  # type: ignore[no-untyped-def]
    client = api_for(admin_user)
    listed = client.get("/api/review/images/", {"project": imported.project.slug}).json()
    assert listed["count"] == 1
    row = listed["results"][0]
    assert row["id"] == imported.pk and row["urls"]["thumbnail"] == f"/api/images/{imported.pk}/file/thumbnail/"
    marked = client.post("/api/review/images/mark-reviewed/", {"image_ids": [imported.pk]}, format="json")
    assert marked.status_code == 200
    assert marked.json() == {"reviewed": [imported.pk], "skipped": [], "ready_studies": []}
    imported.refresh_from_db()
    assert imported.state == ImageState.REVIEWED
    assert client.get("/api/review/images/").json()["count"] == 0


@pytest.mark.django_db
def test_other_users_are_denied_the_review_endpoints(api_for, reader1, senior, imported) -> None:  # type: ignore[no-untyped-def]
    for user in (reader1, senior):
        assert api_for(user).get("/api/review/images/").status_code == 403
        response = api_for(user).post("/api/review/images/mark-reviewed/", {"image_ids": [imported.pk]},
                                      format="json")
        assert response.status_code == 403
    imported.refresh_from_db()
    assert imported.state == ImageState.RENDERED


@pytest.mark.django_db
def test_admin_review_grid_shows_thumbnails_and_approves_one_exam(client, admin_user, imported) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    page = client.get("/admin/studies/image/review/")
    assert page.status_code == 200
    assert f"/api/images/{imported.pk}/file/thumbnail/" in page.content.decode()
    assert client.post("/admin/studies/image/review/", {"study": imported.study_id}).status_code == 302
    imported.refresh_from_db()
    assert imported.state == ImageState.REVIEWED
    assert client.get("/admin/studies/importbatch/").status_code == 200
    batch = ImportBatch.objects.get()
    assert "1/1 done: 1 imported" in client.get(f"/admin/studies/importbatch/{batch.pk}/change/").content.decode()


@pytest.mark.django_db
def test_review_grid_is_exam_by_exam_unticked_labelled_and_filtered_by_project(  # type: ignore[no-untyped-def]
        client, admin_user, ingest) -> None:
    from apps.reading.models import AuditEvent
    from apps.studies import services

    first = services.project_get_or_create(actor=None, slug="site-a", name="Site A screening")
    second = services.project_get_or_create(actor=None, slug="site-b", name="Site B screening")
    case_a, case_b = cbis_cases()
    ingest(list(case_a.values()), project=first, manifest={str(p): "A" for p in case_a.values()})
    ingest(list(case_b.values()), project=second, manifest={str(p): "B" for p in case_b.values()})
    client.force_login(admin_user)
    page = client.get("/admin/studies/image/review/").content.decode()
    assert " checked" not in page  # nothing pre-ticked: no image or exam is approved by default
    assert page.count('name="study"') == 2  # one approve button per exam
    exam_a = Study.objects.get(project=first)
    assert f"site-a &middot; {exam_a.study_id[:11]}" in page and "RCC" in page and "LMLO" in page
    assert "Site A screening" in page and "Site B screening" in page
    only_b = client.get("/admin/studies/image/review/", {"project": "site-b"}).content.decode()
    assert "Site B screening &middot;" in only_b and "Site A screening &middot;" not in only_b
    assert client.post("/admin/studies/image/review/?project=site-a", {"study": exam_a.pk}).status_code == 302
    exam_a.refresh_from_db()
    assert exam_a.state == StudyState.READY
    assert set(exam_a.images.values_list("state", flat=True)) == {ImageState.REVIEWED}
    assert not Image.objects.filter(project=second, state=ImageState.REVIEWED).exists()
    event = AuditEvent.objects.get(study=exam_a, action="images_reviewed")
    assert (event.actor, len(event.after["images"])) == (admin_user, 4)


@pytest.mark.django_db
def test_other_users_are_denied_the_review_grid(client, reader1, imported) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reader1)
    assert client.post("/admin/studies/image/review/", {"study": imported.study_id}).status_code == 302  # to login
    imported.refresh_from_db()
    assert imported.state == ImageState.RENDERED


def _chest_wall_left(image: Image) -> bool:
    """Where the stored image's chest wall is, from the hanging decision made at render time."""
    return (image.laterality == "R") == image.display_flip_horizontal


@pytest.mark.django_db
def test_review_grid_flags_masks_over_breast_tissue_and_the_default_masks_spare_it(  # type: ignore[no-untyped-def]
        client, admin_user, ingest) -> None:
    from django.core.files.storage import default_storage

    from apps.studies import dicom, services

    case = cbis_cases()[0]
    # A project overriding the default with a box at each of the four corners of the stored image.
    corners = services.project_get_or_create(actor=None, slug="corners", name="Four corners")
    corners.settings = {"corner_mask": {"frame": "image", "rects": [
        [0.0, 0.0, 0.12, 0.06], [0.88, 0.0, 1.0, 0.06], [0.0, 0.94, 0.12, 1.0], [0.88, 0.94, 1.0, 1.0]]}}
    corners.save()
    ingest(list(case.values()), project=corners, manifest={str(p): "A" for p in case.values()})
    default = services.project_get_or_create(actor=None, slug="default-masks", name="Default masks")
    ingest(list(case.values()), project=default, manifest={str(p): "B" for p in case.values()})
    client.force_login(admin_user)

    corner_images = list(Image.objects.filter(project=corners).order_by("laterality", "view_position"))
    assert len(corner_images) == 4 and all(len(i.mask_boxes) == 4 for i in corner_images)
    overlapping = {i.image_id for i in corner_images if dicom.mask_tissue_overlaps(i.mask_boxes, i.tissue_bounds)}
    # Four-corner masks in the image frame cover the chest-wall corners, which hold tissue
    # (the pectoral muscle on MLO views): flagged before approval.
    assert overlapping
    page = client.get("/admin/studies/image/review/", {"project": "corners"}).content.decode()
    flagged = {line.split('data-image="')[1].split('"')[0] for line in page.splitlines() if 'class="mask-overlap"' in line}
    assert flagged == overlapping
    assert "mask over tissue" in page and page.count("over-tissue") >= len(overlapping)

    # The default (chest-wall frame): every box lies on the half away from the chest wall, the
    # stored pixels at the chest-wall corners are the original ones, and nothing is flagged.
    for image in Image.objects.filter(project=default):
        assert len(image.mask_boxes) == 2
        left = _chest_wall_left(image)
        for x0, _, x1, _ in image.mask_boxes:
            assert (x0 >= image.columns / 2) if left else (x1 <= image.columns / 2)
        source = pydicom.dcmread(case[f"{image.laterality.lower()}{image.view_position.lower()}"]).pixel_array
        with default_storage.open(image.dicom_file, "rb") as handle:
            stored = pydicom.dcmread(handle).pixel_array
        h, w = max(1, int(image.rows * 0.06)), max(1, int(image.columns * 0.12))
        corner = (slice(0, h), slice(0, w)) if left else (slice(0, h), slice(image.columns - w, image.columns))
        assert (stored[corner] == source[corner]).all()
    default_page = client.get("/admin/studies/image/review/", {"project": "default-masks"}).content.decode()
    assert default_page.count('class="corner-mask') == 8
    assert 'class="mask-overlap"' not in default_page and "over-tissue" not in default_page


def test_images_imported_before_mask_boxes_were_recorded_show_the_four_corners_then_applied() -> None:
    from apps.studies import selectors

    image = Image(rows=1000, columns=500, mask_boxes=None, tissue_bounds=[250, 0, 500, 1000])
    review = selectors.image_mask_review(image)
    assert [(round(m["left"]), round(m["top"])) for m in review.masks] == [(0, 0), (88, 0), (0, 94), (88, 94)]
    assert review.overlaps == 2  # the two chest-wall corners of this right-hand breast


@pytest.mark.django_db
def test_a_malformed_corner_mask_setting_rejects_the_files_naming_it(ingest) -> None:  # type: ignore[no-untyped-def]
    from apps.studies import services
    from apps.studies.models import ImportItem

    project = services.project_get_or_create(actor=None, slug="bad-mask", name="Bad mask")
    project.settings = {"corner_mask": {"frame": "nipple", "rects": []}}
    project.save()
    ingest([cbis_cases()[0]["rcc"]], project=project)
    item = ImportItem.objects.get()
    assert item.status == "rejected" and "setting corner_mask" in item.reason and "chest_wall" in item.reason
    assert not Image.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_an_imported_image_serves_its_reduced_full_depth_png(api_for, admin_user, imported) -> None:  # type: ignore[no-untyped-def]
    from apps.studies.selectors import image_urls

    assert imported.depth_preview_file and imported.depth_preview_level >= 1
    urls = image_urls(imported)
    assert urls["depth"] == f"/api/images/{imported.pk}/file/depth/"
    response = api_for(admin_user).get(urls["depth"])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    png = PILImage.open(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    level = imported.depth_preview_level
    assert png.size == (imported.columns >> level, imported.rows >> level)
    assert max(png.size) <= 1024 and png.mode.startswith("I")  # 16-bit grey
