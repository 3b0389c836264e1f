"""Organiser downloads: for every activation list a CSV and an XLSX per group (region, a
postal code prefix, any expression in the list's `group_by`, or `team`: one per team in
teams.yaml, a person in two teams in both, people in none in `no-team`), with only the list's
columns, only people its channel may reach, safe to open in a spreadsheet, and an
`index.html` beside them. The whole folder is built beside EXPORTS_DIR and swapped in at
once: a failure leaves the previous exports as they were. Groundswell marks the folders it
makes and never replaces or removes one it did not make. `group_by` and `order_by` run in
the config sandbox (transforms/config_sql.py), over the list's rows only."""

from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa

from transforms import xlsx
from transforms.config_sql import ConfigSandbox, error_kind, referenced_columns
from transforms.ladder_config import ASK, ActivationList, Ladder, LadderConfigError, quote
from transforms.segment_keys import list_segment
from transforms.segments import (
    CHANNEL_RULES,
    LIST_TABLE,
    TEAM,
    list_failure,
    prepare_list_input,
    team_column,
)
from transforms.teams_config import NO_TEAM
from warehouse.load import utcnow

# A cell starting with one of these is run as a formula by Excel and its kin.
FORMULA_START = r"^[=+\-@\t\r]"
# Except a plain signed number such as a phone number, `+44 20 7946 0958`: evaluated, it is
# only itself, so it stays as it is (and in XLSX it is stored as text anyway).
PLAIN_NUMBER = r"^[+\-]?[0-9][0-9 .]*$"
_FORMULA, _PLAIN, _FORMULA_FIRST = re.compile(FORMULA_START), re.compile(PLAIN_NUMBER), "=+-@\t\r"
UNGROUPED = "all"
NO_GROUP = "unassigned"  # people whose group is empty; no group's own file takes the name
# `group_by: team`: one part per team (a person in two teams is in both), and people in no
# team in a part of their own.
NO_TEAM_FILE = NO_TEAM.replace(" ", "-")
# In every folder Groundswell makes for exports: only a folder holding it (or an export
# folder from before the mark, see `_made_by_groundswell`) is ever replaced or removed.
MARKER = ".groundswell-exports"
MARKER_TEXT = "Made by Groundswell: this folder is rebuilt whole on every run.\n"
LIST_ROWS = "_list_rows"
DEFAULT_ORDER = "family_name NULLS LAST, given_name NULLS LAST"
# Names Windows will not create as files.
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(10)}
# Who may be exported on each channel: CHANNEL_RULES, checked again at export time. An
# email or phone a person opted out of is left blank wherever a list's columns show it (on
# a `both`, `post` or `door` list, or the other channel of an email or phone list).


class ExportsFolderError(ValueError):
    """EXPORTS_DIR is a folder Groundswell did not make; nothing was written or removed."""


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


def formula_guard(expression: str) -> str:
    """SQL: the value as text, prefixed with a quote where a spreadsheet would evaluate it."""
    text = f"CAST({expression} AS VARCHAR)"
    return (
        f"CASE WHEN regexp_matches({text}, '{FORMULA_START}') "
        f"AND NOT regexp_matches({text}, '{PLAIN_NUMBER}') THEN '''' || {text} "
        f"ELSE {text} END"
    )


def neutralised(expression: str, alias: str) -> str:
    """The value as text, prefixed with a quote where a spreadsheet would evaluate it."""
    return f"{formula_guard(expression)} AS {alias}"


