"""segment_members: every tier (`tier:<rung>`) and activation list (`list:<name>`) from
`ladder.yaml`, each person with the reason they are on it (and a list's rows with its
`ask`); and list_history, who was on each list at each run, pruned as ladder_history is.

Lists are SQL predicates over `stage.list_input` (step list_input): the columns of person_metrics,
`first_seen_date`, `last_action_date`, the person's `tier` and `tier_rank` now, and
`tier_30d_ago` / `tier_rank_30d_ago` from ladder_history (NULL without history 30 days
back, so a rule comparing them holds for nobody), and `team`, the list of the person's
teams (team_members; empty in none), which `group_by: team` splits a list's downloads by. A list for a channel only holds people
that channel may reach: an opt-out on any platform has already suppressed it. The address
channels, `post` and `door`, need an address (person_metrics says which); an email or
phone opt-out covers only its own channel, so it does not take anyone off them.

Rules run in a config sandbox (transforms/config_sql.py) that sees only a copy of it, named
`_list_input` there."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from transforms import steps
from transforms.config_sql import ConfigSandbox, error_kind, registered
from transforms.ladder import prune_history
from transforms.ladder_config import (
    SUCCESS_RELATION,
    ActivationList,
    Ladder,
    LadderConfigError,
    quote,
    rule_failure,
    template_columns,
    template_sql,
    validate_lists,
)
from transforms.segment_keys import LIST_PREFIX, TIER_PREFIX, list_segment
from warehouse.load import replace_rows, transaction

# The rows lists read, in the warehouse (step list_input), and its name in the sandbox.
LIST_TABLE = "stage.list_input"
LIST_INPUT = "_list_input"
HISTORY = "ladder_history"
# Teams (transforms/teams.py): each person's teams are the list column `team`.
TEAM = "team"
TEAM_MEMBERS = "team_members"
# Who was on each list at each run (issue 15), pruned as ladder_history is.
LIST_HISTORY = "list_history"
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
    "post": "post_reachable",
    "door": "door_reachable",
}


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
            [name],
        ).fetchone()[0]
    )


def build_list_input(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """Steps list_history and list_input: `stage.list_input`, the person columns lists (and
    teams' rules) are written over."""
    steps.require(con, "list_history")
    source = f"SELECT person_id, tier, tier_rank, computed_at FROM {HISTORY}"
    if not has_table(con, HISTORY):
        source = HISTORY_SHAPE
    con.execute(f"CREATE OR REPLACE VIEW stage.ladder_history_source AS {source}")
    steps.run(con, "list_input", {"now": now})


def team_column(alias: str = "i") -> str:
    """`team`: the names of the person's teams (team_members), sorted; empty in none. Lists
    may read it (`list_contains(team, 'North Austin')`); `group_by: team` splits by it."""
    return (
        f"coalesce((SELECT list(tm.team ORDER BY tm.team) FROM {TEAM_MEMBERS} tm "
        f"WHERE tm.person_id = {alias}.person_id), []::VARCHAR[]) AS {TEAM}"
    )


def prepare_list_input(
    con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime
) -> ConfigSandbox:
    """Steps list_history and list_input: `stage.list_input`, and a config sandbox holding
    its shape (with each person's `team`s) as `_list_input`, with every list checked there
    (no list is written); the caller closes the sandbox."""
    build_list_input(con, now)
    # The sandbox copies a relation under its own name: a temp view of this file's.
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {LIST_INPUT} AS SELECT i.*, {team_column()} "
        f"FROM {LIST_TABLE} i"
    )
    sandbox = ConfigSandbox(con, LIST_INPUT)
    try:
        # Success rules are written over one row of activities: its shape, with no rows.
        sandbox.add(SUCCESS_RELATION, activities_shape(con))
        validate_lists(sandbox.con, ladder, LIST_INPUT)
    except BaseException:
        sandbox.close()
        raise
    return sandbox


def activities_shape(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The columns of the warehouse's `activities`, with no rows (no one's data)."""
    return con.sql(f"SELECT * FROM {SUCCESS_RELATION} LIMIT 0").to_arrow_table()


def members_sql(activation: ActivationList, columns: set[str], at: str) -> str:
    """The list's (segment, person_id, reason, ask) over `_list_input`, in the sandbox."""
    reason = template_sql(activation.reason, columns, at)
    ask = quote(activation.ask.strip()) if activation.ask.strip() else "NULL"
    top = ""
    if activation.limit is not None:
        top = (
            f"QUALIFY row_number() OVER (ORDER BY {activation.order_by}\n, person_id) "
            f"<= {int(activation.limit)}"
        )
    return f"""
        SELECT {quote(list_segment(activation.name))} AS segment, person_id, {reason} AS reason,
               {ask}::VARCHAR AS ask
        FROM {LIST_INPUT}
        WHERE (\n{activation.where}\n) AND {CHANNEL_RULES[activation.channel]}
        {top}
    """


