"""list_history (issue 15, part 2): who was on each list at each run, appended by the
segments step, pruned as ladder_history is, and emptied of a forgotten person."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.raw import NOW
from tests.transforms.test_lists import RUNGS, put_ladder, put_metrics
from tests.transforms.test_steps import FORGOTTEN, build, small_org
from transforms.erasure import Target, email_hash, forget
from transforms.ladder_config import LadderConfigError, load, parse
from transforms.segments import build_segments

LADDER = parse(
    {
        "namespace": "gs:",
        "rungs": RUNGS,
        "lists": [
            {"name": "north", "where": "region = 'North'", "ask": "Host?"},
            {"name": "everyone", "where": "true"},
        ],
    }
)


def run(con, when, regions: dict[str, str]) -> None:
    """One segments run at `when` with each person in the given region."""
    put_metrics(con, {person: {"region": region} for person, region in regions.items()})
    put_ladder(con, dict.fromkeys(regions, ("bottom", 3)))
    build_segments(con, LADDER, when)


def history(con) -> list[tuple]:
    return con.execute(
        "SELECT computed_at, list_name, person_id FROM list_history ORDER BY ALL"
    ).fetchall()


def test_each_run_appends_its_lists_and_a_rerun_replaces_only_its_own_rows(con):
    earlier = NOW - timedelta(days=1)
    run(con, earlier, {"a": "North", "b": "South"})
    run(con, NOW, {"a": "South", "b": "North", "c": "North"})
    # The same run again, with a changed world: its rows are replaced, the earlier kept.
    run(con, NOW, {"b": "North", "c": "South"})
    assert history(con) == [
        (earlier, "everyone", "a"),
        (earlier, "everyone", "b"),
        (earlier, "north", "a"),
        (NOW, "everyone", "b"),
        (NOW, "everyone", "c"),
        (NOW, "north", "b"),
    ]
    # Rungs are ladder_history's, never here.
    assert con.execute("SELECT count(*) FROM ladder_history").fetchall() == [(0,)]


def test_history_is_pruned_by_ladder_historys_rule(con):
    day = NOW.replace(hour=12, minute=0, second=0, microsecond=0)
    times = [
        day - timedelta(days=200),  # older than 120 days: pruned
        day - timedelta(days=50, hours=4),  # not its day's last run: pruned
        day - timedelta(days=50),
        day - timedelta(days=1),
        day - timedelta(hours=1),  # same day as the latest, but one of the two latest
        day,
    ]
    for when in times:
        run(con, when, {"a": "North"})
    kept = [
        r[0]
        for r in con.execute("SELECT DISTINCT computed_at FROM list_history ORDER BY 1").fetchall()
    ]
    assert kept == times[2:]


def test_a_broken_list_writes_no_history(con):
    run(con, NOW - timedelta(days=1), {"a": "North"})
    before = history(con)
    bad = parse({"namespace": "gs:", "rungs": RUNGS, "lists": [{"name": "x", "where": "nope"}]})
    with pytest.raises(LadderConfigError, match="list 'x'"):
        build_segments(con, bad, NOW)
    assert history(con) == before


def test_forgetting_someone_removes_their_list_history(con):
    small_org(con)
    build(con)
    ladder = load("ladder.yaml")
    everyone = parse(
        {
            "namespace": ladder.namespace,
            "rungs": [r.model_dump() for r in ladder.rungs],
            "lists": [{"name": "everyone", "where": "true"}],
        }
    )
    build_segments(con, everyone, NOW - timedelta(days=1))
    build_segments(con, everyone, NOW)
    rosa = con.execute("SELECT person_id FROM person_metrics WHERE email = ?", [FORGOTTEN])
    (rosa,) = rosa.fetchone()
    people = {r[0] for r in con.execute("SELECT DISTINCT person_id FROM list_history").fetchall()}
    assert rosa in people and len(people) == 3
    forget(con, Target(email_hash=email_hash(FORGOTTEN)), NOW, "US")
    left = con.execute("SELECT person_id, count(*) FROM list_history GROUP BY 1").fetchall()
    assert {p for p, _ in left} == people - {rosa}
    assert all(n == 2 for _, n in left)  # both runs of everyone else kept
