"""Validation rules as data: one table, each rule with a stable code, a severity and a check.

Pure functions over plain dataclasses (no ORM), so the same rules run on a save payload before
anything is written, on a stored read at submit, and in unit tests.

Two stages:
- save: rules marked `rejects_save` are mechanical errors that cannot be stored (box outside the
  image, zero area, unknown image or category, finding BI-RADS outside 3-5): the save is refused.
  Every other violation is returned as a warning and the save goes through, because a read in
  progress is incomplete by nature (autosave).
- submit: every violation of an `error` rule blocks; `warning` rules never block (readers may
  legitimately disagree with the heuristic, e.g. breast BI-RADS below a finding's BI-RADS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from apps.reading.vocabulary import (
    BREAST_BIRADS,
    CATEGORIES_REQUIRING_BIRADS,
    DENSITIES,
    FINDING_BIRADS,
    FINDING_CATEGORIES,
    finding_birads_required,
)


@dataclass(frozen=True)
class ImageInfo:
    id: int
    laterality: str
    rows: int
    columns: int
    # Breast tissue extent (xmin, ymin, xmax, ymax) found at render time; None when unknown.
    tissue_bounds: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class BreastData:
    laterality: str
    birads: int | None = None
    density: str | None = None


@dataclass(frozen=True)
class FindingData:
    key: str
    image_id: int
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    categories: tuple[str, ...] = ()
    birads: int | None = None
    id: int | None = None
    source_finding_id: int | None = None

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)


@dataclass(frozen=True)
class ReadData:
    breasts: Mapping[str, BreastData]
    findings: tuple[FindingData, ...] = ()

    def breast(self, laterality: str) -> BreastData:
        return self.breasts.get(laterality) or BreastData(laterality=laterality)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: str
    message: str
    field: str | None = None
    laterality: str | None = None
    finding: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message,
                "field": self.field, "laterality": self.laterality, "finding": self.finding}


@dataclass(frozen=True)
class Hit:
    """What a check reports; the rule adds its code and severity."""

    message: str
    field: str | None = None
    laterality: str | None = None
    finding: str | None = None


Check = Callable[[ReadData, Mapping[int, ImageInfo]], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    description: str
    check: Check
    # Mechanical errors that cannot be stored: refused already at save.
    rejects_save: bool = False
    # Rules that only say "not filled in yet": (where, field), where is "breast" or "finding". The
    # screen lists these itself before the server answers (client_vocabulary).
    missing: tuple[str, str] | None = None


def _finding_laterality(finding: FindingData, images: Mapping[int, ImageInfo]) -> str | None:
    image = images.get(finding.image_id)
    return image.laterality if image else None


def _breast_birads_required(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for laterality in ("R", "L"):
        if read.breast(laterality).birads is None:
            yield Hit(f"The {_side(laterality)} breast needs a BI-RADS assessment.", "birads", laterality)


def _breast_density_required(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for laterality in ("R", "L"):
        if read.breast(laterality).density is None:
            yield Hit(f"The {_side(laterality)} breast needs a density.", "density", laterality)


def _no_finding_on_birads_1(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        laterality = _finding_laterality(finding, images)
        if laterality and read.breast(laterality).birads == 1:
            yield Hit(f"A breast assessed BI-RADS 1 (negative) cannot have findings; remove the box or "
                      f"change the {_side(laterality)} breast's BI-RADS.", "box", laterality, finding.key)


def _finding_category_required(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        if not finding.categories:
            yield Hit("A finding needs at least one category.", "categories",
                      _finding_laterality(finding, images), finding.key)


def _finding_category_unknown(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        unknown = [c for c in finding.categories if c not in FINDING_CATEGORIES]
        if unknown:
            yield Hit(f"Unknown finding categories: {', '.join(map(repr, unknown))}.", "categories",
                      _finding_laterality(finding, images), finding.key)


def _finding_category_duplicate(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        if len(set(finding.categories)) != len(finding.categories):
            yield Hit("A finding lists a category twice.", "categories",
                      _finding_laterality(finding, images), finding.key)


def _finding_birads_required(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        if finding.birads is None and finding_birads_required(finding.categories):
            yield Hit("A mass, calcification, asymmetry or distortion needs a finding BI-RADS (3, 4 or 5).",
                      "birads", _finding_laterality(finding, images), finding.key)


def _finding_birads_not_allowed(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        # Judged only on known categories: an unknown one is its own (save-blocking) error.
        known = all(c in FINDING_CATEGORIES for c in finding.categories)
        if (finding.birads is not None and finding.categories and known
                and not finding_birads_required(finding.categories)):
            yield Hit("Skin, nipple and lymph-node findings carry no finding BI-RADS.", "birads",
                      _finding_laterality(finding, images), finding.key)


def _finding_birads_range(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        if finding.birads is not None and finding.birads not in FINDING_BIRADS:
            # BI-RADS 2 findings are not marked (SPEC.md); 0/1 make no sense for a box.
            yield Hit("A finding BI-RADS must be 3, 4 or 5.", "birads",
                      _finding_laterality(finding, images), finding.key)


def _finding_image_in_exam(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        if finding.image_id not in images:
            yield Hit("The finding's image is not part of this exam.", "image", None, finding.key)


def _box_positive_area(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        if not (finding.xmax > finding.xmin and finding.ymax > finding.ymin):
            yield Hit("A box needs a positive width and height (xmin < xmax, ymin < ymax).", "box",
                      _finding_laterality(finding, images), finding.key)


def _box_inside_image(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        image = images.get(finding.image_id)
        if image is None:
            continue
        if (finding.xmin < 0 or finding.ymin < 0
                or finding.xmax > image.columns or finding.ymax > image.rows):
            yield Hit(f"The box lies outside the image (0..{image.columns} x 0..{image.rows} pixels).",
                      "box", image.laterality, finding.key)


def _box_on_background(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for finding in read.findings:
        image = images.get(finding.image_id)
        if image is None or image.tissue_bounds is None:
            continue
        txmin, tymin, txmax, tymax = image.tissue_bounds
        if finding.xmax <= txmin or finding.xmin >= txmax or finding.ymax <= tymin or finding.ymin >= tymax:
            yield Hit("The box lies wholly on background, outside the breast tissue; check that it marks "
                      "the right place.", "box", image.laterality, finding.key)


def _breast_birads_below_finding(read: ReadData, images: Mapping[int, ImageInfo]) -> Iterable[Hit]:
    for laterality in ("R", "L"):
        breast_birads = read.breast(laterality).birads
        # BI-RADS 0 (incomplete, needs more imaging) is not "lower" than a finding's 3-5: it is
        # a recall and consistent with a suspicious finding. 1 is covered by its own error rule.
        if breast_birads in (None, 0, 1):
            continue
        finding_birads = [f.birads for f in read.findings
                          if f.birads is not None and _finding_laterality(f, images) == laterality]
        if finding_birads and breast_birads is not None and breast_birads < max(finding_birads):
            yield Hit(f"The {_side(laterality)} breast is BI-RADS {breast_birads}, lower than its highest "
                      f"finding BI-RADS {max(finding_birads)}.", "birads", laterality)


def _side(laterality: str) -> str:
    return "right" if laterality == "R" else "left"


RULES: tuple[Rule, ...] = (
    Rule("FINDING_IMAGE_NOT_IN_EXAM", Severity.ERROR, "A finding's image belongs to the exam.",
         _finding_image_in_exam, rejects_save=True),
    Rule("BOX_POSITIVE_AREA", Severity.ERROR, "A box has xmin < xmax and ymin < ymax.",
         _box_positive_area, rejects_save=True),
    Rule("BOX_INSIDE_IMAGE", Severity.ERROR, "A box lies inside its image (0 <= x <= columns, 0 <= y <= rows).",
         _box_inside_image, rejects_save=True),
    Rule("FINDING_CATEGORY_UNKNOWN", Severity.ERROR, "Finding categories come from the vocabulary.",
         _finding_category_unknown, rejects_save=True),
    Rule("FINDING_CATEGORY_DUPLICATE", Severity.ERROR, "A finding lists each category once.",
         _finding_category_duplicate, rejects_save=True),
    Rule("FINDING_BIRADS_RANGE", Severity.ERROR, "A finding BI-RADS is 3, 4 or 5.",
         _finding_birads_range, rejects_save=True),
    Rule("BREAST_BIRADS_REQUIRED", Severity.ERROR, "Both breasts have a BI-RADS assessment (0-5).",
         _breast_birads_required, missing=("breast", "birads")),
    Rule("BREAST_DENSITY_REQUIRED", Severity.ERROR, "Both breasts have a density (A-D).",
         _breast_density_required, missing=("breast", "density")),
    Rule("NO_FINDING_ON_BIRADS_1", Severity.ERROR, "No box on a breast assessed BI-RADS 1.",
         _no_finding_on_birads_1),
    Rule("FINDING_CATEGORY_REQUIRED", Severity.ERROR, "A finding has at least one category.",
         _finding_category_required, missing=("finding", "categories")),
    Rule("FINDING_BIRADS_REQUIRED", Severity.ERROR,
         "A finding with a mass, suspicious calcification, asymmetry or architectural distortion has a "
         "finding BI-RADS.", _finding_birads_required, missing=("finding", "birads")),
    Rule("FINDING_BIRADS_NOT_ALLOWED", Severity.ERROR,
         "A finding with only skin, nipple or lymph-node categories has no finding BI-RADS.",
         _finding_birads_not_allowed),
    Rule("BOX_ON_BACKGROUND", Severity.WARNING,
         "A box touches the breast tissue (not wholly on the background around it).", _box_on_background),
    Rule("BREAST_BIRADS_BELOW_FINDING", Severity.WARNING,
         "A breast's BI-RADS is not lower than its highest finding BI-RADS (BI-RADS 0 exempt).",
         _breast_birads_below_finding),
)

RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
RULE_CODES: tuple[str, ...] = tuple(rule.code for rule in RULES)


def client_vocabulary() -> dict[str, Any]:
    """The vocabulary and the rules' client-visible metadata, served once in the SPA shell's boot
    JSON (apps/web/views.py); the screens build their pickers and pre-submit hints from it."""
    return {
        "finding_categories": list(FINDING_CATEGORIES),
        "categories_requiring_birads": [c for c in FINDING_CATEGORIES if c in CATEGORIES_REQUIRING_BIRADS],
        "breast_birads": list(BREAST_BIRADS),
        "finding_birads": list(FINDING_BIRADS),
        "densities": list(DENSITIES),
        "rules": [{"code": rule.code, "severity": rule.severity.value, "rejects_save": rule.rejects_save,
                   "missing": None if rule.missing is None else {"on": rule.missing[0], "field": rule.missing[1]}}
                  for rule in RULES],
    }


def read_validate(read: ReadData, images: Mapping[int, ImageInfo]) -> list[Violation]:
    """Every violation of every rule, with the rule's own severity (errors and warnings)."""
    violations: list[Violation] = []
    for rule in RULES:
        for hit in rule.check(read, images):
            violations.append(Violation(rule=rule.code, severity=rule.severity.value, message=hit.message,
                                        field=hit.field, laterality=hit.laterality, finding=hit.finding))
    return violations


def save_rejections(violations: Iterable[Violation]) -> list[Violation]:
    """The violations that make a save impossible (mechanical errors)."""
    return [v for v in violations if RULES_BY_CODE[v.rule].rejects_save]


def save_warnings(violations: Iterable[Violation]) -> list[Violation]:
    """What a successful save reports: everything that did not stop it. Each keeps its rule's
    severity so the screen can say which ones will block submit."""
    return [v for v in violations if not RULES_BY_CODE[v.rule].rejects_save]


def submit_blockers(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == Severity.ERROR.value]
