"""Asks on lists (issue 15, part 1): `ask`, `success` and `window_days` in ladder.yaml, the
ask on segment_members' list rows, in every export and in the portal's staged lists."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.support.raw import NOW
from tests.transforms.test_lists import RUNGS, put_ladder, put_metrics
from transforms.exports import write_list_exports
from transforms.ladder_config import DEFAULT_WINDOW_DAYS, LadderConfigError, load, parse
from transforms.portal_lists import build_portal_lists
from transforms.segments import build_segments

DEFAULT = load("ladder.yaml")
ASK = "Would you host a small event in the next month?"


def config(*lists: dict):
    return parse({"namespace": "gs:", "rungs": RUNGS, "lists": list(lists)})


def broken(**item) -> dict:
    return {
        "namespace": "gs:",
        "rungs": RUNGS,
        "lists": [{"name": "broken", "where": "true", **item}],
    }


def build(con, ladder) -> None:
    put_metrics(con, {"a": {"region": "North"}, "b": {"region": "South"}})
    put_ladder(con, {"a": ("bottom", 3), "b": ("bottom", 3)})
    build_segments(con, ladder, NOW)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def test_a_list_without_the_new_keys_has_no_ask_and_a_30_day_window():
    (item,) = config({"name": "plain", "where": "true"}).lists
    assert (item.ask, item.success, item.window_days) == ("", None, DEFAULT_WINDOW_DAYS)
    assert item.export_columns() == item.columns


def test_every_default_list_has_an_ask_a_success_rule_and_a_window():
    for item in DEFAULT.lists:
        assert item.ask and item.success and item.window_days >= 1, item.name
    hosts = next(a for a in DEFAULT.lists if a.name == "ready_to_host")
    assert hosts.success == "activity_type = 'event_hosted'"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"window_days": 0}, "ladder.yaml: list 'broken': 'window_days' must be a whole number"),
        ({"window_days": -3}, "list 'broken': 'window_days' must be a whole number of days"),
        ({"window_days": "soon"}, "ladder.yaml: lists.broken.window_days: must be a whole"),
        ({"window_days": 2.5}, "lists.broken.window_days: must be a whole number of days"),
        ({"ask": ["host", "an event"]}, "ladder.yaml: lists.broken.ask: must be text"),
        ({"ask": {"text": "host"}}, "ladder.yaml: lists.broken.ask: must be text"),
        ({"success": "true; DROP TABLE people"}, "list 'broken': 'success' must be one SQL"),
    ],
)
def test_bad_ask_success_or_window_is_refused_when_the_file_is_read(item, message):
    with pytest.raises(LadderConfigError, match=message):
        parse(broken(**item))


@pytest.mark.parametrize(
    ("success", "why"),
    [
        ("shoe_size = 3", "shoe_size"),  # no such column in activities
        ("actions_90d > 1", "actions_90d"),  # a person_metrics column, not an activity's
        ("activity_type = = 'event_hosted'", "syntax"),
        ("activity_type + 1", "activity_type"),  # not a predicate: text plus a number
    ],
)
def test_a_success_rule_that_does_not_run_over_activities_fails_before_anything_is_written(
    con, success, why
):
    build(con, config({"name": "everyone", "where": "true", "ask": "Host?"}))
    before = con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall()
    history = con.execute("SELECT * FROM list_history ORDER BY ALL").fetchall()
    assert before and history
    with pytest.raises(LadderConfigError) as failure:
        build_segments(con, parse(broken(success=success, ask="Host?")), NOW)
    message = str(failure.value)
    assert message.startswith("ladder.yaml: list 'broken': 'success' does not run over one row")
    assert why.lower() in message.lower()
    assert con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall() == before
    assert con.execute("SELECT * FROM list_history ORDER BY ALL").fetchall() == history


def test_segment_members_carry_the_lists_ask_on_its_rows_only(con):
    build(
        con,
        config(
            {"name": "hosts", "where": "true", "ask": f"  {ASK} "},
            {"name": "quiet", "where": "true"},
        ),
    )
    rows = con.execute(
        "SELECT segment, person_id, ask FROM segment_members ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        ("list:hosts", "a", ASK),
        ("list:hosts", "b", ASK),
        ("list:quiet", "a", None),  # a list without an ask
        ("list:quiet", "b", None),
        ("tier:bottom", "a", None),  # rungs have no ask here
        ("tier:bottom", "b", None),
    ]


def test_the_export_appends_the_ask_unless_the_list_places_it(con, tmp_path):
    ladder = config(
        {"name": "hosts", "where": "true", "ask": ASK, "columns": ["person_id", "reason"]},
        {"name": "placed", "where": "true", "ask": ASK, "columns": ["ask", "person_id"]},
        {"name": "quiet", "where": "true", "columns": ["person_id", "reason"]},
        # An ask that reads as a formula in a spreadsheet is neutralised like any cell.
        {"name": "risky", "where": "true", "ask": "=HYPERLINK(1)", "columns": ["person_id"]},
    )
    build(con, ladder)
    out = tmp_path / "out"
    write_list_exports(con, ladder, out, NOW)
    assert header(out / "hosts" / "all.csv") == ["person_id", "reason", "ask"]
    assert {r["ask"] for r in read_csv(out / "hosts" / "all.csv")} == {ASK}
    assert header(out / "placed" / "all.csv") == ["ask", "person_id"]
    assert {r["ask"] for r in read_csv(out / "placed" / "all.csv")} == {ASK}
    assert header(out / "quiet" / "all.csv") == ["person_id", "reason"]  # unchanged
    assert {r["ask"] for r in read_csv(out / "risky" / "all.csv")} == {"'=HYPERLINK(1)"}


def test_a_list_without_an_ask_that_names_the_column_gets_it_empty(con, tmp_path):
    ladder = config({"name": "quiet", "where": "true", "columns": ["person_id", "ask"]})
    build(con, ladder)
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    rows = read_csv(tmp_path / "out" / "quiet" / "all.csv")
    assert [(r["person_id"], r["ask"]) for r in rows] == [("a", ""), ("b", "")]


def test_the_portal_shows_the_lists_own_ask_else_none(con):
    ladder = config(
        {"name": "hosts", "where": "true", "ask": ASK, "columns": ["person_id"]},
        {"name": "quiet", "where": "true", "columns": ["person_id"]},
    )
    build(con, ladder)
    build_portal_lists(con, ladder, NOW)
    staged = con.execute(
        "SELECT list_name, columns, next_ask FROM stage.portal_lists ORDER BY position"
    ).fetchall()
    # None: the portal falls back on the person's rung's next ask.
    assert staged == [("hosts", ["person_id", "ask"], ASK), ("quiet", ["person_id"], None)]
