"""The keyed patient link of priors (issue 12 item 6): ingest keeps a keyed id of the PatientID
and a shifted exam date on the exam, never the PatientID or the date themselves."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from django.core.files.storage import default_storage

from apps.studies import dicom, services
from apps.studies.models import ImportBatch, Project, Study
from apps.studies.selectors import priors_of
from tests.studies.conftest import cbis_cases

Ingest = Callable[..., ImportBatch]
pytestmark = pytest.mark.django_db


def exam_file(tmp_path: Path, case: int, view: str, *, patient_id: str, study_date: str) -> Path:
    """A real CBIS view (its own StudyInstanceUID: one exam per file) as an exam of `patient_id`
    taken on `study_date`."""
    ds = pydicom.dcmread(cbis_cases()[case][view])
    ds.PatientID = patient_id
    ds.StudyDate = study_date
    target = tmp_path / f"{case}-{view}-{study_date}.dcm"
    ds.save_as(target)
    return target


def study_of(batch: ImportBatch, reviewer=None) -> Study:  # type: ignore[no-untyped-def]
    """The batch's one exam (one view); reviewed and released by `reviewer` (priors are only
    exams past the de-identification review)."""
    item = batch.items.get()
    assert item.image is not None, item.reason
    if reviewer is not None:
        services.study_review_approve(actor=reviewer, study_pk=item.image.study_id)
        services.study_mark_ready(actor=reviewer, study_pk=item.image.study_id)
    return Study.objects.get(pk=item.image.study_id)


def test_exams_of_one_patient_share_a_keyed_link_and_keep_their_order_and_interval(
        project: Project, ingest: Ingest, tmp_path: Path, admin_user) -> None:  # type: ignore[no-untyped-def]
    current = study_of(ingest([exam_file(tmp_path, 0, "lcc", patient_id="Mass-Test_P_00173_LEFT_CC",
                                         study_date="20161004")], project=project), admin_user)
    # The same patient two years earlier, named the CBIS way with another view suffix.
    prior = study_of(ingest([exam_file(tmp_path, 1, "rmlo", patient_id="Mass-Test_P_00173_RIGHT_MLO",
                                       study_date="20140930")], project=project), admin_user)
    other = study_of(ingest([exam_file(tmp_path, 1, "rcc", patient_id="Mass-Test_P_00820_RIGHT_CC",
                                       study_date="20150101")], project=project), admin_user)

    assert len(current.patient_key) == 32 and current.patient_key == prior.patient_key
    assert other.patient_key not in ("", current.patient_key)
    assert "P_00173" not in current.patient_key
    # Dates are shifted, but a patient's exams keep their order and the days between them.
    assert current.exam_date is not None and prior.exam_date is not None
    assert (current.exam_date - prior.exam_date).days == (datetime.date(2016, 10, 4) - datetime.date(2014, 9, 30)).days
    assert current.exam_date != datetime.date(2016, 10, 4)
    assert list(priors_of(current)) == [prior]
    assert list(priors_of(prior)) == [] and list(priors_of(other)) == []
    # The de-identified file keeps neither the PatientID nor the date.
    stored = pydicom.dcmread(default_storage.open(current.images.get().dicom_file))
    assert "PatientID" not in stored and "StudyDate" not in stored and "ContentDate" not in stored


def test_the_patient_link_depends_on_the_installation_secret(ingest: Ingest, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    path = exam_file(tmp_path, 0, "lcc", patient_id="Mass-Test_P_00173_LEFT_CC", study_date="20161004")
    first = study_of(ingest([path], project=services.project_get_or_create(actor=None, slug="one")))
    settings.DEID_SECRET = "another installation"
    second = study_of(ingest([path], project=services.project_get_or_create(actor=None, slug="two")))

    assert first.patient_key and second.patient_key and first.patient_key != second.patient_key
    assert second.patient_key == dicom.patient_key(secret="another installation", patient_id="Mass-Test_P_00173")


def test_an_exam_without_patient_id_has_no_link_and_keeps_no_date(project: Project, ingest: Ingest,
                                                                   tmp_path: Path) -> None:
    study = study_of(ingest([exam_file(tmp_path, 0, "lcc", patient_id="", study_date="20161004")],
                                    project=project))

    assert study.patient_key == "" and study.exam_date is None
    assert list(priors_of(study)) == []
