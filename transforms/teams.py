"""teams, team_members and the per-team figures, from `teams.yaml` (transforms/teams_config.py).

A person is in EVERY team whose rule they meet (its `where`, over the columns lists use, or
one of its platform `tags`), so they can be in several teams or in none; `why` says which
rule placed them. Rules run in the config sandbox (transforms/config_sql.py) over a copy of
`stage.list_input` (step list_input, made first as segments.py makes it), so a rule reads
nothing but those columns. Every rule is checked before anything is written."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from transforms import steps
from transforms.config_sql import ConfigSandbox, error_kind, registered
from transforms.ladder_config import quote
from transforms.segments import LIST_TABLE, build_list_input
from transforms.teams_config import Team, Teams, TeamsConfigError, validate_teams
from warehouse.load import transaction

TEAM_INPUT = "_team_input"
COUNTS = ("teams", "people", "members", "memberships", "no_team", "teams_without_organisers")


def members_sql(team: Team) -> str:
    """The team's (team, person_id, why) over the input, in the sandbox."""
    return f"""
        SELECT {quote(team.name)} AS team, person_id, {team.why_sql()} AS why
        FROM {TEAM_INPUT}
        WHERE ({team.predicate()})
    """


def evaluate(con: duckdb.DuckDBPyConnection, teams: Teams, now: datetime) -> list[pa.Table]:
    """Every team's members, evaluated in a config sandbox after every rule is checked
    there. A rule that fails on the data is named with the kind of error, never DuckDB's
    message (which can quote a person's value)."""
    build_list_input(con, now)
    # The sandbox copies a relation under its own name: a temp view of this file's.
    con.execute(f"CREATE OR REPLACE TEMP VIEW {TEAM_INPUT} AS SELECT * FROM {LIST_TABLE}")
    members = []
    with ConfigSandbox(con, TEAM_INPUT) as sandbox:
        validate_teams(sandbox.con, teams, TEAM_INPUT)
        sandbox.load_rows([t.where for t in teams.teams if t.where], ["person_id", "platform_tags"])
        for position, team in enumerate(teams.teams, start=1):
            kind = ""
            try:
                members.append(sandbox.query(members_sql(team)))
            except duckdb.Error as exc:
                kind = error_kind(exc)
            if kind:  # raised outside the `except`: no trace of DuckDB's message
                raise TeamsConfigError(
                    f"{teams.source}: teams[{position}].where (team '{team.name}'): the rule "
                    f"does not run on the data: it fails because {kind}. Change it so it "
                    "holds for every person's values (e.g. TRY_CAST instead of CAST) and run "
                    "again; nothing was written"
                )
    return members


def build_teams(con: duckdb.DuckDBPyConnection, teams: Teams, now: datetime) -> dict[str, int]:
    """Step teams (then team_figures): replace teams, team_members, team_ladder and
    team_movement, all or nothing; returns counts only (see COUNTS). A broken rule raises
    TeamsConfigError before anything is written."""
    steps.require(con, "teams")
    members = evaluate(con, teams, now)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _teams_declared (team VARCHAR, position INTEGER, "
        "description VARCHAR, rule VARCHAR, organisers VARCHAR[])"
    )
    rows = [
        (t.name, i, t.description, t.rule_text(), list(t.organisers))
        for i, t in enumerate(teams.teams, start=1)
    ]
    if rows:
        con.executemany("INSERT INTO _teams_declared VALUES (?, ?, ?, ?, ?)", rows)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _team_members (team VARCHAR, person_id VARCHAR, why VARCHAR)"
    )
    for table in members:
        with registered(con, "_team_rows", table):
            con.execute("INSERT INTO _team_members SELECT team, person_id, why FROM _team_rows")
    with transaction(con):
        con.execute("DELETE FROM team_members")
        con.execute(
            "INSERT INTO team_members BY NAME "
            "SELECT team, person_id, why, $now AS computed_at FROM _team_members",
            {"now": now},
        )
        con.execute("DELETE FROM teams")
        con.execute(
            """INSERT INTO teams BY NAME
            SELECT t.team, t.position, t.description, t.rule, t.organisers,
                   len(t.organisers) AS organiser_count,
                   (SELECT count(*) FROM _team_members m WHERE m.team = t.team) AS members,
                   $now AS computed_at
            FROM _teams_declared t""",
            {"now": now},
        )
        steps.run(con, "team_figures")
    return team_counts(con)


def team_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts only: teams, people, people in a team, memberships, people in no team, teams
    without organisers."""
    row = con.execute(
        f"""SELECT (SELECT count(*) FROM teams),
                   (SELECT count(*) FROM {LIST_TABLE}),
                   (SELECT count(DISTINCT person_id) FROM team_members),
                   (SELECT count(*) FROM team_members),
                   (SELECT count(*) FROM {LIST_TABLE} i
                    WHERE NOT EXISTS (SELECT 1 FROM team_members m
                                      WHERE m.person_id = i.person_id)),
                   (SELECT count(*) FROM teams WHERE organiser_count = 0)"""
    ).fetchone()
    return dict(zip(COUNTS, (int(n) for n in row), strict=True))
