"""Identity resolution: deterministic links, connected components, stable person_ids, and
the golden record in `people`."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms import sqlfiles
from warehouse.load import replace_contents

MAX_ROUNDS = 64


def resolve(con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, int]:
    """Rebuild person_sources, identity_links, person_merges and people; returns counts."""
    sqlfiles.run(con, "identity_edges")
    rounds = connected_components(con)
    merges_before = _count(con, "person_merges")
    sqlfiles.run(con, "identity_assign", {"now": now})
    sqlfiles.run(con, "people")
    people = replace_contents(con, "people", "SELECT * FROM _people")
    return {
        "source_records": _count(con, "person_sources"),
        "links": _count(con, "identity_links"),
        "people": people,
        "new_person_ids": _scalar(con, "SELECT count(*) FROM _id_assigned WHERE is_new"),
        "merges_recorded": _count(con, "person_merges") - merges_before,
        "component_rounds": rounds,
    }


def connected_components(con: duckdb.DuckDBPyConnection) -> int:
    """Label propagation until no label changes; the loop is over rounds, not rows."""
    for round_number in range(1, MAX_ROUNDS + 1):
        sqlfiles.run(con, "identity_step")
        changed = _scalar(
            con,
            "SELECT count(*) FROM _id_labels_next n JOIN _id_labels o USING (record_key) "
            "WHERE n.label <> o.label",
        )
        con.execute("CREATE OR REPLACE TEMP TABLE _id_labels AS SELECT * FROM _id_labels_next")
        if changed == 0:
            return round_number
    raise RuntimeError(f"identity clustering did not settle in {MAX_ROUNDS} rounds")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return _scalar(con, f"SELECT count(*) FROM {table}")
