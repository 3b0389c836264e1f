"""Activities and per-person metrics: what the ladder's rules are written over."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms import platform_parts, steps
from warehouse import platform_sql

# Tags Groundswell itself pushes start with this; they are not a person's activity.
DEFAULT_NAMESPACE = "groundswell:"


def build_activities(
    con: duckdb.DuckDBPyConnection, namespace: str = DEFAULT_NAMESPACE
) -> dict[str, int]:
    """Rebuild `activities` from the raw tables and person_sources (steps
    platform_activities, referrals, activities); returns rows per type."""
    steps.run(con, "macros")  # kept fresh: this asset may be run alone on an older warehouse
    steps.run(con, "organiser_activities")
    activities_platforms(con, namespace)
    steps.run(con, "referrals")
    steps.run(con, "activities")
    rows = con.execute(
        "SELECT activity_type, count(*) FROM activities GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {kind: int(n) for kind, n in rows}


# What each platform's activities SQL may write, and the empty typed shape every union
# starts from (so a platform without one, or with no referrals, changes nothing).
ACTIVITY_COLUMNS = (
    "NULL::VARCHAR AS person_id, NULL::VARCHAR AS source, NULL::VARCHAR AS source_record_id, "
    "NULL::VARCHAR AS activity_type, NULL::TIMESTAMP AS occurred_at, NULL::VARCHAR AS object, "
    "NULL::VARCHAR AS object_id, NULL::VARCHAR AS channel, NULL::DECIMAL(12, 2) AS amount, "
    "NULL::BOOLEAN AS recurring, NULL::VARCHAR AS detail, NULL::BOOLEAN AS referable"
)
PLATFORM_PARTS = {
    "activities": ACTIVITY_COLUMNS,
    "referral_candidates": (
        "NULL::VARCHAR AS source, NULL::VARCHAR AS source_record_id, NULL::VARCHAR AS person_id, "
        "NULL::VARCHAR AS code, NULL::VARCHAR AS second_code, NULL::VARCHAR AS answer"
    ),
    "referral_claims": (
        "NULL::VARCHAR AS code, NULL::VARCHAR AS source, NULL::VARCHAR AS source_record_id, "
        "NULL::INTEGER AS rank, NULL::VARCHAR AS how"
    ),
    "activity_stats": "NULL::VARCHAR AS key, NULL::BIGINT AS value",
}
# The run's metadata keys, present (0) whichever platforms are registered.
STATS_KEYS = ("actions_without_person", "email_events_without_person", "events_naming_a_host")


def activities_platforms(
    con: duckdb.DuckDBPyConnection, namespace: str = DEFAULT_NAMESPACE
) -> list[str]:
    """Each registered platform's activities SQL (its own step file, checked by its header),
    then `stage.activities_platforms`, `stage.referral_candidates`, `stage.referral_claims`
    and `stage.activity_stats`, each all platforms' parts as one; returns the platforms."""
    written = platform_parts.run_role(
        con,
        "activities",
        PLATFORM_PARTS,
        {"namespace": namespace or DEFAULT_NAMESPACE},
        required="activities",
    )
    # What organisers recorded in the portal joins the platforms' activities (it is no
    # platform: transforms/organiser_activities.sql), the only part with a recorded_by.
    steps.require(con, "platform_activities")
    written["activities"].append(f"{steps.STAGE}.activities_organisers")
    for part, shape in PLATFORM_PARTS.items():
        if part == "activities":
            shape += ", NULL::VARCHAR AS recorded_by"
        union = platform_parts.union_sql(shape, written[part])
        target = (
            f"{steps.STAGE}.activities_platforms"
            if part == "activities"
            else f"{steps.STAGE}.{part}"
        )
        if part == "activity_stats":
            # A table: the run's metadata reads it after the platforms' stage tables change.
            keys = ", ".join(f"('{k}')" for k in STATS_KEYS)
            con.execute(
                f"CREATE OR REPLACE TABLE {target} AS "
                f"SELECT key, sum(value)::BIGINT AS value FROM ("
                f"SELECT key, 0::BIGINT AS value FROM (VALUES {keys}) v(key) "
                f"UNION ALL BY NAME {union}) WHERE key IS NOT NULL GROUP BY key ORDER BY key"
            )
        else:
            con.execute(f"CREATE OR REPLACE VIEW {target} AS {union}")
    return list(platform_sql.files("activities"))


def activity_stats(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts from the last build_activities: what could not be placed on a person, and
    how referrals were attributed. Never personal data."""
    stats = {
        str(key): int(value or 0)
        for key, value in con.execute("SELECT key, value FROM stage.activity_stats").fetchall()
    }
    cursor = con.execute("SELECT * FROM stage.referral_stats")
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone() or ()
    stats.update({name: int(value or 0) for name, value in zip(names, row, strict=False)})
    return stats


def build_person_metrics(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Rebuild person_metrics from its declaration (transforms/metrics.py); returns rows."""
    from transforms.metrics import build_person_metrics as build_declared

    return build_declared(con, as_of)
