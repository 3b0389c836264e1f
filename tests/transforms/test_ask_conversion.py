"""Which asks work (issue 15, part 5) on hand-built history: entries into a list, success
by the list's rule within its window, organisers' reach, the same-rung comparison, per
team and for the organisation, and a success rule that fails on the data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.raw import NOW
from transforms import steps
from transforms.ask_conversion import build_ask_conversion, conversion_rows
from transforms.ladder_config import LadderConfigError, parse

T1, T2, T3 = NOW - timedelta(days=40), NOW - timedelta(days=10), NOW - timedelta(days=1)
RUNGS = [{"name": "activist", "where": "false"}, {"name": "supporter", "where": "true"}]
LISTS = [
    {"name": "host", "where": "true", "success": "activity_type = 'event_hosted'"},
    {"name": "quiet", "where": "true"},
]
LADDER = parse({"namespace": "gs:", "rungs": RUNGS, "lists": LISTS})
ON_LIST = {T1: ["a", "b"], T2: ["a", "b", "c"], T3: ["c", "d"]}


@pytest.fixture
def world(con):
    """Three runs; six activists and one supporter; a, then c, enter `host`."""
    for run, people in ON_LIST.items():
        con.executemany(
            "INSERT INTO ladder_history VALUES (?, ?, ?, ?)",
            [(run - timedelta(minutes=1), p, "activist", 1) for p in "abcdef"]
            + [(run - timedelta(minutes=1), "g", "supporter", 2)],
        )
        con.executemany(
            "INSERT INTO list_history VALUES (?, ?, ?)",
            [(run, name, p) for p in people for name in ("host", "quiet")],
        )
    hosted = [("a", T1 + timedelta(days=5)), ("b", T1 - timedelta(days=1))]
    hosted += [("c", T2 + timedelta(days=35)), ("e", T1 + timedelta(days=3))]
    con.executemany(
        "INSERT INTO activities (person_id, source, source_record_id, activity_type, "
        "occurred_at) VALUES (?, 'action_network', ?, 'event_hosted', ?)",
        [(p, f"event-{p}", at) for p, at in hosted]
        + [("d", "petition-d", T3 + timedelta(hours=2))],
    )
    con.execute("UPDATE activities SET activity_type = 'petition_signature' WHERE person_id = 'd'")
    con.execute("INSERT INTO teams VALUES ('North', 1, 'North', 'where: true', [], 0, 2, ?)", [NOW])
    con.executemany(
        "INSERT INTO team_members (team, person_id, why, computed_at) "
        "VALUES ('North', ?, 'rule', ?)",
        [["a", NOW], ["c", NOW]],
    )
    steps.run(con, "organiser_activities")  # stage.organiser_placed, empty
    con.executemany(
        "INSERT INTO stage.organiser_placed (outcome_id, recorded_at, organiser, team, "
        "list_name, person_id, outcome, via, landed_at, current_person_id) "
        "VALUES (?, ?, 'lead@example.org', 'North', 'host', ?, ?, 'page', ?, ?)",
        [
            (1, T1 + timedelta(days=1), "a", "reached", NOW, "a"),
            (2, T1 + timedelta(days=1), "b", "not_reached", NOW, "b"),
        ],
    )
    return con


def rows(con, where: str = "true") -> list[tuple]:
    return con.execute(
        "SELECT period, list_name, team, entered, reached, succeeded, conversion_rate, "
        "median_days_to_success, in_window, baseline_people, baseline_succeeded, baseline_rate "
        f"FROM ask_conversion WHERE {where} ORDER BY period, list_name, team NULLS FIRST"
    ).fetchall()


def test_entries_success_reach_and_the_same_rung_comparison(world):
    counts = build_ask_conversion(world, LADDER, NOW)
    assert counts["entries"] == 8  # a, b, c, d on each of the two lists
    assert rows(world, "list_name = 'host'") == [
        # 30 days: c and d entered, neither hosted within 30 days of entering; compared
        # with d, e, f (activists off the list at the period's first run, T2): none did.
        ("30d", "host", None, 2, 0, 0, 0.0, None, 2, 3, 0, 0.0),
        ("30d", "host", "North", 1, 0, 0, 0.0, None, 1, 0, 0, None),
        # 90 days: a (reached, hosted 5 days after entering), b (hosted before: no),
        # c (hosted after the window: no), d; e hosted 3 days after T1 and was not listed.
        ("90d", "host", None, 4, 1, 1, 0.25, 5.0, 2, 4, 1, 0.25),
        ("90d", "host", "North", 2, 1, 1, 0.5, 5.0, 1, 1, 0, 0.0),
    ]
    # A list without a success rule counts entries and reach, never a rate.
    assert rows(world, "list_name = 'quiet' AND team IS NULL") == [
        ("30d", "quiet", None, 2, 0, 0, None, None, 2, 0, 0, None),
        ("90d", "quiet", None, 4, 0, 0, None, None, 2, 0, 0, None),
    ]
    assert [r["list_name"] for r in conversion_rows(world)] == ["host", "quiet"]
    # A re-run replaces the table: the same rows, never twice.
    build_ask_conversion(world, LADDER, NOW)
    assert world.execute("SELECT count(*) FROM ask_conversion").fetchone() == (8,)


def test_without_history_every_list_has_zero_rows(con):
    steps.run(con, "organiser_activities")
    build_ask_conversion(con, LADDER, NOW)
    assert {r[3:6] for r in rows(con)} == {(0, 0, 0)}
    assert len(rows(con)) == 4


def test_a_success_rule_failing_on_the_data_names_the_list_and_writes_nothing(world):
    build_ask_conversion(world, LADDER, NOW)
    before = rows(world)
    broken = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [
                *LISTS,
                {"name": "bad", "where": "true", "success": "CAST(source AS INT) > 0"},
            ],
        }
    )
    with pytest.raises(LadderConfigError) as caught:
        build_ask_conversion(world, broken, NOW)
    message = str(caught.value)
    assert "list 'bad'" in message and "success" in message
    assert "action_network" not in message, "a cell's value must never be repeated"
    assert rows(world) == before
