"""Place everyone on the ladder and build the activation lists, from `ladder.yaml`."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms import sqlfiles
from transforms.ladder_config import Ladder, quote, template_sql, validate
from warehouse.load import transaction

INPUT = "_ladder_input"
INPUT_SQL = f"""
CREATE OR REPLACE TEMP VIEW {INPUT} AS
SELECT *,
       strftime(first_seen, '%Y-%m-%d') AS first_seen_date,
       strftime(last_action_at, '%Y-%m-%d') AS last_action_date
FROM person_metrics
"""


# Movement compares with the last run and with 30 and 90 days ago: older runs, and all but
# each day's last run (plus the two latest), add nothing but rows.
HISTORY_DAYS = 120
PRUNE_HISTORY = """
DELETE FROM ladder_history
WHERE computed_at < $now - to_days(CAST($days AS INTEGER))
   OR (computed_at NOT IN (SELECT max(computed_at) FROM ladder_history
                           GROUP BY CAST(computed_at AS DATE))
       AND computed_at NOT IN (SELECT DISTINCT computed_at FROM ladder_history
                               ORDER BY computed_at DESC LIMIT 2))
"""


def prepare_input(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> None:
    """Create the relation rules are written over and check every rule against it."""
    con.execute(INPUT_SQL)
    validate(con, ladder, INPUT)


def build_ladder(con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime) -> dict[str, int]:
    """Each person on the first rung whose rule they meet; returns people per rung."""
    prepare_input(con, ladder)
    columns = {row[0] for row in con.execute(f"DESCRIBE {INPUT}").fetchall()}
    tier, rank, reason = [], [], []
    for position, rung in enumerate(ladder.rungs, start=1):
        rule = rung.predicate()
        tier.append(f"WHEN {rule} THEN {quote(rung.name)}")
        rank.append(f"WHEN {rule} THEN {position}")
        reason.append(f"WHEN {rule} THEN {template_sql(rung.reason, columns, rung.name)}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ladder AS
        SELECT * FROM (
            SELECT person_id,
                   CASE {" ".join(tier)} END AS tier,
                   CASE {" ".join(rank)} END AS tier_rank,
                   CASE {" ".join(reason)} END AS reason,
                   $now AS computed_at
            FROM {INPUT}
        ) WHERE tier IS NOT NULL
        """,
        {"now": now},
    )
    with transaction(con):
        # The current ladder swapped whole, and this run appended to the history: a re-run
        # at the same time replaces that run's rows only, earlier runs are never touched.
        con.execute("DELETE FROM ladder")
        con.execute("INSERT INTO ladder BY NAME SELECT * FROM _ladder")
        con.execute("DELETE FROM ladder_history WHERE computed_at = $now", {"now": now})
        con.execute(
            "INSERT INTO ladder_history BY NAME "
            "SELECT computed_at, person_id, tier, tier_rank FROM _ladder"
        )
        con.execute(PRUNE_HISTORY, {"now": now, "days": HISTORY_DAYS})
    counts = dict.fromkeys((r.name for r in ladder.rungs), 0)
    for name, n in con.execute("SELECT tier, count(*) FROM ladder GROUP BY tier").fetchall():
        counts[name] = int(n)
    return counts


MOVEMENT_COLUMNS = (
    "period",
    "rung",
    "was",
    "now",
    "stayed",
    "moved_up",
    "moved_down",
    "left",
    "arrived",
    "conversion",
)


def build_movement(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> list[dict]:
    """`ladder_movement`: per rung, moves since the last run and over 30 and 90 days,
    comparing the latest run in `ladder_history` with earlier ones. Counts only."""
    rungs = [(r.name, i) for i, r in enumerate(ladder.rungs, start=1)]
    con.execute("CREATE OR REPLACE TEMP TABLE _ladder_rungs (rung VARCHAR, tier_rank INTEGER)")
    con.executemany("INSERT INTO _ladder_rungs VALUES (?, ?)", rungs)
    with transaction(con):
        sqlfiles.run(con, "ladder_movement")
    rows = con.execute(
        f"""SELECT {", ".join(f'"{c}"' for c in MOVEMENT_COLUMNS)}, baseline_at
        FROM ladder_movement
        ORDER BY CASE period WHEN 'last_run' THEN 1 WHEN '30d' THEN 2 ELSE 3 END,
                 tier_rank NULLS LAST, rung"""
    ).fetchall()
    return [dict(zip((*MOVEMENT_COLUMNS, "baseline_at"), row, strict=True)) for row in rows]
