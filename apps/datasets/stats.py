"""The paper's statistics per split: Tables 2-4, finding BI-RADS per category (Figure 3) and patient
age (Figure 4), as Markdown + CSV tables and PNG figures. Pure functions over per-exam label counts.

Spellings follow the paper: counts with thousands separators, percentages with two decimals
("5,362 (67.03%)"), findings as count and rate per 100 images with three decimals ("989 (6.181)").
Breasts are counted once per exam and side (two per exam), images once per file row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median

from apps.datasets import split as split_labels
from apps.reading.vocabulary import BREAST_BIRADS, DENSITIES, FINDING_BIRADS, FINDING_CATEGORIES

GROUPS = ("training", "test", "overall")
GROUP_TITLES = {"training": "Training", "test": "Test", "overall": "Overall"}
AGE_BINS = ((0, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79), (80, 200))


@dataclass(frozen=True)
class ExamStats:
    """What the statistics need of one exam."""

    split: str
    age: int | None
    images: int
    labels: dict[str, int]


@dataclass(frozen=True)
class Table:
    name: str  # file stem, e.g. "table2_breast_birads"
    title: str
    header: tuple[str, ...]
    csv_rows: list[list[str]]  # machine-readable: plain numbers
    markdown_rows: list[list[str]]  # as the paper prints them
    markdown_header: tuple[str, ...] = ()


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _groups(exams: Iterable[ExamStats]) -> dict[str, list[ExamStats]]:
    grouped: dict[str, list[ExamStats]] = {g: [] for g in GROUPS}
    for exam in exams:
        if exam.split in grouped:
            grouped[exam.split].append(exam)
        grouped["overall"].append(exam)
    return grouped


def _sum(exams: Sequence[ExamStats], label: str) -> int:
    return sum(e.labels.get(label, 0) for e in exams)


def _category_count(exams: Sequence[ExamStats], category: str) -> int:
    if category in split_labels.LESION_CATEGORIES:
        return sum(_sum(exams, split_labels.lesion_label(category, b)) for b in (*FINDING_BIRADS, None))
    return _sum(exams, category)


def _distribution_table(name: str, title: str, grouped: dict[str, list[ExamStats]],
                        labels: Sequence[str], columns: Sequence[str]) -> Table:
    header = ("split", *(h for c in columns for h in (c, f"{c} %")), "Total")
    md_header = ("Split", *columns, "Total")
    csv_rows, md_rows = [], []
    for group in GROUPS:
        counts = [_sum(grouped[group], label) for label in labels]
        total = sum(counts)
        csv_rows.append([group, *(v for c in counts for v in (str(c), f"{_pct(c, total):.2f}")), str(total)])
        md_rows.append([GROUP_TITLES[group], *(f"{c:,} ({_pct(c, total):05.2f}%)" for c in counts), f"{total:,}"])
    return Table(name, title, header, csv_rows, md_rows, md_header)


def compute_tables(exams: Iterable[ExamStats]) -> list[Table]:
    grouped = _groups(exams)
    tables = [
        _distribution_table("table2_breast_birads", "Table 2. Breast-level BI-RADS assessment", grouped,
                            [f"BI-RADS {b}" for b in BREAST_BIRADS], [f"BI-RADS {b}" for b in BREAST_BIRADS]),
        _distribution_table("table3_breast_density", "Table 3. Breast density", grouped,
                            [f"DENSITY {d}" for d in DENSITIES], [f"DENSITY {d}" for d in DENSITIES]),
    ]
    images = {g: sum(e.images for e in grouped[g]) for g in GROUPS}
    header4 = ("finding", *(f"{GROUP_TITLES[g]} count" for g in GROUPS),
               *(f"{GROUP_TITLES[g]} per 100 images" for g in GROUPS))
    rows4, md4 = [], []
    for category in FINDING_CATEGORIES:
        counts = [_category_count(grouped[g], category) for g in GROUPS]
        rates = [_pct(c, images[g]) for c, g in zip(counts, GROUPS, strict=True)]
        rows4.append([category, *map(str, counts), *(f"{r:.3f}" for r in rates)])
        md4.append([category, *(f"{c:,} ({r:.3f})" for c, r in zip(counts, rates, strict=True))])
    rows4.append(["Images", *(str(images[g]) for g in GROUPS), "", "", ""])
    md4.append(["Images", *(f"{images[g]:,}" for g in GROUPS)])
    tables.append(Table("table4_findings", "Table 4. Findings: count (rate per 100 images)", header4, rows4, md4,
                        ("Finding", *(GROUP_TITLES[g] for g in GROUPS))))

    header_b = ("finding", "split", *(f"BI-RADS {b}" for b in FINDING_BIRADS), "Total")
    rows_b, md_b = [], []
    for category in split_labels.LESION_CATEGORIES:
        for group in GROUPS:
            counts = [_sum(grouped[group], split_labels.lesion_label(category, b)) for b in FINDING_BIRADS]
            total = sum(counts)
            rows_b.append([category, group, *map(str, counts), str(total)])
            md_b.append([category, GROUP_TITLES[group], *(f"{c:,} ({_pct(c, total):.2f}%)" for c in counts),
                         f"{total:,}"])
    tables.append(Table("finding_birads", "Finding BI-RADS per lesion category (Figure 3)", header_b,
                        rows_b, md_b))

    header_a = ("split", *(_age_bin_name(b) for b in AGE_BINS), "Unknown", "With age", "Mean", "Median")
    rows_a, md_a = [], []
    for group in GROUPS:
        ages = [e.age for e in grouped[group] if e.age is not None]
        counts = [sum(1 for a in ages if lo <= a <= hi) for lo, hi in AGE_BINS]
        unknown = len(grouped[group]) - len(ages)
        avg = f"{mean(ages):.1f}" if ages else ""
        mid = f"{median(ages):.1f}" if ages else ""
        rows_a.append([group, *map(str, counts), str(unknown), str(len(ages)), avg, mid])
        md_a.append([GROUP_TITLES[group], *(f"{c:,} ({_pct(c, len(ages)):.2f}%)" for c in counts),
                     f"{unknown:,}", f"{len(ages):,}", avg, mid])
    tables.append(Table("age_distribution", "Patient age per exam (Figure 4)", header_a, rows_a, md_a))
    return tables


def _age_bin_name(bounds: tuple[int, int]) -> str:
    lo, hi = bounds
    if lo == 0:
        return f"<{hi + 1}"
    if hi >= 200:
        return f">={lo}"
    return f"{lo}-{hi}"


def write_tables(tables: Sequence[Table], directory: Path) -> list[Path]:
    """One CSV per table plus statistics.md with all of them. Returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = directory / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(table.header)
            writer.writerows(table.csv_rows)
        written.append(path)
    markdown = directory / "statistics.md"
    with markdown.open("w", encoding="utf-8") as handle:
        handle.write("# Dataset statistics\n\nCounts per split as in the VinDr-Mammo paper (Tables 2-4, "
                     "Figures 3-4). The CSV files beside this one hold the same numbers unformatted.\n")
        for table in tables:
            handle.write(f"\n## {table.title}\n\n")
            header = list(table.markdown_header or table.header)
            handle.write("| " + " | ".join(header) + " |\n")
            handle.write("|" + "---|" * len(header) + "\n")
            for row in table.markdown_rows:
                handle.write("| " + " | ".join(row + [""] * (len(header) - len(row))) + " |\n")
    written.append(markdown)
    return written


