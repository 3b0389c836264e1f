"""Activities and per-person metrics: what the ladder's rules are written over."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms import sqlfiles
from warehouse.load import replace_contents


def build_activities(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    sqlfiles.run(con, "activities")
    replace_contents(con, "activities", "SELECT * FROM _activities")
    rows = con.execute(
        "SELECT activity_type, count(*) FROM activities GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {kind: int(n) for kind, n in rows}


def build_person_metrics(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    sqlfiles.run(con, "person_metrics", {"as_of": as_of})
    return replace_contents(con, "person_metrics", "SELECT * FROM _person_metrics")
