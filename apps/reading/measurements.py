"""Length measurements of a read (issue 12): pure functions, no ORM.

Endpoints are continuous original-image pixel coordinates (the same space as finding boxes).
A length in mm uses the image's pixel spacing, [row, column] mm per pixel: a horizontal step
of dx pixels is dx * column spacing, a vertical one dy * row spacing. When the spacing comes
from ImagerPixelSpacing the length is "at the detector" (the breast, nearer the source, is
magnified by a few percent); from PixelSpacing it is whatever the modality calibrated it to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A read measures a handful of things; the cap only stops runaway clients.
MAX_MEASUREMENTS_PER_READ = 100


@dataclass(frozen=True)
class ImageGeometry:
    columns: int
    rows: int
    spacing: tuple[float, float] | None  # (row, column) mm per pixel
    spacing_source: str  # "PixelSpacing" | "ImagerPixelSpacing" | "" (unknown)


def length_mm(*, x1: float, y1: float, x2: float, y2: float,
              spacing: tuple[float, float] | None) -> float | None:
    """Euclidean length in mm, or None without a spacing."""
    if spacing is None:
        return None
    row, col = spacing
    return math.hypot((x2 - x1) * col, (y2 - y1) * row)


def measurement_problems(item: Mapping[str, Any], image: ImageGeometry | None) -> str | None:
    """Why a measurement cannot be stored, or None."""
    if image is None:
        return "its image is not part of this exam"
    coords = [float(item[k]) for k in ("x1", "y1", "x2", "y2")]
    if not all(math.isfinite(c) for c in coords):
        return "its endpoints are not finite numbers"
    x1, y1, x2, y2 = coords
    if not (0 <= x1 <= image.columns and 0 <= x2 <= image.columns and 0 <= y1 <= image.rows and 0 <= y2 <= image.rows):
        return "an endpoint lies outside the image"
    if x1 == x2 and y1 == y2:
        return "its two endpoints are the same point"
    return None


def measurements_normalize(items: Sequence[Mapping[str, Any]],
                           images: Mapping[int, ImageGeometry]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The stored form of the payload's measurements (length computed here, never trusted from
    the client), and the problems by measurement key (nothing is stored when there are any)."""
    stored: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    for item in items:
        image = images.get(int(item["image"]))
        problem = measurement_problems(item, image)
        if problem is not None or image is None:
            problems[str(item["key"])] = problem or "invalid"
            continue
        x1, y1, x2, y2 = (round(float(item[k]), 2) for k in ("x1", "y1", "x2", "y2"))
        mm = length_mm(x1=x1, y1=y1, x2=x2, y2=y2, spacing=image.spacing)
        stored.append({"key": str(item["key"]), "image": int(item["image"]), "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                       "length_mm": round(mm, 2) if mm is not None else None,
                       "spacing_source": image.spacing_source if image.spacing else ""})
    return stored, problems
