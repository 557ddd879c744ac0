"""STOW-RS: dicomweb-client and curl store real files into the ordinary ingest."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage

from apps.studies import services
from apps.studies.models import Image, ImportBatch, ImportItem
from tests.studies.conftest import as_mammogram, cbis_cases, deid_data, pydicom_file

pytestmark = pytest.mark.django_db(transaction=True)

BOUNDARY = "stow-test-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
FAILED, REFERENCED = "00081198", "00081199"


@pytest.fixture
def project(transactional_db, settings):  # type: ignore[no-untyped-def]
    settings.DICOMWEB_STOW_DEFAULT_PROJECT = "stow"
    return services.project_get_or_create(actor=None, slug="stow")


@pytest.fixture
def stow_client(live_server, admin_user, token_for, project) -> DICOMwebClient:  # type: ignore[no-untyped-def]
    # A big chunk size: Django's test server does not decode chunked request bodies (gunicorn does).
    return DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token_for(admin_user)}"},
                          chunk_size=1 << 30)


def staged_files() -> list[str]:
    if not default_storage.exists("staging"):
        return []
    folders, _ = default_storage.listdir("staging")
    return [name for folder in folders for name in default_storage.listdir(f"staging/{folder}")[1]]


def multipart(*parts: tuple[str, bytes], close: bool = True) -> bytes:
    body = b"".join(f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
                    for ctype, data in parts)
    return body + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def curl_post(url: str, token: str, body: Path, content_type: str = CONTENT_TYPE,
              *extra: str) -> tuple[int, dict]:
    result = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H",
                             f"Authorization: Token {token}", "-H", f"Content-Type: {content_type}",
                             "-H", "Accept: application/dicom+json", *extra, "--data-binary", f"@{body}", url],
                            capture_output=True, timeout=300, check=True)
    text, _, code = result.stdout.decode().rpartition("\n")
    return int(code), json.loads(text) if text.strip() else {}


def test_dicomweb_client_stores_rle_j2k_and_jpeg_ls_instances(stow_client: DICOMwebClient, tmp_path: Path) -> None:
    case = cbis_cases()[0]
    datasets = [pydicom.dcmread(path) for path in case.values()]
    response = stow_client.store_instances(datasets)
    referenced = response.ReferencedSOPSequence
    assert sorted(item.ReferencedSOPInstanceUID for item in referenced) == sorted(ds.SOPInstanceUID for ds in datasets)
    assert "FailedSOPSequence" not in response
    assert Image.objects.filter(project__slug="stow").count() == 4
    stored = Image.objects.get(sop_uid=referenced[0].RetrieveURL.rsplit("/", 1)[1])
    assert stored.project.slug == "stow"
    assert ImportBatch.objects.get().source == "dicomweb"
    assert staged_files() == []
    # Into a named study: the J2K and JPEG-LS files share one StudyInstanceUID.
    j2k = pydicom.dcmread(as_mammogram(pydicom_file("RG1_J2KR.dcm"), tmp_path / "j2k.dcm", laterality="R",
                                       view="MLO", PixelSpacing=[0.1, 0.1], StudyInstanceUID="1.2.3.4"))
    jls = pydicom.dcmread(as_mammogram(pydicom_file("MR_small_jpeg_ls_lossless.dcm"), tmp_path / "jls.dcm",
                                       laterality="L", view="MLO", PixelSpacing=[0.1, 0.1],
                                       StudyInstanceUID="1.2.3.4"))
    assert j2k.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert jls.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    more = stow_client.store_instances([j2k, jls], study_instance_uid="1.2.3.4")
    assert len(more.ReferencedSOPSequence) == 2
    assert Image.objects.count() == 6
    # Sent again: already there, reported as stored.
    again = stow_client.store_instances(datasets[:1])
    assert len(again.ReferencedSOPSequence) == 1 and Image.objects.count() == 6


def test_a_rejected_instance_is_listed_with_its_failure_reason(live_server, admin_user, token_for, project,
                                                                tmp_path: Path) -> None:
    good = cbis_cases()[0]["rcc"].read_bytes()
    ct = deid_data("humans/ctbrain1.dcm").read_bytes()
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", good), ("application/dicom", ct),
                               ("text/plain", b"not dicom")))
    code, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body)
    assert code == 202
    [failed_ct, failed_text] = answer[FAILED]["Value"]
    assert failed_ct["00081197"]["Value"] == [0xC000]
    assert failed_ct["00081155"]["Value"] == [pydicom.dcmread(deid_data("humans/ctbrain1.dcm")).SOPInstanceUID]
    assert "modality CT is not accepted" in failed_ct["00000902"]["Value"][0]
    assert "is not application/dicom" in failed_text["00000902"]["Value"][0]
    assert len(answer[REFERENCED]["Value"]) == 1
    assert Image.objects.count() == 1 and staged_files() == []
    # Nothing stored at all: 409.
    body.write_bytes(multipart(("application/dicom", ct)))
    code, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body)
    assert code == 409 and REFERENCED not in answer and len(answer[FAILED]["Value"]) == 1


def test_an_instance_of_another_study_than_the_url_fails(live_server, admin_user, token_for, project,
                                                          tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", cbis_cases()[0]["rcc"].read_bytes())))
    code, answer = curl_post(f"{live_server.url}/dicomweb/studies/1.2.3.999", token_for(admin_user), body)
    assert code == 409
    assert answer[FAILED]["Value"][0]["00081197"]["Value"] == [0xA900]
    assert not Image.objects.exists() and not ImportItem.objects.exists()


@pytest.mark.parametrize(("content_type", "code"), [
    ("multipart/form-data; boundary=x", "dicomweb_unsupported_media_type"),
    ('multipart/related; type="application/dicom"', "dicomweb_unsupported_media_type"),
    ('multipart/related; type="application/dicom+json"; boundary=x', "dicomweb_unsupported_media_type"),
])
def test_a_body_that_is_not_multipart_dicom_is_refused_with_415(live_server, admin_user, token_for, project,
                                                                 tmp_path: Path, content_type: str, code: str) -> None:
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", b"x")))
    status, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body, content_type)
    assert status == 415 and answer["code"] == code
    assert not ImportBatch.objects.exists()


def test_a_cut_off_body_keeps_nothing(live_server, admin_user, token_for, project, tmp_path: Path) -> None:
    data = cbis_cases()[0]["rcc"].read_bytes()
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", data), ("application/dicom", data[: len(data) // 2]),
                               close=False)[:-2])
    status, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body)
    assert status == 400 and answer["code"] == "dicomweb_invalid_body"
    assert "no closing boundary" in answer["message"]
    assert not ImportBatch.objects.exists() and not Image.objects.exists() and staged_files() == []


def test_limits_are_settings_with_clear_errors(live_server, admin_user, token_for, project, settings,
                                               tmp_path: Path) -> None:
    data = cbis_cases()[0]["rcc"].read_bytes()
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", data)))
    settings.DICOMWEB_MAX_INSTANCE_BYTES = 1_000_000
    status, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body)
    assert status == 409
    failure = answer[FAILED]["Value"][0]
    assert failure["00081197"]["Value"] == [0xA700]
    assert "over the limit of 1000000 bytes" in failure["00000902"]["Value"][0]
    settings.DICOMWEB_MAX_REQUEST_BYTES = 1_000_000
    status, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body)
    assert status == 413 and answer["code"] == "dicomweb_request_too_large"
    assert "DICOMWEB_MAX_REQUEST_BYTES" in answer["message"]
    assert not Image.objects.exists() and staged_files() == []


def test_the_project_comes_from_the_query_or_the_default(live_server, admin_user, token_for, settings,
                                                          transactional_db, tmp_path: Path) -> None:
    services.project_get_or_create(actor=None, slug="named")
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", cbis_cases()[0]["rcc"].read_bytes())))
    url = f"{live_server.url}/dicomweb/studies"
    settings.DICOMWEB_STOW_DEFAULT_PROJECT = ""
    status, answer = curl_post(url, token_for(admin_user), body)
    assert status == 400 and answer["code"] == "dicomweb_no_project" and "?project=" in answer["message"]
    status, answer = curl_post(f"{url}?project=missing", token_for(admin_user), body)
    assert status == 400 and "'missing'" in answer["message"]
    status, answer = curl_post(f"{url}?project=named", token_for(admin_user), body)
    assert status == 200 and Image.objects.get().project.slug == "named"


def test_only_admins_may_store(live_server, reader1, token_for, project, tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", cbis_cases()[0]["rcc"].read_bytes())))
    status, _ = curl_post(f"{live_server.url}/dicomweb/studies", token_for(reader1), body)
    assert status == 403 and not ImportBatch.objects.exists()
    anonymous = requests.post(f"{live_server.url}/dicomweb/studies", data=body.read_bytes(),
                              headers={"Content-Type": CONTENT_TYPE}, timeout=60)
    assert anonymous.status_code in (401, 403)


def test_a_chunked_body_without_a_decoding_server_is_refused_clearly(live_server, admin_user, token_for, project,
                                                                      tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(multipart(("application/dicom", cbis_cases()[0]["rcc"].read_bytes())))
    status, answer = curl_post(f"{live_server.url}/dicomweb/studies", token_for(admin_user), body, CONTENT_TYPE,
                               "-H", "Transfer-Encoding: chunked")
    assert status == 400 and "Content-Length" in answer["message"]


def test_four_stow_requests_at_once_lose_nothing(stow_client: DICOMwebClient) -> None:
    files = [path for case in cbis_cases() for path in case.values()]
    groups = [[pydicom.dcmread(p) for p in files[i::4]] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(stow_client.store_instances, groups))
    assert sum(len(a.ReferencedSOPSequence) for a in answers) == 8
    assert Image.objects.filter(project__slug="stow").count() == 8
    assert staged_files() == []
