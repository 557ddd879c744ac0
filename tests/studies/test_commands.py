"""`import_dicom` and `load_demo` as an admin runs them (on_commit fires: transactional tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from apps.studies.models import Image, ImportBatch, Project, Study, StudyState
from tests.studies.conftest import cbis_cases


@pytest.mark.django_db(transaction=True)
def test_import_dicom_creates_the_project_groups_by_manifest_and_prints_results(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = cbis_cases()[0]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,exam\n" + "".join(f"{p.name},exam-1\n" for p in case.values()))
    call_command("import_dicom", *[str(p) for p in case.values()], "--project", "cli-project",
                 "--manifest", str(manifest))
    out = capsys.readouterr().out
    assert "4 imported, 0 duplicate, 0 rejected" in out
    assert Project.objects.filter(slug="cli-project").exists()
    assert Study.objects.get().images.count() == 4


@pytest.mark.django_db(transaction=True)
def test_import_dicom_exits_non_zero_when_a_file_is_rejected(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"no dicom here")
    good = cbis_cases()[0]["rcc"]
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_dicom", str(junk), str(good), "--project", "p")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert f"rejected  {junk}: not a DICOM file" in out
    assert "1 imported, 0 duplicate, 1 rejected" in out
    assert Image.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_load_demo_is_idempotent_and_leaves_two_ready_exams(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("load_demo")
    call_command("load_demo")
    project = Project.objects.get(slug="demo")
    assert Image.objects.filter(project=project).count() == 8
    studies = list(project.studies.all())
    assert len(studies) == 2
    assert all(s.state == StudyState.READY and s.has_standard_views for s in studies)
    assert ImportBatch.objects.count() == 2
    for name in ("admin", "reader1", "reader2", "senior1"):
        assert authenticate(RequestFactory().post("/accounts/login/"), username=name, password=name) is not None
    assert "0 image(s) imported, 8 already there" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_load_demo_prior_adds_an_earlier_exam_of_the_first_demo_patient(capsys: pytest.CaptureFixture[str]) -> None:
    from apps.studies.selectors import priors_of

    call_command("load_demo")
    capsys.readouterr()
    call_command("load_demo", "--prior")
    call_command("load_demo", "--prior")
    out = capsys.readouterr().out
    assert "demo prior: 4 image(s) imported" in out and "demo prior: 0 image(s) imported, 4 already there" in out
    project = Project.objects.get(slug="demo")
    assert Image.objects.filter(project=project).count() == 12
    # Two exams of one patient two years apart; the other demo patient has none.
    with_prior = [s for s in project.studies.all() if priors_of(s).exists()]
    assert len(with_prior) == 1
    (current,) = with_prior
    (prior,) = priors_of(current)
    assert prior.state == StudyState.READY and prior.has_standard_views and prior.patient_key == current.patient_key
    assert current.exam_date is not None and prior.exam_date is not None
    assert (current.exam_date - prior.exam_date).days == 730


@pytest.mark.django_db(transaction=True)
def test_review_exams_lists_then_approves_the_exams_awaiting_review(  # type: ignore[no-untyped-def]
        admin_user, capsys: pytest.CaptureFixture[str]) -> None:
    from apps.reading.models import AuditEvent

    case = cbis_cases()[0]
    call_command("import_dicom", *[str(p) for p in case.values()], "--project", "rev")
    capsys.readouterr()
    call_command("review_exams", "--project", "rev")
    listing = capsys.readouterr().out
    assert "exams awaiting review in rev:" in listing
    assert Study.objects.filter(state=StudyState.AWAITING_REVIEW).exists()

    call_command("review_exams", "--project", "rev", "--approve", "all")
    out = capsys.readouterr().out
    assert "Approved" in out
    assert not Image.objects.exclude(state="reviewed").exists()
    assert AuditEvent.objects.filter(action="images_reviewed", actor=admin_user).exists()


@pytest.mark.django_db(transaction=True)
def test_review_exams_names_an_exam_that_is_not_awaiting_review(admin_user) -> None:  # type: ignore[no-untyped-def]
    Project.objects.create(slug="rev2", name="rev2")
    with pytest.raises(CommandError, match="Not awaiting review in rev2: nope"):
        call_command("review_exams", "--project", "rev2", "--approve", "nope")
