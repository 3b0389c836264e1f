"""A small organisation for the portal's data tests: people written as person_metrics rows
(tests/support/metrics_rows.py), a ladder with history, activities across platforms, two
teams from a teams file (one person in both, one in none), lists built by the real
segments step, exports written by the real exports step, and the snapshot published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

from tests.support.metrics_rows import put_metrics
from tests.support.raw import NOW
from transforms import steps
from transforms.exports import write_list_exports
from transforms.ladder import build_movement
from transforms.ladder_config import Ladder, parse
from transforms.portal_lists import build_portal_lists
from transforms.segments import build_list_input, build_segments
from transforms.teams import build_teams
from transforms.teams_config import load_teams
from warehouse.connection import connect
from warehouse.snapshot import publish

NORTH, EAST = "North Austin", "East Austin"
TEAMS_YAML = f"""\
teams:
  - name: {NORTH}
    where: left(postal_code, 3) = '787'
    organisers: [north@example.org]
  - name: {EAST}
    where: left(postal_code, 3) = '786'
    organisers: [east@example.org]
"""
NASTY_NAME = '=HYPERLINK("http://x.example","click")'
HTML_NAME = "<script>alert(1)</script>"
# person_id -> person_metrics values; every one reachable by email unless said otherwise.
PEOPLE: dict[str, dict] = {
    "p-ana": {"given_name": "Ana", "family_name": "Alvarez", "postal_code": "78701"},
    "p-bo": {
        "given_name": "Bo",
        "family_name": "Brown",
        "postal_code": "78702",
        "email_suppressed": True,  # opted out of email: on no email list, blank where shown
        "phone": "+15125550102",
        "phone_reachable": True,
    },
    "p-cy": {"given_name": NASTY_NAME, "family_name": "Cole", "postal_code": "78703"},
    "p-dee": {"given_name": HTML_NAME, "family_name": "O'Dea", "postal_code": "78610"},
    "p-eve": {
        "given_name": "Eve",
        "family_name": "Evans",
        "postal_code": "78611",
        "phone": "+15125550105",
        "phone_reachable": True,
        "phone_suppressed": True,  # opted out of calls
    },
    # In no team: the portal never shows them, not even to HQ.
    "p-gus": {"given_name": "Gus", "family_name": "Grant", "postal_code": "10001"},
}
TEAM_OF = {"p-ana": NORTH, "p-bo": NORTH, "p-cy": NORTH, "p-dee": EAST, "p-eve": EAST}
RUNGS = [
    {"name": "top", "where": "false", "next_ask": "Lead a team"},
    {"name": "middle", "where": "false", "next_ask": "Host an event"},
    {"name": "bottom", "where": "true", "next_ask": "Come to an event"},
]
TIERS = {
    "p-ana": ("top", 1),
    "p-bo": ("middle", 2),
    "p-cy": ("bottom", 3),
    "p-dee": ("bottom", 3),
    "p-eve": ("middle", 2),
    "p-gus": ("bottom", 3),
}
# (person_id, tier, rank, days ago): ana rose from the bottom, eve fell from the top.
HISTORY = [
    ("p-ana", "bottom", 3, 40),
    ("p-ana", "middle", 2, 8),
    ("p-bo", "middle", 2, 40),
    ("p-bo", "middle", 2, 8),
    ("p-eve", "top", 1, 8),
]
LISTS = [
    {
        "name": "mail",
        "description": "Everyone we may email",
        "where": "true",
        "channel": "email",
        "reason": "on the {tier} rung",
        "columns": ["given_name", "family_name", "email", "reason"],
    },
    {
        "name": "call",
        "description": "Everyone we may call",
        "where": "true",
        "channel": "both",
        "columns": ["person_id", "given_name", "email", "phone", "tier"],
    },
]


@dataclass(frozen=True)
class Organisation:
    warehouse: Path
    snapshot: Path
    exports: Path
    teams_file: Path
    ladder: Ladder
    ladder_file: Path


def ladder() -> Ladder:
    return parse({"namespace": "gs:", "rungs": RUNGS, "lists": LISTS})


_BUILT: dict[str, Organisation] = {}


def built(factory) -> Organisation:
    """The organisation, built once per test process (`factory`: tmp_path_factory)."""
    if "org" not in _BUILT:
        _BUILT["org"] = build(factory.mktemp("organisation"))
    return _BUILT["org"]


def build(folder: Path) -> Organisation:
    """The organisation's warehouse, exports and snapshot in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    config = ladder()
    ladder_file = folder / "ladder.yaml"
    ladder_file.write_text(
        yaml.safe_dump({"namespace": "gs:", "rungs": RUNGS, "lists": LISTS}), encoding="utf-8"
    )
    teams_file = folder / "teams.yaml"
    teams_file.write_text(TEAMS_YAML, encoding="utf-8")
    warehouse = folder / "warehouse.duckdb"
    con = connect(warehouse)
    try:
        put_metrics(
            con,
            {
                pid: {
                    "email": f"{pid}@example.org",
                    "email_reachable": not values.get("email_suppressed", False),
                    "region": "TX",
                    "locality": "Austin",
                    "last_action_at": NOW - timedelta(days=3),
                    **values,
                }
                for pid, values in PEOPLE.items()
            },
        )
        con.execute("DELETE FROM ladder")
        for pid, (tier, rank) in TIERS.items():
            con.execute("INSERT INTO ladder VALUES (?, ?, ?, 'r', ?)", [pid, tier, rank, NOW])
            con.execute(
                "INSERT INTO ladder_history (person_id, tier, tier_rank, computed_at) "
                "VALUES (?, ?, ?, ?)",
                [pid, tier, rank, NOW],
            )
        for pid, tier, rank, days in HISTORY:
            con.execute(
                "INSERT INTO ladder_history (person_id, tier, tier_rank, computed_at) "
                "VALUES (?, ?, ?, ?)",
                [pid, tier, rank, NOW - timedelta(days=days)],
            )
        for i in range(250):  # more than a person page shows
            con.execute(
                "INSERT INTO activities (person_id, source, source_record_id, activity_type, "
                "occurred_at, object) VALUES ('p-ana', ?, ?, ?, ?, ?)",
                [
                    "action_network" if i % 2 else "mailchimp",
                    f"r{i}",
                    "petition_signed" if i % 2 else "email_opened",
                    NOW - timedelta(hours=i),
                    f"Petition {i}" if i % 2 else f"Newsletter {i}",
                ],
            )
        build_movement(con, config)
        build_list_input(con, NOW)
        build_teams(con, load_teams(teams_file), NOW)
        build_segments(con, config, NOW)
        write_list_exports(con, config, folder / "exports", NOW)
        build_portal_lists(con, config, NOW)
        steps.require(con, "portal_snapshot")
        snapshot = folder / "portal" / "snapshot.duckdb"
        publish(con, snapshot, NOW)
    finally:
        con.close()
    return Organisation(warehouse, snapshot, folder / "exports", teams_file, config, ladder_file)
