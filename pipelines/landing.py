"""Landing: connector pages into raw tables, in bulk, each page committed before the next
is asked for; cursors advance only after the data they cover is committed. This is glue
between connectors/ and warehouse/, which may not import each other."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from connectors.action_network import ActionNetworkClient, person_uuid
from connectors.forms import FormExport, FormExportError, list_exports, read_form_export
from connectors.mailchimp import MailchimpClient
from warehouse.load import append, get_cursor, set_cursor, transaction, utcnow

# Platforms do not promise order within a change window: re-read a little before the mark.
WATERMARK_OVERLAP = timedelta(minutes=10)

Log = Callable[[str], None]


@dataclass
class LandingReport:
    pages: int = 0
    records: int = 0
    incremental: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "records": self.records,
            "mode": "incremental" if self.incremental else "full",
            "seconds": round(self.seconds, 1),
            **self.extra,
        }


def _to_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce").dt.tz_convert(None)


def _raw_frame(
    resource: str, ids: list[str], modified: list[Any], records: list[dict], batch_id: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "resource": resource,
            "record_id": ids,
            "modified_at": _to_utc(pd.Series(modified, dtype="object")),
            "payload": [json.dumps(r, separators=(",", ":")) for r in records],
            "batch_id": batch_id,
            "loaded_at": utcnow(),
        }
    )


def _land_pages(
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    source: str,
    resource: str,
    pages: Iterable[list[dict]],
    record_id: Callable[[dict], str | None],
    modified: Callable[[dict], str | None],
    batch_id: str,
    log: Log,
    incremental: bool,
) -> LandingReport:
    report = LandingReport(incremental=incremental)
    started = time.monotonic()
    newest: pd.Timestamp | None = None
    for page in pages:
        kept = [r for r in page if record_id(r)]
        frame = _raw_frame(
            resource, [record_id(r) for r in kept], [modified(r) for r in kept], kept, batch_id
        )
        with transaction(con):
            append(con, table, frame)
        report.pages += 1
        report.records += len(frame)
        page_newest = frame["modified_at"].max()
        if pd.notna(page_newest) and (newest is None or page_newest > newest):
            newest = page_newest
        if report.pages % 20 == 0:
            rate = report.records / max(time.monotonic() - started, 1e-6)
            log(
                f"{source} {resource}: {report.pages} pages, {report.records} records ({rate:.0f}/s)"
            )
    if newest is not None:
        # Unordered collections: only a finished pass may move the mark.
        with transaction(con):
            set_cursor(con, source, resource, newest.isoformat())
    report.seconds = time.monotonic() - started
    return report


def _since(con: duckdb.DuckDBPyConnection, source: str, resource: str) -> datetime | None:
    value = get_cursor(con, source, resource)
    return datetime.fromisoformat(value) - WATERMARK_OVERLAP if value else None


def land_action_network_people(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> LandingReport:
    since = _since(con, "action_network", "people")
    return _land_pages(
        con,
        table="raw_action_network",
        source="action_network",
        resource="people",
        pages=client.iter_people_pages(modified_since=since),
        record_id=person_uuid,
        modified=lambda r: r.get("modified_date"),
        batch_id=batch_id,
        log=log,
        incremental=since is not None,
    )


def land_mailchimp_members(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str, log: Log
) -> LandingReport:
    since = _since(con, "mailchimp", "members")
    return _land_pages(
        con,
        table="raw_mailchimp",
        source="mailchimp",
        resource="members",
        pages=client.iter_member_pages(since_last_changed=since),
        record_id=lambda m: m.get("id"),
        modified=lambda m: m.get("last_changed"),
        batch_id=batch_id,
        log=log,
        incremental=since is not None,
    )


@dataclass
class FormsReport:
    files_loaded: int = 0
    files_unchanged: int = 0
    files_skipped: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0

    def metadata(self) -> dict[str, Any]:
        return {
            "files_loaded": self.files_loaded,
            "files_unchanged": self.files_unchanged,
            "files_skipped": len(self.files_skipped),
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
        }


def land_form_exports(
    con: duckdb.DuckDBPyConnection, inbox: Path, batch_id: str, log: Log, warn: Log
) -> FormsReport:
    """Every CSV in the inbox, once by content hash. A bad file is skipped with its name and
    problem; bad rows are quarantined with their reason; good rows always load."""
    report = FormsReport()
    known = {row[0] for row in con.execute("SELECT file_hash FROM form_files").fetchall()}
    for path in list_exports(inbox):
        try:
            export = read_form_export(path)
        except FormExportError as exc:
            report.files_skipped.append(path.name)
            warn(f"Skipped form export {exc}")
            continue
        except OSError as exc:
            report.files_skipped.append(path.name)
            warn(f"Skipped form export {path.name}: cannot read it ({exc.strerror})")
            continue
        if export.content_hash in known:
            report.files_unchanged += 1
            continue
        _land_form_export(con, export, batch_id)
        known.add(export.content_hash)
        report.files_loaded += 1
        report.rows_loaded += len(export.rows)
        report.rows_quarantined += len(export.problems)
        log(
            f"Loaded {export.file_name} as {export.layout} ({export.encoding}): "
            f"{len(export.rows)} rows, {len(export.problems)} quarantined"
        )
        for problem in export.problems[:5]:
            warn(f"{export.file_name} row {problem.row_number}: {problem.reason}")
    return report


def _land_form_export(con: duckdb.DuckDBPyConnection, export: FormExport, batch_id: str) -> None:
    now = utcnow()
    rows = pd.DataFrame(
        {
            "file_hash": export.content_hash,
            "file_name": export.file_name,
            "row_number": [r.row_number for r in export.rows],
            "layout": export.layout,
            "payload": [
                json.dumps({"fields": r.fields, "answers": r.answers}, ensure_ascii=False)
                for r in export.rows
            ],
            "batch_id": batch_id,
            "loaded_at": now,
        }
    )
    problems = pd.DataFrame(
        {
            "source": "forms",
            "file_name": export.file_name,
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
                export.file_name,
                export.layout,
                export.encoding,
                export.delimiter,
                len(export.rows),
                len(export.problems),
                now,
            ],
        )
