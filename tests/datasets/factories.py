"""Final reads built directly on the models (the reading workflow is another app's business)."""

from __future__ import annotations

from collections.abc import Sequence

from apps.reading.models import BreastAssessment, Finding, Read, ReadOrigin
from apps.studies.models import Image, Project, Study, StudyState
from tests.factories import exam_create

# (view key like "RCC", categories, finding BI-RADS, box)
FindingSpec = tuple[str, Sequence[str], int | None, tuple[float, float, float, float]]


def image_of(study: Study, view: str) -> Image:
    """view: "RCC", "LMLO", ..."""
    return study.images.get(laterality=view[0], view_position=view[1:])


def final_read_create(*, study: Study, right: tuple[int, str] = (1, "C"), left: tuple[int, str] = (1, "C"),
                      findings: Sequence[FindingSpec] = (), origin: str = ReadOrigin.CONSENSUS) -> Read:
    """Give `study` a final read: BI-RADS and density per breast, and boxes on its images."""
    read = Read.objects.create(study=study, origin=origin)
    for laterality, (birads, density) in (("R", right), ("L", left)):
        BreastAssessment.objects.create(read=read, laterality=laterality, birads=birads, density=density)
    for view, categories, birads, (xmin, ymin, xmax, ymax) in findings:
        Finding.objects.create(read=read, image=image_of(study, view), categories=list(categories), birads=birads,
                               xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)
    study.final_read = read
    study.state = StudyState.FINAL
    study.save(update_fields=["final_read", "state"])
    return read


def final_exam_create(*, project: Project, split: str = "", right: tuple[int, str] = (1, "C"),
                      left: tuple[int, str] = (1, "C"), findings: Sequence[FindingSpec] = (),
                      **study_fields: object) -> Study:
    study = exam_create(project=project, split=split, **study_fields)
    final_read_create(study=study, right=right, left=left, findings=findings)
    return study
