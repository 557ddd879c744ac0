"""Run selected tests on both file storages: the local FileSystemStorage and S3 object storage.

S3 is a real S3-compatible HTTP server (moto's server mode) started once per session on loopback;
each S3 test gets a bucket of its own and the settings `FILE_STORAGE_BACKEND=s3` selects in
production. In the S3 run MEDIA_ROOT points at a folder that must stay absent: a stored file that
went to local disk (a raw path instead of the storage API) fails the test. A real worker started
in an S3 test gets the same bucket and a media folder of its own, so web and worker share no disk.

Use: `@pytest.mark.usefixtures("any_storage")` on a test (it then runs twice: `[filesystem]` and
`[s3]`).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

S3_KEY_ID, S3_SECRET = "mammolab-test", "mammolab-test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback for the whole session (moto's server mode)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_storage_config(*, endpoint: str, bucket: str) -> dict[str, Any]:
    """What config/settings.py builds for FILE_STORAGE_BACKEND=s3 with these S3_* variables."""
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": bucket, "location": "", "endpoint_url": endpoint, "region_name": "us-east-1",
        "access_key": S3_KEY_ID, "secret_key": S3_SECRET, "default_acl": "private",
        "querystring_auth": True, "querystring_expire": 300, "file_overwrite": True}}


def worker_storage_env(settings: Any) -> dict[str, str]:
    """Environment for a worker process that must use the same storage as this test."""
    config = settings.STORAGES["default"]
    if config["BACKEND"] != "storages.backends.s3.S3Storage":
        return {"MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    options = config["OPTIONS"]
    return {"FILE_STORAGE_BACKEND": "s3", "S3_BUCKET": options["bucket_name"],
            "S3_ENDPOINT_URL": options["endpoint_url"], "S3_REGION": options["region_name"],
            "S3_ACCESS_KEY_ID": options["access_key"], "S3_SECRET_ACCESS_KEY": options["secret_key"],
            # Its own, empty media folder: nothing may be shared with the test process through disk.
            "MEDIA_ROOT": str(Path(settings.MEDIA_ROOT).parent / f"worker-media-{uuid.uuid4().hex[:8]}")}


@pytest.fixture(params=["filesystem", "s3"])
def any_storage(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[str]:
    """The test runs once per storage; yields the storage's kind."""
    if request.param == "filesystem":
        yield "filesystem"
        return
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_KEY_ID,
                 aws_secret_access_key=S3_SECRET).create_bucket(Bucket=bucket)
    no_disk = tmp_path / "media-must-stay-absent"
    settings.MEDIA_ROOT = no_disk
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_config(endpoint=endpoint, bucket=bucket)}
    yield "s3"
    assert not os.path.exists(no_disk), f"files were written to local disk in the S3 run: {list(no_disk.rglob('*'))}"
