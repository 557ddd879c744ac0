"""The pure DICOM pipeline on real files: classification, whitelist, ids, LUTs, masks, renders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.sequence import Sequence

from apps.studies import dicom
from tests.studies.conftest import as_mammogram, cbis_cases, pydicom_file

LIMITS = dicom.Limits(allowed_modalities=("MG",), max_file_bytes=10**9, max_pixels=10**8)
MASK = [[0.0, 0.0, 0.12, 0.06], [0.88, 0.94, 1.0, 1.0]]


def _process(path: Path, *, secret: str = "s3cret",  # noqa: S107
             keep_ids: bool = False, exam_key: str = "", limits: dicom.Limits = LIMITS,
             corner_mask: list[list[float]] = MASK, mask_frame: str = "image",
             ) -> tuple[dicom.Header, dicom.Identifiers, dicom.Processed]:
    data = path.read_bytes()
    ds = dicom.read_dataset(data, filename=path.name, limits=limits)
    header = dicom.read_header(ds, filename=path.name)
    ids = dicom.identifiers(header, secret=secret, keep_ids=keep_ids, exam_key=exam_key)
    processed = dicom.process(ds, header, ids, filename=path.name, corner_mask=corner_mask,
                              mask_frame=mask_frame, display_max_side=2048, thumbnail_max_side=256)
    return header, ids, processed


def _unit_reference(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    """pydicom's own modality + VOI LUT, scaled to [0, 1] by the output range pydicom uses."""
    modality = apply_modality_lut(arr, ds)
    out = apply_voi_lut(modality, ds, prefer_lut=True).astype(np.float64)
    if ds.get("VOILUTSequence"):
        return out / (2 ** int(max(ds.VOILUTSequence[0].LUTData)).bit_length() - 1)
    if ds.get("ModalityLUTSequence"):
        lo, hi = 0.0, 2.0 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
    elif ds.PixelRepresentation == 0:
        lo, hi = 0.0, 2.0 ** ds.BitsStored - 1
    else:
        lo, hi = -(2.0 ** (ds.BitsStored - 1)), 2.0 ** (ds.BitsStored - 1) - 1
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return (out - lo) / (hi - lo)


def _assert_display_matches_pydicom(ds: Dataset) -> None:
    arr = ds.pixel_array
    display, presets, _ = dicom.display_array(ds, arr)
    unit = _unit_reference(ds, arr)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        unit = 1.0 - unit
    expected = np.rint(unit * 255)
    assert display.dtype == np.uint8
    assert np.abs(display.astype(int) - expected.astype(int)).max() <= 1
    assert presets


def test_cbis_views_are_classified_from_patient_orientation_and_laterality() -> None:
    for case in cbis_cases():
        for view_name, path in case.items():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            assert "ViewPosition" not in ds
            assert dicom.classify(ds) == (view_name[0].upper(), view_name[1:].upper())


def test_view_code_sequence_and_series_description_name_the_view() -> None:
    ds = Dataset()
    code = Dataset()
    code.CodeValue, code.CodeMeaning = "399368009", "medio-lateral oblique"
    ds.ViewCodeSequence = Sequence([code])
    ds.SeriesDescription = "R MLO screening"
    assert dicom.classify(ds) == ("R", "MLO")
    other = Dataset()
    other.SeriesDescription = "LEFT_CC"
    assert dicom.classify(other) == ("L", "CC")


def test_a_file_naming_no_laterality_is_rejected_with_its_name() -> None:
    ds = Dataset()
    ds.ViewPosition = "CC"
    with pytest.raises(dicom.DicomRejected, match="odd.dcm: unknown laterality"):
        dicom.read_header(ds, filename="odd.dcm")


