"""Place everyone on the ladder and build the activation lists, from `ladder.yaml`."""

from __future__ import annotations

from datetime import datetime

import duckdb

from transforms.ladder_config import Ladder, quote, template_sql, validate
from warehouse.load import replace_contents

INPUT = "_ladder_input"
INPUT_SQL = f"""
CREATE OR REPLACE TEMP VIEW {INPUT} AS
SELECT *,
       strftime(first_seen, '%Y-%m-%d') AS first_seen_date,
       strftime(last_action_at, '%Y-%m-%d') AS last_action_date
FROM person_metrics
"""
# A list for a channel only holds people that channel may reach.
CHANNEL_RULES = {
    "email": "email IS NOT NULL AND NOT email_suppressed",
    "phone": "phone IS NOT NULL AND NOT phone_suppressed",
    "both": "(email IS NOT NULL AND NOT email_suppressed) OR (phone IS NOT NULL AND NOT phone_suppressed)",
}


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
    replace_contents(con, "ladder", "SELECT * FROM _ladder")
    counts = dict.fromkeys((r.name for r in ladder.rungs), 0)
    for name, n in con.execute("SELECT tier, count(*) FROM ladder GROUP BY tier").fetchall():
        counts[name] = int(n)
    return counts


def build_segments(con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime) -> dict[str, int]:
    """segment_members: every tier (`tier:<rung>`) and list (`list:<name>`), with reasons."""
    prepare_input(con, ladder)
    columns = {row[0] for row in con.execute(f"DESCRIBE {INPUT}").fetchall()} | {"tier"}
    parts = [
        "SELECT 'tier:' || tier AS segment, person_id, reason, $now AS computed_at FROM ladder"
    ]
    for activation in ladder.lists:
        reason = template_sql(activation.reason, columns, activation.name)
        parts.append(
            f"""SELECT {quote("list:" + activation.name)}, person_id, {reason}, $now
            FROM (SELECT i.*, l.tier FROM {INPUT} i LEFT JOIN ladder l USING (person_id))
            WHERE ({activation.where}) AND ({CHANNEL_RULES[activation.channel]})"""
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _segments AS " + "\nUNION ALL\n".join(parts), {"now": now}
    )
    replace_contents(con, "segment_members", "SELECT * FROM _segments")
    rows = con.execute("SELECT segment, count(*) FROM segment_members GROUP BY 1").fetchall()
    counts = {f"list:{a.name}": 0 for a in ladder.lists}
    counts.update({segment: int(n) for segment, n in rows})
    return counts
