"""QIDO-RS and WADO-RS driven by the real dicomweb-client (and curl) against a live server."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from apps.reading.models import Assignment
from apps.reading.services import assignment_reassign
from apps.studies.models import Image, Study
from tests.dicomweb.conftest import Exams, assign

pytestmark = pytest.mark.django_db(transaction=True)

UID = "0020000D"


def uids(results: list[dict], tag: str = UID) -> list[str]:
    return [r[tag]["Value"][0] for r in results]


def test_an_admin_searches_studies_series_and_instances(exams: Exams, admin_user, client_for) -> None:  # type: ignore[no-untyped-def]
    client: DICOMwebClient = client_for(admin_user)
    studies = client.search_for_studies()
    assert sorted(uids(studies)) == sorted([exams.first.study_uid, exams.second.study_uid])
    first = next(s for s in studies if s[UID]["Value"][0] == exams.first.study_uid)
    assert first["00080061"]["Value"] == ["MG"]  # ModalitiesInStudy
    assert first["00201208"]["Value"] == [4]  # NumberOfStudyRelatedInstances
    assert first["00100020"] == {"vr": "LO"}  # PatientID: de-identified away, present and empty
    assert first["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{exams.first.study_uid}")
    series = client.search_for_series(study_instance_uid=exams.first.study_uid)
    assert {s["00080060"]["Value"][0] for s in series} == {"MG"}
    assert sum(s["00201209"]["Value"][0] for s in series) == 4
    instances = client.search_for_instances(study_instance_uid=exams.first.study_uid)
    assert sorted(uids(instances, "00080018")) == sorted(exams.first.images.values_list("sop_uid", flat=True))
    image = exams.first.images.first()
    assert image is not None
    one = client.search_for_instances(search_filters={"SOPInstanceUID": image.sop_uid})
    assert uids(one, "00080018") == [image.sop_uid]
    assert one[0]["00280010"]["Value"] == [image.rows]


def test_qido_matches_keys_and_pages(exams: Exams, admin_user, client_for) -> None:  # type: ignore[no-untyped-def]
    client: DICOMwebClient = client_for(admin_user)
    assert uids(client.search_for_studies(search_filters={"StudyInstanceUID": exams.second.study_uid})) == [
        exams.second.study_uid]
    assert len(client.search_for_studies(search_filters={"ModalitiesInStudy": "MG"})) == 2
    assert client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"}) == []
    # Removed by de-identification: nothing can match a real value.
    for key in ("PatientID", "AccessionNumber", "StudyDate"):
        assert client.search_for_studies(search_filters={key: "P_00173"}) == []
        assert len(client.search_for_studies(search_filters={key: "*"})) == 2
    page1 = client.search_for_studies(limit=1, offset=0)
    page2 = client.search_for_studies(limit=1, offset=1)
    assert len(page1) == len(page2) == 1 and uids(page1) != uids(page2)
    assert client.search_for_series(search_filters={"Modality": "MG"}, limit=3) and len(
        client.search_for_series(search_filters={"Modality": "MG"}, limit=3)) == 3
    with_field = client.search_for_studies(fields=["StudyDescription"], limit=1)
    assert with_field[0]["00081030"] == {"vr": "LO"}
    everything = client.search_for_instances(search_filters={"SeriesInstanceUID": exams.first.images.first().series.series_uid},  # type: ignore[union-attr]
                                             fields=["all"])
    assert everything[0]["00280100"]["Value"] == [16]  # BitsAllocated from the stored header


def test_an_unknown_query_key_is_a_400_naming_it(exams: Exams, admin_user, live_server, token_for) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{live_server.url}/dicomweb/studies", params={"PatientNmae": "x"},
                            headers={"Authorization": f"Token {token_for(admin_user)}"}, timeout=30)
    assert response.status_code == 400
    assert response.json()["code"] == "dicomweb_invalid_query"
    assert response.json()["extra"] == {"parameter": "PatientNmae"}


def test_wado_retrieves_de_identified_instances_metadata_frames_and_renders(
        exams: Exams, admin_user, client_for) -> None:  # type: ignore[no-untyped-def]
    client: DICOMwebClient = client_for(admin_user)
    study = exams.first
    datasets = client.retrieve_study(study.study_uid)
    assert sorted(ds.SOPInstanceUID for ds in datasets) == sorted(study.images.values_list("sop_uid", flat=True))
    for ds in datasets:
        assert "PatientName" not in ds and "PatientID" not in ds
        assert not any(elem.tag.is_private for elem in ds)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    image = Image.objects.filter(study=study).select_related("series").first()
    assert image is not None
    series = client.retrieve_series(study.study_uid, image.series.series_uid)
    assert image.sop_uid in [ds.SOPInstanceUID for ds in series]
    instance = client.retrieve_instance(study.study_uid, image.series.series_uid, image.sop_uid)
    with default_storage.open(image.dicom_file, "rb") as handle:
        stored = pydicom.dcmread(handle)
    assert np.array_equal(instance.pixel_array, stored.pixel_array)
    metadata = client.retrieve_study_metadata(study.study_uid)
    assert len(metadata) == 4 and all("7FE00010" in m and "BulkDataURI" in m["7FE00010"] for m in metadata)
    assert client.retrieve_series_metadata(study.study_uid, image.series.series_uid)[0]["00080018"]["Value"] == [
        image.sop_uid]
    frames = client.retrieve_instance_frames(study.study_uid, image.series.series_uid, image.sop_uid,
                                             frame_numbers=[1])
    assert frames[0] == stored.PixelData
    rendered = client.retrieve_instance_rendered(study.study_uid, image.series.series_uid, image.sop_uid,
                                                 media_types=("image/png",))
    with default_storage.open(image.display_file, "rb") as handle:
        assert rendered == handle.read()
    thumbnail = client._http_get(f"{client.base_url}/studies/{study.study_uid}/thumbnail",
                                 headers={"Accept": "image/png"})
    assert thumbnail.headers["Content-Type"] == "image/png"
    assert max(PILImage.open(io.BytesIO(thumbnail.content)).size) <= 256


def test_a_j2k_source_is_served_as_the_decoded_de_identified_pixels(j2k_exam: Study, admin_user, client_for) -> None:  # type: ignore[no-untyped-def]
    client: DICOMwebClient = client_for(admin_user)
    [ds] = client.retrieve_study(j2k_exam.study_uid)
    source = pydicom.dcmread(pydicom.data.get_testdata_file("RG1_J2KR.dcm"))
    assert ds.Rows == source.Rows and ds.Columns == source.Columns
    assert "PatientName" not in ds


def test_readers_see_only_the_exams_they_are_assigned_and_only_while_assigned(
        exams: Exams, admin_user, reader1, reader2, senior, outsider, client_for) -> None:  # type: ignore[no-untyped-def]
    assign(exams, admin_user, reader1, reader2, exams.first)
    for reader in (reader1, reader2):
        client: DICOMwebClient = client_for(reader)
        assert uids(client.search_for_studies()) == [exams.first.study_uid]
        assert len(client.search_for_instances()) == 4
        with pytest.raises(requests.HTTPError) as denied:
            client.retrieve_study(exams.second.study_uid)
        assert denied.value.response.status_code == 404
        body = str(client.search_for_studies()) + str(client.retrieve_study_metadata(exams.first.study_uid))
        assert "ready" not in body and "reading" not in body and "reader" not in body
    assert client_for(outsider).search_for_studies() == []
    # Reassigned: reader1's access ends with the assignment.
    held = Assignment.objects.get(study=exams.first, reader=reader1)
    assignment_reassign(actor=admin_user, assignment_id=held.pk, reader=senior)
    assert client_for(reader1).search_for_studies() == []
    with pytest.raises(requests.HTTPError) as gone:
        client_for(reader1).retrieve_study(exams.first.study_uid)
    assert gone.value.response.status_code == 404
    assert uids(client_for(senior).search_for_studies()) == [exams.first.study_uid]
    # No longer a reader: the assignment alone opens nothing.
    reader2.groups.clear()
    assert client_for(reader2).search_for_studies() == []


def test_anonymous_callers_get_nothing(exams: Exams, live_server) -> None:  # type: ignore[no-untyped-def]
    for path in ("/dicomweb/studies", f"/dicomweb/studies/{exams.first.study_uid}",
                 f"/dicomweb/studies/{exams.first.study_uid}/metadata"):
        response = requests.get(f"{live_server.url}{path}", timeout=30)
        assert response.status_code in (401, 403), path
        assert exams.first.study_uid not in response.text


def test_a_logged_in_session_may_search(exams: Exams, admin_user, client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 200 and response["Content-Type"] == "application/dicom+json"
    assert len(response.json()) == 2


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "-D", "-", *args], capture_output=True, timeout=120)


def test_curl_accept_negotiation_for_retrieve(exams: Exams, admin_user, live_server, token_for) -> None:  # type: ignore[no-untyped-def]
    url = f"{live_server.url}/dicomweb/studies/{exams.first.study_uid}"
    auth = f"Authorization: Token {token_for(admin_user)}"
    j2k = curl("-H", auth, "-H", 'Accept: multipart/related; type="application/dicom"; '
               "transfer-syntax=1.2.840.10008.1.2.4.90", "-o", "/dev/null", url)
    assert b" 406" in j2k.stdout.split(b"\r\n")[0]
    png = curl("-H", auth, "-H", "Accept: image/png", url)
    assert b" 406" in png.stdout.split(b"\r\n")[0]
    ok = curl("-H", auth, "-H", 'Accept: multipart/related; type="application/dicom"; transfer-syntax=*', url)
    head, _, body = ok.stdout.partition(b"\r\n\r\n")
    assert b" 200" in head.split(b"\r\n")[0]
    content_type = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-type"))
    boundary = content_type.split(b"boundary=")[1].strip()
    assert b'type="application/dicom"' in content_type
    assert body.count(b"--" + boundary + b"\r\n") == 4 and body.rstrip().endswith(b"--" + boundary + b"--")
    metadata = curl("-H", auth, "-H", "Accept: application/dicom+json", f"{url}/metadata")
    assert b"application/dicom+json" in metadata.stdout.partition(b"\r\n\r\n")[0]


def test_more_frames_than_the_instance_has_is_not_found(exams: Exams, admin_user, live_server, token_for) -> None:  # type: ignore[no-untyped-def]
    image = Image.objects.filter(study=exams.first).select_related("series").first()
    assert image is not None
    url = (f"{live_server.url}/dicomweb/studies/{exams.first.study_uid}/series/{image.series.series_uid}"
           f"/instances/{image.sop_uid}/frames/1,2")
    response = requests.get(url, headers={"Authorization": f"Token {token_for(admin_user)}",
                                          "Accept": 'multipart/related; type="application/octet-stream"'}, timeout=30)
    assert response.status_code == 404
    assert "1 frame" in response.json()["message"]