def safe_name(value: str | None) -> str:
    """A readable file name anyone's system accepts: lower-case letters of any script and
    digits, accents dropped, anything else a dash; empty when nothing readable is left."""
    text = unicodedata.normalize("NFKD", value or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    # Recomposed, so Hangul and kana stay whole characters.
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c if c.isalnum() else "-" for c in text)
    text = re.sub(r"-+", "-", text).strip("-")[:60].strip("-")
    return f"_{text}" if text in _RESERVED else text


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def list_rows(
    con: duckdb.DuckDBPyConnection, sandbox: ConfigSandbox, activation: ActivationList
) -> None:
    """The list's members with their reason, only the columns its export reads, handed to
    the sandbox as `_list_rows`."""
    available = [*sandbox.columns, "reason", ASK]
    expressions = [e for e in (activation.group_by, activation.order_by or DEFAULT_ORDER) if e]
    needed = set(referenced_columns(expressions, available))
    needed |= {"person_id", "reason", "email_suppressed", "phone_suppressed", "email", "phone"}
    needed |= {"post_reachable", "door_reachable"}
    needed |= set(activation.export_columns())
    columns = ", ".join(f'"{c}"' for c in available if c in needed)
    table = con.sql(
        f"""
        SELECT {columns} FROM (
            SELECT i.*, {team_column("i")}, s.reason, s.ask
            FROM segment_members s
            JOIN {LIST_TABLE} i USING (person_id)
            WHERE s.segment = {quote(list_segment(activation.name))}
        )
        """
    ).to_arrow_table()
    sandbox.add(LIST_ROWS, table)


def list_query(activation: ActivationList, keyed: bool = False) -> str:
    """The list's rows from `_list_rows` (its members with their reason): only its
    columns, neutralised, plus `__group` (NULL when blank), in its order; `keyed` adds
    `__person_id` and `__position` after `__group` (the portal splits the rows by team)."""
    selected = []
    for column in activation.export_columns():
        source = column
        if column in ("email", "phone"):
            source = f"CASE WHEN {column}_suppressed THEN NULL ELSE {column} END"
        selected.append(neutralised(source, f'"{column}"'))
    group = "NULL"
    if by_team(activation):
        # One row per team the person is in; NULL (their own part) for people in none.
        group = f"unnest(CASE WHEN len({TEAM}) = 0 THEN [NULL::VARCHAR] ELSE {TEAM} END)"
    elif activation.group_by is not None:
        group = f"nullif(trim(CAST((\n{activation.group_by}\n) AS VARCHAR)), '')"
    order = activation.order_by or DEFAULT_ORDER
    keys = ", person_id AS __person_id, __position" if keyed else ""
    return f"""
        SELECT {", ".join(selected)}, {group} AS __group{keys}
        FROM (
            -- Ordered here, on the typed columns: the outer names are the text cells.
            SELECT *, row_number() OVER (ORDER BY {order}\n, person_id) AS __position
            FROM {LIST_ROWS}
            WHERE {CHANNEL_RULES[activation.channel]}
        )
        ORDER BY __position
    """


def list_export_rows(
    con: duckdb.DuckDBPyConnection,
    sandbox: ConfigSandbox,
    ladder: Ladder,
    activation: ActivationList,
) -> pa.Table:
    """Every row of the list's downloads, exactly as the exports write them (its columns,
    neutralised, only people its channel may reach), with `__group`, `__person_id` and
    `__position` (its order); `sandbox` from `prepare_list_input`. A grouping or order
    that fails on the data raises LadderConfigError naming the list, never a value."""
    list_rows(con, sandbox, activation)
    failed = False
    try:
        table = sandbox.query(list_query(activation, keyed=True))
    except duckdb.Error as exc:
        failed, kind = True, error_kind(exc)
    if failed:  # raised outside the `except`: no trace of DuckDB's message
        raise LadderConfigError(
            list_failure(sandbox, ladder, activation, LIST_ROWS, kind, ("order_by", "group_by"))
        )
    return table


def by_team(activation: ActivationList) -> bool:
    """`group_by: team`: the list is split by the teams in teams.yaml."""
    return (activation.group_by or "").strip().lower() == TEAM


