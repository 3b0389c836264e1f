"""Running the .sql files that sit beside the Python that uses them."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.load import run_sql_file

HERE = Path(__file__).parent


def run(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> None:
    """Run transforms/<name>.sql, statement by statement, binding `$param`s by name."""
    run_sql_file(con, HERE / f"{name}.sql", params)
