"""Activities and per-person metrics: what the ladder's rules are written over."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms import steps

# Tags Groundswell itself pushes start with this; they are not a person's activity.
DEFAULT_NAMESPACE = "groundswell:"


def build_activities(
    con: duckdb.DuckDBPyConnection, namespace: str = DEFAULT_NAMESPACE
) -> dict[str, int]:
    """Rebuild `activities` from the raw tables and person_sources (steps activity_sources,
    referrals, activities); returns rows per type."""
    steps.run(con, "macros")  # kept fresh: this asset may be run alone on an older warehouse
    steps.run(con, "activity_sources", {"namespace": namespace or DEFAULT_NAMESPACE})
    steps.run(con, "referrals")
    steps.run(con, "activities")
    rows = con.execute(
        "SELECT activity_type, count(*) FROM activities GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {kind: int(n) for kind, n in rows}


def activity_stats(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts from the last build_activities: what could not be placed on a person, and
    how referrals were attributed. Never personal data."""
    stats: dict[str, int] = {}
    for table in ("stage.activity_stats", "stage.referral_stats"):
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone() or ()
        stats.update({name: int(value or 0) for name, value in zip(names, row, strict=False)})
    return stats


def build_person_metrics(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Rebuild person_metrics from its declaration (transforms/metrics.py); returns rows."""
    from transforms.metrics import build_person_metrics as build_declared

    return build_declared(con, as_of)
