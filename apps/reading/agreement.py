"""Inter-reader agreement: kappa family (scikit-learn), Gwet's AC1, box agreement, discordance.

Pure functions (no ORM). Units: for BI-RADS and density, one breast is one rated subject (two per
exam); for boxes, findings matched with the project's discordance rules (IoU threshold, category
rule).

Gwet's AC1 is implemented here from Gwet (2008), "Computing inter-rater reliability and its
variance in the presence of high agreement", Br J Math Stat Psychol 61:29-48, eq. for two raters:

    AC1 = (pa - pe) / (1 - pe),   pa = sum_k p_kk,
    pe  = 1/(q-1) * sum_k pi_k (1 - pi_k),   pi_k = (p_k+ + p_+k) / 2,

with q the number of categories of the scale (6 for BI-RADS 0-5, 4 for density A-D: the
categories readers could choose, not only those they used; Gwet recommends the full list). The
irrCAC package that ships it pins scipy 1.12, which does not install beside numpy 2, so the
formula is implemented here and tested against Gwet's published example (tests/reading).

Kappa: sklearn.metrics.cohen_kappa_score with the full label list, unweighted and with linear and
quadratic weights (BI-RADS 0-5 and density A-D treated as ordinal in that order; BI-RADS 0,
"incomplete", is not truly ordinal, so the unweighted kappa and AC1 are the primary BI-RADS
figures). A statistic that is undefined (no data, or both readers used one single category so
chance agreement is 1) is reported as None, never as a made-up number.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from apps.reading.concordance import DiscordanceRules, reads_compare
from apps.reading.rules import ImageInfo, ReadData
from apps.reading.vocabulary import BREAST_BIRADS, DENSITIES


def gwet_ac1(a: Sequence[Hashable], b: Sequence[Hashable], categories: Sequence[Hashable]) -> float | None:
    if len(a) != len(b):
        raise ValueError("both raters must rate the same subjects")
    n = len(a)
    q = len(categories)
    if n == 0 or q < 2:
        return None
    pa = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    count_a, count_b = Counter(a), Counter(b)
    pe = sum(pi * (1 - pi) for pi in ((count_a[k] + count_b[k]) / (2 * n) for k in categories)) / (q - 1)
    return (pa - pe) / (1 - pe)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable], categories: Sequence[Hashable],
                weights: str | None = None) -> float | None:
    if not a:
        return None
    with warnings.catch_warnings():
        # Undefined kappa (chance agreement = 1) comes back as nan with a warning; we report None.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        value = cohen_kappa_score(list(a), list(b), labels=list(categories), weights=weights)
    value = float(value)
    return None if math.isnan(value) else value


@dataclass
class ScaleStats:
    n: int = 0
    observed_agreement: float | None = None
    kappa: float | None = None
    kappa_linear: float | None = None
    kappa_quadratic: float | None = None
    ac1: float | None = None


def scale_stats(a: Sequence[Hashable], b: Sequence[Hashable], categories: Sequence[Hashable]) -> ScaleStats:
    n = len(a)
    if n == 0:
        return ScaleStats()
    return ScaleStats(
        n=n,
        observed_agreement=sum(1 for x, y in zip(a, b, strict=True) if x == y) / n,
        kappa=cohen_kappa(a, b, categories),
        kappa_linear=cohen_kappa(a, b, categories, "linear"),
        kappa_quadratic=cohen_kappa(a, b, categories, "quadratic"),
        ac1=gwet_ac1(a, b, categories),
    )


@dataclass(frozen=True)
class ExamReads:
    """One exam's two submitted reads; reader_a < reader_b (ids) so pairs are unordered."""

    reader_a: int
    reader_b: int
    read_a: ReadData
    read_b: ReadData
    images: Mapping[int, ImageInfo]


@dataclass
class Agreement:
    exams: int = 0
    discordant: int = 0
    discordance_rate: float | None = None
    # Number of exams with at least one reason of each code.
    reasons: dict[str, int] = field(default_factory=dict)
    birads: ScaleStats = field(default_factory=ScaleStats)
    density: ScaleStats = field(default_factory=ScaleStats)
    matched: int = 0
    unmatched_a: int = 0
    unmatched_b: int = 0
    mean_iou: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "exams": self.exams, "discordant": self.discordant, "discordance_rate": self.discordance_rate,
            "reasons": dict(sorted(self.reasons.items())),
            "birads": vars(self.birads), "density": vars(self.density),
            "boxes": {"matched": self.matched, "unmatched_a": self.unmatched_a,
                      "unmatched_b": self.unmatched_b, "mean_iou": self.mean_iou},
        }


def _agreement(exams: Sequence[ExamReads], rules: DiscordanceRules) -> Agreement:
    result = Agreement(exams=len(exams))
    birads_a: list[int] = []
    birads_b: list[int] = []
    density_a: list[str] = []
    density_b: list[str] = []
    ious: list[float] = []
    reason_counts: Counter[str] = Counter()
    for exam in exams:
        reasons, match = reads_compare(exam.read_a, exam.read_b, exam.images, rules)
        if reasons:
            result.discordant += 1
            reason_counts.update({r.rule for r in reasons})
        for lat in ("R", "L"):
            ba, bb = exam.read_a.breast(lat), exam.read_b.breast(lat)
            if ba.birads is not None and bb.birads is not None:
                birads_a.append(ba.birads)
                birads_b.append(bb.birads)
            if ba.density is not None and bb.density is not None:
                density_a.append(ba.density)
                density_b.append(bb.density)
        result.matched += len(match.pairs)
        result.unmatched_a += len(match.unmatched_a)
        result.unmatched_b += len(match.unmatched_b)
        ious.extend(iou for _fa, _fb, iou in match.pairs)
    result.reasons = dict(reason_counts)
    result.discordance_rate = result.discordant / result.exams if result.exams else None
    result.birads = scale_stats(birads_a, birads_b, BREAST_BIRADS)
    result.density = scale_stats(density_a, density_b, DENSITIES)
    result.mean_iou = sum(ious) / len(ious) if ious else None
    return result


def agreement_report(exams: Iterable[ExamReads], rules: DiscordanceRules
                     ) -> tuple[Agreement, dict[tuple[int, int], Agreement]]:
    """Overall agreement and agreement per reader pair (keyed by the two reader ids, ascending)."""
    exam_list = list(exams)
    by_pair: dict[tuple[int, int], list[ExamReads]] = {}
    for exam in exam_list:
        by_pair.setdefault((exam.reader_a, exam.reader_b), []).append(exam)
    return _agreement(exam_list, rules), {pair: _agreement(items, rules) for pair, items in sorted(by_pair.items())}
