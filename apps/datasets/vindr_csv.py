"""The VinDr-Mammo annotation CSVs: one definition of columns and spellings, for writing AND parsing.

Pure functions, no ORM. The published release (PhysioNet, v1.0.0) is the reference:
- breast-level_annotations.csv, one row per image (BREAST_COLUMNS);
- finding_annotations.csv, one row per box, and one `['No Finding']` row with an empty box and an
  empty finding BI-RADS for an image without boxes (FINDING_COLUMNS);
- "BI-RADS N", "DENSITY X", split "training"/"test"; finding_categories is a Python-style list with
  single quotes, quoted by the CSV writer only when it holds a comma (multi-label boxes);
- LF line endings, no BOM, minimal quoting (what Python's csv module writes with lineterminator="\\n").

Box coordinates: the published file holds float32 values printed with 14 significant digits
(`2355.1398925781`, `1852.75`) and some float64 values with 15 (`321.588748692304`); whole numbers
have no decimal point (`2098`). We write the shortest decimal that reads back as the same double
(Python's repr), without exponent and without a trailing ".0". Public copies of the file differ:
one writes whole numbers as `2098.0` and some values with 16-17 significant digits, which no
single number format reproduces. So an imported box keeps its coordinates' text
(ImportedFindingRow.box_text) and is written back with it while the box is unchanged: import then
export reproduces any copy byte-for-byte, and boxes drawn in the platform use the format above.
"""

from __future__ import annotations

import ast
import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from apps.reading.vocabulary import (
    BREAST_BIRADS,
    CATEGORIES_REQUIRING_BIRADS,
    DENSITIES,
    FINDING_BIRADS,
    FINDING_CATEGORIES,
    LATERALITIES,
)

BREAST_FILE = "breast-level_annotations.csv"
FINDING_FILE = "finding_annotations.csv"
METADATA_FILE = "metadata.csv"

IMAGE_COLUMNS = ("study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
                 "breast_birads", "breast_density")
BREAST_COLUMNS = (*IMAGE_COLUMNS, "split")
FINDING_COLUMNS = (*IMAGE_COLUMNS, "finding_categories", "finding_birads", "xmin", "ymin", "xmax", "ymax",
                   "split")

NO_FINDING = "No Finding"
SPLITS = ("training", "test")


class CsvValueError(ValueError):
    """A malformed cell; the message names the column and the value."""


# ---- spellings (write) ----------------------------------------------------------------------------

def birads_text(value: int | None) -> str:
    return "" if value is None else f"BI-RADS {value}"


def density_text(value: str | None) -> str:
    return "" if not value else f"DENSITY {value}"


def categories_text(categories: list[str] | tuple[str, ...]) -> str:
    # Python's list repr gives exactly the published spelling: ['Mass', 'Skin Retraction'].
    return repr([str(c) for c in categories])


def coordinate_text(value: float) -> str:
    if not math.isfinite(value):
        raise CsvValueError(f"box coordinate {value!r} is not a finite number")
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


# ---- spellings (parse) ----------------------------------------------------------------------------

def parse_birads(text: str, *, allowed: tuple[int, ...], column: str) -> int:
    prefix = "BI-RADS "
    if not text.startswith(prefix) or not text[len(prefix):].isdigit():
        raise CsvValueError(f"{column}: {text!r} is not spelled 'BI-RADS N'")
    value = int(text[len(prefix):])
    if value not in allowed or text != birads_text(value):
        raise CsvValueError(f"{column}: {text!r} is not one of {', '.join(birads_text(v) for v in allowed)}")
    return value


def parse_density(text: str) -> str:
    prefix = "DENSITY "
    value = text[len(prefix):] if text.startswith(prefix) else ""
    if value not in DENSITIES:
        raise CsvValueError(f"breast_density: {text!r} is not one of "
                            f"{', '.join(density_text(d) for d in DENSITIES)}")
    return value


