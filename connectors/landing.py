"""The landing machinery every platform shares: pages into raw tables in bulk, each page
committed with a checkpoint of its pass; cursors advance only after the data they cover
is committed. This is glue between connectors/ and warehouse/, which may not import each
other."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.errors import BadResponseError, NotFoundPageError
from connectors.paging import JsonPage
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


def raw_frame(
    resource: str, ids: list[str], modified: list[Any], records: list[dict], batch_id: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "resource": resource,
            "record_id": ids,
            "modified_at": _to_utc(pd.Series(modified, dtype="object")),
            "payload": [orjson.dumps(r).decode() for r in records],
            "batch_id": batch_id,
            "loaded_at": utcnow(),
        }
    )


# A JSON path of the simple kind a platform's record id and change time have ($.id,
# $.merge_fields.FNAME): spliced into SQL, so nothing else may pass.
_JSON_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def json_page_frame(
    con: duckdb.DuckDBPyConnection,
    resource: str,
    page: JsonPage,
    fields: tuple[str, str],
    batch_id: str,
) -> pa.Table:
    """What raw_frame makes of a page, read by DuckDB straight from the body it came in:
    the same columns, each record's JSON as the platform sent it, `fields` the JSON paths
    of its id and change time. About five times cheaper than encoding every record again."""
    id_path, modified_path = fields
    if not (_JSON_PATH.match(id_path) and _JSON_PATH.match(modified_path)):
        raise ValueError(f"not a simple JSON path: {fields!r}")
    if not page.key.isidentifier():
        raise ValueError(f"not a JSON key: {page.key!r}")
    # Its own cursor: a result the caller left open on `con` must not block it, and it
    # reads no table, only the body.
    with con.cursor() as cursor:
        return cursor.sql(
            f"""
            SELECT ?::VARCHAR AS resource,
                   r ->> '{id_path}' AS record_id,
                   timezone('UTC', TRY_CAST(r ->> '{modified_path}' AS TIMESTAMPTZ)) AS modified_at,
                   r AS payload,
                   ?::VARCHAR AS batch_id,
                   ?::TIMESTAMP AS loaded_at
            FROM (SELECT unnest(json_extract(?::JSON, '$.{page.key}[*]')) AS r)
            """,
            params=[resource, batch_id, utcnow(), page.body.decode("utf-8")],
        ).to_arrow_table()


PASS = "#pass"
READ_WAIT_S = 300  # reading one page's body takes DuckDB about 15 ms
# The shape of a platform's raw table (migration 001 made the first two); a platform added
# later gets its own on its first landing.
RAW_COLUMNS = (
    "resource VARCHAR NOT NULL, record_id VARCHAR NOT NULL, modified_at TIMESTAMP, "
    "payload JSON NOT NULL, batch_id VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL"
)


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """A platform's raw table, created on its first landing when no migration made it."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {table!r}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({RAW_COLUMNS})")


PageSource = Callable[[datetime | None, int], Iterable[list[dict]]]


def _read_ahead(pages: Iterable, start: Callable[[Any], Any]) -> Iterator[tuple[Any, Any]]:
    """Each page with `start(page)`, yielded once the next page has arrived and been
    started, so the caller lands one page while the next is read. A failure to get the
    next page is raised after the page before it has been yielded."""
    iterator = iter(pages)
    previous = None
    while True:
        try:
            page = next(iterator)
        except StopIteration:
            break
        except Exception:
            if previous is not None:
                yield previous
            raise
        current = (page, start(page))
        if previous is not None:
            yield previous
        previous = current
    if previous is not None:
        yield previous


def land_pages(
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
    json_fields: tuple[str, str] | None = None,
) -> LandingReport:
    """Land every page in its own transaction together with a checkpoint of the pass, so
    a run killed mid-pass resumes at the next page with the same filter. The watermark
    moves only when a pass is complete: these collections are not ordered by change.
    A page is landed when the next one has arrived, the last one with the watermark: a
    pass of one page (most passes of an incremental run) is one transaction. A JsonPage
    every record of which has an id is landed from its body (`json_fields`: the JSON paths
    of the id and the change time that `record_id` and `modified` read)."""
    cursor = cursor or resource
    ensure_raw_table(con, table)
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
    checkpointed = bool(checkpoint)  # a pass checkpoint is in the warehouse, to remove at the end
    # A page read (a DataFrame, or an Arrow table read from its body), and the checkpoint
    # after it.
    pending: tuple[pd.DataFrame | pa.Table, str] | None = None
    started = time.monotonic()

    def land_pending() -> None:
        nonlocal checkpointed
        if pending is not None:
            with transaction(con):
                append(con, table, pending[0])
                set_cursor(con, source, cursor + PASS, pending[1])
            checkpointed = True

    # A page kept as its body is read by DuckDB in a thread of its own (on a cursor of its
    # own) while this one lands the page before: DuckDB runs both at once.
    reader = ThreadPoolExecutor(1, thread_name_prefix=f"{source}-{resource}-reader")
    reading = con.cursor() if json_fields else None

    def start_reading(page: list[dict]) -> Future | None:
        if reading is None or not isinstance(page, JsonPage) or not page:
            return None
        if not all(record_id(r) for r in page):
            return None  # landed from its records below, without the ones lacking an id
        return reader.submit(json_page_frame, reading, resource, page, json_fields, batch_id)

    try:
        for page, read in _read_ahead(pages(since, state["next_page"]), start_reading):
            kept = page if read is not None else [r for r in page if record_id(r)]
            state["next_page"] += 1
            report.pages += 1
            if not kept:
                # Nothing to land (most per-object passes of an incremental run): no write.
                # A kill before the next checkpoint only asks for this page again.
                continue
            if read is not None:
                try:
                    frame = read.result(timeout=READ_WAIT_S)
                except TimeoutError:
                    raise TimeoutError(
                        f"{source} {resource}: reading page {state['next_page'] - 1} from "
                        f"its body took more than {READ_WAIT_S} s"
                    ) from None
                page_newest = pd.Timestamp(pc.max(frame["modified_at"]).as_py())
            else:
                frame = raw_frame(
                    resource,
                    [record_id(r) for r in kept],
                    [modified(r) for r in kept],
                    kept,
                    batch_id,
                )
                page_newest = frame["modified_at"].max()
            if pd.notna(page_newest) and (
                state["newest"] is None or page_newest > pd.Timestamp(state["newest"])
            ):
                state["newest"] = page_newest.isoformat()
            land_pending()
            pending = (frame, json.dumps(state))
            report.records += len(frame)
            if report.pages % 20 == 0:
                rate = report.records / max(time.monotonic() - started, 1e-6)
                log(
                    f"{source} {resource}: {report.pages} pages, {report.records} records ({rate:.0f}/s)"
                )
    except Exception as exc:
        # Keep what arrived: the pages before the fault land with their checkpoint, so the
        # next run asks again from the page that failed; a bad body is stored with its error.
        if not isinstance(exc, duckdb.Error):  # the warehouse itself refused: nothing more
            land_pending()
        if isinstance(exc, BadResponseError):
            quarantine_page(con, source, resource, state["next_page"], exc, batch_id)
        raise
    finally:
        reader.shutdown(cancel_futures=True)
        if reading is not None:
            reading.close()
    if pending is not None or state["newest"] or checkpointed:
        with transaction(con):
            if pending is not None:
                append(con, table, pending[0])
            if state["newest"]:
                set_cursor(con, source, cursor, state["newest"])
            if checkpointed:
                con.execute(
                    "DELETE FROM sync_cursors WHERE source = ? AND resource = ?",
                    [source, cursor + PASS],
                )
    report.seconds = time.monotonic() - started
    return report


