"""The Storage SCP receives real mammograms from dcmtk's storescu on a loopback port."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from apps.studies.listener import StorageListener
from apps.studies.models import Image, ImportBatch, ImportBatchState, ImportItemStatus, Project
from tests.studies.conftest import cbis_cases


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db(transaction=True)
def test_instances_sent_with_storescu_become_one_import_batch() -> None:
    project = Project.objects.create(slug="scp", name="scp")
    port = _free_port()
    listener = StorageListener(project=project, ae_title="MAMMOLAB", port=port, host="127.0.0.1")
    listener.start(block=False)
    try:
        case = cbis_cases()[0]
        sent = subprocess.run(["storescu", "--propose-rle", "-aet", "MODALITY", "-aec", "MAMMOLAB", "127.0.0.1", str(port),
                               str(case["rcc"]), str(case["lcc"])], capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 120
        batch = None
        while time.monotonic() < deadline:
            batch = ImportBatch.objects.filter(project=project).first()
            if batch is not None and batch.state == ImportBatchState.DONE:
                break
            time.sleep(0.2)
        assert batch is not None and batch.state == ImportBatchState.DONE
        assert batch.source == "dicom"
        items = list(batch.items.order_by("pk"))
        assert [i.filename for i in items] == ["dicom:MODALITY#1", "dicom:MODALITY#2"]
        assert all(i.status == ImportItemStatus.IMPORTED for i in items)
        assert sorted(Image.objects.values_list("laterality", flat=True)) == ["L", "R"]
    finally:
        listener.stop()
