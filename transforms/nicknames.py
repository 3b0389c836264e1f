"""Nickname-canonical given names (Bill, Billy, Will -> william) from the `nicknames`
package's names.csv, as the DuckDB temp table `name_canonical(name, canonical)`."""

from __future__ import annotations

import duckdb
import nicknames

from transforms import sqlfiles


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Build `name_canonical` on this connection unless it already has it (a few ms)."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'name_canonical'"
    ).fetchone()
    if exists and exists[0]:
        return
    with nicknames.with_names_csv_path() as path:
        sqlfiles.run(con, "nicknames", {"csv": str(path)})


def canonical(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The canonical of one lower-case name (the name itself when it has none)."""
    ensure(con)
    row = con.execute("SELECT canonical FROM name_canonical WHERE name = ?", [name]).fetchone()
    return row[0] if row else name
