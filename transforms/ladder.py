"""Place everyone on the ladder and build the activation lists, from `ladder.yaml`."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from transforms import steps
from transforms.config_sql import ConfigSandbox, error_kind, registered
from transforms.ladder_config import (
    UNPLACED,
    UNPLACED_REASON,
    Ladder,
    LadderConfigError,
    quote,
    rule_failure,
    template_columns,
    template_sql,
    validate,
)
from warehouse.load import replace_rows, transaction

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
# list_history (transforms/segments.py) keeps the same runs, by the same rule.
HISTORY_DAYS = 120
PRUNE_SQL = """
DELETE FROM {table}
WHERE computed_at < $now - to_days(CAST($days AS INTEGER))
   OR (computed_at NOT IN (SELECT max(computed_at) FROM {table}
                           GROUP BY CAST(computed_at AS DATE))
       AND computed_at NOT IN (SELECT DISTINCT computed_at FROM {table}
                               ORDER BY computed_at DESC LIMIT 2))
"""
HISTORY_TABLES = ("ladder_history", "list_history")


def prune_history(con: duckdb.DuckDBPyConnection, table: str, now: datetime) -> None:
    """Drop `table`'s runs older than HISTORY_DAYS and all but each day's last run, always
    keeping the two latest runs; `table` is one of HISTORY_TABLES."""
    if table not in HISTORY_TABLES:
        raise ValueError(f"prune_history: {table} is not a history table")
    con.execute(PRUNE_SQL.format(table=table), {"now": now, "days": HISTORY_DAYS})


def prepare_input(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> ConfigSandbox:
    """Create the relation rules are written over and a sandbox holding its shape, with
    every rule checked there; the caller closes the sandbox."""
    con.execute(INPUT_SQL)
    sandbox = ConfigSandbox(con, INPUT)
    try:
        validate(sandbox.con, ladder, INPUT)
    except BaseException:
        sandbox.close()
        raise
    return sandbox


def placement_sql(ladder: Ladder, columns: set[str]) -> str:
    """Each person's first rung, its rank and reason; `unplaced` for those none places.
    Each rule is evaluated once, for the rank; the rung and reason follow from it."""
    rank, reason = [], []
    for position, rung in enumerate(ladder.rungs, start=1):
        rank.append(f"WHEN {rung.predicate()} THEN {position}")
        reason.append(f"WHEN {position} THEN {template_sql(rung.reason, columns, rung.name)}")
    names = ", ".join(quote(n) for n in (*(r.name for r in ladder.rungs), UNPLACED))
    return f"""
        SELECT person_id,
               [{names}][tier_rank] AS tier,
               tier_rank,
               CASE tier_rank {" ".join(reason)} ELSE {quote(UNPLACED_REASON)} END AS reason
        FROM (
            SELECT *, CASE {" ".join(rank)} ELSE {len(ladder.rungs) + 1} END AS tier_rank
            FROM {INPUT}
        )
    """


def place(sandbox: ConfigSandbox, ladder: Ladder) -> pa.Table:
    """(person_id, tier, tier_rank, reason) for everyone, evaluated in the sandbox. A rule
    that fails on the data is named with its expression and the kind of error, never
    DuckDB's message, which can quote a person's value."""
    columns = set(sandbox.columns)
    expressions = [r.predicate() for r in ladder.rungs]
    keep = ["person_id", *(c for r in ladder.rungs for c in template_columns(r.reason))]
    sandbox.load_rows(expressions, keep)
    try:
        return sandbox.query(placement_sql(ladder, columns))
    except duckdb.Error as exc:
        kind = error_kind(exc)
    # Raised outside the `except`, so the traceback carries no trace of DuckDB's message.
    raise LadderConfigError(_failing_rung(sandbox, ladder, kind))


def _failing_rung(sandbox: ConfigSandbox, ladder: Ladder, kind: str) -> str:
    """Which rung fails on the data, tried one at a time; only on the error path."""
    for rung in ladder.rungs:
        try:
            sandbox.check(f"SELECT count(*) FROM {INPUT} WHERE {rung.predicate()}")
        except duckdb.Error as exc:
            at = f"{ladder.source}: rung '{rung.name}'"
            return rule_failure(at, "where", rung.where, error_kind(exc))
    return rule_failure(f"{ladder.source}: the ladder", None, None, kind)


def build_ladder(con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime) -> dict[str, int]:
    """Step ladder: each person on the first rung whose rule they meet (or `unplaced`);
    returns people per rung, `unplaced` only when someone is on it."""
    steps.require(con, "ladder")
    with prepare_input(con, ladder) as sandbox:
        placed = place(sandbox, ladder)
    with registered(con, "_ladder_placed", placed):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _ladder AS "
            "SELECT person_id, tier, tier_rank, reason, $now AS computed_at FROM _ladder_placed",
            {"now": now},
        )
    with transaction(con):
        # The current ladder replaced whole, and this run appended to the history: a re-run
        # at the same time replaces that run's rows only, earlier runs are never touched.
        replace_rows(con, "ladder", "_ladder", ("person_id",))
        con.execute("DELETE FROM ladder_history WHERE computed_at = $now", {"now": now})
        con.execute(
            "INSERT INTO ladder_history BY NAME "
            "SELECT computed_at, person_id, tier, tier_rank FROM _ladder"
        )
        prune_history(con, "ladder_history", now)
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
    # People no rung places are on `unplaced`, below the bottom: moving there is a move
    # down, not leaving (which is only for people no longer in the warehouse).
    placed_nowhere = con.execute(
        "SELECT count(*) FROM ladder_history WHERE tier = ?", [UNPLACED]
    ).fetchall()[0][0]
    if placed_nowhere:
        rungs.append((UNPLACED, len(rungs) + 1))
    steps.require(con, "ladder_rungs")
    con.execute("CREATE OR REPLACE TABLE stage.ladder_rungs (rung VARCHAR, tier_rank INTEGER)")
    con.executemany("INSERT INTO stage.ladder_rungs VALUES (?, ?)", rungs)
    with transaction(con):
        steps.run(con, "ladder_movement")
    rows = con.execute(
        f"""SELECT {", ".join(f'"{c}"' for c in MOVEMENT_COLUMNS)}, baseline_at
        FROM ladder_movement
        ORDER BY CASE period WHEN 'last_run' THEN 1 WHEN '30d' THEN 2 ELSE 3 END,
                 tier_rank NULLS LAST, rung"""
    ).fetchall()
    return [dict(zip((*MOVEMENT_COLUMNS, "baseline_at"), row, strict=True)) for row in rows]
