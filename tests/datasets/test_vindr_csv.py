"""The VinDr-Mammo spellings: written and parsed by one module."""

from __future__ import annotations

import io

import pytest

from apps.datasets import vindr_csv


@pytest.mark.parametrize(("value", "text"), [
    (2355.1398925781, "2355.1398925781"),      # float32 printed with 14 digits, as published
    (321.588748692304, "321.588748692304"),    # float64 with 15 digits, also in the release
    (1852.75, "1852.75"),
    (2098.0, "2098"),                          # whole numbers carry no ".0" in the release
    (-6.2529702186584, "-6.2529702186584"),    # boxes may start just outside the image
    (0.0, "0"),
    (-0.0, "0"),
    (0.00001, "0.00001"),                      # never an exponent
    (123456.5, "123456.5"),
])
def test_box_coordinates_are_written_like_the_published_files(value: float, text: str) -> None:
    assert vindr_csv.coordinate_text(value) == text


@pytest.mark.parametrize("text", ["2355.1398925781", "321.588748692304", "2098", "-6.2529702186584",
                                  "1731.6400146484", "0.5", "2800"])
def test_published_coordinates_survive_parse_and_format_unchanged(text: str) -> None:
    assert vindr_csv.coordinate_text(vindr_csv.parse_coordinate(text, column="xmin")) == text


def test_spellings_of_birads_density_and_categories() -> None:
    assert vindr_csv.birads_text(4) == "BI-RADS 4"
    assert vindr_csv.density_text("C") == "DENSITY C"
    assert vindr_csv.categories_text(["Mass"]) == "['Mass']"
    assert vindr_csv.categories_text(["Mass", "Skin Retraction"]) == "['Mass', 'Skin Retraction']"


def test_a_multi_label_row_quotes_only_the_category_list() -> None:
    out = io.StringIO()
    image = vindr_csv.ExportImageRow(
        study_id="s", series_id="se", image_id="i", laterality="L", view_position="CC", height=3518, width=2800,
        breast_birads=4, breast_density="C", split="training")
    vindr_csv.csv_writer(out).writerow(vindr_csv.finding_row(vindr_csv.ExportFindingRow(
        image=image, categories=["Nipple Retraction", "Mass"], birads=4,
        box=(588.8740234375, 1397.7099609375, 812.36199951172, 1734.7199707031))))
    assert out.getvalue() == ('s,se,i,L,CC,3518,2800,BI-RADS 4,DENSITY C,"[\'Nipple Retraction\', \'Mass\']",'
                              "BI-RADS 4,588.8740234375,1397.7099609375,812.36199951172,1734.7199707031,training\n")


def test_a_no_finding_row_has_empty_box_and_finding_birads() -> None:
    row = vindr_csv.finding_row(vindr_csv.ExportFindingRow(image=vindr_csv.ExportImageRow(
        study_id="s", series_id="se", image_id="i", laterality="R", view_position="MLO", height=10, width=20,
        breast_birads=1, breast_density="B", split="test")))
    assert row == ["s", "se", "i", "R", "MLO", "10", "20", "BI-RADS 1", "DENSITY B", "['No Finding']",
                   "", "", "", "", "", "test"]


def _finding_file(*rows: str) -> io.StringIO:
    return io.StringIO(",".join(vindr_csv.FINDING_COLUMNS) + "\n" + "".join(r + "\n" for r in rows))


def test_parsing_reports_each_malformed_value_with_its_line() -> None:
    good = "s,se,i,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,1,2,3,4,training"
    parsed = list(vindr_csv.parse_finding_file(_finding_file(
        good,
        "s,se,i2,L,CC,3518,2800,BIRADS 4,DENSITY C,['Mass'],BI-RADS 4,1,2,3,4,training",
        "s,se,i3,L,CC,3518,2800,BI-RADS 4,DENSITY E,['Mass'],BI-RADS 4,1,2,3,4,training",
        "s,se,i4,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Tumour'],BI-RADS 4,1,2,3,4,training",
        "s,se,i5,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Mass'],,1,2,3,4,training",
        "s,se,i6,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Skin Thickening'],BI-RADS 3,1,2,3,4,training",
        "s,se,i7,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,5,2,3,4,training",
        "s,se,i8,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,x,2,3,4,training",
        "s,se,i9,X,CC,3518,2800,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,1,2,3,4,train",
        's,se,i10,L,CC,3518,2800,BI-RADS 4,DENSITY C,"[""Mass""]",BI-RADS 4,1,2,3,4,training',
        "s,se,i11,L,CC,3518,2800,BI-RADS 4,DENSITY C,['No Finding'],,1,2,3,4,training",
        "s,se,i12,L,CC,3518,2800,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,1,2,3",
    )))
    assert isinstance(parsed[0], vindr_csv.FindingRow)
    errors = {e.line: e.message for e in parsed[1:] if isinstance(e, vindr_csv.RowError)}
    assert sorted(errors) == list(range(3, 14))
    assert "breast_birads" in errors[3]
    assert "breast_density" in errors[4]
    assert "unknown 'Tumour'" in errors[5]
    assert "finding_birads is required" in errors[6]
    assert "must be empty" in errors[7]
    assert "no area" in errors[8]
    assert "xmin" in errors[9]
    assert "laterality" in errors[10]
    assert "spelled like" in errors[11]
    assert "No Finding" in errors[12]
    assert "expected 16 columns" in errors[13]


def test_a_wrong_header_is_reported_on_line_one() -> None:
    parsed = list(vindr_csv.parse_breast_file(io.StringIO("image_id,study_id\n")))
    assert parsed == [vindr_csv.RowError(vindr_csv.BREAST_FILE, 1, parsed[0].message)]  # type: ignore[union-attr]
    assert "header" in parsed[0].message  # type: ignore[union-attr]
