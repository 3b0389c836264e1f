"""Phone numbers to E.164 with Google's libphonenumber (transforms/phone_parse.py), as
DuckDB UDFs. A staging with many new numbers parses them in worker processes, one per
DuckDB thread: libphonenumber is pure Python, about 25 µs a number, on one core."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache

import duckdb
import phonenumbers
import pyarrow as pa

from transforms.phone_parse import (
    KINDS,
    NOT_A_NUMBER,
    Columns,
    PhoneParts,
    parse_columns,
    parts,
    possible,
    watch_parent,
)

__all__ = ["KINDS", "NOT_A_NUMBER", "PhoneParts", "parts", "register", "to_e164"]

log = logging.getLogger(__name__)

PHONE_PARTS = duckdb.struct_type({"e164": "VARCHAR", "valid": "BOOLEAN", "kind": "VARCHAR"})
ARROW_PARTS = pa.struct([("e164", pa.string()), ("valid", pa.bool_()), ("kind", pa.string())])
# Names what a stored parse was made with: bump the suffix when the rules in
# transforms/phone_parse.py change.
PARSER = f"phonenumbers {phonenumbers.__version__}; rules 1"
# Numbers parsed in this process before workers start: a nightly run's few new numbers
# (or a test's) never pay for starting them.
POOL_AFTER = 20_000
# What one batch (half of DuckDB's 2,048 rows, about 25 ms) may take, the workers' start
# included, before parsing goes on in this process.
BATCH_TIMEOUT_S = 120.0


@lru_cache(maxsize=200_000)
def to_e164(raw: str | None, region: str = "US") -> str | None:
    """E.164 when the number is possible for its region, else None ('n/a', too short...)."""
    number = possible(raw, region)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class PhoneParser:
    """The `phone_parts` UDF of one connection, an Arrow function over DuckDB's chunks. Its
    state is real: how many numbers it has parsed, and the worker pool once that passes
    POOL_AFTER. `close` stops the workers (staging does once its numbers are parsed)."""

    def __init__(self, region: str, workers: int) -> None:
        self.region = region
        self.workers = workers
        self.parsed = 0
        self.parsed_in_workers = 0
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, texts: pa.ChunkedArray) -> pa.StructArray:
        values = texts.to_pylist()
        found = self._in_workers(values) if self._pooled(len(values)) else None
        if found is None:
            # `parts` looked up by name at each call, so a test may count the parses.
            found = parse_columns(values, self.region, parts)
        self.parsed += len(values)
        return _struct(values, found)

    def _pooled(self, rows: int) -> bool:
        return self.workers > 1 and self.parsed >= POOL_AFTER and rows >= self.workers

    def _in_workers(self, values: list[str | None]) -> Columns | None:
        """Each worker parses an equal share; None (and no more workers) when one fails."""
        if self._pool is None:
            # spawn, not fork: DuckDB's threads are running in this process.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=watch_parent,
                initargs=(os.getpid(),),
            )
            log.info("Parsing phone numbers in %d worker processes", self.workers)
        share = -(-len(values) // self.workers)
        found: Columns = ([], [], [])
        try:
            batches = [
                self._pool.submit(parse_columns, values[start : start + share], self.region)
                for start in range(0, len(values), share)
            ]
            for batch in batches:
                for column, part in zip(found, batch.result(timeout=BATCH_TIMEOUT_S), strict=True):
                    column.extend(part)
        except (BrokenProcessPool, TimeoutError, OSError) as exc:
            log.warning(
                "A phone-parsing worker failed (%s); parsing the rest in this process",
                type(exc).__name__,
            )
            self._abandon()
            return None
        self.parsed_in_workers += len(values)
        return found

    def __enter__(self) -> PhoneParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _abandon(self) -> None:
        """Stop a failed pool without waiting on a worker that may never answer."""
        pool, self._pool, self.workers = self._pool, None, 1
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
            process.join(timeout=BATCH_TIMEOUT_S)

    def close(self) -> None:
        """Stop the workers; parsing goes on in this process if the UDF is called again."""
        self.workers = 1
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _struct(texts: list[str | None], found: Columns) -> pa.StructArray:
    """NULL for a NULL text, else its parts."""
    e164, valid, kind = found
    return pa.StructArray.from_arrays(
        [pa.array(e164, pa.string()), pa.array(valid, pa.bool_()), pa.array(kind, pa.string())],
        fields=list(ARROW_PARTS),
        mask=pa.array([text is None for text in texts], pa.bool_()),
    )


def _replace(con: duckdb.DuckDBPyConnection, name: str, function, returns, kind: str) -> None:
    with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
        con.remove_function(name)
    con.create_function(
        name,
        function,
        [duckdb.sqltype("VARCHAR")],
        returns,
        type=kind,
        null_handling="special",
        side_effects=False,
    )


def region_code(default_region: str | None) -> str:
    return (default_region or "US").strip().upper()


def _threads(con: duckdb.DuckDBPyConnection) -> int:
    # fetchall: a result left open would refuse the registrations that follow.
    threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    return max(1, min(threads, os.cpu_count() or 1))


def register(con: duckdb.DuckDBPyConnection, default_region: str) -> PhoneParser:
    """Make `normalise_phone(varchar) -> varchar` (E.164) and `phone_parts(varchar) ->
    STRUCT(e164 VARCHAR, valid BOOLEAN, kind VARCHAR)` available on this connection;
    returns the parser, to close (or use in `with`) when its statements are done."""
    region = region_code(default_region)

    def normalise_phone(raw: str | None) -> str | None:
        return to_e164(raw, region)

    parser = PhoneParser(region, _threads(con))
    _replace(con, "normalise_phone", normalise_phone, duckdb.sqltype("VARCHAR"), "native")
    _replace(con, "phone_parts", parser, PHONE_PARTS, "arrow")
    return parser
