"""Exam-level training/test split by iterative stratification (Sechidis et al., 2011).

Pure functions, no ORM. Labels are counted per exam the way the VinDr-Mammo authors did
(vinbigdata-medical/vindr-mammo, split_data.ipynb): one count per breast for its BI-RADS and its
density, one per box for each skin/nipple/lymph-node category, one per box for each lesion category
x finding BI-RADS, and one per image without a box ("No Finding").

Why not the `iterative-stratification` package (iterstrat 0.1.9, installed)? Checked its source:
- `MultilabelStratifiedShuffleSplit` casts the label matrix to bool, so counts become presence;
- its desired sizes are `r * n` unrounded and the fold choice only looks at label demand, so the
  test set size drifts from the requested share (it is not exact to one exam);
- it cannot hold exams fixed, so adding exams would re-split everything.
The algorithm below is the published one (pick the label with the fewest remaining instances,
give each exam carrying it to the subset that most wants that label, ties by subset size, then at
random), with three documented changes: counts instead of 0/1 labels (as the authors' own code),
a subset that has reached its exact size takes no more exams, and exams already split stay where
they are and count towards the label demands (incremental split).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from apps.reading.vocabulary import (
    BREAST_BIRADS,
    CATEGORIES_REQUIRING_BIRADS,
    DENSITIES,
    FINDING_BIRADS,
    FINDING_CATEGORIES,
)

TRAINING = "training"
TEST = "test"
SUBSETS = (TRAINING, TEST)

LESION_CATEGORIES = tuple(c for c in FINDING_CATEGORIES if c in CATEGORIES_REQUIRING_BIRADS)
FEATURE_CATEGORIES = tuple(c for c in FINDING_CATEGORIES if c not in CATEGORIES_REQUIRING_BIRADS)
NO_FINDING_LABEL = "No Finding"


def lesion_label(category: str, birads: int | None) -> str:
    return f"{category} x BI-RADS {birads if birads is not None else '?'}"


LABELS: tuple[str, ...] = (
    *(f"BI-RADS {b}" for b in BREAST_BIRADS),
    *(f"DENSITY {d}" for d in DENSITIES),
    *FEATURE_CATEGORIES,
    NO_FINDING_LABEL,
    *(lesion_label(c, b) for c in LESION_CATEGORIES for b in (*FINDING_BIRADS, None)),
)


def add_breast(labels: Counter[str], *, birads: int | None, density: str | None) -> None:
    if birads is not None:
        labels[f"BI-RADS {birads}"] += 1
    if density:
        labels[f"DENSITY {density}"] += 1


def add_finding(labels: Counter[str], *, categories: Iterable[str], birads: int | None) -> None:
    for category in categories:
        if category in CATEGORIES_REQUIRING_BIRADS:
            labels[lesion_label(category, birads)] += 1
        else:
            labels[category] += 1


def test_size(*, total: int, test_fraction: float) -> int:
    """The number of test exams among `total`: round half up, so 0.2 of 5,000 is exactly 1,000."""
    return min(total, max(0, math.floor(total * test_fraction + 0.5)))


K = TypeVar("K", int, str)  # exam keys: database ids, or study ids in tests and scripts


def stratify(
    *,
    exam_labels: Mapping[K, Mapping[str, int]],
    existing: Mapping[K, str],
    test_fraction: float,
    seed: int,
) -> dict[K, str]:
    """Assign every exam of `exam_labels` that has no entry in `existing` to training or test.

    `existing` holds the exams already split (key -> "training"/"test"); they never move. The test
    set of all exams together gets `test_size(total, test_fraction)` exams whenever the existing
    assignment allows it (it cannot if earlier exports used a larger fraction). Deterministic for a
    given seed and input (keys are processed in sorted order before the seeded shuffle).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must lie strictly between 0 and 1")
    # Natural order of the keys (numeric for database ids), so only the exams' relative order
    # matters: the same exams get the same split wherever their ids start.
    keys_all = sorted(exam_labels)
    new_keys = [k for k in keys_all if existing.get(k) not in SUBSETS]
    if not new_keys:
        return {}
    label_index = _label_index(exam_labels.values())
    matrix_new = _matrix([exam_labels[k] for k in new_keys], label_index)

    n_total = len(keys_all)
    n_new = len(new_keys)
    fixed_test = [k for k in keys_all if existing.get(k) == TEST]
    fixed_training = [k for k in keys_all if existing.get(k) == TRAINING]
    want_test = test_size(total=n_total, test_fraction=test_fraction)
    new_test = min(n_new, max(0, want_test - len(fixed_test)))
    sizes = np.array([n_new - new_test, new_test], dtype=np.int64)

    fixed = np.zeros((2, len(label_index)), dtype=np.float64)
    if fixed_training:
        fixed[0] = _matrix([exam_labels[k] for k in fixed_training], label_index).sum(axis=0)
    if fixed_test:
        fixed[1] = _matrix([exam_labels[k] for k in fixed_test], label_index).sum(axis=0)
    totals = matrix_new.sum(axis=0) + fixed.sum(axis=0)
    ratio = np.array([(n_total - want_test) / n_total, want_test / n_total])
    demand = np.outer(ratio, totals) - fixed

    folds = _iterative_stratification(matrix_new, sizes=sizes, demand=demand,
                                      rng=np.random.default_rng(seed))
    return {key: SUBSETS[fold] for key, fold in zip(new_keys, folds, strict=True)}