def test_the_header_says_which_tag_the_pixel_spacing_came_from() -> None:
    def header(**tags: object) -> dicom.Header:
        ds = Dataset()
        ds.ImageLaterality, ds.ViewPosition, ds.Rows, ds.Columns = "L", "CC", 10, 10
        ds.StudyInstanceUID = ds.SeriesInstanceUID = ds.SOPInstanceUID = "1.2.3"
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        return dicom.read_header(ds, filename="x.dcm")

    imager = header(ImagerPixelSpacing=[0.07, 0.07])
    assert imager.pixel_spacing == (0.07, 0.07) and imager.pixel_spacing_source == "ImagerPixelSpacing"
    both = header(ImagerPixelSpacing=[0.07, 0.07], PixelSpacing=[0.065, 0.065])
    assert both.pixel_spacing == (0.065, 0.065) and both.pixel_spacing_source == "PixelSpacing"
    none = header()
    assert none.pixel_spacing is None and none.pixel_spacing_source == ""


def test_chest_wall_frame_masks_mirror_to_the_chest_wall_side() -> None:
    rects = [[0.88, 0.0, 1.0, 0.06]]  # the far (nipple-side) top corner
    assert dicom.mask_rects_in_image(rects, frame="image", chest_wall_left=False) == [(0.88, 0.0, 1.0, 0.06)]
    assert dicom.mask_rects_in_image(rects, frame="chest_wall", chest_wall_left=True) == [(0.88, 0.0, 1.0, 0.06)]
    (mirrored,) = dicom.mask_rects_in_image(rects, frame="chest_wall", chest_wall_left=False)
    assert mirrored == pytest.approx((0.0, 0.0, 0.12, 0.06))
    with pytest.raises(ValueError, match="unknown corner mask frame"):
        dicom.mask_rects_in_image(rects, frame="nipple", chest_wall_left=True)


def test_the_chest_wall_side_comes_from_orientation_else_from_where_the_signal_is() -> None:
    breast_right = np.zeros((10, 20))
    breast_right[:, 14:] = 100.0
    assert not dicom.chest_wall_is_left(patient_orientation="", sample=breast_right)
    assert dicom.chest_wall_is_left(patient_orientation="A\\R", sample=breast_right)
    # MONOCHROME1: background is the high value; the breast is what differs from it.
    inverted = 4095.0 - breast_right
    assert not dicom.chest_wall_is_left(patient_orientation="", sample=inverted, background=4095.0)


def test_mask_overlap_with_tissue_bounds_is_measured_per_box() -> None:
    boxes = [[0, 0, 100, 50], [900, 0, 1000, 50]]
    (overlap,) = dicom.mask_tissue_overlaps(boxes, [950, 25, 2000, 3000])
    assert overlap.box == (900, 0, 1000, 50) and overlap.fraction == pytest.approx(0.25)
    assert dicom.mask_tissue_overlaps(boxes, None) == []


# The burned-in film labels on the 8 CBIS-DDSM films, measured on the unmasked display images
# (docs/ingest.md, "Where the burned-in text is"): [x0, y0, x1, y1] original pixels, end-exclusive.
# Labels cut by the film's edge show only their fragment. All sit in the upper corner away from
# the chest wall; the lower corners hold none.
CBIS_LABELS = {
    "1-132.dcm": [(0, 82, 128, 208), (0, 430, 450, 752)],  # RCC: "15" and "RCC"
    "1-130.dcm": [(1984, 438, 2384, 876)],  # LCC
    "1-133.dcm": [(0, 122, 68, 244), (30, 212, 640, 762)],  # RMLO: "3" and "RMLO"
    "1-131.dcm": [(2086, 502, 2596, 1104)],  # LMLO
    "1-282.dcm": [(0, 578, 260, 958)],  # RCC, cut at the left edge
    "1-280.dcm": [(2486, 460, 2624, 678)],  # LCC: a "C" at the right edge
    "1-283.dcm": [(0, 712, 162, 860)],  # RMLO: an "M" at the left edge
    "1-281.dcm": [(2474, 518, 2576, 606)],  # LMLO: an "M" at the right edge
}


