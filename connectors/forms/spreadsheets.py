"""Workbook exports (.xlsx from Excel or Google Sheets) from the inbox: every sheet with a
recognised header row loads like a CSV export, through the same layout recognition, row
building and quarantine (connectors/forms.py). Workbooks are streamed in openpyxl's
read-only mode, and formulas give their cached values, never evaluated. No message ever
repeats a cell value."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

from connectors.forms.reader import (
    FormExport,
    FormExportError,
    FormRow,
    RowProblem,
    build_row,
    describe_duplicates,
    duplicate_columns,
    email_columns,
    looks_like_person,
    normalise_header,
    recognise,
    refusal,
    repair_misfiled,
    strip_controls,
    unique_keys,
)

# Title or note rows a sheet may carry above its header row ("Sign-in sheet, 5 May").
HEADER_SEARCH = 5
# A row of one filled cell is a title ("Email list, town hall") unless that cell is one
# of these plain column names: a single-column sheet of names, emails or phones.
SINGLE_COLUMN = re.compile(
    r"^(full ?name|name|your name|e ?mail( address)?|(mobile|phone)( number)?)$"
)
# Excel serial day numbers 20000-80000 are 1954-2119: a timestamp column's plausible dates.
SERIAL_DAYS = (20000, 80000)
# An encrypted workbook (a password to open) is an OLE compound file, not a zip.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ERROR_CODES = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}
REDOWNLOAD = (
    "open it in Excel or Google Sheets and download it again as .xlsx (or save it as "
    "'CSV UTF-8'), then drop it in again"
)


@dataclass
class Workbook:
    """The sheets that load, one FormExport each, and why the others did not."""

    file_name: str
    exports: list[FormExport] = field(default_factory=list)
    skipped_sheets: list[str] = field(default_factory=list)


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() == ".xlsx"


def file_hash(path: Path) -> str:
    """sha256 of the file, read in blocks so a large workbook is never held whole."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sheet_hash(workbook_hash: str, sheet: str) -> str:
    """One hash per sheet: form_files keys each loaded sheet on its own."""
    return hashlib.sha256(f"{workbook_hash}:{sheet}".encode()).hexdigest()


def read_workbook(path: Path, column_map: dict[str, str] | None = None) -> Workbook:
    """Every sheet of one workbook. Raises FormExportError when the file cannot be opened
    or no sheet holds a recognised header; an empty sheet is skipped silently, a sheet
    without a recognised header is skipped with a note naming it."""
    name = path.name
    whole = file_hash(path)
    book = open_workbook(path)
    result = Workbook(name)
    try:
        for sheet in book.worksheets:
            # Some exporters write a wrong sheet size ("A1"): read every cell there is.
            sheet.reset_dimensions()
            try:
                export = read_sheet(
                    sheet.iter_rows(values_only=True), name, sheet.title, column_map
                )
            except FormExportError as exc:
                result.skipped_sheets.append(exc.problem)
                continue
            if export is not None:
                export.content_hash = sheet_hash(whole, sheet.title)
                result.exports.append(export)
    finally:
        book.close()  # read-only mode keeps the file open until closed
    if not result.exports:
        why = "; ".join(result.skipped_sheets) or "every sheet is empty"
        raise FormExportError(name, f"no sheet could be loaded: {why}")
    return result


def open_workbook(path: Path) -> Any:
    """The workbook in read-only, cached-values mode, or a FormExportError saying why not."""
    with path.open("rb") as handle:
        head = handle.read(len(_OLE_MAGIC))
    if head == _OLE_MAGIC:
        raise FormExportError(
            path.name,
            "the workbook is password-protected (or an old .xls saved as .xlsx), so it cannot "
            "be read; open it, remove the password (File > Info > Protect Workbook > Encrypt "
            "with Password, cleared) and save it as .xlsx, then drop it in again",
        )
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise FormExportError(
            path.name,
            f"the file is not a readable Excel workbook (damaged or cut short); {REDOWNLOAD}",
        ) from None


def read_sheet(
    rows: Iterable[tuple[Any, ...]],
    file_name: str,
    sheet: str,
    column_map: dict[str, str] | None = None,
) -> FormExport | None:
    """One sheet as an export, None when it is empty. Raises FormExportError (naming the
    file and sheet, never a cell) when no header row is recognised."""
    stream = iter(rows)
    where = f"sheet {sheet!r}"
    found = find_header(stream, where, column_map)
    if found is None:
        return None
    header_row, headers, layout, columns = found
    export = FormExport(file_name, "", "xlsx", "", layout, columns)
    export.sheet = sheet
    duplicates = duplicate_columns(headers)
    export.duplicate_columns = sum(len(group) - 1 for group in duplicates)
    export.warnings.extend(describe_duplicates(headers, duplicates, columns))
    if header_row > 1:
        export.warnings.append(
            f"{where}: the header row is sheet row {header_row}; the {header_row - 1} row(s) "
            "above it were read as a title and not loaded"
        )
    read_sheet_rows(export, stream, header_row, headers)
    repair_misfiled(export)
    return export


