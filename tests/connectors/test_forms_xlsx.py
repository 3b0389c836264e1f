"""Workbook exports (.xlsx): sheets load like CSVs, with sheet provenance, and the bad
workbooks real inboxes get. Every workbook is built here with openpyxl."""

import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from connectors.forms.reader import FormExportError, list_exports
from connectors.forms.spreadsheets import open_workbook, read_workbook

HEADER = ["Timestamp", "Email address", "First name", "Last name", "Phone number", "Postcode"]
# Values that must never appear in a message.
PEOPLE = ["ana@example.org", "Ana", "Lima", "bo@example.org", "Bo", "Ng", "Secret Club"]


def save(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


def google_book() -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Form responses 1"
    sheet.append(HEADER)
    sheet.append(
        [dt.datetime(2026, 11, 20, 14, 3, 22), "ana@example.org", "Ana", "Lima", 2025550143, 2000.0]
    )
    # A timestamp typed as an Excel serial day number (no date format on the cell).
    sheet.append([46346.5, "bo@example.org", "Bo", "Ng", None, "0800"])
    return book


def set_cached(path: Path, cell: str, value: str) -> None:
    """Give a formula cell a cached string value, as Excel or Sheets leave it on save
    (openpyxl writes formulas without one)."""
    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    name = "xl/worksheets/sheet1.xml"
    xml = parts[name].decode()
    xml, count = re.subn(
        rf'<c r="{cell}"><f>(.*?)</f><v ?/>(</c>)?',
        rf'<c r="{cell}" t="str"><f>\1</f><v>{value}</v></c>',
        xml,
    )
    assert count == 1
    parts[name] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for part, data in parts.items():
            out.writestr(part, data)


def said(exc_or_notes) -> str:
    return str(exc_or_notes)


def test_a_google_sheets_download_loads_with_iso_dates_and_sheet_provenance(tmp_path):
    book = read_workbook(save(google_book(), tmp_path / "signups.xlsx"))
    [export] = book.exports
    assert (export.file_name, export.sheet, export.layout) == (
        "signups.xlsx",
        "Form responses 1",
        "google_forms",
    )
    assert export.stored_name == "signups.xlsx:Form responses 1"
    ana, bo = export.rows
    assert (ana.row_number, bo.row_number) == (1, 2)
    assert ana.fields["submitted_at"] == "2026-11-20 14:03:22"
    assert bo.fields["submitted_at"] == "2026-11-20 12:00:00"  # serial 46346.5, never a float
    # Numbers typed into phone and postcode cells read as the digits, not '2000.0'.
    assert (ana.fields["phone"], ana.fields["postal_code"]) == ("2025550143", "2000")
    assert bo.fields["postal_code"] == "0800" and bo.fields["email"] == "bo@example.org"
    assert not export.problems and not book.skipped_sheets


def test_an_empty_first_sheet_is_skipped_and_every_recognised_sheet_loads(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Notes"  # left empty
    for title, rows in (
        ("Monday", [["Ana", "Lima", "ana@example.org"], ["Bo", "Ng", "bo@example.org"]]),
        ("Tuesday", [["Cy", "Oh", "cy@example.org"]]),
    ):
        sheet = book.create_sheet(title)
        sheet.append(["First name", "Last name", "Email"])
        for row in rows:
            sheet.append(row)
    other = book.create_sheet("Secret Club")
    other.append(["Colour", "Size"])
    other.append(["Ana", 9])
    result = read_workbook(save(book, tmp_path / "sign in.xlsx"))
    assert [(e.sheet, [r.row_number for r in e.rows]) for e in result.exports] == [
        ("Monday", [1, 2]),
        ("Tuesday", [1]),  # row numbers are per sheet
    ]
    assert len({e.content_hash for e in result.exports}) == 2
    [note] = result.skipped_sheets  # the empty sheet says nothing; the unknown one is named
    assert "sheet 'Secret Club'" in note and "unknown header layout" in note
    assert "Ana" not in note


def test_a_workbook_with_no_loadable_sheet_is_refused_by_name(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["Colour", "Size"])
    book.active.append(["Ana", 9])
    with pytest.raises(FormExportError) as caught:
        read_workbook(save(book, tmp_path / "mystery.xlsx"))
    assert caught.value.file_name == "mystery.xlsx" and "no sheet could be loaded" in said(
        caught.value
    )
    assert "Ana" not in said(caught.value)
    empty = openpyxl.Workbook()
    with pytest.raises(FormExportError, match="every sheet is empty"):
        read_workbook(save(empty, tmp_path / "blank.xlsx"))


def test_a_sheet_starting_with_a_person_is_refused_without_repeating_them(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["Ana", "Lima", "ana@example.org"])
    with pytest.raises(FormExportError) as caught:
        read_workbook(save(book, tmp_path / "noheader.xlsx"))
    assert "sheet row 1 looks like a person's details" in said(caught.value)
    assert not [v for v in PEOPLE if v in said(caught.value)]


def test_merged_title_and_header_cells_find_the_header_row(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Sign-in sheet, town hall"])
    sheet.merge_cells("A1:D1")  # a merged title above the headers
    sheet.append(["Full name", None, "Email", "Postcode"])
    sheet.merge_cells("A2:B2")  # a header spanning two columns
    sheet.append(["Ana Lima", None, "ana@example.org", 2000])
    sheet.append(["Bo Ng", None, "bo@example.org", 3000])
    [export] = read_workbook(save(book, tmp_path / "merged.xlsx")).exports
    assert export.layout == "plain"
    assert [(r.row_number, r.fields["full_name"], r.fields["email"]) for r in export.rows] == [
        (1, "Ana Lima", "ana@example.org"),
        (2, "Bo Ng", "bo@example.org"),
    ]
    assert any("the header row is sheet row 2" in w for w in export.warnings)


def test_formulas_give_their_cached_values_never_evaluated_and_errors_are_quarantined(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["First name", "Last name", "Email"])
    sheet.append(["Ana", "Lima", '=LOWER("ANA")&"@example.org"'])
    sheet.append(["Bo", "Ng", "=A3&B3"])  # no cached value: blank, not computed
    sheet.append(["Cy", "Oh", "=1/0"])
    sheet.append(["Di", "Po", "di@example.org"])
    path = save(book, tmp_path / "formulas.xlsx")
    set_cached(path, "C2", "ana@example.org")
    set_cached(path, "C4", "#DIV/0!")
    [export] = read_workbook(path).exports
    emails = {r.row_number: r.fields["email"] for r in export.rows}
    assert emails == {1: "ana@example.org", 2: "", 4: "di@example.org"}
    assert not [r for r in export.rows if "=" in "".join(r.answers.values())]
    [problem] = export.problems
    assert (
        problem.row_number == 3 and "sheet row 4 column 3 holds a formula error" in problem.reason
    )


def test_a_value_right_of_the_headers_quarantines_only_its_row(tmp_path):
    book = google_book()
    book.active.append([None, "cy@example.org", "Cy", "Oh", None, 2000, None, "Secret Club"])
    [export] = read_workbook(save(book, tmp_path / "wide.xlsx")).exports
    assert len(export.rows) == 2
    [problem] = export.problems
    assert problem.row_number == 3 and "column 8, right of the last of the 6" in problem.reason
    assert not [v for v in PEOPLE if v in problem.reason]


def test_a_corrupt_or_password_protected_workbook_is_refused_with_what_to_do(tmp_path):
    whole = save(google_book(), tmp_path / "whole.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FormExportError, match=r"not a readable Excel workbook.*download it again"):
        read_workbook(tmp_path / "cut.xlsx")
    # Excel saves a workbook with a password to open as an encrypted OLE compound file.
    (tmp_path / "locked.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    with pytest.raises(FormExportError, match=r"password-protected.*remove the password"):
        read_workbook(tmp_path / "locked.xlsx")


def test_a_workbook_with_a_wrong_stored_size_still_reads_every_column(tmp_path):
    path = save(google_book(), tmp_path / "sized.xlsx")
    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet], count = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', parts[sheet])
    assert count == 1  # some exporters write this; read-only mode trusts it
    with zipfile.ZipFile(path, "w") as out:
        for part, data in parts.items():
            out.writestr(part, data)
    [export] = read_workbook(path).exports
    assert [r.fields["email"] for r in export.rows] == ["ana@example.org", "bo@example.org"]


def test_workbooks_are_streamed_read_only(tmp_path):
    book = open_workbook(save(google_book(), tmp_path / "big.xlsx"))
    try:
        assert book.read_only  # rows stream from the zip; a 50 MB workbook is never held whole
    finally:
        book.close()


def test_the_inbox_lists_workbooks_but_not_excel_lock_files(tmp_path):
    for name in ("a.csv", "b.xlsx", "~$b.xlsx", "c.xls", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_exports(tmp_path)] == ["a.csv", "b.xlsx"]