def _default_processed() -> list[tuple[Path, dicom.Header, np.ndarray, dicom.Processed]]:
    """Each CBIS film through the import's default masks (a project without its own setting)."""
    from apps.studies import services
    from apps.studies.models import Project

    rects, frame = services.corner_mask_for(project=Project(slug="default"))
    out = []
    for case in cbis_cases():
        for path in case.values():
            header, _, processed = _process(path, corner_mask=rects, mask_frame=frame)
            out.append((path, header, pydicom.dcmread(path).pixel_array, processed))
    return out


def test_the_default_corner_masks_black_out_every_burned_in_label_on_the_cbis_films() -> None:
    films = _default_processed()
    assert sorted(path.name for path, *_ in films) == sorted(CBIS_LABELS)
    for path, _, source, processed in films:
        stored = pydicom.dcmread(io.BytesIO(processed.dicom_bytes)).pixel_array
        boxes = processed.renders.mask_boxes
        for x0, y0, x1, y1 in CBIS_LABELS[path.name]:
            label = source[y0:y1, x0:x1]
            # The pinned box does hold the label: bright strokes on a black film background.
            assert (label > np.percentile(source, 99) / 4).mean() > 0.05, path.name
            assert any(bx0 <= x0 and by0 <= y0 and x1 <= bx1 and y1 <= by1 for bx0, by0, bx1, by1 in boxes), (
                f"{path.name}: label {(x0, y0, x1, y1)} is outside the masks {boxes}")
            assert (stored[y0:y1, x0:x1] == 0).all(), path.name


def test_the_default_corner_masks_spare_the_breast_and_the_chest_wall_side_on_the_cbis_films() -> None:
    for path, header, source, processed in _default_processed():
        renders = processed.renders
        # What the review grid flags (tissue bounds found at render time): nothing.
        assert dicom.mask_tissue_overlaps(renders.mask_boxes, renders.tissue_bounds) == [], path.name
        # The tissue bounds can miss a faint pectoral muscle (1-283.dcm), so also: the whole
        # chest-wall half keeps its original pixels. On these films (looked at) a left breast
        # has its chest wall at the left edge, a right breast at the right edge.
        stored = pydicom.dcmread(io.BytesIO(processed.dicom_bytes)).pixel_array
        half = source.shape[1] // 2
        chest_wall_half = np.s_[:, :half] if header.laterality == "L" else np.s_[:, source.shape[1] - half:]
        assert np.array_equal(stored[chest_wall_half], source[chest_wall_half]), path.name


def test_the_depth_preview_halves_like_the_viewer_pyramid_until_it_fits() -> None:
    rng = np.random.default_rng(7)
    full = rng.integers(0, 65535, size=(4097, 3001), dtype=np.uint16)
    preview, level = dicom.depth_preview(full, max_side=1024)
    assert level == 2 and preview.shape == (4097 >> 2, 3001 >> 2) and preview.dtype == np.uint16
    # One halving: floor sizes, clamped odd edge, (a + b + c + d + 2) // 4 as pyramid.ts does.
    half = dicom.halve16(full[:5, :5])
    a = full[:5, :5].astype(np.int64)
    assert half.shape == (2, 2)
    assert half[1, 1] == (a[2, 2] + a[2, 3] + a[3, 2] + a[3, 3] + 2) // 4
    small = rng.integers(0, 4095, size=(900, 700), dtype=np.uint16)
    same, zero = dicom.depth_preview(small, max_side=1024)
    assert zero == 0 and (same == small).all()


