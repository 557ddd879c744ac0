"""Compare two independent reads of one exam; merge two concordant reads into the consensus.

Pure functions over apps.reading.rules dataclasses (no ORM).

Discordance rule set (Project.settings["discordance"], every key optional; the defaults are the
paper's strict double reading: any difference goes to arbitration):

    birads:            "any" (default) | "recall" | "none"
                       any: breast BI-RADS differ at all; recall: only when one reader recalls
                       (0, 3, 4, 5) and the other does not (1, 2); none: never discordant on it.
    density:           "any" (default) | "two_classes" | "none"
                       two_classes: only when the densities are two or more classes apart (A vs C).
    unmatched_finding: true (default) | false — a box of one reader with no match in the other read.
    finding_birads:    "any" (default) | "none" — matched boxes with a different finding BI-RADS.
    categories:        "same" (default) | "overlap" — boxes can match only when their category
                       sets are equal / share at least one category.
    iou_threshold:     0.5 (default), in (0, 1] — boxes on the same image match when their
                       intersection over union reaches it.

Matching: per image, the one-to-one assignment of A's boxes to B's boxes that maximises the total
IoU among compatible pairs (Hungarian algorithm, scipy), keeping pairs at or above the threshold.
Greedy matching can pair the wrong boxes when lesions are close; the optimal assignment does not
depend on the order the readers drew them in.

Consensus (merge of two concordant reads), chosen for what a model trained on the export expects:
- a matched pair becomes one box with the mean of the two boxes' coordinates. Two independent
  localisations of the same lesion are two noisy estimates of its extent; averaging is the
  least-biased estimate (the equal-weight case of weighted box fusion), where a union box would
  systematically inflate lesion size and an intersection would shrink it;
- its categories are the union of both (equal under the default "same" rule; under "overlap" a
  feature either reader saw is kept, listed in vocabulary order);
- its finding BI-RADS is the higher of the two (equal under the default rule);
- breast BI-RADS and density: equal under the default rules; under relaxed rules the higher
  BI-RADS (the more cautious assessment) and the denser class (the more masking one) are kept;
- unmatched boxes (only possible when unmatched_finding is false) are all kept: no lesion either
  reader marked is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from apps.reading.rules import BreastData, FindingData, ImageInfo, ReadData
from apps.reading.vocabulary import DENSITIES, FINDING_CATEGORIES

RECALL_BIRADS = frozenset({0, 3, 4, 5})

_CHOICES: dict[str, tuple[str, ...]] = {
    "birads": ("any", "recall", "none"),
    "density": ("any", "two_classes", "none"),
    "finding_birads": ("any", "none"),
    "categories": ("same", "overlap"),
}


@dataclass(frozen=True)
class DiscordanceRules:
    birads: str = "any"
    density: str = "any"
    unmatched_finding: bool = True
    finding_birads: str = "any"
    categories: str = "same"
    iou_threshold: float = 0.5

    @classmethod
    def from_project_settings(cls, settings: Mapping[str, Any] | None) -> DiscordanceRules:
        """Raises ValueError naming the bad key (the project's settings are admin-edited JSON)."""
        raw = (settings or {}).get("discordance") or {}
        if not isinstance(raw, Mapping):
            raise ValueError("settings.discordance must be an object")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown discordance keys: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key, choices in _CHOICES.items():
            if key in raw:
                if raw[key] not in choices:
                    raise ValueError(f"discordance.{key} must be one of {list(choices)}")
                values[key] = raw[key]
        if "unmatched_finding" in raw:
            if not isinstance(raw["unmatched_finding"], bool):
                raise ValueError("discordance.unmatched_finding must be true or false")
            values["unmatched_finding"] = raw["unmatched_finding"]
        if "iou_threshold" in raw:
            threshold = raw["iou_threshold"]
            if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
                raise ValueError("discordance.iou_threshold must be a number in (0, 1]")
            values["iou_threshold"] = float(threshold)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReasonCode(StrEnum):
    """Why two reads disagree: a reason's `rule`, stored in reading.Discordance and served to the
    arbiter (the API's enum of discordance reasons)."""

    BIRADS_DIFFERENT = "BIRADS_DIFFERENT"
    DENSITY_DIFFERENT = "DENSITY_DIFFERENT"
    FINDING_UNMATCHED = "FINDING_UNMATCHED"
    FINDING_BIRADS_DIFFERENT = "FINDING_BIRADS_DIFFERENT"


@dataclass(frozen=True)
class Reason:
    rule: ReasonCode
    message: str
    laterality: str | None = None
    a: Any = None
    b: Any = None
    finding_a: int | None = None
    finding_b: int | None = None
    image: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Match:
    pairs: list[tuple[FindingData, FindingData, float]] = field(default_factory=list)
    unmatched_a: list[FindingData] = field(default_factory=list)
    unmatched_b: list[FindingData] = field(default_factory=list)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def _categories_compatible(a: FindingData, b: FindingData, rules: DiscordanceRules) -> bool:
    if rules.categories == "same":
        return set(a.categories) == set(b.categories)
    return bool(set(a.categories) & set(b.categories))


def findings_match(a: Sequence[FindingData], b: Sequence[FindingData], rules: DiscordanceRules) -> Match:
    match = Match()
    images = sorted({f.image_id for f in a} | {f.image_id for f in b})
    for image_id in images:
        on_a = [f for f in a if f.image_id == image_id]
        on_b = [f for f in b if f.image_id == image_id]
        matched_a: set[int] = set()
        matched_b: set[int] = set()
        if on_a and on_b:
            scores = np.zeros((len(on_a), len(on_b)))
            for i, fa in enumerate(on_a):
                for j, fb in enumerate(on_b):
                    if _categories_compatible(fa, fb, rules):
                        iou = box_iou(fa.box, fb.box)
                        if iou >= rules.iou_threshold:
                            scores[i, j] = iou
            rows, cols = linear_sum_assignment(scores, maximize=True)
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
                if scores[i, j] > 0:
                    match.pairs.append((on_a[i], on_b[j], float(scores[i, j])))
                    matched_a.add(i)
                    matched_b.add(j)
        match.unmatched_a.extend(f for i, f in enumerate(on_a) if i not in matched_a)
        match.unmatched_b.extend(f for j, f in enumerate(on_b) if j not in matched_b)
    return match


def _birads_discordant(a: int | None, b: int | None, mode: str) -> bool:
    if mode == "none" or a == b:
        return False
    if mode == "recall":
        return (a in RECALL_BIRADS) != (b in RECALL_BIRADS)
    return True


def _density_discordant(a: str | None, b: str | None, mode: str) -> bool:
    if mode == "none" or a == b:
        return False
    if mode == "two_classes" and a in DENSITIES and b in DENSITIES:
        return abs(DENSITIES.index(a) - DENSITIES.index(b)) >= 2
    return True


def reads_compare(a: ReadData, b: ReadData, images: Mapping[int, ImageInfo],
                  rules: DiscordanceRules) -> tuple[list[Reason], Match]:
    """The reasons the two reads are discordant (empty = concordant), and the box matching."""
    reasons: list[Reason] = []
    for laterality in ("R", "L"):
        ba, bb = a.breast(laterality), b.breast(laterality)
        if _birads_discordant(ba.birads, bb.birads, rules.birads):
            reasons.append(Reason(ReasonCode.BIRADS_DIFFERENT, f"Breast BI-RADS differ ({_side(laterality)}).",
                                  laterality=laterality, a=ba.birads, b=bb.birads))
        if _density_discordant(ba.density, bb.density, rules.density):
            reasons.append(Reason(ReasonCode.DENSITY_DIFFERENT, f"Breast density differs ({_side(laterality)}).",
                                  laterality=laterality, a=ba.density, b=bb.density))
    match = findings_match(a.findings, b.findings, rules)
    if rules.unmatched_finding:
        for finding, which in [(f, "a") for f in match.unmatched_a] + [(f, "b") for f in match.unmatched_b]:
            image = images.get(finding.image_id)
            reasons.append(Reason(
                ReasonCode.FINDING_UNMATCHED, f"A finding of read {which.upper()} has no matching box in the other read.",
                laterality=image.laterality if image else None,
                finding_a=finding.id if which == "a" else None,
                finding_b=finding.id if which == "b" else None, image=finding.image_id))
    if rules.finding_birads == "any":
        for fa, fb, _iou in match.pairs:
            if fa.birads != fb.birads:
                image = images.get(fa.image_id)
                reasons.append(Reason(ReasonCode.FINDING_BIRADS_DIFFERENT, "Matched findings have different BI-RADS.",
                                      laterality=image.laterality if image else None, a=fa.birads,
                                      b=fb.birads, finding_a=fa.id, finding_b=fb.id, image=fa.image_id))
    return reasons, match


def _max_or_none(a: Any, b: Any) -> Any:
    present = [v for v in (a, b) if v is not None]
    return max(present) if present else None


def reads_merge(a: ReadData, b: ReadData, match: Match) -> ReadData:
    """The consensus of two concordant reads (rules in the module docstring)."""
    breasts = {
        lat: BreastData(laterality=lat, birads=_max_or_none(a.breast(lat).birads, b.breast(lat).birads),
                        density=_max_or_none(a.breast(lat).density, b.breast(lat).density))
        for lat in ("R", "L")
    }
    findings: list[FindingData] = []
    for fa, fb, _iou in match.pairs:
        union = set(fa.categories) | set(fb.categories)
        findings.append(FindingData(
            key=f"m{len(findings) + 1}", image_id=fa.image_id,
            xmin=(fa.xmin + fb.xmin) / 2, ymin=(fa.ymin + fb.ymin) / 2,
            xmax=(fa.xmax + fb.xmax) / 2, ymax=(fa.ymax + fb.ymax) / 2,
            categories=tuple(c for c in FINDING_CATEGORIES if c in union),
            birads=_max_or_none(fa.birads, fb.birads), source_finding_id=fa.id))
    for finding in [*match.unmatched_a, *match.unmatched_b]:
        findings.append(FindingData(
            key=f"m{len(findings) + 1}", image_id=finding.image_id, xmin=finding.xmin, ymin=finding.ymin,
            xmax=finding.xmax, ymax=finding.ymax, categories=finding.categories, birads=finding.birads,
            source_finding_id=finding.id))
    return ReadData(breasts=breasts, findings=tuple(findings))


def _side(laterality: str) -> str:
    return "right" if laterality == "R" else "left"
