"""Landing: connector pages into raw tables, in bulk, each page committed before the next
is asked for; cursors advance only after the data they cover is committed. This is glue
between connectors/ and warehouse/, which may not import each other."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from connectors.action_network import (
    ACTION_RESOURCES,
    ActionNetworkClient,
    person_uuid,
    uuid_from_href,
)
from connectors.errors import BadResponseError
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


PASS = "#pass"
PageSource = Callable[[datetime | None, int], Iterable[list[dict]]]


def _land_pages(
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    source: str,
    resource: str,
    pages: PageSource,
    record_id: Callable[[dict], str | None],
    modified: Callable[[dict], str | None],
    batch_id: str,
    log: Log,
    cursor: str | None = None,
) -> LandingReport:
    """Land every page in its own transaction together with a checkpoint of the pass, so
    a run killed mid-pass resumes at the next page with the same filter. The watermark
    moves only when a pass is complete: these collections are not ordered by change."""
    cursor = cursor or resource
    checkpoint = get_cursor(con, source, cursor + PASS)
    if checkpoint:
        state = json.loads(checkpoint)
        log(f"{source} {resource}: resuming an unfinished pass at page {state['next_page']}")
    else:
        watermark = get_cursor(con, source, cursor)
        since = datetime.fromisoformat(watermark) - WATERMARK_OVERLAP if watermark else None
        state = {"since": since.isoformat() if since else None, "next_page": 1, "newest": None}
    since = datetime.fromisoformat(state["since"]) if state["since"] else None
    report = LandingReport(incremental=since is not None, extra={"resumed": bool(checkpoint)})
    started = time.monotonic()
    try:
        for page in pages(since, state["next_page"]):
            kept = [r for r in page if record_id(r)]
            frame = _raw_frame(
                resource, [record_id(r) for r in kept], [modified(r) for r in kept], kept, batch_id
            )
            page_newest = frame["modified_at"].max()
            if pd.notna(page_newest) and (
                state["newest"] is None or page_newest > pd.Timestamp(state["newest"])
            ):
                state["newest"] = page_newest.isoformat()
            state["next_page"] += 1
            with transaction(con):
                append(con, table, frame)
                set_cursor(con, source, cursor + PASS, json.dumps(state))
            report.pages += 1
            report.records += len(frame)
            if report.pages % 20 == 0:
                rate = report.records / max(time.monotonic() - started, 1e-6)
                log(
                    f"{source} {resource}: {report.pages} pages, {report.records} records ({rate:.0f}/s)"
                )
    except BadResponseError as exc:
        # Keep what arrived: the page is stored with the error, and the checkpoint makes
        # the next run ask for it again.
        _quarantine_page(con, source, resource, state["next_page"], exc, batch_id)
        raise
    with transaction(con):
        if state["newest"]:
            set_cursor(con, source, cursor, state["newest"])
        con.execute(
            "DELETE FROM sync_cursors WHERE source = ? AND resource = ?", [source, cursor + PASS]
        )
    report.seconds = time.monotonic() - started
    return report


def _quarantine_page(
    con: duckdb.DuckDBPyConnection,
    source: str,
    resource: str,
    page: int,
    error: BadResponseError,
    batch_id: str,
) -> None:
    body = error.body.decode("utf-8", errors="replace")
    frame = pd.DataFrame(
        {
            "source": [source],
            "file_name": [f"{resource} page {page}"],
            "row_number": [page],
            "reason": [str(error)],
            "payload": [json.dumps({"status": error.status, "body": body})],
            "batch_id": [batch_id],
            "recorded_at": [utcnow()],
        }
    )
    with transaction(con):
        append(con, "quarantine", frame)


def land_action_network_people(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> LandingReport:
    return _land_an_collection(con, client, "people", batch_id, log)


def land_action_network_actions(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> dict[str, LandingReport]:
    """Petitions, events, forms, fundraising pages and advocacy campaigns, incrementally by
    modified_date, then each one's actions (signatures, attendances, submissions, donations,
    outreaches) as a stream with its own watermark and checkpoint."""
    reports: dict[str, LandingReport] = {}
    for collection, actions in ACTION_RESOURCES.items():
        reports[collection] = _land_an_collection(con, client, collection, batch_id, log)
        object_ids = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT record_id FROM raw_action_network WHERE resource = ? ORDER BY 1",
                [collection],
            ).fetchall()
        ]
        total = LandingReport(incremental=True)
        for object_id in object_ids:
            path = f"{collection}/{object_id}/{actions}"
            report = _land_an_collection(
                con, client, path, batch_id, log, resource=actions, embedded=f"osdi:{actions}"
            )
            total.pages += report.pages
            total.records += report.records
            total.incremental = total.incremental and report.incremental
        reports[actions] = total
    return reports


def _land_an_collection(
    con: duckdb.DuckDBPyConnection,
    client: ActionNetworkClient,
    path: str,
    batch_id: str,
    log: Log,
    *,
    resource: str | None = None,
    embedded: str | None = None,
) -> LandingReport:
    resource = resource or path
    embedded = embedded or f"osdi:{path}"
    return _land_pages(
        con,
        table="raw_action_network",
        source="action_network",
        resource=resource,
        cursor=path,
        pages=lambda since, first: client.iter_pages(
            path, embedded, modified_since=since, first_page=first
        ),
        record_id=person_uuid,
        modified=lambda r: r.get("modified_date"),
        batch_id=batch_id,
        log=log,
    )


def land_action_network_whole(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> dict[str, int]:
    """Tags, their taggings, lists and custom field names have no change filter: each run
    reads them whole. The batch of the last complete read is the current state, so a
    tagging that is gone is gone (see `current_batch`)."""
    counts: dict[str, int] = {}
    tags = [tag for page in client.iter_pages("tags", "osdi:tags") for tag in page]
    lists = [item for page in client.iter_pages("lists", "osdi:lists") for item in page]
    taggings: list[dict] = []
    for tag in tags:
        tag_id = person_uuid(tag)
        for page in client.iter_taggings(tag_id):
            for tagging in page:
                links = tagging.get("_links") or {}
                # A tagging holds only links: keep the uuids parsed out of them.
                tagging["groundswell:tag_id"] = tag_id
                tagging["groundswell:person_id"] = uuid_from_href(
                    (links.get("osdi:person") or {}).get("href", "")
                )
                taggings.append(tagging)
    fields = [
        {**field, "identifiers": [f"action_network:custom_field:{field.get('name')}"]}
        for field in client.custom_fields()
    ]
    with transaction(con):
        for resource, records in (
            ("tags", tags),
            ("taggings", taggings),
            ("lists", lists),
            ("custom_fields", fields),
        ):
            kept = [r for r in records if person_uuid(r)]
            append(
                con,
                "raw_action_network",
                _raw_frame(
                    resource,
                    [person_uuid(r) for r in kept],
                    [r.get("modified_date") for r in kept],
                    kept,
                    batch_id,
                ),
            )
            set_cursor(con, "action_network", f"{resource}#current_batch", batch_id)
            counts[resource] = len(kept)
    return counts


def land_mailchimp_members(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str, log: Log
) -> LandingReport:
    return _land_pages(
        con,
        table="raw_mailchimp",
        source="mailchimp",
        resource="members",
        pages=lambda since, first: client.iter_member_pages(
            since_last_changed=since, first_page=first
        ),
        record_id=lambda m: m.get("id"),
        modified=lambda m: m.get("last_changed"),
        batch_id=batch_id,
        log=log,
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
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    batch_id: str,
    log: Log,
    warn: Log,
    column_maps: dict[str, dict[str, str]] | None = None,
) -> FormsReport:
    """Every CSV in the inbox, once by content hash. A bad file is skipped with its name and
    problem; bad rows are quarantined with their reason; good rows always load."""
    report = FormsReport()
    known = {row[0] for row in con.execute("SELECT file_hash FROM form_files").fetchall()}
    for path in list_exports(inbox):
        try:
            mapping = next(
                (m for pattern, m in (column_maps or {}).items() if fnmatch(path.name, pattern)),
                None,
            )
            export = read_form_export(path, mapping)
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
