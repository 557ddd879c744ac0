"""Agreement statistics against published and hand-computed values."""

from __future__ import annotations

import pytest

from apps.reading.agreement import ExamReads, agreement_report, cohen_kappa, gwet_ac1, scale_stats
from apps.reading.concordance import DiscordanceRules
from apps.reading.rules import BreastData, FindingData, ImageInfo, ReadData
from apps.reading.vocabulary import DENSITIES


def _from_table(table: list[list[int]], labels: list[str]) -> tuple[list[str], list[str]]:
    a: list[str] = []
    b: list[str] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [labels[i]] * count
            b += [labels[j]] * count
    return a, b


def test_ac1_matches_gwets_published_pregnancy_example() -> None:
    # Gwet, Handbook of Inter-Rater Reliability (4th ed.), 100 pregnant women classified by two
    # abstractors into Ectopic / AIU / NIU (the irrCAC "cont3x3abstractors" table): AC1 = 0.849.
    labels = ["Ectopic", "AIU", "NIU"]
    a, b = _from_table([[13, 0, 0], [0, 20, 7], [0, 4, 56]], labels)
    assert round(gwet_ac1(a, b, labels), 3) == 0.849
    # Hand check of the same figure: pa = 0.89, pe = (0.13*0.87 + 0.255*0.745 + 0.615*0.385) / 2.
    pe = (0.13 * 0.87 + 0.255 * 0.745 + 0.615 * 0.385) / 2
    assert gwet_ac1(a, b, labels) == pytest.approx((0.89 - pe) / (1 - pe))


def test_kappa_family_and_ac1_on_a_hand_computed_density_table() -> None:
    a = ["A", "A", "B", "B", "C", "C", "D", "D"]
    b = ["A", "B", "B", "B", "C", "D", "D", "C"]
    stats = scale_stats(a, b, DENSITIES)
    # po = 5/8; pe = 0.25 (rater A uniform) -> kappa = (0.625 - 0.25) / 0.75.
    assert stats.observed_agreement == pytest.approx(5 / 8)
    assert stats.kappa == pytest.approx(0.5)
    # Linear disagreement weights |i-j|/3: observed 1/8, expected 19/48 -> 1 - 6/19.
    assert stats.kappa_linear == pytest.approx(13 / 19)
    # Quadratic weights (|i-j|/3)^2: observed 1/24, expected 1/4 -> 1 - 1/6.
    assert stats.kappa_quadratic == pytest.approx(5 / 6)
    # AC1 with q = 4: pe = (sum pi_k(1-pi_k)) / 3 = 95/384; (240/384 - 95/384) / (289/384).
    assert stats.ac1 == pytest.approx(145 / 289)
    assert stats.n == 8


def test_undefined_kappa_is_none_while_ac1_stays_defined_under_full_agreement_on_one_class() -> None:
    a = b = [1] * 10
    assert cohen_kappa(a, b, [0, 1, 2, 3, 4, 5]) is None
    assert gwet_ac1(a, b, [0, 1, 2, 3, 4, 5]) == 1.0
    assert scale_stats([], [], DENSITIES).kappa is None


def test_ac1_resists_the_prevalence_paradox_that_deflates_kappa() -> None:
    # Screening: BI-RADS 1 dominates; readers agree on 18 of 20 breasts.
    a = [1] * 18 + [1, 4]
    b = [1] * 18 + [4, 1]
    stats = scale_stats(a, b, [0, 1, 2, 3, 4, 5])
    assert stats.observed_agreement == pytest.approx(0.9)
    assert stats.kappa == pytest.approx(-1 / 19)
    assert stats.ac1 is not None and stats.ac1 > 0.85


IMAGES = {1: ImageInfo(1, "R", 1000, 800), 2: ImageInfo(2, "L", 1000, 800)}


def _read(right, left, findings=()) -> ReadData:
    return ReadData(breasts={"R": BreastData("R", *right), "L": BreastData("L", *left)}, findings=tuple(findings))


def test_report_per_pair_counts_discordance_reasons_and_boxes() -> None:
    box = FindingData("k", 1, 0, 0, 100, 100, ("Mass",), 4, id=1)
    near = FindingData("k", 1, 0, 0, 100, 80, ("Mass",), 4, id=2)   # IoU 0.8
    far = FindingData("k", 2, 0, 0, 10, 10, ("Mass",), 4, id=3)
    exams = [
        ExamReads(1, 2, _read((4, "B"), (1, "B"), [box]), _read((4, "B"), (1, "B"), [near]), IMAGES),
        ExamReads(1, 2, _read((1, "C"), (1, "C")), _read((2, "C"), (1, "D")), IMAGES),
        ExamReads(1, 3, _read((1, "A"), (4, "A"), [far]), _read((1, "A"), (4, "A")), IMAGES),
    ]
    overall, pairs = agreement_report(exams, DiscordanceRules())

    assert (overall.exams, overall.discordant) == (3, 2)
    assert overall.discordance_rate == pytest.approx(2 / 3)
    assert overall.reasons == {"BIRADS_DIFFERENT": 1, "DENSITY_DIFFERENT": 1, "FINDING_UNMATCHED": 1}
    assert (overall.matched, overall.unmatched_a, overall.unmatched_b) == (1, 1, 0)
    assert overall.mean_iou == pytest.approx(0.8)
    assert overall.birads.n == 6 and overall.birads.observed_agreement == pytest.approx(5 / 6)

    assert list(pairs) == [(1, 2), (1, 3)]
    first = pairs[(1, 2)]
    assert (first.exams, first.discordant, first.discordance_rate) == (2, 1, 0.5)
    assert first.reasons == {"BIRADS_DIFFERENT": 1, "DENSITY_DIFFERENT": 1}
    assert first.density.observed_agreement == pytest.approx(3 / 4)
    assert pairs[(1, 3)].reasons == {"FINDING_UNMATCHED": 1}
    assert pairs[(1, 3)].unmatched_a == 1
