"""Organiser downloads: for every activation list a CSV and an XLSX per group (region, a
postal code prefix, any expression in the list's `group_by`), with only the list's
columns, only people its channel may reach, safe to open in a spreadsheet, and an
`index.html` beside them. The whole folder is built beside EXPORTS_DIR and swapped in at
once: a failure leaves the previous exports as they were."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from transforms.ladder_config import ActivationList, Ladder, quote
from transforms.segments import EMAIL_OK, LIST_INPUT, PHONE_OK, prepare_list_input
from warehouse.load import utcnow

# A cell starting with one of these is run as a formula by Excel and its kin.
FORMULA_START = r"^[=+\-@\t\r]"
# Except a plain signed number such as a phone number, `+44 20 7946 0958`: evaluated, it is
# only itself, so it stays as it is (and in XLSX it is stored as text anyway).
PLAIN_NUMBER = r"^[+\-]?[0-9][0-9 .]*$"
UNGROUPED = "all"
NO_GROUP = "unassigned"
# Names Windows will not create as files.
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(10)}
# Who may be exported on each channel; on a two-channel list the channel a person opted
# out of is left blank instead.
EXPORT_RULES = {"email": EMAIL_OK, "phone": PHONE_OK, "both": f"({EMAIL_OK} OR {PHONE_OK})"}


@dataclass(frozen=True)
class ExportFile:
    list_name: str
    group: str  # the safe name, also the file's stem
    csv: str  # paths relative to the exports folder
    xlsx: str
    rows: int


@dataclass
class ExportReport:
    made_at: datetime
    folder: Path
    files: list[ExportFile] = field(default_factory=list)

    def rows_per_list(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.files:
            counts[item.list_name] = counts.get(item.list_name, 0) + item.rows
        return counts

    def groups_per_list(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.files:
            counts[item.list_name] = counts.get(item.list_name, 0) + 1
        return counts

    def paths(self) -> list[str]:
        return [p for item in self.files for p in (item.csv, item.xlsx)]


def neutralised(expression: str, alias: str) -> str:
    """The value as text, prefixed with a quote where a spreadsheet would evaluate it."""
    text = f"CAST({expression} AS VARCHAR)"
    return (
        f"CASE WHEN regexp_matches({text}, '{FORMULA_START}') "
        f"AND NOT regexp_matches({text}, '{PLAIN_NUMBER}') THEN '''' || {text} "
        f"ELSE {text} END AS {alias}"
    )


def safe_name(value: str | None) -> str:
    """A file name anyone's system accepts: lower-case ASCII letters, digits and dashes."""
    text = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60].strip("-")
    if not text:
        return NO_GROUP
    return f"_{text}" if text in _RESERVED else text


def list_query(activation: ActivationList) -> str:
    """The list's rows: only its columns, neutralised, plus `__group`, in its order."""
    selected = []
    for column in activation.columns:
        source = column
        if activation.channel == "both" and column in ("email", "phone"):
            source = f"CASE WHEN {column}_suppressed THEN NULL ELSE {column} END"
        selected.append(neutralised(source, f'"{column}"'))
    group = "NULL" if activation.group_by is None else f"CAST(({activation.group_by}) AS VARCHAR)"
    order = activation.order_by or "family_name NULLS LAST, given_name NULLS LAST"
    return f"""
        SELECT {", ".join(selected)}, {group} AS __group
        FROM (
            -- Ordered here, on the typed columns: the outer names are the text cells.
            SELECT *, row_number() OVER (ORDER BY {order}, person_id) AS __position
            FROM (
                SELECT i.*, s.reason
                FROM segment_members s
                JOIN {LIST_INPUT} i USING (person_id)
                WHERE s.segment = {quote("list:" + activation.name)}
            )
            WHERE {EXPORT_RULES[activation.channel]}
        )
        ORDER BY __position
    """


