"""Model factories shared by all test packages (real database rows, no files on disk).

Tests that need real pixels import real DICOM files through the ingest service instead.
"""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.studies.models import STANDARD_VIEWS, Image, ImageState, Project, Series, Study, StudyState


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class StudyFactory(DjangoModelFactory):
    class Meta:
        model = Study

    project = factory.SubFactory(ProjectFactory)
    study_id = factory.Sequence(lambda n: f"{n:032x}")
    study_uid = factory.Sequence(lambda n: f"2.25.{10**20 + n}")
    patient_age = 52
    patient_sex = "F"
    has_standard_views = True
    state = StudyState.READY


class SeriesFactory(DjangoModelFactory):
    class Meta:
        model = Series

    study = factory.SubFactory(StudyFactory)
    series_id = factory.Sequence(lambda n: f"{n:032x}")
    series_uid = factory.Sequence(lambda n: f"2.25.{2 * 10**20 + n}")


class ImageFactory(DjangoModelFactory):
    class Meta:
        model = Image

    series = factory.SubFactory(SeriesFactory)
    study = factory.LazyAttribute(lambda o: o.series.study)
    project = factory.LazyAttribute(lambda o: o.study.project)
    image_id = factory.Sequence(lambda n: f"{n:032x}")
    sop_uid = factory.Sequence(lambda n: f"2.25.{3 * 10**20 + n}")
    laterality = "R"
    view_position = "CC"
    rows = 3518
    columns = 2800
    photometric_interpretation = "MONOCHROME2"
    bits_stored = 12
    window_presets = factory.LazyFunction(lambda: [{"center": 2047.0, "width": 4096.0, "explanation": ""}])
    state = ImageState.REVIEWED


def exam_create(*, project: Project | None = None, state: str = StudyState.READY, **study_fields) -> Study:  # type: ignore[no-untyped-def]
    """A study with the four standard views (RCC, LCC, RMLO, LMLO), one series, reviewed images."""
    study = StudyFactory(project=project or ProjectFactory(), state=state, **study_fields)
    series = SeriesFactory(study=study)
    for laterality, view in STANDARD_VIEWS:
        ImageFactory(series=series, laterality=laterality, view_position=view)
    return study
