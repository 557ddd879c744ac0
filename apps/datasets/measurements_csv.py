"""measurements.csv: the length measurements of the exported reads (issue 12), a MammoLab file
next to the VinDr-Mammo ones (whose columns stay exactly as published).

One row per measurement, endpoints in original image pixels like the boxes of
finding_annotations.csv, the length in mm as the server computed it at save time.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.datasets.vindr_csv import coordinate_text

MEASUREMENT_FILE = "measurements.csv"
MEASUREMENT_COLUMNS = (
    "study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
    "read", "x1", "y1", "x2", "y2", "length_mm", "spacing_source", "split",
)
# Which read a measurement belongs to: the exam's final read, or, when that read is the merged
# consensus of two concordant reads (which has no measurements of its own), one of those two.
READ_FINAL = "final"
READ_ORDER = {READ_FINAL: 0, "first": 1, "second": 2}


@dataclass(frozen=True)
class ExportMeasurementRow:
    study_id: str
    series_id: str
    image_id: str
    laterality: str
    view_position: str
    height: int
    width: int
    read: str  # "final" | "first" | "second"
    x1: float
    y1: float
    x2: float
    y2: float
    length_mm: float | None  # None: the image has no pixel spacing
    spacing_source: str  # "PixelSpacing" | "ImagerPixelSpacing" | ""
    split: str


def measurement_row(row: ExportMeasurementRow) -> list[str]:
    return [row.study_id, row.series_id, row.image_id, row.laterality, row.view_position, str(row.height),
            str(row.width), row.read, *(coordinate_text(v) for v in (row.x1, row.y1, row.x2, row.y2)),
            "" if row.length_mm is None else coordinate_text(row.length_mm), row.spacing_source, row.split]