def quarantine_page(
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


class SkippedStreams:
    """Per-object streams (a campaign's activity, a petition's signatures) that kept
    answering an HTML 404 this run. One such object must not hold back the others: they
    are landed first, then `raise_if_any` fails the run with one transient error. Several
    in a row is an outage, not one object: that stops at once."""

    IN_A_ROW = 3

    def __init__(self, platform: str, what: str) -> None:
        self.platform, self.what = platform, what
        self.count = 0
        self.in_a_row = 0

    def skip(self, error: NotFoundPageError) -> None:
        self.count += 1
        self.in_a_row += 1
        if self.in_a_row >= self.IN_A_ROW:
            raise error

    def read(self) -> None:
        self.in_a_row = 0

    def raise_if_any(self) -> None:
        if self.count:
            raise NotFoundPageError(
                self.platform,
                f"{self.count} {self.what} kept answering 404 with an HTML page instead of "
                f"{self.platform}'s own JSON error, so they were not read this run; every "
                "other one was landed. That is a transient fault, not a deletion: the next "
                "run reads them from where they stopped",
                404,
            )


def note_not_found(
    con: duckdb.DuckDBPyConnection,
    source: str,
    resource: str,
    record_ids: list[str],
    batch_id: str,
) -> list[str]:
    """Record the platform's own "not found" for some records. The first answer marks a
    record missing, to be looked at again; one in a later run (another batch) confirms it
    gone. Returns the ids now confirmed gone. Nothing landed is touched. Call inside the
    transaction that acts on the answer, so a crash cannot leave one without the other."""
    if not record_ids:
        return []
    heard = pd.DataFrame({"record_id": sorted(set(record_ids))})  # noqa: F841 - read in SQL
    con.execute(
        """
        INSERT INTO missing_records (source, resource, record_id, first_batch, first_seen_at)
        SELECT ?, ?, record_id, ?, ? FROM heard
        ON CONFLICT DO UPDATE SET gone_at = CASE
            WHEN missing_records.first_batch <> excluded.first_batch
            THEN coalesce(missing_records.gone_at, excluded.first_seen_at)
            ELSE missing_records.gone_at END
        """,
        [source, resource, batch_id, utcnow()],
    )
    gone = con.execute(
        "SELECT record_id FROM missing_records WHERE source = ? AND resource = ? "
        "AND gone_at IS NOT NULL AND record_id IN (SELECT record_id FROM heard) "
        "ORDER BY record_id",
        [source, resource],
    ).fetchall()
    return [row[0] for row in gone]


def note_found(
    con: duckdb.DuckDBPyConnection, source: str, resource: str, record_ids: list[str]
) -> None:
    """Records that answered after all: no longer missing (nor gone). Call inside the
    transaction that lands them."""
    if not record_ids:
        return
    con.execute(
        "DELETE FROM missing_records WHERE source = ? AND resource = ? "
        "AND list_contains(?, record_id)",
        [source, resource, record_ids],
    )


def land_whole(
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    source: str,
    resources: dict[str, list[dict]],
    record_id: Callable[[dict], str | None],
    modified: Callable[[dict], str | None],
    batch_id: str,
) -> dict[str, int]:
    """Collections with no change filter, read whole: all land in one transaction and the
    batch becomes `<resource>#current_batch`, so the last complete read is the current
    state and anything gone from it is gone."""
    counts: dict[str, int] = {}
    ensure_raw_table(con, table)
    with transaction(con):
        for resource, records in resources.items():
            kept = [r for r in records if record_id(r)]
            frame = raw_frame(
                resource, [record_id(r) for r in kept], [modified(r) for r in kept], kept, batch_id
            )
            append(con, table, frame)
            set_cursor(con, source, f"{resource}#current_batch", batch_id)
            counts[resource] = len(kept)
    return counts
