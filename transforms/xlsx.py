"""A small, fast XLSX writer for the organiser lists: one sheet, a bold frozen header row,
every text cell an inline string (never a formula, whatever it starts with) and numbers as
numbers. openpyxl writes the same workbook about ten times slower, too slow for a
10,000-row download; openpyxl still reads these files back in the tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
# Style 0: plain; style 1: bold (the header row).
STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
SHEET_HEAD = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>
<sheetData>"""
SHEET_TAIL = "</sheetData>"
# A list validation's values are one quoted formula of at most 255 characters (Excel's limit).
LIST_FORMULA_MAX = 255
# Characters XML 1.0 cannot hold (control characters but tab, newline and return).
_ILLEGAL = {c: None for c in (*range(0, 9), 11, 12, *range(14, 32))}


@dataclass(frozen=True)
class ListValidation:
    """A drop-down on a column's data cells: only `values` may be chosen (or the cell left
    empty). `column` is 0-based; `title` and `message` show when something else is typed."""

    column: int
    values: tuple[str, ...]
    title: str = "Not one of the choices"
    message: str = "Choose a value from the list."

    def __post_init__(self) -> None:
        formula = '"' + ",".join(self.values) + '"'
        if not self.values or any("," in v or '"' in v or not v for v in self.values):
            raise ValueError('list validation values must be non-empty, without , or "')
        if len(formula) > LIST_FORMULA_MAX:
            raise ValueError(f"list validation values exceed {LIST_FORMULA_MAX} characters")


def _validations(items: Sequence[ListValidation], last_row: int) -> str:
    """The <dataValidations> element. CT_Worksheet (ECMA-376 part 1, sml.xsd) is a sequence:
    sheetData, sheetCalcPr, sheetProtection, protectedRanges, scenarios, autoFilter,
    sortState, dataConsolidate, customSheetViews, mergeCells, phoneticPr,
    conditionalFormatting, dataValidations, hyperlinks, ...; these sheets have none of the
    ones between, so it follows sheetData directly."""
    if not items:
        return ""

    def attr(text: str) -> str:
        return escape(text.translate(_ILLEGAL), {'"': "&quot;"})

    parts = []
    for item in items:
        col = _column(item.column)
        formula = escape('"' + ",".join(item.values) + '"')
        parts.append(
            f'<dataValidation type="list" allowBlank="1" showErrorMessage="1" '
            f'errorTitle="{attr(item.title[:32])}" error="{attr(item.message[:255])}" '
            f'sqref="{col}2:{col}{max(last_row, 2)}"><formula1>{formula}</formula1>'
            "</dataValidation>"
        )
    return f'<dataValidations count="{len(parts)}">{"".join(parts)}</dataValidations>'


def _column(index: int) -> str:
    """A, B, ..., Z, AA, ... for the 0-based column `index`."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _cell(ref: str, value: object, style: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = escape(str(value).translate(_ILLEGAL))
        return f'<c r="{ref}" t="inlineStr"{style}><is><t xml:space="preserve">{text}</t></is></c>'
    return f'<c r="{ref}"{style}><v>{value!r}</v></c>'


def _row(number: int, values: Sequence, columns: list[str], style: str = "") -> str:
    cells = "".join(
        _cell(f"{columns[i]}{number}", v, style) for i, v in enumerate(values[: len(columns)])
    )
    return f'<row r="{number}">{cells}</row>'


def rows_sql(cells: str, number: str, width: int, neutralise: Callable[[str], str]) -> str:
    """SQL making the `<row>` XML of one row in the database, as `write` makes it in Python
    (for large downloads: DuckDB renders the rows, Python only zips them): `cells` a
    VARCHAR[] expression, `number` the row's number in the sheet (2 for the first row
    after the header), `neutralise` the formula guard wrapped round each cell."""
    parts = []
    for i in range(width):
        value = neutralise(f"{cells}[{i + 1}]")
        text = f"regexp_replace({value}, '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]', '', 'g')"
        for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            text = f"replace({text}, '{raw}', '{entity}')"
        parts.append(
            f"CASE WHEN {cells}[{i + 1}] IS NULL THEN '' ELSE '<c r=\"{_column(i)}' || "
            f'{number} || \'" t="inlineStr"><is><t xml:space="preserve">\' || {text} '
            "|| '</t></is></c>' END"
        )
    return f"'<row r=\"' || {number} || '\">' || " + " || ".join(parts or ["''"]) + " || '</row>'"


def write(
    target: Path | IO[bytes],
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence],
    validations: Sequence[ListValidation] = (),
) -> None:
    """The workbook: a sheet called `title` (up to 31 characters), `header` in bold and
    frozen, then `rows`, with drop-downs on the columns `validations` name; to a path or an
    open binary handle."""
    columns = [_column(i) for i in range(len(header))]

    def rendered() -> Iterator[str]:
        for number, row in enumerate(rows, start=2):
            yield _row(number, row, columns)

    write_rendered(target, title, header, rendered(), validations)


def write_rendered(
    target: Path | IO[bytes],
    title: str,
    header: Sequence[str],
    rows: Iterable[str],
    validations: Sequence[ListValidation] = (),
) -> None:
    """The workbook of `write`, from rows already rendered as `<row>` XML (`rows_sql`)."""
    name = escape(title[:31].translate(_ILLEGAL), {'"': "&quot;"}) or "Sheet1"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK.format(title=name))
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/styles.xml", STYLES)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(SHEET_HEAD.encode())
            columns = [_column(i) for i in range(len(header))]
            sheet.write(_row(1, header, columns, ' s="1"').encode())
            chunk: list[str] = []
            count = 0
            for row in rows:
                chunk.append(row)
                count += 1
                if len(chunk) >= 2_000:
                    sheet.write("".join(chunk).encode())
                    chunk = []
            tail = SHEET_TAIL + _validations(validations, count + 1) + "</worksheet>"
            sheet.write(("".join(chunk) + tail).encode())
