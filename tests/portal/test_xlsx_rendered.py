"""Large downloads render their XLSX rows in DuckDB (transforms/exports.py xlsx_rows_sql):
the sheet is byte for byte the one the exports' Python writer makes, formula guard,
escaping and dropped control characters included."""

from __future__ import annotations

import io
import zipfile

import duckdb
from openpyxl import load_workbook

from transforms.exports import write_xlsx, write_xlsx_rendered, xlsx_rows_sql

HEADER = ["a", "b", "c", "d", "e", "f", "g", "h"]
NASTY = [
    '=HYPERLINK("http://x","y")',  # a formula: quoted
    "a<b&c>",
    None,
    "+44 20 7946 0958",  # a plain signed number: left as it is
    "tab\x01x",  # a control character xlsx cannot hold
    "-2+3",
    "@SUM(1)",
    " spaced ",
]


def sheet_xml(workbook: bytes) -> bytes:
    return zipfile.ZipFile(io.BytesIO(workbook)).read("xl/worksheets/sheet1.xml")


def test_rows_rendered_in_duckdb_make_the_same_sheet_as_the_python_writer():
    rows = [NASTY, list(reversed(NASTY)), [None] * 8]
    python = io.BytesIO()
    write_xlsx(python, "list", HEADER, rows)
    con = duckdb.connect()
    con.execute("CREATE TABLE r (cells VARCHAR[], position INTEGER)")
    con.executemany("INSERT INTO r VALUES (?, ?)", [(row, i) for i, row in enumerate(rows)])
    rendered = [
        r[0]
        for r in con.execute(
            f"SELECT {xlsx_rows_sql('cells', 'n', len(HEADER))} FROM (SELECT cells, "
            "row_number() OVER (ORDER BY position) + 1 AS n FROM r) ORDER BY n"
        ).fetchall()
    ]
    sql = io.BytesIO()
    write_xlsx_rendered(sql, "list", HEADER, rendered)
    assert sheet_xml(sql.getvalue()) == sheet_xml(python.getvalue())
    sheet = load_workbook(io.BytesIO(sql.getvalue())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == HEADER
    assert values[1][:2] == ["'" + NASTY[0], "a<b&c>"]
    assert values[1][3:7] == ["+44 20 7946 0958", "tabx", "'-2+3", "'@SUM(1)"]
    assert all(c.data_type == "s" for row in sheet.iter_rows() for c in row if c.value)
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b


def test_a_drop_down_on_rendered_rows_is_the_one_the_python_writer_makes():
    from transforms import xlsx

    rows = [["p-1", None], ["p-2", None]]
    choices = [xlsx.ListValidation(1, ("reached", "said_no"))]
    python = io.BytesIO()
    xlsx.write(python, "list", ["person_id", "outcome"], rows, choices)
    con = duckdb.connect()
    rendered = [
        r[0]
        for r in con.execute(
            f"SELECT {xlsx_rows_sql('c', 'n', 1)} FROM (VALUES (['p-1'], 2), (['p-2'], 3)) "
            "t(c, n) ORDER BY n"
        ).fetchall()
    ]
    sql = io.BytesIO()
    xlsx.write_rendered(sql, "list", ["person_id", "outcome"], rendered, choices)
    assert sheet_xml(sql.getvalue()) == sheet_xml(python.getvalue())
    [found] = load_workbook(io.BytesIO(sql.getvalue())).active.data_validations.dataValidation
    assert str(found.sqref) == "B2:B3" and found.formula1 == '"reached,said_no"'