def _label_index(all_labels: Iterable[Mapping[str, int]]) -> dict[str, int]:
    names = set(LABELS)
    for labels in all_labels:
        names.update(name for name, count in labels.items() if count)
    ordered = list(LABELS) + sorted(names - set(LABELS))
    return {name: i for i, name in enumerate(ordered)}


def _matrix(rows: Sequence[Mapping[str, int]], label_index: Mapping[str, int]) -> np.ndarray:
    matrix = np.zeros((len(rows), len(label_index)), dtype=np.float64)
    for i, labels in enumerate(rows):
        for name, count in labels.items():
            if count:
                matrix[i, label_index[name]] = count
    return matrix


def _iterative_stratification(labels: np.ndarray, *, sizes: np.ndarray, demand: np.ndarray,
                              rng: np.random.Generator) -> np.ndarray:
    """Sechidis et al. (2011), Algorithm 1, on label counts, with exact subset sizes.

    labels: (n, m) counts; sizes: (k,) exact number of samples per subset (sum n);
    demand: (k, m) desired label counts still wanted by each subset (c_j^i). Returns (n,) subset ids.
    """
    n = labels.shape[0]
    order = rng.permutation(n)  # the authors shuffle first; ties then fall differently per seed
    labels = labels[order]
    capacity = sizes.astype(np.float64).copy()
    demand = demand.astype(np.float64).copy()
    result = np.full(n, -1, dtype=np.int64)
    remaining = np.ones(n, dtype=bool)

    def choose(candidates: np.ndarray) -> int:
        return int(candidates[rng.integers(candidates.shape[0])]) if candidates.shape[0] > 1 else int(candidates[0])

    while remaining.any():
        left = labels[remaining].sum(axis=0)
        if not left.any():
            # Exams without any label: fill the subsets by their remaining size.
            for i in np.flatnonzero(remaining):
                open_subsets = np.flatnonzero(capacity > 0)
                best = open_subsets[capacity[open_subsets] == capacity[open_subsets].max()]
                j = choose(best)
                result[i] = j
                capacity[j] -= 1
            break
        rarest = np.flatnonzero(left == left[left > 0].min())
        label = choose(rarest)
        for i in np.flatnonzero(remaining & (labels[:, label] > 0)):
            open_subsets = np.flatnonzero(capacity > 0)
            wanted = demand[open_subsets, label]
            best = open_subsets[wanted == wanted.max()]
            if best.shape[0] > 1:
                best = best[capacity[best] == capacity[best].max()]
            j = choose(best)
            result[i] = j
            remaining[i] = False
            demand[j] -= labels[i]
            capacity[j] -= 1
    unshuffled = np.empty(n, dtype=np.int64)
    unshuffled[order] = result
    return unshuffled
