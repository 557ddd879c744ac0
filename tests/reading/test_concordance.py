"""Comparing two reads, matching boxes, merging a consensus, and the per-project rule set."""

from __future__ import annotations

import pytest

from apps.reading.concordance import DiscordanceRules, box_iou, findings_match, reads_compare, reads_merge
from apps.reading.rules import BreastData, FindingData, ImageInfo, ReadData

IMAGES = {1: ImageInfo(1, "R", 1000, 800), 2: ImageInfo(2, "L", 1000, 800)}
STRICT = DiscordanceRules()


def _read(right=(2, "B"), left=(2, "B"), findings=()) -> ReadData:
    return ReadData(breasts={"R": BreastData("R", *right), "L": BreastData("L", *left)}, findings=tuple(findings))


def _box(id_, image=1, box=(0.0, 0.0, 100.0, 100.0), categories=("Mass",), birads=4) -> FindingData:
    return FindingData(f"k{id_}", image, *box, categories=tuple(categories), birads=birads, id=id_)


def _rules(read_a: ReadData, read_b: ReadData, rules: DiscordanceRules = STRICT) -> list[tuple]:
    reasons, _ = reads_compare(read_a, read_b, IMAGES, rules)
    return [(r.rule, r.laterality, r.a, r.b, r.finding_a, r.finding_b) for r in reasons]


def test_iou_of_known_boxes() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_identical_reads_are_concordant() -> None:
    read = _read(findings=[_box(1)])
    assert _rules(read, _read(findings=[_box(2)])) == []


def test_default_rules_are_the_strict_setting() -> None:
    assert DiscordanceRules.from_project_settings({}).as_dict() == {
        "birads": "any", "density": "any", "unmatched_finding": True, "finding_birads": "any",
        "categories": "same", "iou_threshold": 0.5}


def test_any_birads_or_density_difference_is_discordant_by_default() -> None:
    assert _rules(_read(right=(1, "B")), _read(right=(2, "B"))) == [("BIRADS_DIFFERENT", "R", 1, 2, None, None)]
    assert _rules(_read(left=(2, "A")), _read(left=(2, "B"))) == [("DENSITY_DIFFERENT", "L", "A", "B", None, None)]


def test_recall_rule_only_flags_recall_versus_no_recall() -> None:
    rules = DiscordanceRules(birads="recall")
    assert _rules(_read(right=(1, "B")), _read(right=(2, "B")), rules) == []
    assert _rules(_read(right=(4, "B")), _read(right=(0, "B")), rules) == []
    assert _rules(_read(right=(2, "B")), _read(right=(3, "B")), rules) == [("BIRADS_DIFFERENT", "R", 2, 3, None, None)]


def test_two_class_density_rule() -> None:
    rules = DiscordanceRules(density="two_classes")
    assert _rules(_read(left=(2, "B")), _read(left=(2, "C")), rules) == []
    assert _rules(_read(left=(2, "A")), _read(left=(2, "C")), rules) == [("DENSITY_DIFFERENT", "L", "A", "C", None, None)]


def test_unmatched_findings_are_reasons_naming_the_box() -> None:
    a = _read(findings=[_box(1), _box(2, image=2)])
    b = _read(findings=[_box(3, box=(60, 60, 160, 160))])  # IoU with box 1 = 1600/18400 < 0.5
    assert _rules(a, b) == [
        ("FINDING_UNMATCHED", "R", None, None, 1, None),
        ("FINDING_UNMATCHED", "L", None, None, 2, None),
        ("FINDING_UNMATCHED", "R", None, None, None, 3),
    ]
    assert _rules(a, b, DiscordanceRules(unmatched_finding=False)) == []


def test_boxes_match_only_on_the_same_image_with_the_same_categories() -> None:
    a = _read(findings=[_box(1, categories=("Mass",))])
    other_image = _read(findings=[_box(2, image=2)])
    other_category = _read(findings=[_box(3, categories=("Mass", "Skin Thickening"))])
    assert [r[0] for r in _rules(a, other_image)] == ["FINDING_UNMATCHED", "FINDING_UNMATCHED"]
    assert [r[0] for r in _rules(a, other_category)] == ["FINDING_UNMATCHED", "FINDING_UNMATCHED"]
    assert _rules(a, other_category, DiscordanceRules(categories="overlap")) == []


def test_iou_threshold_is_configurable() -> None:
    a = _read(findings=[_box(1, box=(0, 0, 100, 100))])
    b = _read(findings=[_box(2, box=(0, 0, 100, 60))])  # IoU 0.6
    assert _rules(a, b) == []
    assert len(_rules(a, b, DiscordanceRules(iou_threshold=0.7))) == 2


def test_matched_boxes_with_a_different_finding_birads_are_discordant() -> None:
    a = _read(right=(4, "B"), findings=[_box(1, birads=4)])
    b = _read(right=(4, "B"), findings=[_box(2, birads=3)])
    assert _rules(a, b) == [("FINDING_BIRADS_DIFFERENT", "R", 4, 3, 1, 2)]
    assert _rules(a, b, DiscordanceRules(finding_birads="none")) == []


def test_matching_is_optimal_not_greedy() -> None:
    # Greedy (best pair first) takes a1-b1 (IoU 0.6) and leaves a2 with b2 (IoU 0.33, no match);
    # the optimal assignment pairs a1-b2 and a2-b1, both at the 0.5 threshold.
    a1 = _box(1, box=(0, 0, 100, 100))
    a2 = _box(2, box=(0, 0, 30, 100))
    b1 = _box(3, box=(0, 0, 60, 100))
    b2 = _box(4, box=(10, 0, 60, 100))
    match = findings_match([a1, a2], [b1, b2], STRICT)
    assert sorted((fa.id, fb.id) for fa, fb, _ in match.pairs) == [(1, 4), (2, 3)]
    assert match.unmatched_a == [] and match.unmatched_b == []


def test_consensus_averages_matched_boxes_and_keeps_the_cautious_values() -> None:
    a = _read(right=(4, "B"), left=(1, "A"),
              findings=[_box(1, box=(0, 0, 100, 100), categories=("Mass",), birads=4)])
    b = _read(right=(5, "C"), left=(2, "A"),
              findings=[_box(2, box=(10, 20, 110, 100), categories=("Skin Thickening", "Mass"), birads=5),
                        _box(3, image=2, box=(5, 5, 10, 10), categories=("Skin Thickening",), birads=None)])
    rules = DiscordanceRules(birads="none", density="none", categories="overlap", finding_birads="none",
                             unmatched_finding=False)
    reasons, match = reads_compare(a, b, IMAGES, rules)
    assert reasons == []
    merged = reads_merge(a, b, match)
    assert merged.breast("R") == BreastData("R", 5, "C")
    assert merged.breast("L") == BreastData("L", 2, "A")
    first, kept = merged.findings
    assert first.box == (5, 10, 105, 100)
    assert first.categories == ("Mass", "Skin Thickening") and first.birads == 5 and first.source_finding_id == 1
    assert kept.box == (5, 5, 10, 10) and kept.source_finding_id == 3


@pytest.mark.parametrize("project_settings", [
    {"discordance": {"birads": "sometimes"}},
    {"discordance": {"iou_threshold": 0}},
    {"discordance": {"iou_threshold": "0.5"}},
    {"discordance": {"unmatched_finding": "yes"}},
    {"discordance": {"colour": "red"}},
    {"discordance": ["any"]},
])
def test_bad_rule_settings_are_rejected_with_the_key_named(project_settings) -> None:
    with pytest.raises(ValueError, match="discordance"):
        DiscordanceRules.from_project_settings(project_settings)