def write_list_exports(
    con: duckdb.DuckDBPyConnection,
    ladder: Ladder,
    exports_dir: Path,
    now: datetime | None = None,
) -> ExportReport:
    """Rebuild every list's downloads and swap them in for the old ones."""
    now = now or utcnow()
    exports_dir = Path(exports_dir)
    prepare_list_input(con, ladder, now)
    exports_dir.parent.mkdir(parents=True, exist_ok=True)
    _recover(exports_dir)
    staging = Path(tempfile.mkdtemp(dir=exports_dir.parent, prefix=f".{exports_dir.name}.tmp-"))
    try:
        report = ExportReport(made_at=now, folder=exports_dir)
        for activation in ladder.lists:
            report.files.extend(_write_list(con, activation, staging))
        (staging / "index.html").write_text(index_html(ladder, report), encoding="utf-8")
        _swap_in(staging, exports_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _write_list(
    con: duckdb.DuckDBPyConnection, activation: ActivationList, staging: Path
) -> list[ExportFile]:
    cursor = con.execute(list_query(activation))
    header = list(activation.columns)
    groups: dict[str | None, list[tuple]] = {}
    while batch := cursor.fetchmany(10_000):
        for row in batch:
            groups.setdefault(row[-1] if activation.group_by else None, []).append(row[:-1])
    folder = staging / activation.name
    folder.mkdir()
    if activation.group_by is None or not groups:  # an empty list still gets its files
        named = {UNGROUPED: groups.get(None, [])}
    else:
        named = _name_groups(groups)
    written = []
    for name, rows in named.items():
        _write_csv(folder / f"{name}.csv", header, rows)
        _write_xlsx(folder / f"{name}.xlsx", activation.name, header, rows)
        written.append(
            ExportFile(
                activation.name,
                name,
                f"{activation.name}/{name}.csv",
                f"{activation.name}/{name}.xlsx",
                len(rows),
            )
        )
    return written


def _name_groups(groups: dict[str | None, list[tuple]]) -> dict[str, list[tuple]]:
    """Each group under a safe, distinct file name; values that clean to the same name
    (`North East`, `north-east`) get `-2`, `-3` in sorted order, never merged."""
    named: dict[str, list[tuple]] = {}
    for value in sorted(groups, key=lambda v: (v is None, v or "")):
        base = safe_name(value) if value is not None and value.strip() else NO_GROUP
        name, n = base, 1
        while name in named or name == "index":
            n += 1
            name = f"{base}-{n}"
        named[name] = groups[value]
    return named


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters xlsx cannot hold
    # Already neutralised in SQL; kept here so nothing reaches openpyxl as a formula.
    if re.match(FORMULA_START, value) and not re.match(PLAIN_NUMBER, value):
        value = "'" + value
    return value


def _write_xlsx(path: Path, title: str, header: list[str], rows: list[tuple]) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    bold = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        bold.append(cell)
    sheet.append(bold)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=_cell(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
            cells.append(cell)
        sheet.append(cells)
    workbook.save(path)


def index_html(ladder: Ladder, report: ExportReport) -> str:
    """A page listing every file with its row count and when it was made; no personal data."""
    made = report.made_at.strftime("%Y-%m-%d %H:%M UTC")
    descriptions = {a.name: a.description for a in ladder.lists}
    rows = []
    for item in report.files:
        e = html.escape
        rows.append(
            "<tr>"
            f"<td>{e(item.list_name)}</td>"
            f"<td>{e(descriptions.get(item.list_name, ''))}</td>"
            f"<td>{e(item.group)}</td>"
            f"<td>{item.rows}</td>"
            f'<td><a href="{e(item.csv, quote=True)}">{e(item.csv)}</a></td>'
            f'<td><a href="{e(item.xlsx, quote=True)}">{e(item.xlsx)}</a></td>'
            f"<td>{e(made)}</td>"
            "</tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="7">No activation lists are configured.</td></tr>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Groundswell organiser lists</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }}
</style>
</head>
<body>
<h1>Organiser lists</h1>
<p>Made {html.escape(made)}. Each list is split by area; open yours as CSV or Excel.</p>
<table>
<thead><tr><th>list</th><th>what it is</th><th>group</th><th>rows</th><th>CSV</th>
<th>Excel</th><th>made</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""


def _recover(target: Path) -> None:
    """Clean up after a run that died mid-swap: put the old exports back if the new ones
    never arrived, and remove half-built folders."""
    parent, name = target.parent, target.name
    olds = sorted(parent.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not target.exists():
        os.replace(olds.pop(), target)
    for leftover in [*olds, *parent.glob(f".{name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    """Move the finished folder into place; the old one is removed only once it is."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
