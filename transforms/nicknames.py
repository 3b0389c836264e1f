"""Nickname-canonical given names (Bill, Billy, Will -> william) from the `nicknames`
package's names.csv, as the warehouse table `stage.name_canonical(name, canonical)`
(step nicknames)."""

from __future__ import annotations

import duckdb
import nicknames

from transforms import steps


def build(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build `stage.name_canonical` from the installed package (a few ms)."""
    with nicknames.with_names_csv_path() as path:
        steps.run(con, "nicknames", {"csv": str(path)})


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Build `stage.name_canonical` unless the warehouse already has it."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'stage' AND table_name = 'name_canonical' AND NOT temporary"
    ).fetchall()[0][0]
    if not exists:
        build(con)


def canonical(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The canonical of one lower-case name (the name itself when it has none)."""
    ensure(con)
    rows = con.execute("SELECT canonical FROM stage.name_canonical WHERE name = ?", [name])
    found = rows.fetchall()
    return found[0][0] if found else name
