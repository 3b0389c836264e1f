"""Ladder history (one snapshot per run, never rewritten) and the movement report."""

from datetime import timedelta

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from connectors.forms.landing import land_form_exports
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.landing import land_mailchimp_campaigns, land_mailchimp_members
from sandbox import start_sandbox
from tests.support.metrics_rows import put_metrics
from tests.support.raw import NOW
from transforms.engagement import build_activities, build_person_metrics
from transforms.identity import resolve
from transforms.ladder import build_ladder, build_movement
from transforms.ladder_config import LadderConfigError, load, parse
from transforms.normalise import build_staging

DEFAULT = load("ladder.yaml")
# What puts a hand-built person on each default rung.
ON = {
    "activist": {"actions_90d": 3, "actions_365d": 3},
    "supporter": {"actions_365d": 1},
    "subscriber": {"email_reachable": True},
    "lapsed": {},
}


def run(con, when, people: dict[str, str]) -> None:
    """One ladder run at `when` with each person on the given rung."""
    put_metrics(con, {person: ON[rung] for person, rung in people.items()})
    build_ladder(con, DEFAULT, when)


def report(con, period: str) -> dict[str, dict]:
    rows = build_movement(con, DEFAULT)
    return {r["rung"]: r for r in rows if r["period"] == period}


def counts(row: dict) -> tuple:
    keys = ("was", "now", "stayed", "moved_up", "moved_down", "left", "arrived")
    return tuple(row[k] for k in keys)


def test_history_appends_per_run_and_a_rerun_replaces_only_its_own_rows(con):
    earlier = NOW - timedelta(days=1)
    run(con, earlier, {"a": "supporter", "b": "lapsed"})
    run(con, NOW, {"a": "activist", "b": "lapsed", "c": "subscriber"})
    # The same run again, with a changed world: its rows are replaced, the earlier kept.
    run(con, NOW, {"a": "activist", "c": "supporter"})
    history = con.execute(
        "SELECT computed_at, person_id, tier, tier_rank FROM ladder_history ORDER BY 1, 2"
    ).fetchall()
    assert history == [
        (earlier, "a", "supporter", 4),
        (earlier, "b", "lapsed", 6),
        (NOW, "a", "activist", 3),
        (NOW, "c", "supporter", 4),
    ]


def test_history_keeps_what_movement_needs_and_prunes_the_rest(con):
    day = NOW.replace(hour=12, minute=0, second=0, microsecond=0)
    times = [
        day - timedelta(days=200),  # older than any baseline: pruned
        day - timedelta(days=50, hours=4),  # not its day's last run: pruned
        day - timedelta(days=50),
        day - timedelta(days=1),
        day - timedelta(hours=1),  # same day as the latest, but one of the two latest
        day,
    ]
    for when in times:
        run(con, when, {"a": "supporter"})
    kept = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT computed_at FROM ladder_history ORDER BY 1"
        ).fetchall()
    ]
    assert kept == times[2:]


def test_movement_since_the_last_run(con):
    run(
        con,
        NOW - timedelta(days=7),
        {"up": "supporter", "down": "activist", "stays": "subscriber", "leaves": "supporter"},
    )
    run(
        con,
        NOW,
        {"up": "activist", "down": "subscriber", "stays": "subscriber", "new": "supporter"},
    )
    rows = report(con, "last_run")
    assert list(rows) == ["hq", "organiser", "activist", "supporter", "subscriber", "lapsed"]
    #                               was now stayed up down left arrived
    assert counts(rows["activist"]) == (1, 1, 0, 0, 1, 0, 0)
    assert counts(rows["supporter"]) == (2, 1, 0, 1, 0, 1, 1)
    assert counts(rows["subscriber"]) == (1, 2, 1, 0, 0, 0, 0)
    assert counts(rows["hq"]) == (0, 0, 0, 0, 0, 0, 0)
    # The next ask converts: half the supporters of the last run are on a higher rung.
    assert rows["supporter"]["conversion"] == 0.5
    assert rows["activist"]["conversion"] == 0.0
    assert rows["hq"]["conversion"] is None  # nobody was there to ask
    assert rows["supporter"]["baseline_at"] == NOW - timedelta(days=7)
    # No run 30 or 90 days ago yet: no baseline, nothing moved, current counts only.
    for period in ("30d", "90d"):
        later = report(con, period)
        assert later["supporter"]["baseline_at"] is None
        assert counts(later["subscriber"]) == (0, 2, 0, 0, 0, 0, 0)
    stored = con.execute("SELECT count(*), count(DISTINCT period) FROM ladder_movement").fetchone()
    assert stored == (18, 3)


