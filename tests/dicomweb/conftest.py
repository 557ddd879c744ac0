"""Real exams ingested through the ordinary pipeline, an admin token, and DICOMweb clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from dicomweb_client.api import DICOMwebClient
from rest_framework.authtoken.models import Token

from apps.reading.services import exams_assign
from apps.studies import services
from apps.studies.models import Project, Study
from tests.studies.conftest import as_mammogram, cbis_cases, cbis_manifest, pydicom_file


@dataclass
class Exams:
    project: Project
    first: Study  # CBIS-DDSM case 0: four RLE views
    second: Study  # CBIS-DDSM case 1
    files: list[Path]


def ingest(paths: list[Path], *, project: Project, manifest: dict[str, str] | None = None) -> None:
    batch = services.batch_create(actor=None, project=project, sources=services.sources_from_paths(paths),
                                  manifest=manifest)
    batch.refresh_from_db()
    assert batch.items.filter(status="imported").count() == len(paths), list(batch.items.values("reason"))


@pytest.fixture
def exams(transactional_db, admin_user) -> Exams:  # type: ignore[no-untyped-def]
    """Both CBIS-DDSM exams, grouped by case folder, reviewed and ready (eager ingest)."""
    project = services.project_get_or_create(actor=None, slug="dicomweb")
    cases = cbis_cases()
    files = [path for case in cases for path in case.values()]
    ingest(files, project=project, manifest=cbis_manifest())
    studies = list(Study.objects.filter(project=project).order_by("pk"))
    for study in studies:
        services.study_review_approve(actor=admin_user, study_pk=study.pk)
    return Exams(project=project, first=studies[0], second=studies[1], files=files)


@pytest.fixture
def j2k_exam(transactional_db, tmp_path: Path) -> Study:  # type: ignore[no-untyped-def]
    """A JPEG 2000 radiograph relabelled as a mammogram view, in its own project."""
    project = services.project_get_or_create(actor=None, slug="dicomweb-j2k")
    path = as_mammogram(pydicom_file("RG1_J2KR.dcm"), tmp_path / "j2k.dcm", laterality="R", view="CC",
                        PixelSpacing=[0.1, 0.1])
    ingest([path], project=project)
    return Study.objects.get(project=project)


def assign(exams: Exams, admin_user, reader_a, reader_b, study: Study) -> None:  # type: ignore[no-untyped-def]
    exams_assign(actor=admin_user, project=exams.project, readers=[reader_a, reader_b], study_ids=[study.pk])


@pytest.fixture
def token_for() -> Callable[..., str]:
    def make(user) -> str:  # type: ignore[no-untyped-def]
        return Token.objects.get_or_create(user=user)[0].key

    return make


@pytest.fixture
def client_for(live_server, token_for) -> Callable[..., DICOMwebClient]:  # type: ignore[no-untyped-def]
    """dicomweb-client against the live server, authenticated with the user's DRF token."""

    def make(user) -> DICOMwebClient:  # type: ignore[no-untyped-def]
        return DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token_for(user)}"})

    return make