def parse_categories(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise CsvValueError(f"finding_categories: {text!r} is not a list such as ['Mass']") from None
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise CsvValueError(f"finding_categories: {text!r} is not a non-empty list of names")
    if categories_text(value) != text:
        raise CsvValueError(f"finding_categories: {text!r} is not spelled like ['Mass', 'Skin Retraction']")
    unknown = [c for c in value if c not in FINDING_CATEGORIES and c != NO_FINDING]
    if unknown:
        raise CsvValueError(f"finding_categories: unknown {', '.join(map(repr, unknown))}")
    if NO_FINDING in value and len(value) > 1:
        raise CsvValueError("finding_categories: 'No Finding' cannot be combined with findings")
    if len(set(value)) != len(value):
        raise CsvValueError(f"finding_categories: {text!r} repeats a category")
    return value


def parse_coordinate(text: str, *, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CsvValueError(f"{column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CsvValueError(f"{column}: {text!r} is not a finite number")
    return value


def parse_positive_int(text: str, *, column: str) -> int:
    if not text.isdigit() or int(text) <= 0 or str(int(text)) != text:
        raise CsvValueError(f"{column}: {text!r} is not a positive whole number")
    return int(text)


# ---- rows -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageRow:
    """What both files say about one image (the breast-level part)."""

    line: int
    study_id: str
    series_id: str
    image_id: str
    laterality: str
    view_position: str
    height: int
    width: int
    breast_birads: int
    breast_density: str
    split: str


@dataclass(frozen=True)
class FindingRow:
    image: ImageRow
    categories: tuple[str, ...]  # empty for a No Finding row
    birads: int | None
    box: tuple[float, float, float, float] | None
    box_text: tuple[str, str, str, str] | None = None  # the coordinates as the file spelled them


def _parse_image_part(record: dict[str, str], line: int) -> ImageRow:
    for column in ("study_id", "series_id", "image_id", "view_position"):
        if not record[column]:
            raise CsvValueError(f"{column} is empty")
    if record["laterality"] not in LATERALITIES:
        raise CsvValueError(f"laterality: {record['laterality']!r} is not L or R")
    if record["split"] not in (*SPLITS, ""):
        raise CsvValueError(f"split: {record['split']!r} is not training, test or empty")
    return ImageRow(
        line=line,
        study_id=record["study_id"],
        series_id=record["series_id"],
        image_id=record["image_id"],
        laterality=record["laterality"],
        view_position=record["view_position"],
        height=parse_positive_int(record["height"], column="height"),
        width=parse_positive_int(record["width"], column="width"),
        breast_birads=parse_birads(record["breast_birads"], allowed=BREAST_BIRADS, column="breast_birads"),
        breast_density=parse_density(record["breast_density"]),
        split=record["split"],
    )


def _parse_finding_part(record: dict[str, str], image: ImageRow) -> FindingRow:
    categories = parse_categories(record["finding_categories"])
    coordinates = [record[c] for c in ("xmin", "ymin", "xmax", "ymax")]
    if categories == [NO_FINDING]:
        if record["finding_birads"] or any(coordinates):
            raise CsvValueError("a ['No Finding'] row must have an empty finding_birads and an empty box")
        return FindingRow(image=image, categories=(), birads=None, box=None)
    if record["finding_birads"]:
        birads: int | None = parse_birads(record["finding_birads"], allowed=FINDING_BIRADS,
                                          column="finding_birads")
    else:
        birads = None
    needs_birads = any(c in CATEGORIES_REQUIRING_BIRADS for c in categories)
    if needs_birads and birads is None:
        raise CsvValueError("finding_birads is required for mass, calcification, asymmetry and distortion")
    if not needs_birads and birads is not None:
        raise CsvValueError("finding_birads must be empty for skin, nipple and lymph-node findings")
    xmin, ymin, xmax, ymax = (parse_coordinate(text, column=column)
                              for text, column in zip(coordinates, ("xmin", "ymin", "xmax", "ymax"), strict=True))
    if not (xmax > xmin and ymax > ymin):
        raise CsvValueError("the box has no area (xmax must exceed xmin and ymax must exceed ymin)")
    return FindingRow(image=image, categories=tuple(categories), birads=birads, box=(xmin, ymin, xmax, ymax),
                      box_text=(coordinates[0], coordinates[1], coordinates[2], coordinates[3]))


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


def _records(stream: IO[str], *, columns: tuple[str, ...], file: str) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        yield 1, RowError(file, 1, "the file is empty")
        return
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    if tuple(header) != columns:
        yield 1, RowError(file, 1, f"the header must be exactly: {','.join(columns)}")
        return
    for record in reader:
        line = reader.line_num
        if len(record) != len(columns):
            yield line, RowError(file, line, f"expected {len(columns)} columns, found {len(record)}")
            continue
        yield line, dict(zip(columns, record, strict=True))


def parse_breast_file(stream: IO[str]) -> Iterator[ImageRow | RowError]:
    for line, record in _records(stream, columns=BREAST_COLUMNS, file=BREAST_FILE):
        if isinstance(record, RowError):
            yield record
            continue
        try:
            yield _parse_image_part(record, line)
        except CsvValueError as exc:
            yield RowError(BREAST_FILE, line, str(exc))


def parse_finding_file(stream: IO[str]) -> Iterator[FindingRow | RowError]:
    for line, record in _records(stream, columns=FINDING_COLUMNS, file=FINDING_FILE):
        if isinstance(record, RowError):
            yield record
            continue
        try:
            yield _parse_finding_part(record, _parse_image_part(record, line))
        except CsvValueError as exc:
            yield RowError(FINDING_FILE, line, str(exc))


# ---- writing --------------------------------------------------------------------------------------

def csv_writer(stream: IO[str]) -> Any:
    return csv.writer(stream, lineterminator="\n")


@dataclass(frozen=True)
class ExportImageRow:
    """The image part of a row as exported: both annotation files start with it."""

    study_id: str
    series_id: str
    image_id: str
    laterality: str
    view_position: str
    height: int
    width: int
    breast_birads: int | None
    breast_density: str | None
    split: str


@dataclass(frozen=True)
class ExportFindingRow:
    """One row of finding_annotations.csv: a box, or the image's `['No Finding']` row."""

    image: ExportImageRow
    categories: list[str] | None = None  # None: the image's ['No Finding'] row
    birads: int | None = None
    box: tuple[float, float, float, float] | None = None
    box_text: list[str] | tuple[str, ...] | None = None  # the coordinates as an imported file spelled them


def _image_cells(image: ExportImageRow) -> list[str]:
    return [image.study_id, image.series_id, image.image_id, image.laterality, image.view_position,
            str(image.height), str(image.width), birads_text(image.breast_birads), density_text(image.breast_density)]


def breast_row(image: ExportImageRow) -> list[str]:
    return [*_image_cells(image), image.split]


def box_texts(box: tuple[float, float, float, float], imported: list[str] | tuple[str, ...] | None) -> list[str]:
    """The four coordinates as text: as imported while they still parse to the box (the box was
    not edited since), else in our canonical format."""
    if imported and len(imported) == 4 and all(
            parse_coordinate(text, column="box") == value for text, value in zip(imported, box, strict=True)):
        return list(imported)
    return [coordinate_text(v) for v in box]


def finding_row(finding: ExportFindingRow) -> list[str]:
    image_part, split = _image_cells(finding.image), finding.image.split
    if finding.categories is None or finding.box is None:
        return [*image_part, categories_text([NO_FINDING]), "", "", "", "", "", split]
    return [*image_part, categories_text(finding.categories), birads_text(finding.birads),
            *box_texts(finding.box, finding.box_text), split]


METADATA_COLUMNS = (
    "study_id", "series_id", "image_id", "SOP Instance UID", "Series Instance UID", "Study Instance UID",
    "SOP Class UID", "Patient's Age", "Patient's Sex", "Image Laterality", "View Position", "Rows", "Columns",
    "Pixel Spacing", "Photometric Interpretation", "Bits Stored", "Manufacturer", "Manufacturer's Model Name",
    "full_depth_scale", "full_depth_offset",
)


@dataclass(frozen=True)
class ExportMetadataRow:
    """One row of metadata.csv: the de-identified attributes of one image."""

    study_id: str
    series_id: str
    image_id: str
    sop_uid: str
    series_uid: str
    study_uid: str
    sop_class_uid: str
    patient_age: int | None
    patient_sex: str
    laterality: str
    view_position: str
    rows: int
    columns: int
    pixel_spacing_row: float | None
    pixel_spacing_col: float | None
    photometric_interpretation: str
    bits_stored: int
    manufacturer: str
    manufacturer_model: str
    full_depth_scale: float | None
    full_depth_offset: float | None


def _age_text(age: int | None) -> str:
    return "" if age is None else f"{age:03d}Y"  # DICOM AS, as in the de-identified files


def _number_text(value: float | None) -> str:
    return "" if value is None else coordinate_text(value)


def metadata_row(row: ExportMetadataRow) -> list[Any]:
    spacing = (f"[{_number_text(row.pixel_spacing_row)}, {_number_text(row.pixel_spacing_col)}]"
               if row.pixel_spacing_row is not None and row.pixel_spacing_col is not None else "")
    return [row.study_id, row.series_id, row.image_id, row.sop_uid, row.series_uid, row.study_uid,
            row.sop_class_uid, _age_text(row.patient_age), row.patient_sex, row.laterality, row.view_position,
            row.rows, row.columns, spacing, row.photometric_interpretation, row.bits_stored, row.manufacturer,
            row.manufacturer_model, _number_text(row.full_depth_scale), _number_text(row.full_depth_offset)]
