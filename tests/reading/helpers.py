"""Builders for reading tests: payloads in the documented API shape, and shortcuts through the
real services (no fakes: every helper writes through the same code the API uses)."""

from __future__ import annotations

from typing import Any

from apps.reading.models import Assignment
from apps.reading.services import exams_assign, read_save, read_submit
from apps.studies.models import Image, Study


def image_of(study: Study, laterality: str, view: str = "CC") -> Image:
    return Image.objects.get(study=study, laterality=laterality, view_position=view)


def breasts(right: tuple[int | None, str | None] = (1, "B"),
            left: tuple[int | None, str | None] = (1, "B")) -> list[dict[str, Any]]:
    return [{"laterality": "R", "birads": right[0], "density": right[1]},
            {"laterality": "L", "birads": left[0], "density": left[1]}]


def finding(image: Image, key: str = "k1", box: tuple[float, float, float, float] = (100, 100, 300, 300),
            categories: list[str] | None = None, birads: int | None = 4, **extra: Any) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = box
    return {"key": key, "image": image.pk, "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax,
            "categories": ["Mass"] if categories is None else categories, "birads": birads, **extra}


def assign_pair(study: Study, admin: Any, reader_a: Any, reader_b: Any, seniors: list[Any] | None = None
                ) -> tuple[Assignment, Assignment]:
    """Assign the exam to exactly these two readers; returns (reader_a's, reader_b's) assignment."""
    exams_assign(actor=admin, project=study.project, readers=[reader_a, reader_b], seniors=seniors,
                 study_ids=[study.pk])
    return (Assignment.objects.get(study=study, reader=reader_a),
            Assignment.objects.get(study=study, reader=reader_b))


def save_and_submit(assignment: Assignment, user: Any, breast_rows: list[dict[str, Any]],
                    findings: list[dict[str, Any]] | None = None) -> Any:
    assignment.refresh_from_db()
    saved = read_save(actor=user, assignment_id=assignment.pk, version=assignment.version,
                      breasts=breast_rows, findings=findings or [])
    return read_submit(actor=user, assignment_id=assignment.pk, version=saved.assignment.version)
