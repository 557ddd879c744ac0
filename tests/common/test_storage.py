"""storage_save_bytes: a render re-run replaces its file in place, in one write, on both storages."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.common.storage import storage_save_bytes


@pytest.mark.usefixtures("any_storage")
def test_a_second_write_replaces_the_file_under_the_same_name() -> None:
    assert storage_save_bytes(name="renders/1/display.png", content=b"first") == "renders/1/display.png"
    assert storage_save_bytes(name="renders/1/display.png", content=b"second") == "renders/1/display.png"
    with default_storage.open("renders/1/display.png") as handle:
        assert handle.read() == b"second"
    assert default_storage.listdir("renders/1")[1] == ["display.png"]


@pytest.mark.parametrize("any_storage", ["s3"], indirect=True)
def test_on_s3_a_write_is_one_put_without_a_head_or_delete_before_it(any_storage: str) -> None:
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    events = default_storage.connection.meta.client.meta.events
    events.register("before-call.s3", count)
    try:
        storage_save_bytes(name="renders/2/full.png", content=b"first")
        storage_save_bytes(name="renders/2/full.png", content=b"second")
    finally:
        events.unregister("before-call.s3", count)
    assert calls == ["PutObject", "PutObject"]