def write_figures(exams: Iterable[ExamStats], directory: Path) -> list[Path]:
    """Bar charts of Tables 2-4, Figure 3 (finding BI-RADS) and Figure 4 (age), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    grouped = _groups(exams)
    written: list[Path] = []
    colors = {"training": "#4C72B0", "test": "#DD8452", "overall": "#55A868"}

    def grouped_bars(name: str, title: str, categories: Sequence[str], values: dict[str, list[float]],
                     ylabel: str, rotate: bool = False) -> None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(categories) + 2), 4), dpi=100)
        width = 0.8 / len(GROUPS)
        for n, group in enumerate(GROUPS):
            ax.bar([i + n * width for i in range(len(categories))], values[group], width,
                   label=GROUP_TITLES[group], color=colors[group])
        ax.set_xticks([i + width for i in range(len(categories))])
        ax.set_xticklabels(categories, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
        # Fixed margins, not tight_layout: it draws every figure twice (half the export's figure time).
        fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.3 if rotate else 0.12)
        path = directory / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)

    birads = [f"BI-RADS {b}" for b in BREAST_BIRADS]
    grouped_bars("figure_breast_birads", "Breast BI-RADS (% of breasts)", birads,
                 {g: _percentages(grouped[g], birads) for g in GROUPS}, "% of breasts")
    densities = [f"DENSITY {d}" for d in DENSITIES]
    grouped_bars("figure_breast_density", "Breast density (% of breasts)", densities,
                 {g: _percentages(grouped[g], densities) for g in GROUPS}, "% of breasts")
    images = {g: sum(e.images for e in grouped[g]) for g in GROUPS}
    grouped_bars("figure_findings", "Findings per 100 images", list(FINDING_CATEGORIES),
                 {g: [_pct(_category_count(grouped[g], c), images[g]) for c in FINDING_CATEGORIES]
                  for g in GROUPS}, "per 100 images", rotate=True)

    fig, axes = plt.subplots(2, 3, figsize=(12, 6), dpi=100)
    for ax, category in zip(axes.flat, split_labels.LESION_CATEGORIES, strict=False):
        counts = [_sum(grouped["overall"], split_labels.lesion_label(category, b)) for b in FINDING_BIRADS]
        ax.bar([f"BI-RADS {b}" for b in FINDING_BIRADS], counts, color=colors["overall"])
        ax.set_ylim(0, max(1, max(counts)) * 1.1)
        ax.set_title(category)
    fig.suptitle("Finding BI-RADS per category (Figure 3)")
    fig.subplots_adjust(left=0.05, right=0.98, top=0.88, bottom=0.07, hspace=0.35, wspace=0.25)
    path = directory / "figure3_finding_birads.png"
    fig.savefig(path)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ages = [e.age for e in grouped["overall"] if e.age is not None]
    if ages:
        ax.hist(ages, bins=range(min(ages) // 5 * 5, max(ages) // 5 * 5 + 10, 5), color=colors["overall"],
                edgecolor="white")
    ax.set_xlabel("Patient age (years)")
    ax.set_ylabel("Exams")
    ax.set_title(f"Patient age, {len(ages):,} exams with an age (Figure 4)")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.13)
    path = directory / "figure4_age.png"
    fig.savefig(path)
    plt.close(fig)
    written.append(path)
    return written


def _percentages(exams: Sequence[ExamStats], labels: Sequence[str]) -> list[float]:
    counts = [_sum(exams, label) for label in labels]
    total = sum(counts)
    return [_pct(c, total) for c in counts]


def label_percentages(exams: Iterable[ExamStats]) -> dict[str, dict[str, float]]:
    """Per group: breast BI-RADS and density as % of breasts, findings per 100 images.

    The quantities the paper's Tables 2-4 print, for checks that the split kept them.
    """
    grouped = _groups(exams)
    result: dict[str, dict[str, float]] = {}
    for group in GROUPS:
        exams_g = grouped[group]
        values: dict[str, float] = {}
        birads = [f"BI-RADS {b}" for b in BREAST_BIRADS]
        densities = [f"DENSITY {d}" for d in DENSITIES]
        values.update(zip(birads, _percentages(exams_g, birads), strict=True))
        values.update(zip(densities, _percentages(exams_g, densities), strict=True))
        images = sum(e.images for e in exams_g)
        for category in FINDING_CATEGORIES:
            values[category] = _pct(_category_count(exams_g, category), images)
        result[group] = values
    return result
