"""The portal's snapshot: a read-only DuckDB file holding exactly what the organiser portal
shows, written at the end of a run beside its target and swapped in with `os.replace`, so
the portal reads the old file or the new one and never waits for a run (DuckDB allows one
writer per file, and a running sync holds the warehouse's).

Only people in a team are copied, with the columns the portal's pages show (names, area,
rung, which channels they may be reached on: never an email or phone; those are only in the
list rows, exactly as the downloads carry them). Which asks work (`ask_conversion`) is
copied as counts per list and team, with no person in it. Everything is set-based SQL over an
ATTACHed file; the stage tables it reads (`stage.portal_*`) are written by the step
portal_lists (transforms/portal_lists.py) just before."""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ALIAS = "portal_new"
# A person page shows this many of their latest activities.
TIMELINE_LIMIT = 200
# Movement periods on the team home: since last week, over 30 days.
PERIODS = ("7d", "30d")  # periods of team_movement (transforms/team_figures.sql)
SCHEMA_VERSION = "1"
NO_TEAMS = "SELECT NULL::VARCHAR AS team, NULL::VARCHAR AS person_id, NULL::VARCHAR AS why "
NO_TEAMS += "WHERE false"
NO_LADDER = (
    "SELECT NULL::VARCHAR AS team, NULL::VARCHAR AS rung, NULL::INTEGER AS tier_rank, "
    "NULL::BIGINT AS people WHERE false"
)
NO_DECLARED = "SELECT NULL::VARCHAR AS team, NULL::VARCHAR AS description WHERE false"

NO_MOVEMENT = (
    "SELECT NULL::VARCHAR AS team, NULL::VARCHAR AS period, NULL::TIMESTAMP AS baseline_at, "
    "0 AS moved_up, 0 AS moved_down, 0 AS stayed, 0 AS arrived WHERE false"
)
_PERIOD_NAMES = ", ".join(f"'{name}'" for name in PERIODS)
# Which asks work (issue 15): the ask_conversion step's counts; an older warehouse has none.
NO_CONVERSION = (
    "SELECT NULL::TIMESTAMP AS computed_at, NULL::VARCHAR AS period, "
    "NULL::VARCHAR AS list_name, NULL::VARCHAR AS team, NULL::INTEGER AS entered, "
    "NULL::INTEGER AS reached, NULL::INTEGER AS succeeded, NULL::DOUBLE AS conversion_rate, "
    "NULL::DOUBLE AS median_days_to_success, NULL::INTEGER AS in_window, "
    "NULL::INTEGER AS baseline_people, NULL::INTEGER AS baseline_succeeded, "
    "NULL::DOUBLE AS baseline_rate WHERE false"
)

