"""Ingest, render and review through the services, on real files and the real database."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from apps.common.errors import ForbiddenError
from apps.studies import dicom, services
from apps.studies.errors import InvalidManifest, StudyNotReviewed
from apps.studies.models import (
    Image,
    ImageState,
    ImportBatch,
    ImportBatchState,
    ImportItem,
    ImportItemStatus,
    Project,
    Study,
    StudyState,
)
from tests.studies.conftest import as_mammogram, cbis_cases, cbis_manifest, deid_data, pydicom_file

Ingest = Callable[..., ImportBatch]


def _stored_names() -> set[str]:
    names: set[str] = set()

    def walk(prefix: str) -> None:
        try:  # folders exist on disk only; object storage lists prefixes
            dirs, files = default_storage.listdir(prefix)
        except FileNotFoundError:
            return
        names.update(f"{prefix}/{f}".lstrip("/") for f in files)
        for d in dirs:
            walk(f"{prefix}/{d}".lstrip("/"))

    walk("")
    return names


@pytest.mark.django_db
def test_cbis_exams_are_grouped_into_two_four_view_studies_by_the_manifest(
        project: Project, ingest: Ingest) -> None:
    paths = [p for case in cbis_cases() for p in case.values()]
    batch = ingest(paths, project=project, manifest=cbis_manifest())
    assert batch.state == ImportBatchState.DONE
    assert set(batch.items.values_list("status", flat=True)) == {ImportItemStatus.IMPORTED}
    studies = list(project.studies.order_by("pk"))
    assert len(studies) == 2
    for study in studies:
        views = sorted(study.images.values_list("laterality", "view_position"))
        assert views == [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]
        assert study.has_standard_views
        assert study.state == StudyState.AWAITING_REVIEW
    image = Image.objects.filter(study=studies[0]).first()
    assert image is not None and image.state == ImageState.RENDERED
    assert image.window_presets[0]["explanation"] == "derived from pixels"
    for name in (image.dicom_file, image.display_file, image.thumbnail_file, image.full_depth_file):
        assert default_storage.exists(name)


@pytest.mark.django_db
def test_without_a_manifest_each_cbis_view_is_its_own_flagged_study(project: Project, ingest: Ingest) -> None:
    ingest(list(cbis_cases()[0].values()), project=project)
    assert project.studies.count() == 4
    assert not project.studies.filter(has_standard_views=True).exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("any_storage")
def test_only_the_deidentified_dicom_is_stored_and_the_staged_original_is_gone(
        project: Project, ingest: Ingest) -> None:
    source = cbis_cases()[0]["lcc"]
    ingest([source], project=project)
    image = Image.objects.get()
    stored = pydicom.dcmread(default_storage.open(image.dicom_file))
    assert "PatientName" not in stored and "PatientID" not in stored
    assert stored.SOPInstanceUID == image.sop_uid
    assert image.patient_orientation == "CC"
    assert not any(name.startswith("staging/") for name in _stored_names())
    assert {n for n in _stored_names() if n.endswith(".dcm")} == {image.dicom_file}


@pytest.mark.django_db
def test_reimporting_the_same_file_is_a_duplicate_and_stores_nothing_new(project: Project, ingest: Ingest) -> None:
    source = cbis_cases()[0]["lcc"]
    ingest([source], project=project)
    before = _stored_names()
    batch = ingest([source], project=project)
    item = batch.items.get()
    assert item.status == ImportItemStatus.DUPLICATE
    assert "already imported" in item.reason and source.name in item.reason
    assert Image.objects.count() == 1
    assert _stored_names() == before


@pytest.mark.django_db
def test_bad_inputs_are_rejected_with_a_reason_while_the_rest_of_the_batch_goes_on(
        project: Project, ingest: Ingest, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    good = cbis_cases()[0]["rcc"]
    text = tmp_path / "notes.txt"
    text.write_text("not a dicom file at all")
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(good.read_bytes()[: 200_000])
    cut_native = tmp_path / "cutnative.dcm"
    uncompressed = pydicom.dcmread(pydicom_file("RG1_UNCR.dcm"))
    uncompressed.Modality, uncompressed.ImageLaterality, uncompressed.ViewPosition = "MG", "L", "CC"
    buffer = io.BytesIO()
    uncompressed.save_as(buffer)
    cut_native.write_bytes(buffer.getvalue()[:-1000])
    no_pixels = tmp_path / "nopixels.dcm"
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.save_as(no_pixels)
    no_laterality = tmp_path / "nolaterality.dcm"
    ds = pydicom.dcmread(good)
    del ds.Laterality
    ds.save_as(no_laterality)
    no_view = tmp_path / "noview.dcm"
    ds = pydicom.dcmread(good)
    del ds.PatientOrientation
    ds.SeriesDescription = "full mammogram images"
    ds.save_as(no_view)
    ct = deid_data("humans/ctbrain1.dcm")
    batch = ingest([text, truncated, cut_native, no_pixels, no_laterality, no_view, ct, good, tmp_path / "missing.dcm"],
                   project=project)
    reasons = {Path(i.filename).name: (i.status, i.reason) for i in batch.items.all()}
    expected = {
        "notes.txt": "not a DICOM file",
        "truncated.dcm": "truncated",
        "nopixels.dcm": "has no pixel data",
        "cutnative.dcm": "truncated",
        "nolaterality.dcm": "unknown laterality",
        "noview.dcm": "unknown view position",
        "ctbrain1.dcm": "modality CT is not accepted",
        "missing.dcm": "no such file",
    }
    for name, fragment in expected.items():
        status, reason = reasons[name]
        assert status == ImportItemStatus.REJECTED, name
        assert name in reason and fragment in reason, reason
    assert reasons[good.name][0] == ImportItemStatus.IMPORTED
    assert batch.state == ImportBatchState.DONE
    assert Image.objects.count() == 1
    assert {n for n in _stored_names() if n.endswith(".dcm")} == {Image.objects.get().dicom_file}


@pytest.mark.django_db
def test_oversized_files_and_images_are_rejected(project: Project, ingest: Ingest, settings) -> None:  # type: ignore[no-untyped-def]
    source = cbis_cases()[0]["rcc"]
    settings.INGEST_MAX_FILE_BYTES = 1000
    item = ingest([source], project=project).items.get()
    assert item.status == ImportItemStatus.REJECTED and "over the limit of 1000 bytes" in item.reason
    settings.INGEST_MAX_FILE_BYTES = 10**9
    settings.INGEST_MAX_PIXELS = 1_000_000
    item = ingest([source], project=project).items.get()
    assert item.status == ImportItemStatus.REJECTED and "over the limit of 1000000 pixels" in item.reason
    assert source.name in item.reason
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_folders_are_walked_and_zip_archives_expanded(project: Project, ingest: Ingest, tmp_path: Path) -> None:
    import zipfile

    case = cbis_cases()[0]
    folder = tmp_path / "exam" / "nested"
    folder.mkdir(parents=True)
    (folder / "rcc.dcm").write_bytes(case["rcc"].read_bytes())
    archive = tmp_path / "exam" / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(case["lcc"], "inside/lcc.dcm")
        zf.write(case["rmlo"], "rmlo.dcm")
    batch = ingest([tmp_path / "exam"], project=project)
    names = sorted(Path(i.filename).name for i in batch.items.all())
    assert names == ["lcc.dcm", "rcc.dcm", "rmlo.dcm"]
    assert all(i.status == ImportItemStatus.IMPORTED for i in batch.items.all())
    assert any("more.zip/inside/lcc.dcm" in i.filename for i in batch.items.all())


@pytest.mark.django_db
def test_compressed_jpeg2000_input_is_imported_and_rendered(project: Project, ingest: Ingest, tmp_path: Path,
                                                           settings) -> None:  # type: ignore[no-untyped-def]
    path = as_mammogram(pydicom_file("RG1_J2KR.dcm"), tmp_path / "rg1.dcm", laterality="R", view="MLO")
    item = ingest([path], project=project).items.get()
    assert item.status == ImportItemStatus.IMPORTED, item.reason
    image = Image.objects.get()
    assert (image.photometric_interpretation, image.laterality, image.view_position) == ("MONOCHROME1", "R", "MLO")
    assert image.window_presets[0] == {"center": 15000.0, "width": 30000.0, "explanation": ""}
    display = PILImage.open(default_storage.open(image.display_file))
    assert display.size == (1841, 1955)


@pytest.mark.django_db
def test_keep_ids_imports_the_files_own_uids_as_ids(project: Project, ingest: Ingest) -> None:
    source = cbis_cases()[0]["lcc"]
    original = pydicom.dcmread(source, stop_before_pixels=True)
    ingest([source], project=project, keep_ids=True)
    image = Image.objects.select_related("study", "series").get()
    assert image.image_id == original.SOPInstanceUID
    assert image.series.series_id == original.SeriesInstanceUID
    assert image.study.study_id == original.StudyInstanceUID
    stored = pydicom.dcmread(default_storage.open(image.dicom_file))
    assert "PatientName" not in stored


@pytest.mark.django_db
def test_the_same_file_can_live_in_two_projects(ingest: Ingest) -> None:
    source = cbis_cases()[0]["lcc"]
    first = services.project_get_or_create(actor=None, slug="one")
    second = services.project_get_or_create(actor=None, slug="two")
    ingest([source], project=first)
    ingest([source], project=second)
    images = list(Image.objects.order_by("project_id"))
    assert len(images) == 2 and images[0].image_id == images[1].image_id
    assert images[0].dicom_file != images[1].dicom_file


@pytest.mark.django_db
def test_a_task_that_died_mid_job_and_is_rerun_leaves_one_correct_result(
        project: Project, ingest: Ingest, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    source = cbis_cases()[0]["rcc"]
    original_commit = services._ingest_commit
    calls = {"n": 0}

    def dying_commit(**kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise SystemExit("worker killed after writing the files")
        return original_commit(**kwargs)

    monkeypatch.setattr(services, "_ingest_commit", dying_commit)
    with pytest.raises(SystemExit):
        ingest([source], project=project)
    item = ImportItem.objects.get()
    assert item.status == ImportItemStatus.PENDING
    assert not Image.objects.exists()
    assert not any(n.startswith("projects/") for n in _stored_names())  # nothing half-written
    assert default_storage.exists(item.staged_file)  # the original waits for the re-run
    services.file_ingest(item_id=item.pk)  # the broker re-delivers the unacknowledged task
    services.file_ingest(item_id=item.pk)  # and a duplicate delivery changes nothing
    item.refresh_from_db()
    assert item.status == ImportItemStatus.IMPORTED
    image = Image.objects.get()
    assert item.image == image
    assert {n for n in _stored_names() if n.startswith("projects/")} == {
        image.dicom_file, image.display_file, image.thumbnail_file, image.full_depth_file, image.depth_preview_file}
    assert ImportBatch.objects.get().state == ImportBatchState.DONE


@pytest.mark.django_db
@pytest.mark.usefixtures("any_storage")
def test_image_render_is_idempotent(project: Project, ingest: Ingest) -> None:
    ingest([cbis_cases()[0]["lmlo"]], project=project)
    image = Image.objects.get()
    first = default_storage.open(image.display_file).read()
    full_first = default_storage.open(image.full_depth_file).read()
    services.image_render(image_id=image.pk)
    again = services.image_render(image_id=image.pk)
    assert (again.display_file, again.full_depth_file) == (image.display_file, image.full_depth_file)
    assert default_storage.open(again.display_file).read() == first
    assert default_storage.open(again.full_depth_file).read() == full_first
    assert again.window_presets == image.window_presets
    assert again.state == ImageState.RENDERED


@pytest.mark.django_db
def test_review_of_every_image_makes_a_four_view_exam_ready(project: Project, ingest: Ingest, admin_user) -> None:  # type: ignore[no-untyped-def]
    case = cbis_cases()[0]
    ingest(list(case.values()), project=project, manifest=cbis_manifest())
    study = Study.objects.get()
    ids = list(study.images.values_list("pk", flat=True))
    partial = services.images_mark_reviewed(actor=admin_user, image_ids=ids[:3])
    assert partial.ready_studies == []
    study.refresh_from_db()
    assert study.state == StudyState.AWAITING_REVIEW
    result = services.images_mark_reviewed(actor=admin_user, image_ids=[*ids, 999_999])
    assert result.reviewed == sorted(ids[3:]) and 999_999 in result.skipped
    study.refresh_from_db()
    assert study.state == StudyState.READY
    assert Image.objects.filter(reviewed_by=admin_user, state=ImageState.REVIEWED).count() == 4


@pytest.mark.django_db
def test_an_exam_missing_a_standard_view_stays_in_review_until_an_admin_releases_it(
        project: Project, ingest: Ingest, admin_user) -> None:  # type: ignore[no-untyped-def]
    case = cbis_cases()[0]
    manifest = cbis_manifest()
    ingest([case["rcc"], case["lcc"], case["rmlo"]], project=project, manifest=manifest)
    study = Study.objects.get()
    assert not study.has_standard_views
    ids = list(study.images.values_list("pk", flat=True))
    with pytest.raises(StudyNotReviewed):
        services.study_mark_ready(actor=admin_user, study_pk=study.pk)
    services.images_mark_reviewed(actor=admin_user, image_ids=ids)
    study.refresh_from_db()
    assert study.state == StudyState.AWAITING_REVIEW
    assert services.study_mark_ready(actor=admin_user, study_pk=study.pk).state == StudyState.READY
    ingest([case["lmlo"]], project=project, manifest=manifest)
    study.refresh_from_db()
    assert study.has_standard_views
    assert study.state == StudyState.AWAITING_REVIEW  # the new image needs its review


@pytest.mark.django_db
def test_images_cannot_be_added_to_an_exam_being_read(project: Project, ingest: Ingest) -> None:
    case = cbis_cases()[0]
    manifest = cbis_manifest()
    ingest([case["rcc"]], project=project, manifest=manifest)
    Study.objects.update(state=StudyState.READING)
    item = ingest([case["lcc"]], project=project, manifest=manifest).items.get()
    assert item.status == ImportItemStatus.REJECTED and "already being read" in item.reason
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_only_admins_review_and_import(project: Project, reader1) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ForbiddenError):
        services.images_mark_reviewed(actor=reader1, image_ids=[1])
    with pytest.raises(ForbiddenError):
        services.batch_create(actor=reader1, project=project, sources=[])
    assert not ImportBatch.objects.exists()


def test_manifest_needs_file_and_exam_columns_and_one_exam_per_file() -> None:
    assert services.manifest_parse(text="file,exam\na.dcm,1\nb.dcm,1\n") == {"a.dcm": "1", "b.dcm": "1"}
    with pytest.raises(InvalidManifest):
        services.manifest_parse(text="name,study\na.dcm,1\n")
    with pytest.raises(InvalidManifest) as error:
        services.manifest_parse(text="file,exam\na.dcm,1\na.dcm,2\n")
    assert error.value.extra["line"] == 3


def test_keyed_ids_depend_on_the_secret() -> None:
    assert dicom.keyed_id(secret="a", kind="image", value="1.2.3") != dicom.keyed_id(secret="b", kind="image",
                                                                                     value="1.2.3")


@pytest.mark.django_db
def test_stored_dicom_reads_back_with_the_masked_pixels(project: Project, ingest: Ingest) -> None:
    source = cbis_cases()[1]["lcc"]
    ingest([source], project=project)
    image = Image.objects.get()
    stored = pydicom.dcmread(io.BytesIO(default_storage.open(image.dicom_file).read()))
    assert (stored.Rows, stored.Columns) == (image.rows, image.columns)
    # The default masks the top corner away from the chest wall (on the right for this LCC),
    # where the film's bright edge band was.
    assert pydicom.dcmread(source).pixel_array[:10, -10:].min() > 0
    assert stored.pixel_array[:10, -10:].max() == 0


@pytest.mark.django_db
def test_a_render_of_a_damaged_stored_file_marks_the_image_failed_and_a_good_one_recovers_it(
        project: Project, ingest: Ingest) -> None:
    ingest([cbis_cases()[0]["lmlo"]], project=project)
    image = Image.objects.get()
    good = default_storage.open(image.dicom_file).read()
    default_storage.delete(image.dicom_file)
    default_storage.save(image.dicom_file, ContentFile(b"garbage"))
    failed = services.image_render(image_id=image.pk)
    assert failed.state == ImageState.FAILED and "render failed" in failed.error
    default_storage.delete(image.dicom_file)
    default_storage.save(image.dicom_file, ContentFile(good))
    recovered = services.image_render(image_id=image.pk)
    assert recovered.state == ImageState.RENDERED and recovered.error == ""


@pytest.mark.django_db
def test_an_unexpected_processing_error_rejects_only_that_file(
        project: Project, ingest: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    case = cbis_cases()[0]
    original = dicom.process

    def fragile(ds, header, ids, **kwargs):  # type: ignore[no-untyped-def]
        if header.laterality == "L":
            raise ValueError("unsupported pixel layout")
        return original(ds, header, ids, **kwargs)

    monkeypatch.setattr(dicom, "process", fragile)
    batch = ingest([case["lcc"], case["rcc"]], project=project)
    statuses = {Path(i.filename).name: (i.status, i.reason) for i in batch.items.all()}
    assert statuses[case["rcc"].name][0] == ImportItemStatus.IMPORTED
    status, reason = statuses[case["lcc"].name]
    assert status == ImportItemStatus.REJECTED
    assert reason == f"{case['lcc']}: could not be processed (ValueError: unsupported pixel layout)"
    assert batch.state == ImportBatchState.DONE


@pytest.mark.django_db
def test_rerender_is_queued_for_admins_only(project: Project, ingest: Ingest, admin_user, reader1,  # type: ignore[no-untyped-def]
                                            django_capture_on_commit_callbacks) -> None:
    ingest([cbis_cases()[0]["rcc"]], project=project)
    image = Image.objects.get()
    with pytest.raises(ForbiddenError):
        services.images_render_enqueue(actor=reader1, image_ids=[image.pk])
    Image.objects.filter(pk=image.pk).update(state=ImageState.FAILED, error="render failed: x")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.images_render_enqueue(actor=admin_user, image_ids=[image.pk]) == 1
    image.refresh_from_db()
    assert image.state == ImageState.RENDERED and image.error == ""


def test_corner_masks_come_from_the_project_else_the_site_key_by_key(settings) -> None:  # type: ignore[no-untyped-def]
    site = [[0.65, 0.0, 1.0, 0.28], [0.88, 0.94, 1.0, 1.0]]
    settings.CORNER_MASK, settings.CORNER_MASK_FRAME = site, "chest_wall"
    assert services.corner_mask_for(project=Project(slug="plain")) == (site, "chest_wall")
    own = [[0.0, 0.0, 0.2, 0.1]]
    assert services.corner_mask_for(project=Project(slug="p", settings={"corner_mask": {"rects": own}})) == (
        own, "chest_wall")
    assert services.corner_mask_for(project=Project(slug="p", settings={"corner_mask": {"frame": "image"}})) == (
        site, "image")
    settings.CORNER_MASK = [[0.5, 0.0, 0.2, 0.1]]  # x0 > x1
    with pytest.raises(dicom.DicomRejected, match="^setting CORNER_MASK rects must be"):
        services.corner_mask_for(project=Project(slug="plain"))