def test_movement_over_30_and_90_days_uses_the_latest_run_at_or_before_the_cutoff(con):
    days = lambda n: NOW - timedelta(days=n)  # noqa: E731
    run(con, days(100), {"p": "lapsed", "q": "activist", "r": "subscriber"})
    run(con, days(40), {"p": "subscriber", "q": "activist", "r": "subscriber"})
    run(con, days(20), {"p": "supporter", "q": "supporter", "r": "subscriber"})
    run(con, NOW, {"p": "activist", "q": "supporter", "s": "lapsed"})

    last = report(con, "last_run")
    assert last["supporter"]["baseline_at"] == days(20)
    assert counts(last["supporter"]) == (2, 1, 1, 1, 0, 0, 0)  # p up, q stayed
    assert counts(last["subscriber"]) == (1, 0, 0, 0, 0, 1, 0)  # r left
    assert counts(last["lapsed"]) == (0, 1, 0, 0, 0, 0, 1)  # s arrived

    month = report(con, "30d")  # against the run 40 days ago
    assert month["activist"]["baseline_at"] == days(40)
    assert counts(month["activist"]) == (1, 1, 0, 0, 1, 0, 0)  # q fell to supporter
    assert counts(month["subscriber"]) == (2, 0, 0, 1, 0, 1, 0)  # p rose, r left
    assert month["subscriber"]["conversion"] == 0.5

    quarter = report(con, "90d")  # against the run 100 days ago
    assert quarter["lapsed"]["baseline_at"] == days(100)
    assert counts(quarter["lapsed"]) == (1, 1, 0, 1, 0, 0, 1)  # p rose, s arrived
    assert quarter["lapsed"]["conversion"] == 1.0
    assert counts(quarter["activist"]) == (1, 1, 0, 0, 1, 0, 0)


def test_a_broken_ladder_writes_no_history(con):
    run(con, NOW - timedelta(days=1), {"a": "supporter"})
    broken = parse({"namespace": "gs:", "rungs": [{"name": "x", "where": "no_such_column > 1"}]})
    with pytest.raises(LadderConfigError, match="rung 'x': the rule does not run"):
        build_ladder(con, broken, NOW)
    assert con.execute("SELECT count(*) FROM ladder_history").fetchone()[0] == 1


def test_movement_before_any_run_is_empty(con):
    assert build_movement(con, DEFAULT) == []


# ------------------------------------------------------------------ a sandbox organisation


def test_every_default_rung_gets_people_in_a_small_sandbox_org(con, tmp_path):
    """Landed through the real connectors: the default ladder populates every rung. The
    sandbox has no attendance data, so its organisers are hosts and recruiters whose
    recruits act, never volunteers who attended twice."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    quiet = lambda _: None  # noqa: E731
    with start_sandbox(people=300, seed=21, an_rate=0, forms_dir=inbox) as sb:
        env = sb.env
        an = ActionNetworkClient(
            env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
        )
        mc = MailchimpClient(
            env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
        )
        land_action_network_people(con, an, "b1", quiet)
        land_action_network_actions(con, an, "b1", quiet)
        land_action_network_whole(con, an, "b1", quiet)
        land_mailchimp_members(con, mc, "b1", quiet)
        land_mailchimp_campaigns(con, mc, "b1", quiet, now=sb.clock.now())
        land_form_exports(con, inbox, "b1", quiet, quiet)
        now = sb.clock.now()
    build_staging(con, "US")
    resolve(con, now)
    build_activities(con)
    build_person_metrics(con, now)
    counts = build_ladder(con, DEFAULT, now)
    assert all(counts[rung.name] > 0 for rung in DEFAULT.rungs), counts
    # Who the organisers are in the sandbox: by which part of the rule.
    parts = con.execute(
        """SELECT count(*) FILTER (WHERE hosted_ever OR events_hosted_365d >= 1),
                  count(*) FILTER (WHERE recruits_who_acted >= 1),
                  count(*) FILTER (WHERE volunteered AND events_attended_180d >= 2)
           FROM person_metrics JOIN ladder USING (person_id) WHERE tier = 'organiser'"""
    ).fetchone()
    assert parts[0] > 0 and parts[1] > 0
    rows = build_movement(con, DEFAULT)
    assert sum(r["now"] for r in rows if r["period"] == "last_run") == sum(counts.values())


def test_people_a_ladder_without_a_catch_all_drops_moved_down_not_left(con):
    """Issue 11, case 9: people who meet no rung are on `unplaced`, so the report says
    they moved down; `left` is only for people no longer in the warehouse."""
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [
                {"name": "active", "where": "actions_90d >= 3"},
                {"name": "reachable", "where": "email_reachable"},
            ],
        }
    )
    put_metrics(
        con,
        {
            "cools": {"actions_90d": 3},
            "stays": {"email_reachable": True},
            "erased": {"email_reachable": True},
        },
    )
    build_ladder(con, ladder, NOW - timedelta(days=1))
    put_metrics(con, {"cools": {}, "stays": {"email_reachable": True}})
    build_ladder(con, ladder, NOW)
    rows = {r["rung"]: r for r in build_movement(con, ladder) if r["period"] == "last_run"}
    assert list(rows) == ["active", "reachable", "unplaced"]
    #                             was now stayed up down left arrived
    assert counts(rows["active"]) == (1, 0, 0, 0, 1, 0, 0)  # cools: moved down, not left
    assert counts(rows["reachable"]) == (2, 1, 1, 0, 0, 1, 0)  # erased: left
    assert counts(rows["unplaced"]) == (0, 1, 0, 0, 0, 0, 0)  # cools, from a rung above


def test_the_default_ladder_reports_no_unplaced_rung(con):
    run(con, NOW - timedelta(days=1), {"a": "supporter"})
    run(con, NOW, {"a": "lapsed"})
    assert "unplaced" not in {r["rung"] for r in build_movement(con, DEFAULT)}
