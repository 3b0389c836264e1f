"""The XLSX writer's drop-downs (transforms/xlsx.py ListValidation): the <dataValidations>
element sits where the schema puts it (right after sheetData), openpyxl reads the list back
on the right cells, and values a list formula cannot hold are refused before writing."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook

from transforms import xlsx

WORDS = ("reached", "not_reached", "said_yes", "said_no", "wrong_number", "do_not_contact")


def _book(rows: list[list], validations=()) -> bytes:
    out = io.BytesIO()
    xlsx.write(out, "list", ["name", "person_id", "outcome", "note"], rows, validations)
    return out.getvalue()


def _sheet_xml(book: bytes) -> str:
    return zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml").decode()


def test_a_list_validation_is_written_after_sheet_data_and_read_back_by_openpyxl():
    rows = [["Ana", "p-1", None, None], ["=cmd", "p-2", None, None], ["Cy", "p-3", None, None]]
    book = _book(rows, [xlsx.ListValidation(2, WORDS, "Not an outcome", 'Pick one "please"')])
    xml = _sheet_xml(book)
    # sheetData, then dataValidations, then the end of the worksheet: nothing between.
    assert re.search(
        r"</sheetData><dataValidations count=\"1\"><dataValidation .*</dataValidations></worksheet>$",
        xml,
    )
    sheet = load_workbook(io.BytesIO(book)).active
    [found] = sheet.data_validations.dataValidation
    assert found.type == "list" and found.allowBlank
    assert found.formula1 == '"' + ",".join(WORDS) + '"'
    assert str(found.sqref) == "C2:C4"  # the outcome column's data rows, not the header
    assert found.showErrorMessage and found.error == 'Pick one "please"'
    assert not found.showDropDown  # (in the file format, showDropDown="1" hides the arrow)
    assert [c.value for c in sheet[2]] == ["Ana", "p-1", None, None]
    # Read-only mode (how uploads are read) sees the same cells.
    read = load_workbook(io.BytesIO(book), read_only=True).active
    assert [r[:2] for r in read.iter_rows(values_only=True)][1:] == [
        ("Ana", "p-1"),
        ("=cmd", "p-2"),
        ("Cy", "p-3"),
    ]


def test_no_validation_leaves_the_sheet_as_before_and_an_empty_sheet_still_has_a_range():
    xml = _sheet_xml(_book([["Ana", "p-1", None, None]]))
    assert "dataValidation" not in xml and xml.endswith("</sheetData></worksheet>")
    empty = load_workbook(io.BytesIO(_book([], [xlsx.ListValidation(2, WORDS)]))).active
    assert str(empty.data_validations.dataValidation[0].sqref) == "C2"


@pytest.mark.parametrize(
    "values",
    [(), ("a,b",), ('say "yes"',), ("",), tuple(f"word{i:03}" for i in range(40))],
)
def test_values_a_list_formula_cannot_hold_are_refused(values):
    with pytest.raises(ValueError, match="list validation values"):
        xlsx.ListValidation(0, values)
