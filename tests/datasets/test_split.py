"""Exam-level iterative stratification: exact sizes, determinism, incremental, and quality."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from apps.datasets import selectors, split, stats
from apps.datasets.synthetic import paper_like_exams_create
from tests.factories import ProjectFactory


def _random_labels(n: int, seed: int) -> dict[str, Counter[str]]:
    rng = np.random.default_rng(seed)
    exams: dict[str, Counter[str]] = {}
    for i in range(n):
        labels: Counter[str] = Counter()
        for _side in range(2):
            split.add_breast(labels, birads=int(rng.choice([1, 2, 3, 4], p=[0.6, 0.25, 0.1, 0.05])),
                             density=str(rng.choice(list("ABCD"), p=[0.05, 0.15, 0.6, 0.2])))
        if rng.random() < 0.2:
            split.add_finding(labels, categories=["Mass"], birads=int(rng.integers(3, 6)))
        exams[f"exam-{i:04d}"] = labels
    return exams


@pytest.mark.parametrize(("n", "fraction", "expected_test"), [(101, 0.2, 20), (5, 0.2, 1), (10, 0.25, 3),
                                                               (7, 0.5, 4)])
def test_every_exam_lands_in_exactly_one_subset_of_the_exact_size(n: int, fraction: float,
                                                                   expected_test: int) -> None:
    exams = _random_labels(n, seed=1)
    assignment = split.stratify(exam_labels=exams, existing={}, test_fraction=fraction, seed=7)
    assert set(assignment) == set(exams)
    assert set(assignment.values()) <= {"training", "test"}
    assert Counter(assignment.values())["test"] == expected_test


def test_the_split_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    exams = _random_labels(300, seed=2)
    first = split.stratify(exam_labels=exams, existing={}, test_fraction=0.2, seed=11)
    again = split.stratify(exam_labels=dict(reversed(list(exams.items()))), existing={}, test_fraction=0.2, seed=11)
    other = split.stratify(exam_labels=exams, existing={}, test_fraction=0.2, seed=12)
    assert first == again
    assert first != other


def test_the_split_of_the_same_exams_does_not_depend_on_where_their_ids_start() -> None:
    """Exams are keyed by database id; the same exams imported into a database whose ids start at
    9,990 instead of 1 (the sequence of another project, a restored dump) get the same split."""
    exams = list(_random_labels(300, seed=3).values())
    low = split.stratify(exam_labels={1 + i: labels for i, labels in enumerate(exams)}, existing={},
                         test_fraction=0.2, seed=5)
    high = split.stratify(exam_labels={9990 + i: labels for i, labels in enumerate(exams)}, existing={},
                          test_fraction=0.2, seed=5)
    assert [low[1 + i] for i in range(len(exams))] == [high[9990 + i] for i in range(len(exams))]


def test_adding_exams_keeps_old_assignments_and_the_overall_share() -> None:
    exams = _random_labels(150, seed=3)
    old_keys = sorted(exams)[:100]
    old = split.stratify(exam_labels={k: exams[k] for k in old_keys}, existing={}, test_fraction=0.2, seed=5)
    new = split.stratify(exam_labels=exams, existing=old, test_fraction=0.2, seed=5)
    assert set(new) == set(exams) - set(old_keys)  # only the new exams get an assignment
    combined = {**old, **new}
    assert Counter(combined.values())["test"] == 30


def test_new_exams_are_stratified_against_the_existing_label_counts() -> None:
    # The existing test set already holds every BI-RADS 4 breast; new BI-RADS 4 exams go to training.
    existing_labels = {f"old-{i}": Counter({"BI-RADS 4": 2} if i < 10 else {"BI-RADS 1": 2}) for i in range(50)}
    existing = {f"old-{i}": ("test" if i < 10 else "training") for i in range(50)}
    new_labels = {f"new-{i}": Counter({"BI-RADS 4": 2} if i < 10 else {"BI-RADS 1": 2}) for i in range(50)}
    assignment = split.stratify(exam_labels={**existing_labels, **new_labels},
                                existing=existing, test_fraction=0.2, seed=1)
    assert {assignment[f"new-{i}"] for i in range(10)} == {"training"}
    assert Counter(assignment.values())["test"] == 10


def test_label_counts_not_just_presence_are_balanced() -> None:
    # Exams carry 1 to 8 Mass boxes: the test set must get a fifth of the boxes, not of the exams with one.
    rng = np.random.default_rng(4)
    exams = {f"exam-{i}": Counter({"Mass x BI-RADS 4": int(rng.integers(1, 9)), "BI-RADS 4": 2}) for i in range(200)}
    exams |= {f"clear-{i}": Counter({"BI-RADS 1": 2}) for i in range(800)}
    assignment = split.stratify(exam_labels=exams, existing={}, test_fraction=0.2, seed=3)
    total = sum(labels["Mass x BI-RADS 4"] for labels in exams.values())
    test_boxes = sum(exams[k]["Mass x BI-RADS 4"] for k, s in assignment.items() if s == "test")
    assert abs(test_boxes / total - 0.2) < 0.01


def _max_deviation(percentages: dict[str, dict[str, float]]) -> float:
    return max(abs(percentages[group][label] - percentages["overall"][label])
               for group in ("training", "test") for label in percentages["overall"])


@pytest.mark.django_db
def test_on_the_papers_label_distribution_the_split_keeps_every_percentage_close_on_every_seed() -> None:
    """The paper's claim (every label's share in training and test within about half a point of
    the whole) on a 5,000-exam paper-like project, for five seeds, not one lucky seed: over 12
    seeds the worst label (always Mass per 100 images, which the split balances as three
    Mass x BI-RADS labels) deviated 0.06-0.55 points; a random split of the same size deviates
    several times more."""
    project = ProjectFactory()
    paper_like_exams_create(project=project, n_exams=5000, seed=2024)
    exams = selectors.exam_labels(project=project)

    def percentages(of: dict[int, str]) -> dict[str, dict[str, float]]:
        return stats.label_percentages([stats.ExamStats(split=of[pk], age=e.age, images=e.images,
                                                        labels=dict(e.labels)) for pk, e in exams.items()])

    stratified = []
    for seed in range(1999, 2004):
        assignment = split.stratify(exam_labels={pk: e.labels for pk, e in exams.items()}, existing={},
                                    test_fraction=0.2, seed=seed)
        assert Counter(assignment.values()) == {"training": 4000, "test": 1000}
        stratified.append(_max_deviation(percentages(assignment)))
    assert max(stratified) <= 0.6, stratified
    assert float(np.mean(stratified)) <= 0.4, stratified

    keys = sorted(exams)
    random_deviations = []
    for seed in range(5):
        test_keys = set(np.random.default_rng(seed).choice(keys, size=1000, replace=False).tolist())
        random_deviations.append(_max_deviation(percentages({k: "test" if k in test_keys else "training"
                                                             for k in keys})))
    # "Clearly closer": at most half the worst deviation of an average random split of the same size.
    assert float(np.mean(stratified)) <= 0.5 * float(np.mean(random_deviations)), (stratified, random_deviations)