def find_header(
    stream: Iterator[tuple[Any, ...]], where: str, column_map: dict[str, str] | None
) -> tuple[int, list[str], str, dict[str, str]] | None:
    """(sheet row, headers, layout, columns) of the first recognised row among the first
    few filled ones; None for an empty sheet. Consumes the stream up to the header."""
    seen = 0
    best: tuple[int, list[str], dict[str, str]] | None = None
    for sheet_row, values in enumerate(stream, start=1):
        headers = trim([header_text(v) for v in values])
        if not any(headers):
            continue
        seen += 1
        if seen == 1 and any(looks_like_person(h) for h in headers):
            raise FormExportError(
                "",
                f"{where}: sheet row {sheet_row} looks like a person's details, not column "
                "headers; add a header row such as First name, Last name, Email, Phone above it",
            )
        layout, columns = header_layout(headers, column_map)
        if layout is not None and not is_title(headers, column_map):
            return sheet_row, headers, layout, columns
        if best is None or len(columns) > len(best[2]):
            best = (sheet_row, headers, columns)
        if seen >= HEADER_SEARCH:
            break
    if best is None:
        return None
    sheet_row, headers, columns = best
    note = refusal(columns, headers, f"sheet row {sheet_row}")
    raise FormExportError("", f"{where}: {note} (the first {seen} filled row(s) were tried)")


def is_title(headers: list[str], column_map: dict[str, str] | None) -> bool:
    """A row of one filled cell that is not a plain column name is a title or a note."""
    filled = [h for h in headers if h]
    if column_map or len(filled) != 1:
        return False
    return not SINGLE_COLUMN.match(normalise_header(filled[0]))


def header_layout(
    headers: list[str], column_map: dict[str, str] | None
) -> tuple[str | None, dict[str, str]]:
    """recognise(), and with a column map only when the row has every mapped header."""
    if column_map and not all(h in headers for h in column_map.values()):
        return None, {}
    return recognise(headers, column_map)


def read_sheet_rows(
    export: FormExport, stream: Iterator[tuple[Any, ...]], header_row: int, headers: list[str]
) -> None:
    """Rows below the header into `rows` or `problems`. Row numbers count data rows from
    1 (header excluded, as for CSV); reasons name the sheet row and never a cell."""
    keys = unique_keys(headers)
    positions = {f: headers.index(h) for f, h in export.columns.items()}
    emails = email_columns(headers, export.columns)
    stamp = positions.get("submitted_at")
    row_number = 0
    for sheet_row, values in enumerate(stream, start=header_row + 1):
        cells = trim([cell_text(v, i == stamp) for i, v in enumerate(values)])
        if not any(c.strip() for c in cells):
            continue  # blank rows between blocks of entries
        row_number += 1
        problem = sheet_row_problem(cells, headers, values, sheet_row)
        if problem:
            export.problems.append(RowProblem(row_number, problem, cells))
            continue
        export.rows.append(
            build_sheet_row(export.layout, row_number, cells, keys, positions, emails)
        )


def build_sheet_row(
    layout: str,
    row_number: int,
    cells: list[str],
    keys: list[str],
    positions: dict[str, int],
    emails: list[int],
) -> FormRow:
    return build_row(layout, row_number, cells[: len(keys)], keys, positions, emails)


def sheet_row_problem(
    cells: list[str], headers: list[str], values: tuple[Any, ...], sheet_row: int
) -> str | None:
    """Why a sheet row cannot load, or None: values right of the last header, or a
    formula error where a value should be. Counts and positions only."""
    beyond = [i + 1 for i in range(len(headers), len(cells)) if cells[i].strip()]
    if beyond:
        return (
            f"sheet row {sheet_row} has values in column {beyond[0]}, right of the last of the "
            f"{len(headers)} headed columns; give that column a header or move the value, "
            "then drop the file in again"
        )
    errors = [i + 1 for i, v in enumerate(values) if isinstance(v, str) and v in _ERROR_CODES]
    if errors:
        return (
            f"sheet row {sheet_row} column {errors[0]} holds a formula error instead of a "
            "value; fix the formula (or paste the values) and drop the file in again"
        )
    return None


def trim(cells: list[str]) -> list[str]:
    """Without trailing empty cells (sheets report their widest row's width for every row)."""
    end = len(cells)
    while end and not cells[end - 1].strip():
        end -= 1
    return cells[:end]


def header_text(value: Any) -> str:
    return strip_controls(str(value)).replace("\ufeff", "").strip() if value is not None else ""


def cell_text(value: Any, is_timestamp: bool = False) -> str:
    """A cell as the CSV path would read it: dates and times as ISO text, whole numbers
    without '.0' (phones and postcodes typed as numbers), TRUE/FALSE as a sheet exports
    them. A number in the timestamp column is an Excel serial date."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float):
        if is_timestamp and SERIAL_DAYS[0] <= value <= SERIAL_DAYS[1]:
            return cell_text(from_excel(value))
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return strip_controls(str(value))