def write_list_exports(
    con: duckdb.DuckDBPyConnection,
    ladder: Ladder,
    exports_dir: Path,
    now: datetime | None = None,
) -> ExportReport:
    """Rebuild every list's downloads and swap them in for the old ones. Refuses, before
    anything is written, an EXPORTS_DIR holding files Groundswell did not put there."""
    now = now or utcnow()
    exports_dir = Path(exports_dir)
    target = exports_dir.resolve()
    check_exports_dir(target)
    with prepare_list_input(con, ladder, now) as sandbox:
        target.parent.mkdir(parents=True, exist_ok=True)
        _recover(target)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        try:
            (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
            report = ExportReport(made_at=now, folder=exports_dir)
            for activation in ladder.lists:
                report.files.extend(_write_list(con, sandbox, ladder, activation, staging))
            (staging / "index.html").write_text(index_html(ladder, report), encoding="utf-8")
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return report


def _list_groups(
    con: duckdb.DuckDBPyConnection,
    sandbox: ConfigSandbox,
    ladder: Ladder,
    activation: ActivationList,
) -> dict[str | None, list[tuple]]:
    """The list's rows per group value, in the list's order, from the sandbox. A grouping
    or order that fails on the data is named, never with a person's value."""
    list_rows(con, sandbox, activation)
    groups: dict[str | None, list[tuple]] = {}
    failed = False
    try:
        cursor = sandbox.con.execute(list_query(activation))
        while batch := cursor.fetchmany(10_000):
            for row in batch:
                groups.setdefault(row[-1] if activation.group_by else None, []).append(row[:-1])
    except duckdb.Error as exc:
        failed, kind = True, error_kind(exc)
    if failed:  # raised outside the `except`: no trace of DuckDB's message
        # `where` already ran when the list was built; the export adds the order and groups.
        raise LadderConfigError(
            list_failure(sandbox, ladder, activation, LIST_ROWS, kind, ("order_by", "group_by"))
        )
    return groups


def _write_list(
    con: duckdb.DuckDBPyConnection,
    sandbox: ConfigSandbox,
    ladder: Ladder,
    activation: ActivationList,
    staging: Path,
) -> list[ExportFile]:
    groups = _list_groups(con, sandbox, ladder, activation)
    header = list(activation.export_columns())
    folder = staging / activation.name
    folder.mkdir()
    if activation.group_by is None or not groups:  # an empty list still gets its files
        named = {UNGROUPED: groups.get(None, [])}
    else:
        named = _name_groups(groups, NO_TEAM_FILE if by_team(activation) else NO_GROUP)
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


def _name_groups(
    groups: dict[str | None, list[tuple]], no_group: str = NO_GROUP
) -> dict[str, list[tuple]]:
    """Each group under a readable, distinct file name. People with no group get
    `no_group` (`unassigned`; `no-team` for a list split by team), which no group's own
    value takes; values that clean to the same name (`North East`, `north-east`) or to
    none (`★`) are told apart by a short hash of the value, the first in sorted order
    keeping the plain name: the same values always get the same names."""
    named: dict[str, list[tuple]] = {}
    if None in groups:
        named[no_group] = groups[None]
    taken = {no_group, "index"}
    for value in sorted(v for v in groups if v is not None):
        base = safe_name(value)
        name = base if base and base not in taken else f"{base or 'group'}-{_short_hash(value)}"
        n = 1
        while name in taken:  # a hash that meets another value's plain name
            n += 1
            name = f"{base or 'group'}-{_short_hash(value)}-{n}"
        taken.add(name)
        named[name] = groups[value]
    return named


def write_csv(target: Path | IO[str], header: list[str], rows: Iterable[Sequence]) -> None:
    """A list's CSV: the header, then the rows (already neutralised text), to a path or an
    open text handle (opened with newline="")."""
    if not isinstance(target, Path):
        writer = csv.writer(target)
        writer.writerow(header)
        writer.writerows(rows)
        return
    with open(target, "w", newline="", encoding="utf-8") as handle:
        write_csv(handle, header, rows)


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    write_csv(path, header, rows)


def _cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not value or value[0] not in _FORMULA_FIRST:
        return value
    # Already neutralised in SQL; kept here so no cell is ever a formula.
    if _FORMULA.match(value) and not _PLAIN.match(value):
        value = "'" + value
    return value


def _write_xlsx(path: Path, title: str, header: list[str], rows: list[tuple]) -> None:
    write_xlsx(path, title, header, rows)


def xlsx_rows_sql(cells: str, number: str, width: int) -> str:
    """SQL rendering a row of `cells` (a VARCHAR[] of `width` list cells) as the XML
    `write_xlsx` writes, formula guard included: for `write_xlsx_rendered`."""
    return xlsx.rows_sql(cells, number, width, formula_guard)


def write_xlsx_rendered(
    target: Path | IO[bytes], title: str, header: list[str], rows: Iterable[str]
) -> None:
    """The workbook of `write_xlsx` from rows rendered by `xlsx_rows_sql`."""
    xlsx.write_rendered(target, title, header, rows)


def write_xlsx(
    target: Path | IO[bytes], title: str, header: list[str], rows: Iterable[Sequence]
) -> None:
    """A list's workbook: one sheet named after the list, a bold frozen header, and every
    cell text, never a formula (control characters xlsx cannot hold are dropped); to a
    path or an open binary handle."""
    xlsx.write(target, title, header, ([_cell(v) for v in row] for row in rows))


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


def check_exports_dir(target: Path) -> None:
    """Refuse an exports folder Groundswell did not make, before anything is written: it
    is replaced whole on every run, and must never be a folder holding anything else."""
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir():
        raise ExportsFolderError(
            f"EXPORTS_DIR {target}: is a file, not a folder. Point EXPORTS_DIR at a new or "
            "empty folder (the default is data/exports)."
        )
    if _made_by_groundswell(target) or not any(target.iterdir()):
        return
    entries = sum(1 for _ in target.iterdir())
    raise ExportsFolderError(
        f"EXPORTS_DIR {target}: holds {entries} file(s) or folder(s) Groundswell did not "
        "put there, and the exports folder is replaced whole on every run, so nothing was "
        "written or removed. Point EXPORTS_DIR at a new or empty folder of its own (the "
        "default is data/exports), never at the data folder, the forms inbox or backups."
    )


def _made_by_groundswell(folder: Path) -> bool:
    """The folder carries Groundswell's mark, or is an exports folder from before the mark:
    its index.html and, beside it, only folders of CSV and XLSX files."""
    if (folder / MARKER).is_file():
        return True
    index = folder / "index.html"
    try:
        if "<title>Groundswell organiser lists</title>" not in index.read_text("utf-8"):
            return False
    except (OSError, UnicodeDecodeError):
        return False
    for entry in folder.iterdir():
        if entry == index:
            continue
        if entry.is_symlink() or not entry.is_dir():
            return False
        for item in entry.iterdir():
            if item.is_symlink() or not item.is_file() or item.suffix not in (".csv", ".xlsx"):
                return False
    return True


def _remove_ours(folder: Path) -> None:
    """Remove a folder Groundswell made (or an empty one); leave anything else alone."""
    if folder.is_symlink() or not folder.is_dir():
        return
    if _made_by_groundswell(folder):
        shutil.rmtree(folder, ignore_errors=True)
    elif not any(folder.iterdir()):
        folder.rmdir()


def _recover(target: Path) -> None:
    """Clean up after a run that died mid-swap: put the old exports back if the new ones
    never arrived, and remove half-built folders (only ever Groundswell's own)."""
    parent, name = target.parent, target.name
    olds = sorted(
        (p for p in parent.glob(f".{name}.old-*") if _made_by_groundswell(p)),
        key=lambda p: p.stat().st_mtime,
    )
    if olds and not target.exists():
        os.replace(olds.pop(), target)
    for leftover in [*olds, *parent.glob(f".{name}.tmp-*")]:
        _remove_ours(leftover)


def _swap_in(staging: Path, target: Path) -> None:
    """Move the finished folder into place; the old one (checked to be Groundswell's, or
    empty) is removed only once it is."""
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
    _remove_ours(old)
