"""What the organiser portal shows of the ladder and the lists, staged in the warehouse for
the snapshot (warehouse/snapshot.py): the rungs with their next ask, the lists with their
columns, and every row of every list's download split by team. The rows come from the
exports' own code (transforms/exports.py `list_export_rows`), so the portal's downloads are
neutralised and consent-filtered exactly as the exported files are."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow.compute as pc

from transforms import steps
from transforms.config_sql import registered
from transforms.exports import list_export_rows
from transforms.ladder_config import UNPLACED, Ladder
from transforms.segments import has_table, prepare_list_input

RUNGS = "stage.portal_rungs"
LISTS = "stage.portal_lists"
ROWS = "stage.portal_list_rows"
# Until a teams file declares any, nobody is in a team: the portal then shows no one.
NO_TEAMS = "SELECT NULL::VARCHAR AS team, NULL::VARCHAR AS person_id WHERE false"


def build_portal_lists(
    con: duckdb.DuckDBPyConnection, ladder: Ladder, now: datetime
) -> dict[str, int]:
    """Step portal_lists: stage the rungs, the lists and each list's download rows per team
    (a person in two teams is in both teams' part); returns rows per list."""
    steps.require(con, "portal_lists")
    rungs = [
        (r.name, rank, r.description, r.next_ask or None)
        for rank, r in enumerate(ladder.rungs, start=1)
    ]
    rungs.append((UNPLACED, len(rungs) + 1, "Meets no rung's rule", None))
    con.execute(
        f"CREATE OR REPLACE TABLE {RUNGS} (rung VARCHAR, tier_rank INTEGER, "
        "description VARCHAR, next_ask VARCHAR)"
    )
    con.executemany(f"INSERT INTO {RUNGS} VALUES (?, ?, ?, ?)", rungs)
    con.execute(
        f"CREATE OR REPLACE TABLE {LISTS} (list_name VARCHAR, position INTEGER, "
        "description VARCHAR, channel VARCHAR, columns VARCHAR[], next_ask VARCHAR)"
    )
    con.executemany(
        f"INSERT INTO {LISTS} VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                a.name,
                i,
                a.description,
                a.channel,
                list(a.export_columns()),
                a.ask.strip() or None,  # the list's ask; the portal falls back on the rung's
            )
            for i, a in enumerate(ladder.lists, start=1)
        ],
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {ROWS} (list_name VARCHAR, team VARCHAR, "
        "position BIGINT, person_id VARCHAR, cells VARCHAR[])"
    )
    members = "team_members" if has_table(con, "team_members") else f"({NO_TEAMS})"
    counts: dict[str, int] = {}
    with prepare_list_input(con, ladder, now) as sandbox:
        for activation in ladder.lists:
            table = list_export_rows(con, sandbox, ladder, activation)
            cells = ", ".join(f'CAST(r."{c}" AS VARCHAR)' for c in activation.export_columns())
            with registered(con, "_portal_rows", table):
                con.execute(
                    # DISTINCT: a list split by team (`group_by: team`) has a row per team.
                    f"INSERT INTO {ROWS} SELECT DISTINCT $name, m.team, r.__position, "
                    "r.__person_id, "
                    f"[{cells}] FROM _portal_rows r JOIN {members} m "
                    "ON m.person_id = r.__person_id",
                    {"name": activation.name},
                )
            counts[activation.name] = pc.count_distinct(table["__person_id"]).as_py()
    return counts
