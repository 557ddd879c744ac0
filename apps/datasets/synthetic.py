"""Generated final reads with the VinDr-Mammo label distribution (paper, Tables 2-4), in bulk.

For the split-quality tests and bench/export.py (and a quick look at the export screens): real
exams with real pixels come through ingest; these rows have no image files at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import OuterRef, Subquery

from apps.reading.models import BreastAssessment, Finding, Read, ReadOrigin
from apps.studies.models import Image, ImageState, Project, Series, Study, StudyState

# Paper, "Overall" rows: breast BI-RADS 1-5 (Table 2), density A-D (Table 3).
BIRADS_P = {1: 6703, 2: 2338, 3: 465, 4: 381, 5: 113}
DENSITY_P = {"A": 50, "B": 954, "C": 7646, "D": 1350}
# Table 4 totals (boxes per category over 20,000 images).
LESION_P = {"Mass": 1226, "Suspicious Calcification": 543, "Asymmetry": 97, "Focal Asymmetry": 269,
            "Global Asymmetry": 26, "Architectural Distortion": 119}
FEATURE_BOXES = {"Skin Thickening": 57, "Skin Retraction": 18, "Nipple Retraction": 37,
                 "Suspicious Lymph Node": 57}
VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))
HEIGHT, WIDTH = 3518, 2800


@dataclass(frozen=True)
class GeneratedCounts:
    exams: int
    images: int
    findings: int


def _probabilities(weights: dict) -> tuple[list, np.ndarray]:  # type: ignore[type-arg]
    keys = list(weights)
    values = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys, values / values.sum()


def _hex_id(*parts: object) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def paper_like_exams_create(*, project: Project, n_exams: int, seed: int, split: str = "",
                            first: int = 0) -> GeneratedCounts:
    """Create `n_exams` final exams (4 views each) whose labels follow the paper's Tables 2-4.

    `first` offsets the generated ids so that a later call adds new exams to the same project.
    """
    rng = np.random.default_rng(seed)
    birads_keys, birads_p = _probabilities(BIRADS_P)
    density_keys, density_p = _probabilities(DENSITY_P)
    lesion_keys, lesion_p = _probabilities(LESION_P)
    # A lesion is boxed on 1.9 views on average and 6% of boxes carry a second lesion category, so
    # Table 4's 2,280 lesion boxes per 5,000 exams come from about 1,130 lesions in the 959 lesion
    # breasts (BI-RADS 3-5) per 10,000 breasts: one lesion plus Poisson(0.18) more.
    extra_lesions = 0.18
    # Skin/nipple/lymph-node boxes: per breast of BI-RADS 2-5 (30.55% of breasts), per category.
    feature_p = {k: v / (5000 * 1.9 * 2 * 0.3055) for k, v in FEATURE_BOXES.items()}

    with transaction.atomic():
        studies = Study.objects.bulk_create([
            Study(project=project, study_id=_hex_id(project.slug, seed, "study", first + i),
                  study_uid=f"2.25.{int(_hex_id(project.slug, seed, 'uid', first + i), 16)}",
                  patient_age=(None if rng.random() < 0.03 else int(np.clip(rng.normal(46, 10), 20, 90))),
                  patient_sex="F", has_standard_views=True, state=StudyState.FINAL, split=split)
            for i in range(n_exams)
        ], batch_size=2000)
        series = Series.objects.bulk_create([
            Series(study=s, series_id=_hex_id(s.study_id, "series"), series_uid=f"{s.study_uid}.1")
            for s in studies
        ], batch_size=2000)
        images = Image.objects.bulk_create([
            Image(project=project, study=s, series=se, image_id=_hex_id(s.study_id, lat, view),
                  sop_uid=f"{s.study_uid}.1.{n}", laterality=lat, view_position=view, rows=HEIGHT,
                  columns=WIDTH, photometric_interpretation="MONOCHROME2", bits_stored=12,
                  manufacturer="SIEMENS", manufacturer_model="Mammomat Inspiration",
                  pixel_spacing_row=0.085, pixel_spacing_col=0.085, state=ImageState.REVIEWED)
            for s, se in zip(studies, series, strict=True) for n, (lat, view) in enumerate(VIEWS, start=1)
        ], batch_size=4000)
        reads = Read.objects.bulk_create([Read(study=s, origin=ReadOrigin.CONSENSUS) for s in studies],
                                         batch_size=2000)
        breasts: list[BreastAssessment] = []
        findings: list[Finding] = []
        for index, read in enumerate(reads):
            density = density_keys[rng.choice(len(density_keys), p=density_p)]
            exam_images = images[4 * index: 4 * index + 4]
            for laterality in ("R", "L"):
                birads = int(birads_keys[rng.choice(len(birads_keys), p=birads_p)])
                breasts.append(BreastAssessment(read=read, laterality=laterality, birads=birads, density=density))
                views = [im for im in exam_images if im.laterality == laterality]
                if birads >= 3:
                    n_lesions = 1 + int(rng.poisson(extra_lesions))
                    for number in range(n_lesions):
                        categories = [lesion_keys[rng.choice(len(lesion_keys), p=lesion_p)]]
                        if rng.random() < 0.06:
                            extra = lesion_keys[rng.choice(len(lesion_keys), p=lesion_p)]
                            if extra not in categories:
                                categories.append(extra)
                        finding_birads = birads if number == 0 else int(rng.integers(3, birads + 1))
                        findings += _boxes(rng, read, views, categories, finding_birads)
                if birads >= 2:
                    for category, p in feature_p.items():
                        if rng.random() < p:
                            findings += _boxes(rng, read, views, [category], None)
        BreastAssessment.objects.bulk_create(breasts, batch_size=5000)
        Finding.objects.bulk_create(findings, batch_size=5000)
        Study.objects.filter(pk__in=[s.pk for s in studies]).update(
            final_read=Subquery(Read.objects.filter(study=OuterRef("pk")).values("pk")[:1]))
    return GeneratedCounts(exams=n_exams, images=len(images), findings=len(findings))


def _boxes(rng: np.random.Generator, read: Read, views: list[Image], categories: list[str],
           birads: int | None) -> list[Finding]:
    chosen = views if rng.random() < 0.9 else [views[int(rng.integers(len(views)))]]
    boxes = []
    for image in chosen:
        w, h = float(rng.uniform(60, 500)), float(rng.uniform(60, 500))
        x, y = float(rng.uniform(0, WIDTH - w)), float(rng.uniform(0, HEIGHT - h))
        # float32 values, as the published release stores them.
        xmin, ymin, xmax, ymax = (float(np.float32(v)) for v in (x, y, x + w, y + h))
        boxes.append(Finding(read=read, image=image, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax,
                             categories=list(categories), birads=birads))
    return boxes