def list_failure(
    sandbox: ConfigSandbox,
    ladder: Ladder,
    activation: ActivationList,
    relation: str = LIST_INPUT,
    kind: str = "its reason could not be filled",
    keys: tuple[str, ...] = ("where", "order_by"),
) -> str:
    """Which of a failing list's expressions (those named in `keys`, the ones the failing
    query ran) fails on the data over `relation`, tried one at a time; `kind` is told when
    none fails alone."""
    at = f"{ladder.source}: list '{activation.name}'"
    tries = [
        ("where", activation.where, f"SELECT count(*) FROM {relation} WHERE (\n{{}}\n)"),
        (
            "order_by",
            activation.order_by,
            f"SELECT row_number() OVER (ORDER BY {{}}\n) FROM {relation}",
        ),
        ("group_by", activation.group_by, f"SELECT CAST((\n{{}}\n) AS VARCHAR) FROM {relation}"),
    ]
    for key, expression, sql in tries:
        if expression is None or key not in keys:
            continue
        try:
            sandbox.check(sql.format(expression))
        except duckdb.Error as exc:
            return rule_failure(at, key, expression, error_kind(exc))
    return rule_failure(at, None, None, kind)


def list_columns(ladder: Ladder) -> list[str]:
    """Columns every list reads beside its expressions: the key, channels and reasons."""
    channel = [
        "email",
        "phone",
        "email_suppressed",
        "phone_suppressed",
        "post_reachable",
        "door_reachable",
    ]
    reasons = [c for a in ladder.lists for c in template_columns(a.reason)]
    return ["person_id", *channel, *reasons]


def build_segments(con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime) -> dict[str, int]:
    """Step segments: replace segment_members with every tier and list; returns members per
    segment. A broken list raises LadderConfigError before anything is written."""
    members = []
    with prepare_list_input(con, ladder, now) as sandbox:
        steps.require(con, "segments")
        columns = set(sandbox.columns)
        expressions = [e for a in ladder.lists for e in (a.where, a.order_by) if e]
        sandbox.load_rows(expressions, list_columns(ladder))
        for activation in ladder.lists:
            at = f"{ladder.source}: list '{activation.name}'"
            failed = False
            try:
                members.append(sandbox.query(members_sql(activation, columns, at)))
            except duckdb.Error:  # binds, but fails on the data (e.g. a bad cast)
                failed = True
            if failed:  # raised outside the `except`: no trace of DuckDB's message
                raise LadderConfigError(list_failure(sandbox, ladder, activation))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _segments AS SELECT {quote(TIER_PREFIX)} || tier AS segment, "
        "person_id, reason, $now AS computed_at, NULL::VARCHAR AS ask FROM ladder",
        {"now": now},
    )
    for table in members:
        with registered(con, "_list_members", table):
            con.execute(
                "INSERT INTO _segments BY NAME "
                "SELECT segment, person_id, reason, $now AS computed_at, ask FROM _list_members",
                {"now": now},
            )
    with transaction(con):
        # The lists replaced whole, and this run appended to list_history: a re-run at the
        # same time replaces that run's rows only, earlier runs are never touched.
        replace_rows(con, "segment_members", "_segments", ("segment", "person_id"))
        con.execute(f"DELETE FROM {LIST_HISTORY} WHERE computed_at = $now", {"now": now})
        con.execute(
            f"INSERT INTO {LIST_HISTORY} BY NAME "
            "SELECT computed_at, substr(segment, $from) AS list_name, person_id "
            "FROM _segments WHERE starts_with(segment, $prefix)",
            {"from": len(LIST_PREFIX) + 1, "prefix": LIST_PREFIX},
        )
        prune_history(con, LIST_HISTORY, now)
    rows = con.execute("SELECT segment, count(*) FROM segment_members GROUP BY 1").fetchall()
    counts = {list_segment(a.name): 0 for a in ladder.lists}
    counts.update({segment: int(n) for segment, n in rows})
    return counts
