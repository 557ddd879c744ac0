"""The Storage SCP, driven by dcmtk's echoscu and storescu on a loopback port with real files."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.studies.listener import ListenerConfig, StorageListener
from apps.studies.models import Image, ImportItem, ImportItemStatus, Project
from tests.studies.conftest import as_mammogram, cbis_cases, deid_data, pydicom_file

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_listener(**overrides: Any) -> StorageListener:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": free_port(), "ae_title": "MAMMOLAB",
                              "calling_aes": {"MODALITY1": "scp", "MODALITY2": "scp-other"}}
    values.update(overrides)
    listener = StorageListener(config=ListenerConfig.from_settings(**values))
    listener.start(block=False)
    return listener


@pytest.fixture
def listener() -> Iterator[StorageListener]:
    server = start_listener()
    yield server
    server.stop()


def storescu(listener: StorageListener, *paths: Path, calling: str = "MODALITY1", called: str = "MAMMOLAB",
             propose: str = "--propose-rle") -> subprocess.CompletedProcess[str]:
    """Sends the files as stored (dcmtk 3.6.7 has no J2K codec: propose the files' own syntax)."""
    return subprocess.run(["storescu", "-d", propose, "-aet", calling, "-aec", called, "127.0.0.1",
                           str(listener.config.port), *map(str, paths)],
                          capture_output=True, text=True, timeout=300)


def echoscu(listener: StorageListener, *, calling: str = "MODALITY1",
            called: str = "MAMMOLAB") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["echoscu", "-v", "-aet", calling, "-aec", called, "127.0.0.1",
                           str(listener.config.port)], capture_output=True, text=True, timeout=60)


def staged_files() -> list[str]:
    if not default_storage.exists("staging"):
        return []
    folders, _ = default_storage.listdir("staging")
    return [name for folder in folders for name in default_storage.listdir(f"staging/{folder}")[1]]


def test_the_receiver_listens_on_loopback_by_default() -> None:
    assert ListenerConfig.from_settings().host == "127.0.0.1"


def test_an_empty_calling_ae_allow_list_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="DICOM_CALLING_AES is empty"):
        StorageListener(config=ListenerConfig.from_settings(calling_aes={}))


def test_echoscu_gets_an_answer(listener: StorageListener) -> None:
    result = echoscu(listener)
    assert result.returncode == 0, result.stderr
    assert "Received Echo Response (Success)" in result.stdout + result.stderr


def test_an_association_to_another_called_ae_title_is_rejected(listener: StorageListener) -> None:
    result = echoscu(listener, called="NOT_MAMMOLAB")
    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stdout + result.stderr


def test_an_unknown_calling_ae_title_is_rejected_and_nothing_is_stored(listener: StorageListener) -> None:
    case = cbis_cases()[0]
    result = storescu(listener, case["rcc"], calling="STRANGER")
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr
    assert not ImportItem.objects.exists() and not Image.objects.exists()


def test_rle_j2k_and_jpeg_ls_instances_are_ingested_into_the_calling_ae_project(
        listener: StorageListener, tmp_path: Path) -> None:
    case = cbis_cases()[0]
    j2k = as_mammogram(pydicom_file("RG1_J2KR.dcm"), tmp_path / "j2k.dcm", laterality="R", view="MLO",
                       PixelSpacing=[0.1, 0.1])
    jls = as_mammogram(pydicom_file("MR_small_jpeg_ls_lossless.dcm"), tmp_path / "jls.dcm", laterality="L",
                       view="MLO", PixelSpacing=[0.1, 0.1])
    for paths, propose in (([case["rcc"], case["lcc"]], "--propose-rle"), ([j2k], "--propose-j2k-lossless"),
                           ([jls], "--propose-jls-lossless")):
        result = storescu(listener, *paths, propose=propose)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "-> Little Endian" not in output, output
    items = list(ImportItem.objects.order_by("pk"))
    assert [i.filename for i in items] == [f"dicom:MODALITY1#{n}" for n in (1, 2, 1, 1)]
    assert [i.status for i in items] == [ImportItemStatus.IMPORTED] * 4, [i.reason for i in items]
    assert {i.batch.source for i in items} == {"dicom"}
    assert set(Image.objects.values_list("project__slug", flat=True)) == {"scp"}
    assert Image.objects.count() == 4
    assert staged_files() == []
    # The second calling AE title files into its own project.
    again = storescu(listener, case["rmlo"], calling="MODALITY2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert Image.objects.get(project__slug="scp-other").view_position == "MLO"


def test_a_rejected_instance_gets_a_failure_status_with_its_reason_and_nothing_is_kept(
        listener: StorageListener) -> None:
    ct = deid_data("humans/ctbrain1.dcm")
    result = storescu(listener, ct, propose="--propose-jpeg8")
    output = result.stdout + result.stderr
    assert "0xc000" in output.lower() and "modality CT is not accepted" in output, output
    item = ImportItem.objects.get()
    assert item.status == ImportItemStatus.REJECTED
    assert not Image.objects.exists()
    assert staged_files() == []


def test_an_instance_over_the_size_limit_is_refused_with_the_limit() -> None:
    server = start_listener(max_instance_bytes=1_000_000)
    try:
        result = storescu(server, cbis_cases()[0]["rcc"])
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert "0xa700" in output.lower() and "> limit 1000000 B" in output, output
    assert not ImportItem.objects.exists() and not Image.objects.exists()


def test_an_association_over_its_size_limit_refuses_the_rest() -> None:
    case = cbis_cases()[0]
    server = start_listener(max_association_bytes=case["rcc"].stat().st_size + 1024)
    try:
        result = storescu(server, case["rcc"], case["lcc"])
    finally:
        server.stop()
    assert "association over limit" in result.stdout + result.stderr
    assert Image.objects.count() == 1


def test_four_simultaneous_associations_lose_nothing(listener: StorageListener) -> None:
    cases = cbis_cases()
    files = [path for case in cases for path in case.values()]
    groups = [files[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda group: storescu(listener, *group), groups))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert ImportItem.objects.filter(status=ImportItemStatus.IMPORTED).count() == len(files) == 8
    assert Image.objects.filter(project=Project.objects.get(slug="scp")).count() == 8
    assert staged_files() == []