def test_whitelist_keeps_exactly_the_listed_tags(tmp_path: Path) -> None:
    source = cbis_cases()[0]["rcc"]
    original = pydicom.dcmread(source)
    _, ids, processed = _process(source)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes))
    kept = {int(e.tag) for e in out}
    expected = {int(e.tag) for e in original} & dicom.WHITELIST_TAGS
    assert kept == expected
    assert "PatientName" not in out and "PatientID" not in out and "PatientOrientation" not in out
    assert not any(e.tag.is_private for e in out)
    assert out.StudyInstanceUID == ids.study_uid != original.StudyInstanceUID
    assert out.SOPInstanceUID == out.file_meta.MediaStorageSOPInstanceUID == ids.sop_uid
    assert out.SOPClassUID == original.SOPClassUID
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian


def test_sequences_curves_overlays_and_foreign_lut_attributes_are_dropped(tmp_path: Path) -> None:
    path = as_mammogram(pydicom_file("vlut_04.dcm"), tmp_path / "v.dcm")
    ds = pydicom.dcmread(path)
    ds.VOILUTSequence[0].PatientName = "Hidden^InLut"
    ds.add_new(0x60003000, "OW", b"\x00" * 8)  # overlay data
    ds.add_new(0x50000005, "US", 2)  # curve dimensions
    ref = Dataset()
    ref.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = Sequence([ref])
    ds.save_as(path)
    _, _, processed = _process(path)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes))
    assert "ReferencedImageSequence" not in out
    assert 0x60003000 not in out and 0x50000005 not in out
    item = out.VOILUTSequence[0]
    assert {int(e.tag) for e in item} <= dicom.VOI_LUT_ITEM_TAGS
    assert "PatientName" not in item


def test_same_input_and_secret_give_the_same_ids_and_another_secret_does_not() -> None:
    source = cbis_cases()[0]["lcc"]
    _, first, _ = _process(source)
    _, again, _ = _process(source)
    _, other, _ = _process(source, secret="another")
    assert first == again
    assert first.image_id != other.image_id
    assert len(first.image_id) == 32 and int(first.image_id, 16) >= 0
    assert first.sop_uid.startswith("2.25.") and len(first.sop_uid) <= 64
    assert pydicom.uid.UID(first.sop_uid).is_valid


def test_keep_ids_uses_the_files_own_uids() -> None:
    source = cbis_cases()[0]["lcc"]
    original = pydicom.dcmread(source, stop_before_pixels=True)
    _, ids, processed = _process(source, keep_ids=True)
    assert ids.image_id == original.SOPInstanceUID
    assert ids.study_id == original.StudyInstanceUID
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes))
    assert out.SOPInstanceUID == original.SOPInstanceUID
    assert "PatientName" not in out


def test_corners_are_set_to_the_background_and_the_rest_is_untouched() -> None:
    source = cbis_cases()[1]["rmlo"]
    original = pydicom.dcmread(source).pixel_array
    _, _, processed = _process(source)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes)).pixel_array
    rows, cols = original.shape
    boxes = dicom.corner_boxes(rows, cols, MASK)
    background = original.min()
    changed = out != original
    for x0, y0, x1, y1 in boxes:
        assert (out[y0:y1, x0:x1] == background).all()
        changed[y0:y1, x0:x1] = False
    assert not changed.any()
    assert original[boxes[0][1]:boxes[0][3], boxes[0][0]:boxes[0][2]].max() > background


def test_monochrome1_corners_are_masked_with_the_dark_high_value(tmp_path: Path) -> None:
    path = as_mammogram(pydicom_file("RG1_J2KR.dcm"), tmp_path / "rg1.dcm")
    _, _, processed = _process(path)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes)).pixel_array
    reference = pydicom.dcmread(pydicom_file("RG1_UNCR.dcm")).pixel_array
    x0, y0, x1, y1 = dicom.corner_boxes(*out.shape, MASK)[0]
    assert reference.max() < 2**15 - 1
    assert (out[y0:y1, x0:x1] == 2**15 - 1).all()  # BitsStored 15: the darkest MONOCHROME1 value
    display = np.asarray(PILImage.open(io.BytesIO(processed.renders.display_png)))
    assert display[y0:y1, x0:x1].max() == 0  # black on screen after inversion


