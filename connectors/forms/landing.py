"""Landing form exports: every CSV and every sheet of every workbook in the inbox once by
content hash, bad rows quarantined.
Every message names the file, row, line or column and what to do, never a cell value."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from connectors.forms.reader import FormExport, FormExportError, list_exports, read_form_export
from connectors.forms.spreadsheets import is_workbook, read_workbook
from connectors.landing import Log
from warehouse.load import append, transaction, utcnow

# Quarantined rows logged one by one per file; the rest are counted (all are in `quarantine`).
SHOWN_PROBLEMS = 5


@dataclass
class FormsReport:
    files_loaded: int = 0
    files_unchanged: int = 0
    files_skipped: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_cleaned: int = 0
    duplicate_columns: int = 0

    def metadata(self) -> dict[str, Any]:
        return {
            "files_loaded": self.files_loaded,
            "files_unchanged": self.files_unchanged,
            "files_skipped": len(self.files_skipped),
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "rows_cleaned": self.rows_cleaned,
            "duplicate_columns": self.duplicate_columns,
        }


def land_form_exports(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    batch_id: str,
    log: Log,
    warn: Log,
    column_maps: dict[str, dict[str, str]] | None = None,
) -> FormsReport:
    """Every CSV and workbook sheet in the inbox, once by content hash. A bad file is skipped
    with its name and problem; bad rows are quarantined with their reason; good rows always
    load."""
    report = FormsReport()
    known = {row[0] for row in con.execute("SELECT file_hash FROM form_files").fetchall()}
    for path in list_exports(inbox):
        try:
            mapping = next(
                (m for pattern, m in (column_maps or {}).items() if fnmatch(path.name, pattern)),
                None,
            )
            exports = read_exports(path, mapping, warn)
        except FormExportError as exc:
            report.files_skipped.append(path.name)
            warn(f"Skipped form export {exc}")
            continue
        except OSError as exc:
            report.files_skipped.append(path.name)
            warn(f"Skipped form export {path.name}: cannot read it ({exc.strerror})")
            continue
        fresh = [e for e in exports if e.content_hash not in known]
        if not fresh:
            report.files_unchanged += 1
            continue
        for export in fresh:
            _land_form_export(con, export, batch_id)
            known.add(export.content_hash)
            report.rows_loaded += len(export.rows)
            report.rows_quarantined += len(export.problems)
            report.rows_cleaned += export.rows_cleaned
            report.duplicate_columns += export.duplicate_columns
            _say_how_it_went(export, log, warn)
        report.files_loaded += 1
    return report


def read_exports(path: Path, mapping: dict[str, str] | None, warn: Log) -> list[FormExport]:
    """A CSV as one export, a workbook as one per loadable sheet; the sheets a workbook
    skips are named in a warning (file and sheet, never a cell)."""
    if not is_workbook(path):
        return [read_form_export(path, mapping)]
    workbook = read_workbook(path, mapping)
    for note in workbook.skipped_sheets:
        warn(f"Skipped part of form export {path.name}: {note}")
    return workbook.exports


def _say_how_it_went(export: FormExport, log: Log, warn: Log) -> None:
    """One line for the file, its warnings and its first quarantined rows: file, row,
    line and what to do, never a cell value (rule 5)."""
    log(
        f"Loaded {export.where} as {export.layout} ({export.encoding}): "
        f"{len(export.rows)} rows, {len(export.problems)} quarantined"
    )
    for note in export.warnings:
        warn(f"{export.where}: {note}")
    for problem in export.problems[:SHOWN_PROBLEMS]:
        warn(f"{export.where} row {problem.row_number}: {problem.reason}")
    hidden = len(export.problems) - SHOWN_PROBLEMS
    if hidden > 0:
        warn(
            f"{export.where}: {hidden} more quarantined row(s); the quarantine table "
            "holds each with its row number and reason"
        )


def _land_form_export(con: duckdb.DuckDBPyConnection, export: FormExport, batch_id: str) -> None:
    now = utcnow()
    # A sheet is kept as 'book.xlsx:Sheet1': staging's record id (file_name:row_number) and
    # its latest-file rule then work per sheet; the payload names file and sheet apart.
    where = {} if export.sheet is None else {"file": export.file_name, "sheet": export.sheet}
    rows = pd.DataFrame(
        {
            "file_hash": export.content_hash,
            "file_name": export.stored_name,
            "row_number": [r.row_number for r in export.rows],
            "layout": export.layout,
            "payload": [
                json.dumps({"fields": r.fields, "answers": r.answers, **where}, ensure_ascii=False)
                for r in export.rows
            ],
            "batch_id": batch_id,
            "loaded_at": now,
        }
    )
    problems = pd.DataFrame(
        {
            "source": "forms",
            "file_name": export.stored_name,
            "row_number": [p.row_number for p in export.problems],
            "reason": [p.reason for p in export.problems],
            "payload": [json.dumps(p.cells, ensure_ascii=False) for p in export.problems],
            "batch_id": batch_id,
            "recorded_at": now,
        }
    )
    with transaction(con):
        append(con, "raw_forms", rows)
        append(con, "quarantine", problems)
        con.execute(
            "INSERT INTO form_files VALUES (?, ?, ?, ?, ?, ?, ?, 'loaded', NULL, ?)",
            [
                export.content_hash,
                export.stored_name,
                export.layout,
                export.encoding,
                export.delimiter,
                len(export.rows),
                len(export.problems),
                now,
            ],
        )
