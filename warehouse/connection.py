"""Opening the warehouse file. Never at import time: DuckDB allows one writer per file."""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from pathlib import Path

import duckdb

from warehouse import forgotten
from warehouse.migrate import forget, mark_migrated, migrate_once

# DuckDB's words for a file it cannot read as a database (cut short, overwritten, damaged).
DAMAGE_SIGNS = (
    "not a valid duckdb database",
    "corrupt database file",
    "could not read enough bytes",
    "does not match stored checksum",
    "serialization error",
    "failed to deserialize",
)
# A file cut short often still opens; reading a few rows of a table every warehouse has
# shows it at once, as the first connection's migration check does (migrations are checked
# once per process, warehouse/migrate.py). Cheaper than that check: no writes, no files.
DAMAGE_PROBE = "SELECT version FROM schema_migrations"
LOCK_SIGN = "could not set lock"
# A new warehouse's scratch file older than this was left by a killed process.
STALE_SCRATCH_SECONDS = 3600
# DUCKDB_MEMORY_LIMIT is the whole process's budget, not DuckDB's alone. DuckDB keeps to
# its own memory_limit, but the interpreter (about 200 MB with Dagster loaded), the Arrow
# tables handed to Python and DuckDB's allocations outside its buffer pool come on top:
# 310 MB over the limit at 1M records and 3GB, about 1 GB at 10M and 8GB (docs/scaling.md).
# So DuckDB gets four fifths; the fifth left over is for the rest of the process.
DUCKDB_SHARE = 0.8
SMALLEST_BUDGET = 10**9
NO_LIMIT = ("none", "-1")
BYTES_PER_UNIT = {
    **dict.fromkeys(("b", "byte", "bytes"), 1),
    **dict.fromkeys(("k", "kb", "kilobyte", "kilobytes"), 10**3),
    **dict.fromkeys(("m", "mb", "megabyte", "megabytes"), 10**6),
    **dict.fromkeys(("g", "gb", "gigabyte", "gigabytes"), 10**9),
    **dict.fromkeys(("t", "tb", "terabyte", "terabytes"), 10**12),
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
# Another program holding the file: wait for it, as dagster-duckdb did (about 100 s).
LOCK_WAITS = tuple(0.1 * 2**i for i in range(10))


class WarehouseError(RuntimeError):
    """The warehouse file cannot be used; the message names the file and what to do."""


class WarehouseBusyError(WarehouseError):
    """Another program holds the file's lock: waiting longer may help."""


def is_damage(exc: BaseException) -> bool:
    """Whether a DuckDB error says the file itself is damaged (retrying cannot help)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(sign in text for sign in DAMAGE_SIGNS)


def damaged_message(path: str | Path) -> str:
    """What happened to a damaged warehouse and the two ways forward."""
    return (
        f"The warehouse file {path} is damaged and cannot be read (a full disk, a crash "
        "or an interrupted copy can cut it short); Groundswell stopped and left it as it "
        "was. Restore your last backup of it (make restore FROM=latest), or move "
        "it aside, with any .wal file beside it, to start over: the next run builds a new "
        "warehouse from the platforms and form exports, but person ids, ladder history and "
        "past erasures are not carried over, so repeat any make forget."
    )


def keep_file_as_is(con: duckdb.DuckDBPyConnection) -> None:
    """After damage shows mid-step: closing must not checkpoint into the damaged file."""
    # An unusable connection cannot checkpoint either.
    with contextlib.suppress(duckdb.Error):
        con.execute("PRAGMA disable_checkpoint_on_shutdown")


def memory_limit_problem(limit: str) -> str | None:
    """Why DUCKDB_MEMORY_LIMIT cannot be used, or None; asks DuckDB itself, in memory."""
    con = duckdb.connect(":memory:")
    try:
        _set_memory_limit(con, limit)
    except ValueError as exc:
        return str(exc)
    finally:
        con.close()
    return None


def prepare(con: duckdb.DuckDBPyConnection, path: str | Path = "") -> duckdb.DuckDBPyConnection:
    """Session settings every step relies on, then any pending migrations: checked once per
    process for the file at `path` (warehouse/migrate.py), every time without a path.
    DUCKDB_MEMORY_LIMIT (e.g. 3GB) is the process's memory budget on a small machine:
    DuckDB gets four fifths of it, and beyond that large joins and sorts spill to disk
    instead of failing the run. A damaged file raises
    WarehouseError; each migration is one transaction, rolled back if it cannot finish."""
    con.execute("SET TimeZone = 'UTC'")
    limit = os.environ.get("DUCKDB_MEMORY_LIMIT", "").strip()
    if limit:
        _set_memory_limit(con, limit)
    try:
        if migrate_once(con, path) is None:  # checked before: only look for damage
            con.execute(DAMAGE_PROBE).fetchall()
    except duckdb.Error as exc:
        if is_damage(exc):
            keep_file_as_is(con)
            raise WarehouseError(damaged_message(path or "(the warehouse)")) from None
        raise
    return con


def _set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """SET memory_limit to DuckDB's share of the budget, or a ValueError naming
    DUCKDB_MEMORY_LIMIT and what it takes."""
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error:
        raise ValueError(
            f"DUCKDB_MEMORY_LIMIT={limit!r} is not a memory size DuckDB understands "
            "(e.g. 3GB or 2500MB); leave it empty for DuckDB's default (80% of RAM)"
        ) from None
    con.execute(f"SET memory_limit = '{duckdb_share(limit)}'")


def duckdb_share(budget: str) -> str:
    """DuckDB's own memory_limit for a process budget (DUCKDB_MEMORY_LIMIT): four fifths
    of it. A ValueError for a budget too small to hold the process or not a size."""
    text = budget.strip().lower()
    if text in NO_LIMIT:
        return text
    percent = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
    if percent:
        return f"{float(percent[1]) * DUCKDB_SHARE:g}%"
    size = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text)
    if not size or size[2] not in BYTES_PER_UNIT:
        raise ValueError(
            f"DUCKDB_MEMORY_LIMIT={budget!r} is not a size Groundswell can divide "
            "(e.g. 3GB, 2500MB or 50%); leave it empty for DuckDB's default (80% of RAM)"
        )
    total = float(size[1]) * BYTES_PER_UNIT[size[2]]
    if total < SMALLEST_BUDGET:
        raise ValueError(
            f"DUCKDB_MEMORY_LIMIT={budget!r} is less than Groundswell needs: the Python "
            "process alone takes about 200 MB of it. Give it at least 1GB, or leave it "
            "empty for DuckDB's default (80% of RAM)"
        )
    return f"{int(total * DUCKDB_SHARE)}B"


def open_database(path: str | Path, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A read-write connection, not yet migrated. A damaged or unopenable file raises
    WarehouseError at once; a file another program holds is waited for, then refused."""
    path = Path(path)
    if not _holds_data(path):
        _create(path)
    for wait in (*LOCK_WAITS, None):
        try:
            return duckdb.connect(str(path), read_only=False, config=config or {})
        except duckdb.Error as exc:
            if is_damage(exc):
                raise WarehouseError(damaged_message(path)) from None
            if LOCK_SIGN not in str(exc).lower():
                raise WarehouseError(_unopenable_message(path, exc)) from None
            if wait is None:
                raise WarehouseBusyError(
                    f"The warehouse file {path} is in use by another program; close it "
                    "(a DuckDB shell or notebook holding the file) and run again."
                ) from None
            time.sleep(wait)
    raise AssertionError("unreachable")


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (creating the folder and file if needed) and migrate. Close it when done."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = open_database(path)
    try:
        return prepare(con, path)
    except BaseException:
        con.close()
        raise


def _create(path: Path) -> None:
    """Make a new warehouse under a scratch name beside `path`, migrate it, and link it into
    place in one step: a process killed while making it (the first run's first step) leaves
    no half-made file at `path`. Another process that made it first wins; ours is dropped."""
    # One left by a process killed while making it (making one takes well under a minute).
    for stale in path.parent.glob(f".{path.name}.new-*"):
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > STALE_SCRATCH_SECONDS:
                stale.unlink()
    scratch = path.with_name(f".{path.name}.new-{uuid.uuid4().hex}")
    try:
        try:
            con = duckdb.connect(str(scratch))
        except duckdb.Error as exc:
            raise WarehouseError(_unopenable_message(path, exc)) from None
        try:
            prepare(con, scratch)
            _suppress_the_forgotten(con, path)
        finally:
            con.close()
        forget(path)  # whatever this process knew of a file at `path` is stale now
        try:
            os.link(scratch, path)
        except FileExistsError:
            return  # another process made it first (or an empty file): checked on opening
        mark_migrated(path)
    finally:
        for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _suppress_the_forgotten(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A warehouse made again beside a keeper (the old one deleted to start afresh) holds
    every erasure suppression from the start: its first run must not bring back anyone
    `make forget` erased, whose records the platforms still have."""
    try:
        kept = forgotten.read(forgotten.keeper_path(path))
    except forgotten.KeeperError as exc:
        raise WarehouseError(str(exc)) from None
    if kept:
        forgotten.reapply(con, kept)


def _holds_data(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _unopenable_message(path: Path, exc: duckdb.Error) -> str:
    # DuckDB's first line names the file and the reason (permissions, a folder, a version).
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"The warehouse file {path} cannot be opened ({reason}); check WAREHOUSE_PATH "
        "and that this user may read and write it."
    )