# (table, SELECT over the warehouse, with `{members}` the team_members relation). In order:
# later ones read earlier ones from the new file.
TABLES: tuple[tuple[str, str], ...] = (
    (
        "team_members",
        "SELECT team, person_id, why FROM {members} "
        "WHERE team IS NOT NULL AND person_id IS NOT NULL ORDER BY person_id, team",
    ),
    (
        "teams",
        """
        SELECT t.team, t.description, count(m.person_id) AS people
        FROM (
            SELECT team, max(description) AS description
            FROM ({declared} UNION ALL SELECT DISTINCT team, NULL FROM {new}.team_members)
            GROUP BY team
        ) t
        LEFT JOIN {new}.team_members m ON m.team = t.team
        GROUP BY ALL ORDER BY t.team
        """,
    ),
    (
        "people",
        """
        SELECT m.person_id, m.given_name, m.family_name, m.locality, m.region, m.postal_code,
               l.tier, l.tier_rank, m.first_seen, m.last_action_at,
               (m.email IS NOT NULL AND NOT coalesce(m.email_suppressed, false)) AS email_ok,
               (m.phone IS NOT NULL AND NOT coalesce(m.phone_suppressed, false)) AS phone_ok,
               coalesce(m.post_reachable, false) AS post_ok,
               coalesce(m.door_reachable, false) AS door_ok,
               lower(strip_accents(concat_ws(' ', m.given_name, m.family_name))) AS search_name
        FROM person_metrics m
        LEFT JOIN ladder l USING (person_id)
        WHERE m.person_id IN (SELECT person_id FROM {new}.team_members)
        ORDER BY m.person_id
        """,
    ),
    ("rungs", "SELECT rung, tier_rank, description, next_ask FROM stage.portal_rungs"),
    (
        "team_rungs",
        """
        SELECT team, rung, tier_rank, people FROM {team_ladder}
        WHERE team IN (SELECT team FROM {new}.teams)
        UNION ALL BY NAME
        SELECT t.team, r.rung, r.tier_rank, count(p.person_id) AS people
        FROM {new}.teams t
        CROSS JOIN {new}.rungs r
        LEFT JOIN {new}.team_members m ON m.team = t.team
        LEFT JOIN {new}.people p ON p.person_id = m.person_id AND p.tier = r.rung
        -- Teams the warehouse's team_ladder does not cover (a warehouse without it).
        WHERE t.team NOT IN (SELECT team FROM {team_ladder})
        GROUP BY ALL
        HAVING count(p.person_id) > 0 OR r.rung <> 'unplaced'
        ORDER BY team, tier_rank
        """,
    ),
    (
        "team_movement",
        # The teams step's per-rung movement (transforms/team_figures.sql), summed per team.
        """
        SELECT team, period, any_value(baseline_at) AS baseline_at,
               sum(moved_up)::BIGINT AS moved_up, sum(moved_down)::BIGINT AS moved_down,
               sum(stayed)::BIGINT AS stayed, sum(arrived)::BIGINT AS arrived
        FROM {team_movement}
        WHERE period IN ({periods}) AND team IN (SELECT team FROM {new}.teams)
        GROUP BY ALL
        ORDER BY team, period
        """,
    ),
    (
        "lists",
        "SELECT list_name, position, description, channel, columns, next_ask "
        "FROM stage.portal_lists ORDER BY position",
    ),
    (
        "list_rows",
        # Each row carries what the list page shows, so a page reads this table alone (at a
        # million people, joining people and segment_members per page cost ~40 ms).
        """
        SELECT r.list_name, r.team, r.position, r.person_id, r.cells,
               p.given_name, p.family_name, p.tier, s.reason, p.email_ok, p.phone_ok,
               p.post_ok, p.door_ok, p.last_action_at
        FROM stage.portal_list_rows r
        LEFT JOIN {new}.people p ON p.person_id = r.person_id
        LEFT JOIN segment_members s
               ON s.segment = 'list:' || r.list_name AND s.person_id = r.person_id
        ORDER BY r.list_name, r.team, r.position
        """,
    ),
    (
        "person_lists",
        # The lists a person is on, per team, in person order (for the person page).
        """
        SELECT DISTINCT person_id, list_name, team, reason FROM {new}.list_rows
        ORDER BY person_id, list_name, team
        """,
    ),
    (
        "list_sizes",
        """
        SELECT t.team, l.list_name, l.position, count(r.person_id) AS rows
        FROM {new}.teams t CROSS JOIN {new}.lists l
        LEFT JOIN {new}.list_rows r ON r.team = t.team AND r.list_name = l.list_name
        GROUP BY ALL ORDER BY t.team, l.position
        """,
    ),
    (
        "activities",
        f"""
        SELECT person_id, occurred_at, source, activity_type, object, channel
        FROM activities
        WHERE person_id IN (SELECT person_id FROM {{new}}.team_members)
        QUALIFY row_number() OVER (
            PARTITION BY person_id ORDER BY occurred_at DESC NULLS LAST, source, activity_type
        ) <= {TIMELINE_LIMIT}
        ORDER BY person_id
        """,
    ),
    (
        "rung_history",
        # Each run keeps a row per person; only the runs where their rung changed are kept.
        """
        SELECT person_id, computed_at AS since, tier, tier_rank
        FROM ladder_history
        WHERE person_id IN (SELECT person_id FROM {new}.team_members)
        QUALIFY tier IS DISTINCT FROM
            lag(tier) OVER (PARTITION BY person_id ORDER BY computed_at)
        ORDER BY person_id, since
        """,
    ),
    (
        "ask_conversion",
        # Counts only (no person): per period, list and team (NULL: the whole organisation),
        # of the newest computation; rows of teams the snapshot does not hold are left out.
        """
        SELECT computed_at, period, list_name, team, entered, reached, succeeded,
               conversion_rate, median_days_to_success, in_window, baseline_people,
               baseline_succeeded, baseline_rate
        FROM {ask_conversion}
        WHERE team IS NULL OR team IN (SELECT team FROM {new}.teams)
        QUALIFY computed_at = max(computed_at) OVER ()
        ORDER BY period, list_name, team NULLS FIRST
        """,
    ),
)


class SnapshotError(RuntimeError):
    """The snapshot could not be written; the previous one is left as it was."""


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND table_name = ? AND NOT temporary AND database_name = current_database()",
            [name],
        ).fetchone()[0]
    )


def publish(
    con: duckdb.DuckDBPyConnection, target: Path, now: datetime | None = None
) -> dict[str, int]:
    """Write the portal's snapshot into a new file beside `target` and swap it in at once;
    returns rows per table and the file's `bytes`. A failure leaves the old snapshot."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    refreshed = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    members = "team_members" if _has_table(con, "team_members") else f"({NO_TEAMS})"
    declared, team_ladder = NO_DECLARED, f"({NO_LADDER})"
    team_movement = "team_movement" if _has_table(con, "team_movement") else f"({NO_MOVEMENT})"
    conversion = "ask_conversion" if _has_table(con, "ask_conversion") else f"({NO_CONVERSION})"
    if _has_table(con, "teams"):
        declared = "SELECT team, description FROM teams"
    if _has_table(con, "team_ladder"):  # people per rung, as the teams step counted them
        team_ladder = "team_ladder"
    counts: dict[str, int] = {}
    con.execute(f"ATTACH {_literal(staging)} AS {ALIAS}")
    attached = True
    try:
        for name, select in TABLES:
            sql = select.format(
                members=members,
                new=ALIAS,
                declared=declared,
                team_ladder=team_ladder,
                team_movement=team_movement,
                ask_conversion=conversion,
                periods=_PERIOD_NAMES,
            )
            con.execute(f"CREATE TABLE {ALIAS}.{name} AS {sql}")
            counts[name] = con.execute(f"SELECT count(*) FROM {ALIAS}.{name}").fetchone()[0]
        con.execute(
            f"CREATE TABLE {ALIAS}.meta AS SELECT * FROM (VALUES "
            "('refreshed_at', strftime($at::TIMESTAMP, '%Y-%m-%d %H:%M UTC')), "
            "('refreshed_iso', strftime($at::TIMESTAMP, '%Y-%m-%dT%H:%M:%SZ')), "
            "('schema_version', $version)) AS m(key, value)",
            {"at": refreshed, "version": SCHEMA_VERSION},
        )
        con.execute(f"DETACH {ALIAS}")
        attached = False
        os.replace(staging, target)
    except BaseException:
        if attached:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DETACH {ALIAS}")
        for leftover in (staging, staging.with_name(staging.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    counts["bytes"] = target.stat().st_size
    return counts
