"""Activities and per-person metrics: what the ladder's rules are written over."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms import sqlfiles
from warehouse.load import replace_contents

# Tags Groundswell itself pushes start with this; they are not a person's activity.
DEFAULT_NAMESPACE = "groundswell:"


def build_activities(
    con: duckdb.DuckDBPyConnection, namespace: str = DEFAULT_NAMESPACE
) -> dict[str, int]:
    """Rebuild `activities` from the raw tables and person_sources; returns rows per type."""
    sqlfiles.run(con, "macros")
    sqlfiles.run(con, "activity_sources", {"namespace": namespace or DEFAULT_NAMESPACE})
    sqlfiles.run(con, "referrals")
    sqlfiles.run(con, "activities")
    replace_contents(con, "activities", "SELECT * FROM _activities")
    rows = con.execute(
        "SELECT activity_type, count(*) FROM activities GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {kind: int(n) for kind, n in rows}


def activity_stats(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts from the last build_activities on this connection: what could not be placed
    on a person, and how referrals were attributed. Never personal data."""
    stats: dict[str, int] = {}
    for table in ("_activity_stats", "_referral_stats"):
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone() or ()
        stats.update({name: int(value or 0) for name, value in zip(names, row, strict=False)})
    return stats


def build_person_metrics(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    sqlfiles.run(con, "person_metrics", {"as_of": as_of})
    return replace_contents(con, "person_metrics", "SELECT * FROM _person_metrics")
