"""Bounded fuzz of the ingest path, from bytes to stored result (issue 9, requirement): a few
hundred byte-mutated copies of a real RLE file (pydicom-data's MR_small_RLE, relabelled as a
mammogram view: small enough that 300 runs fit in well under a minute) go through batch_add and
file_ingest. Each must end imported, duplicate or rejected with a reason, leave no staged file
and no batch running, and store only finite floats. Derandomized: CI runs the same inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.studies import services
from apps.studies.models import Image, ImportBatchState, ImportItemStatus, Project
from tests.studies.conftest import as_mammogram, pydicom_file
from tests.studies.test_hostile_ingest import staging_files

_BASE: dict[str, bytes] = {}  # the base file, and a count of inputs under "count"


def base_file(tmp_dir: Path) -> bytes:
    if "rle" not in _BASE:
        _BASE["rle"] = as_mammogram(pydicom_file("MR_small_RLE.dcm"), tmp_dir / "base.dcm").read_bytes()
    return _BASE["rle"]


mutations = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                     min_size=1, max_size=12)


@pytest.mark.fuzz
@pytest.mark.django_db
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(flips=mutations, cut=st.one_of(st.none(), st.integers(min_value=0)), header=st.booleans())
def test_fuzzed_bytes_always_end_in_a_stored_result_with_nothing_left_behind(
        flips: list[tuple[int, int]], cut: int | None, header: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    data = bytearray(base_file(tmp_path_factory.getbasetemp()))
    pixel_start = data.index(b"\xe0\x7f\x10\x00")
    # Flips land in the header (tags, VRs, lengths) or in the RLE header and first segment.
    low, span = (132, pixel_start - 132) if header else (pixel_start, min(4000, len(data) - pixel_start))
    for position, value in flips:
        data[low + position % span] = value
    if cut is not None:
        data = data[: cut % len(data)]
    # A project per input: within one project an intact SOPInstanceUID would make every later
    # input a duplicate, found before any decoder runs.
    _BASE["count"] = _BASE.get("count", 0) + 1  # type: ignore[assignment,operator]
    project = Project.objects.create(slug=f"fuzz-{_BASE['count']}", name="fuzz")
    batch = services.batch_open(actor=None, project=project)
    content = bytes(data)
    item = services.batch_add(batch=batch, source=services.Source(name="fuzz.dcm", size=len(content),
                                                                  read=lambda: content))
    if item.status == ImportItemStatus.PENDING:
        services.file_ingest(item_id=item.pk)
    item.refresh_from_db()
    batch.refresh_from_db()
    assert item.status in (ImportItemStatus.IMPORTED, ImportItemStatus.REJECTED)
    event(item.status if item.status == ImportItemStatus.IMPORTED else item.reason.split(" (")[0][:60])
    assert item.reason.startswith("fuzz.dcm"), item.reason
    assert batch.state == ImportBatchState.DONE
    assert staging_files() == []
    if item.image_id is not None:
        image = Image.objects.get(pk=item.image_id)
        assert math.isfinite(image.full_depth_scale) and math.isfinite(image.full_depth_offset)
        json.dumps(image.window_presets, allow_nan=False)
