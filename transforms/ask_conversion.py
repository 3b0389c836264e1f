"""Which asks work (issue 15, part 5): per list and team, how many people entered the list,
how many organisers reached, how many did what the list asks (its `success` rule, within
`window_days`), against people of the same rung who were not on it. Steps list_entries,
ask_successes and ask_conversion; the success rules run in the config sandbox, as every
ladder.yaml expression does, over the activities of the people concerned only."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from transforms import steps
from transforms.config_sql import ConfigSandbox, error_kind, registered
from transforms.ladder_config import Ladder, LadderConfigError, quote, rule_failure
from warehouse.load import transaction

TABLE = "ask_conversion"
PERIODS = ("30d", "90d")
_INPUT = "_success_input"
_SHAPE = pa.schema(
    [("list_name", pa.string()), ("person_id", pa.string()), ("occurred_at", pa.timestamp("us"))]
)


def build_ask_conversion(
    con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime
) -> dict[str, int]:
    """Rebuild ask_conversion; returns counts (entries, controls, success matches, rows)."""
    steps.run(con, "list_entries", {"now": now})
    matches = success_events(con, ladder)
    steps.run(con, "ask_conversion", {"now": now})
    ((entries,), (controls,), (rows,)) = (
        con.execute(f"SELECT count(*) FROM {name}").fetchone()
        for name in ("stage.list_entries", "stage.list_controls", TABLE)
    )
    return {"entries": entries, "controls": controls, "success_matches": matches, "rows": rows}


def success_events(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> int:
    """Step ask_successes: each list's success rule over stage.success_input, in the config
    sandbox, into stage.ask_successes(list_name, person_id, occurred_at); and stage.ask_rules
    (every list's window_days, and whether it has a rule). Returns the matches."""
    steps.require(con, "ask_successes")
    rules = [a for a in ladder.lists if a.success]
    found = _SHAPE.empty_table()
    if rules:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_INPUT} AS SELECT * FROM stage.success_input")
        with ConfigSandbox(con, _INPUT) as sandbox:
            sandbox.load_rows([a.success for a in rules], ("person_id", "occurred_at"))
            parts = [
                f"SELECT {quote(a.name)} AS list_name, person_id, occurred_at "
                f"FROM {_INPUT} WHERE (\n{a.success}\n)"
                for a in rules
            ]
            try:
                found = sandbox.query("\nUNION ALL\n".join(parts))
            except duckdb.Error:
                found = None
            if found is None:  # raised outside the `except`: no trace of DuckDB's message
                raise LadderConfigError(_failing_rule(sandbox, ladder, rules))
    lists = pa.table(
        {
            "list_name": [a.name for a in ladder.lists],
            "window_days": pa.array([a.window_days for a in ladder.lists], pa.int32()),
            "has_success": [bool(a.success) for a in ladder.lists],
        }
    )
    with (
        registered(con, "_found", found.cast(_SHAPE)),
        registered(con, "_lists", lists),
        transaction(con),
    ):
        con.execute(
            "CREATE OR REPLACE TABLE stage.ask_successes AS "
            "SELECT DISTINCT list_name, person_id, occurred_at FROM _found"
        )
        con.execute("CREATE OR REPLACE TABLE stage.ask_rules AS SELECT * FROM _lists")
    return found.num_rows


def _failing_rule(sandbox: ConfigSandbox, ladder: Ladder, rules: list) -> str:
    """Which list's success rule fails on the data, tried one at a time."""
    for activation in rules:
        try:
            sandbox.check(f"SELECT count(*) FROM {_INPUT} WHERE (\n{activation.success}\n)")
        except duckdb.Error as exc:
            at = f"{ladder.source}: list '{activation.name}'"
            return rule_failure(at, "success", activation.success, error_kind(exc))
    return f"{ladder.source}: the lists' success rules could not be run together"


def conversion_rows(
    con: duckdb.DuckDBPyConnection, period: str = "90d", by_team: bool = False
) -> list[dict]:
    """ask_conversion's rows for one period, by list: the organisation's, or with
    `by_team` each team's (list, then team). Counts only."""
    team = "team, " if by_team else ""
    cursor = con.execute(
        f"SELECT list_name, {team}entered, reached, succeeded, conversion_rate, "
        f"median_days_to_success, in_window, baseline_people, baseline_rate FROM {TABLE} "
        f"WHERE team IS {'NOT ' if by_team else ''}NULL AND period = ? "
        "ORDER BY list_name, team",
        [period],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