def test_pixel_padding_value_is_the_mask_value(tmp_path: Path) -> None:
    path = as_mammogram(pydicom_file("RG1_UNCR.dcm"), tmp_path / "pad.dcm", PixelPaddingValue=123)
    _, _, processed = _process(path)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes)).pixel_array
    assert (out[:5, :5] == 123).all()


@pytest.mark.parametrize(("compressed", "reference"), [
    ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),  # JPEG 2000 lossless
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),  # JPEG-LS
    ("MR_small_RLE.dcm", "MR_small.dcm"),  # RLE
])
def test_compressed_inputs_are_decoded_losslessly(tmp_path: Path, compressed: str, reference: str) -> None:
    path = as_mammogram(pydicom_file(compressed), tmp_path / "c.dcm")
    _, _, processed = _process(path)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes))
    expected = pydicom.dcmread(pydicom_file(reference)).pixel_array
    unmasked = np.ones(expected.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in dicom.corner_boxes(*expected.shape[:2], MASK):
        unmasked[y0:y1, x0:x1] = False
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert np.array_equal(out.pixel_array[unmasked], expected[unmasked])


def test_voi_lut_sequence_display_matches_pydicom() -> None:
    _assert_display_matches_pydicom(pydicom.dcmread(pydicom_file("vlut_04.dcm")))


def test_monochrome1_window_display_matches_pydicom_and_is_inverted() -> None:
    ds = pydicom.dcmread(pydicom_file("RG1_J2KR.dcm"))
    _assert_display_matches_pydicom(ds)
    display, presets, _ = dicom.display_array(ds, ds.pixel_array)
    assert presets[0] == {"center": 15000.0, "width": 30000.0, "explanation": ""}
    assert display[ds.pixel_array == ds.pixel_array.max()].max() < display[ds.pixel_array == ds.pixel_array.min()].min()


@pytest.mark.parametrize("function", ["LINEAR_EXACT", "SIGMOID"])
def test_voi_lut_functions_match_pydicom(function: str) -> None:
    ds = pydicom.dcmread(pydicom_file("RG1_UNCR.dcm"))
    ds.VOILUTFunction = function
    ds.WindowCenter, ds.WindowWidth = 9000, 12000
    _assert_display_matches_pydicom(ds)


def test_modality_lut_sequence_matches_pydicom_with_the_derived_window() -> None:
    ds = pydicom.dcmread(pydicom_file("mlut_18.dcm"))
    display, presets, _ = dicom.display_array(ds, ds.pixel_array)
    assert presets[0]["explanation"] == "derived from pixels"
    ds.WindowCenter, ds.WindowWidth = presets[0]["center"], presets[0]["width"]
    _assert_display_matches_pydicom(ds)


def test_modality_lut_is_baked_into_the_stored_pixels(tmp_path: Path) -> None:
    path = as_mammogram(pydicom_file("mlut_18.dcm"), tmp_path / "m.dcm")
    source = pydicom.dcmread(path)
    _, _, processed = _process(path)
    out = pydicom.dcmread(io.BytesIO(processed.dicom_bytes))
    assert "ModalityLUTSequence" not in out
    expected = apply_modality_lut(source.pixel_array, source)
    assert np.array_equal(out.pixel_array[200:300, 200:300], expected[200:300, 200:300])


def test_full_depth_png_maps_back_to_modality_values(tmp_path: Path) -> None:
    path = as_mammogram(pydicom_file("RG1_UNCR.dcm"), tmp_path / "r.dcm", RescaleSlope=2, RescaleIntercept=-100)
    _, _, processed = _process(path)
    renders = processed.renders
    full = np.asarray(PILImage.open(io.BytesIO(renders.full_png))).astype(np.float64)
    stored = pydicom.dcmread(io.BytesIO(processed.dicom_bytes))
    modality = apply_modality_lut(stored.pixel_array, stored)
    assert full.shape == modality.shape
    assert np.array_equal(full * renders.full_depth_scale + renders.full_depth_offset, modality)


def test_signed_pixels_keep_their_values_in_the_full_depth_png() -> None:
    arr = np.array([[-2048, -1, 0], [5, 2047, -300]], dtype=np.int16)
    ds = Dataset()
    ds.PhotometricInterpretation, ds.PixelRepresentation, ds.BitsStored = "MONOCHROME2", 1, 12
    full, scale, offset = dicom.full_depth(ds, arr, None)
    decoded = np.asarray(PILImage.open(io.BytesIO(dicom.png16(full)))).astype(np.float64)
    assert np.array_equal(decoded * scale + offset, arr)


def test_display_is_bounded_and_thumbnail_small_and_both_8_bit() -> None:
    _, _, processed = _process(cbis_cases()[0]["rmlo"])
    display = PILImage.open(io.BytesIO(processed.renders.display_png))
    thumbnail = PILImage.open(io.BytesIO(processed.renders.thumbnail_png))
    assert display.mode == thumbnail.mode == "L"
    assert max(display.size) == 2048
    assert max(thumbnail.size) <= 256
    assert processed.renders.window_presets[0]["explanation"] == "derived from pixels"


def test_chest_wall_side_decides_the_flip_when_orientation_is_missing() -> None:
    image = np.zeros((100, 80), dtype=np.uint8)
    image[:, :30] = 200  # tissue against the left edge: chest wall left
    assert dicom.display_flip(laterality="L", patient_orientation="CC", display=image) is False
    assert dicom.display_flip(laterality="R", patient_orientation="CC", display=image) is True
    mirrored = image[:, ::-1]
    assert dicom.display_flip(laterality="R", patient_orientation="", display=mirrored) is False


def test_patient_orientation_decides_the_flip_when_present() -> None:
    blank = np.zeros((10, 10), dtype=np.uint8)
    assert dicom.display_flip(laterality="R", patient_orientation="A\\R", display=blank) is True
    assert dicom.display_flip(laterality="R", patient_orientation="P\\L", display=blank) is False
    assert dicom.display_flip(laterality="L", patient_orientation="P\\R", display=blank) is True


@pytest.mark.parametrize(("data", "reason"), [
    (b"hello, not a dicom file" * 10, "not a DICOM file"),
    (b"", "not a DICOM file"),
])
def test_non_dicom_input_is_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(dicom.DicomRejected, match=f"x.bin: {reason}"):
        dicom.read_dataset(data, filename="x.bin", limits=LIMITS)


def test_tissue_bounds_hold_the_breast_and_leave_out_a_burned_in_label() -> None:
    rows, columns = 1000, 800
    yy, xx = np.mgrid[0:rows, 0:columns]
    # A breast against the left edge (chest wall left): half an ellipse, brighter towards the wall.
    breast = ((xx / 500.0) ** 2 + ((yy - 520) / 380.0) ** 2) <= 1.0
    display = np.zeros((rows, columns), dtype=np.uint8)
    display[breast] = (220 - (xx[breast] * 0.2)).astype(np.uint8)
    display[40:90, 640:760] = 255  # a label in the top-right corner, not connected to the breast
    full = display.astype(np.uint16) * 10 + 1000

    found = dicom.tissue(display, full, scale=1.0, offset=0.0, margin=0.0)

    assert found is not None
    xmin, ymin, xmax, ymax = found.bounds
    assert xmin == 0 and xmax == pytest.approx(500, abs=8)
    assert ymin == pytest.approx(140, abs=8) and ymax == pytest.approx(900, abs=8)
    assert found.window is not None and found.window["explanation"] == "tissue"
    # The window spans the breast's own values (1000 + 10 * 120..220), not the label's 3550.
    assert 2200 < found.window["center"] < 3200 and found.window["width"] < 1100


def test_an_empty_film_has_no_tissue_bounds() -> None:
    display = np.zeros((300, 200), dtype=np.uint8)
    assert dicom.tissue(display, display.astype(np.uint16), scale=1.0, offset=0.0) is None


def test_real_mammograms_are_rendered_with_their_breast_bounds() -> None:
    header, _, processed = _process(cbis_cases()[0]["rcc"])
    bounds = processed.renders.tissue_bounds
    assert bounds is not None
    xmin, ymin, xmax, ymax = bounds
    # This right CC has its chest wall at the right edge; the breast fills less than half the film.
    assert xmax == header.columns and xmin > header.columns * 0.4
    assert 0 < ymin < ymax < header.rows
    assert (xmax - xmin) * (ymax - ymin) < 0.5 * header.rows * header.columns
    assert processed.renders.tissue_window is not None


def test_render_threads_come_from_settings_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings

    assert dicom._configured_threads == settings.RENDER_THREADS  # handed over at start-up
    monkeypatch.setenv("RENDER_THREADS", "7")
    monkeypatch.setattr(dicom, "_configured_threads", 3)
    assert dicom.render_threads() == 3
    monkeypatch.setattr(dicom, "_configured_threads", 0)
    assert 1 <= dicom.render_threads() <= 4


def _halve_reference(arr: np.ndarray) -> np.ndarray:
    """pyramid.ts `halve` written out with clamped index arrays, as the viewer computes it."""
    h, w = arr.shape
    oh, ow = max(1, h >> 1), max(1, w >> 1)
    ys0, ys1 = np.minimum(2 * np.arange(oh), h - 1), np.minimum(2 * np.arange(oh) + 1, h - 1)
    xs0, xs1 = np.minimum(2 * np.arange(ow), w - 1), np.minimum(2 * np.arange(ow) + 1, w - 1)
    a = arr.astype(np.int64)
    return ((a[ys0][:, xs0] + a[ys0][:, xs1] + a[ys1][:, xs0] + a[ys1][:, xs1] + 2) // 4).astype(np.uint16)


def test_halving_a_real_mammogram_and_odd_or_single_lines_matches_the_viewer_pyramid() -> None:
    real = pydicom.dcmread(cbis_cases()[0]["rcc"]).pixel_array
    assert np.array_equal(dicom.halve16(real), _halve_reference(real))
    odd = real[:1001, :777]
    assert np.array_equal(dicom.halve16(odd), _halve_reference(odd))
    for shape in ((1, 1), (1, 7), (7, 1), (3, 3)):
        tiny = real[: shape[0], : shape[1]]
        assert np.array_equal(dicom.halve16(tiny), _halve_reference(tiny))


def test_a_large_mammogram_is_displayed_from_its_halved_values_close_to_a_full_resolution_lookup() -> None:
    # 4,560 px tall: the display (2,048 px) is looked up on the first halving (2,280 px), the
    # level the depth preview computes anyway, instead of on all 13 Mpixel.
    _, _, processed = _process(cbis_cases()[0]["rcc"])
    ds = pydicom.dcmread(cbis_cases()[0]["rcc"])
    arr = ds.pixel_array.copy()
    background = dicom.background_value(ds, arr)
    dicom.mask_corners(arr, rects=MASK, value=background)
    table8, _, _ = dicom.display_table(ds, arr, background=background)
    assert table8 is not None
    display = np.asarray(PILImage.open(io.BytesIO(processed.renders.display_png)))
    from_half = np.asarray(dicom._fit(PILImage.fromarray(table8[dicom.halve16(arr)]), 2048))
    assert np.array_equal(display, from_half)
    full_lookup = np.asarray(dicom._fit(PILImage.fromarray(table8[arr]), 2048))
    difference = np.abs(display.astype(np.int16) - full_lookup.astype(np.int16))
    assert display.shape == full_lookup.shape and max(display.shape) == 2048
    assert difference.mean() < 0.5 and np.percentile(difference, 99.9) <= 3
