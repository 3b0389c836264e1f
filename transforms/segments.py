"""segment_members: every tier (`tier:<rung>`) and activation list (`list:<name>`) from
`ladder.yaml`, each person with the reason they are on it.

Lists are SQL predicates over `_list_input` (segments.sql): the columns of person_metrics,
`first_seen_date`, `last_action_date`, the person's `tier` and `tier_rank` now, and
`tier_30d_ago` / `tier_rank_30d_ago` from ladder_history (NULL without history 30 days
back, so a rule comparing them holds for nobody). A list for a channel only holds people
that channel may reach: an opt-out on any platform has already suppressed it."""

from __future__ import annotations

import re
from datetime import datetime

import duckdb

from transforms import sqlfiles
from transforms.ladder_config import Ladder, LadderConfigError, quote, template_sql, validate_lists
from warehouse.load import replace_contents

LIST_INPUT = "_list_input"
HISTORY = "ladder_history"
HISTORY_SHAPE = (
    "SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS tier, NULL::INTEGER AS tier_rank, "
    "NULL::TIMESTAMP AS computed_at WHERE false"
)
EMAIL_OK = "(email IS NOT NULL AND NOT email_suppressed)"
PHONE_OK = "(phone IS NOT NULL AND NOT phone_suppressed)"
CHANNEL_RULES = {
    "email": EMAIL_OK,
    "phone": PHONE_OK,
    "both": f"({EMAIL_OK} OR {PHONE_OK})",
}


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
            [name],
        ).fetchone()[0]
    )


def prepare_list_input(con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime) -> None:
    """Create `_list_input` and check every list against it (nothing is written)."""
    source = f"SELECT person_id, tier, tier_rank, computed_at FROM {HISTORY}"
    if not has_table(con, HISTORY):
        source = HISTORY_SHAPE
    con.execute(f"CREATE OR REPLACE TEMP VIEW _ladder_history_source AS {source}")
    sqlfiles.run(con, "segments", {"now": now})
    validate_lists(con, ladder, LIST_INPUT)


def build_segments(con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime) -> dict[str, int]:
    """Replace segment_members with every tier and list; returns members per segment.
    A broken list raises LadderConfigError before anything is written."""
    prepare_list_input(con, ladder, now)
    columns = {row[0] for row in con.execute(f"DESCRIBE {LIST_INPUT}").fetchall()}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _segments AS SELECT 'tier:' || tier AS segment, "
        "person_id, reason, $now AS computed_at FROM ladder",
        {"now": now},
    )
    for activation in ladder.lists:
        where = f"{ladder.source}: list '{activation.name}'"
        reason = template_sql(activation.reason, columns, where)
        top = ""
        if activation.limit is not None:
            top = (
                f"QUALIFY row_number() OVER (ORDER BY {activation.order_by}, person_id) "
                f"<= {int(activation.limit)}"
            )
        try:
            con.execute(
                f"""
                INSERT INTO _segments
                SELECT {quote("list:" + activation.name)}, person_id, {reason}, $now
                FROM {LIST_INPUT}
                WHERE ({activation.where}) AND {CHANNEL_RULES[activation.channel]}
                {top}
                """,
                {"now": now},
            )
        except duckdb.Error as exc:  # binds, but fails on the data (e.g. a bad cast)
            # The message may quote a person's value: masked, never passed on (rule 5).
            message = re.sub(r"(['\"]).*?\1", "'…'", str(exc).split("\n")[0])
            raise LadderConfigError(f"{where}: the rule does not run: {message}") from None
    replace_contents(con, "segment_members", "SELECT * FROM _segments")
    rows = con.execute("SELECT segment, count(*) FROM segment_members GROUP BY 1").fetchall()
    counts = {f"list:{a.name}": 0 for a in ladder.lists}
    counts.update({segment: int(n) for segment, n in rows})
    return counts
