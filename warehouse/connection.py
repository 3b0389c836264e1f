"""Opening the warehouse file. Never at import time: DuckDB allows one writer per file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.migrate import migrate


def prepare(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Session settings every step relies on, then any pending migrations."""
    con.execute("SET TimeZone = 'UTC'")
    migrate(con)
    return con


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (creating the folder and file if needed) and migrate. Close it when done."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return prepare(duckdb.connect(str(path)))
