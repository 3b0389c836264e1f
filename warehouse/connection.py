"""Opening the warehouse file. Never at import time: DuckDB allows one writer per file."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from warehouse.migrate import migrate


def prepare(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Session settings every step relies on, then any pending migrations.
    DUCKDB_MEMORY_LIMIT (e.g. 3GB) caps DuckDB's memory on a small machine: beyond it,
    large joins and sorts spill to disk instead of failing the run."""
    con.execute("SET TimeZone = 'UTC'")
    limit = os.environ.get("DUCKDB_MEMORY_LIMIT", "").strip()
    if limit:
        try:
            con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
        except duckdb.Error as exc:
            raise ValueError(
                f"DUCKDB_MEMORY_LIMIT={limit!r} is not a memory size DuckDB understands "
                "(e.g. 3GB or 2500MB)"
            ) from exc
    migrate(con)
    return con


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (creating the folder and file if needed) and migrate. Close it when done."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return prepare(duckdb.connect(str(path)))
