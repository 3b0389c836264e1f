"""The ladder: each default rung on hand-built people, reasons, HQ lists and config errors."""

import pytest

from tests.support.metrics_rows import put_metrics
from tests.support.raw import NOW, an_person, land, mc_member
from transforms.engagement import build_activities, build_person_metrics
from transforms.identity import resolve
from transforms.ladder import build_ladder
from transforms.ladder_config import LadderConfigError, load, parse
from transforms.normalise import build_staging

DEFAULT = load("ladder.yaml")


def build_people(con, forms=None):
    land(
        con,
        an=[
            an_person("Hana", "Q", "hq@example.org", uuid="u-hq"),
            an_person(
                "Sol", "Activ", "sol@example.org", uuid="u-sol", created="2026-11-22T00:00:00Z"
            ),
            an_person("Una", "Sub", "una@example.org", uuid="u-una"),
            an_person("Lap", "Sed", "lap@example.org", status="unsubscribed", uuid="u-lap"),
        ],
        mc=[mc_member("Hana", "Q", "hq@example.org", tags=("core team",))],
        forms=forms
        or {
            "signup.csv": [
                {
                    "email": "sol@example.org",
                    "given_name": "Sol",
                    "submitted_at": "11/20/2026 10:00:00",
                },
                {
                    "email": "new@example.org",
                    "given_name": '=HYPERLINK("x")',
                    "family_name": "+Nu",
                    "submitted_at": "11/23/2026 10:00:00",
                },
            ]
        },
    )
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    build_person_metrics(con, NOW)


def tiers(con) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT p.email, l.tier FROM ladder l JOIN people p USING (person_id)"
        ).fetchall()
    )


def test_each_person_on_the_highest_rung_they_meet(con):
    build_people(con)
    counts = build_ladder(con, DEFAULT, NOW)
    assert tiers(con) == {
        "hq@example.org": "hq",
        "sol@example.org": "supporter",
        "new@example.org": "supporter",
        "una@example.org": "subscriber",
        "lap@example.org": "lapsed",
    }
    assert counts == {
        "hq": 1,
        "organiser": 0,
        "activist": 0,
        "supporter": 2,
        "subscriber": 1,
        "lapsed": 1,
    }


# ------------------------------------------------------- each default rung on hand-built rows


RUNG_CASES = {
    # The core team by tag (any case), above every other rule they also meet.
    "hq_by_tag": ({"platform_tags": ["CORE TEAM"], "hosted_ever": True}, "hq"),
    "hosted_ever": ({"hosted_ever": True, "events_hosted_total": 1}, "organiser"),
    "hosted_this_year": ({"events_hosted_365d": 1, "actions_90d": 5}, "organiser"),
    "recruits_who_act": ({"recruits": 3, "recruits_who_acted": 1}, "organiser"),
    "recruits_who_never_acted": ({"recruits": 3, "email_reachable": True}, "subscriber"),
    "volunteered_attended_twice": (
        {"volunteered": True, "events_attended_180d": 2, "actions_365d": 3},
        "organiser",
    ),
    "volunteered_attended_once": (
        {"volunteered": True, "events_attended_180d": 1, "actions_365d": 2},
        "supporter",
    ),
    "attended_twice_never_volunteered": (
        {"events_attended_180d": 2, "actions_90d": 2, "actions_365d": 2},
        "supporter",
    ),
    "three_actions_in_90_days": ({"actions_90d": 3, "actions_365d": 3}, "activist"),
    "two_actions_in_90_days": ({"actions_90d": 2, "actions_365d": 2}, "supporter"),
    "an_action_this_year": ({"actions_365d": 1}, "supporter"),
    "a_click_in_90_days": ({"email_clicks_90d": 1, "email_reachable": True}, "supporter"),
    "a_click_a_year_ago_only": (
        {"email_clicks_365d": 1, "email_reachable": True},
        "subscriber",
    ),
    "reachable_by_email": ({"email_reachable": True}, "subscriber"),
    "reachable_by_phone": ({"phone_reachable": True}, "subscriber"),
    "unreachable_and_inactive": ({"email_suppressed": True}, "lapsed"),
}


def test_each_default_rung_rule_on_hand_built_metrics(con):
    put_metrics(con, {case: values for case, (values, _) in RUNG_CASES.items()})
    counts = build_ladder(con, DEFAULT, NOW)
    placed = dict(con.execute("SELECT person_id, tier FROM ladder").fetchall())
    assert placed == {case: tier for case, (_, tier) in RUNG_CASES.items()}
    assert all(counts[rung.name] > 0 for rung in DEFAULT.rungs)
    assert [r.name for r in DEFAULT.rungs] == [
        "hq",
        "organiser",
        "activist",
        "supporter",
        "subscriber",
        "lapsed",
    ]
    ranks = dict(con.execute("SELECT tier, min(tier_rank) FROM ladder GROUP BY 1").fetchall())
    assert ranks == {
        "hq": 1,
        "organiser": 2,
        "activist": 3,
        "supporter": 4,
        "subscriber": 5,
        "lapsed": 6,
    }


def test_hq_by_email_on_hand_built_metrics(con):
    put_metrics(con, {"a": {"email": "Lead@Example.org"}, "b": {"email": "other@example.org"}})
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [
                {"name": "hq", "tags": ["Core Team"], "emails": ["lead@example.org"]},
                {"name": "rest", "where": "true"},
            ],
        }
    )
    build_ladder(con, ladder, NOW)
    assert dict(con.execute("SELECT person_id, tier FROM ladder").fetchall()) == {
        "a": "hq",
        "b": "rest",
    }


def test_default_reasons_and_next_asks(con):
    put_metrics(
        con,
        {
            "org": {"volunteered": True, "events_attended_180d": 3, "recruits_who_acted": 2},
            "act": {"actions_90d": 4, "actions_365d": 6, "events_attended_180d": 1},
        },
    )
    build_ladder(con, DEFAULT, NOW)
    reasons = dict(con.execute("SELECT person_id, reason FROM ladder").fetchall())
    assert reasons == {
        "org": "hosted 0 event(s), 2 recruit(s) who acted, attended 3 event(s) in 180 days",
        "act": "4 actions in 90 days, attended 1 event(s) in 180 days, never hosted",
    }
    assert all(r.next_ask for r in DEFAULT.rungs)
    assert {r.name: r.push for r in DEFAULT.rungs}["organiser"] == ("mailchimp", "action_network")


def test_reasons_are_filled_per_person(con):
    build_people(con)
    build_ladder(con, DEFAULT, NOW)
    reason = con.execute(
        "SELECT reason FROM ladder JOIN people USING (person_id) WHERE email = 'sol@example.org'"
    ).fetchone()[0]
    assert reason == "1 action(s) in 365 days, 0 email click(s) in 90 days"


def test_hq_by_email_list(con):
    build_people(con)
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [
                {"name": "hq", "emails": ["UNA@example.org"]},
                {"name": "everyone", "where": "true"},
            ],
        }
    )
    build_ladder(con, ladder, NOW)
    assert tiers(con)["una@example.org"] == "hq"
    assert tiers(con)["hq@example.org"] == "everyone"


A = {"name": "a", "where": "true"}
LIST = {"name": "l", "where": "true"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"namespace": "gs:", "rungs": []}, "the ladder has no rungs"),
        ({"namespace": "", "rungs": [{"name": "a", "where": "true"}]}, "'namespace' is empty"),
        (
            {
                "namespace": "gs:",
                "rungs": [{"name": "a", "where": "true"}, {"name": "a", "where": "true"}],
            },
            "rung 'a' appears twice",
        ),
        ({"namespace": "gs:"}, "the ladder has no rungs"),
        ({"namespace": "gs:", "rungs": [{"name": "a"}]}, "rung 'a': has no rule"),
        (
            {"namespace": "gs:", "rungs": [{"name": "Bad Name", "where": "true"}]},
            "must be lower case",
        ),
        (
            {"namespace": "gs:", "rungs": [{"name": "a", "where": "true", "push": ["myspace"]}]},
            "push destination 'myspace'",
        ),
        (
            {"namespace": "gs:", "rungs": [{"name": "a", "where": "true; DROP TABLE people"}]},
            "without ';'",
        ),
        (
            {"namespace": "gs:", "rungs": [A], "lists": [{"name": "", "where": "true"}]},
            "lists\\[1\\].name: must be lower case",
        ),
        ({"namespace": "gs:", "rungs": [A], "sync": {"max_remove_share": 2}}, "between 0 and 1"),
        (
            {"namespace": "gs:", "rungs": [A], "sync": {"max_people": "lots"}},
            "sync.max_people: must be a whole number",
        ),
        (
            {"namespace": "gs:", "rungs": [A], "sync": {"dry_run": True}},
            "sync.dry_run: unknown key; allowed keys: max_remove_share",
        ),
        (
            {"namespace": "gs:", "rungs": [A], "sync": {"mailchimp": {"tier_merge_field": "tier"}}},
            "not a Mailchimp merge tag",
        ),
        (
            {"namespace": "gs:", "rungs": [A], "sync": {"mailchimp": {"add_new_people": "yes"}}},
            "add_new_people: must be true or false",
        ),
        (
            {
                "namespace": "gs:",
                "rungs": [A],
                "sync": {"action_network": {"referral_code_rungs": ["nobody"]}},
            },
            "unknown rung",
        ),
        (
            {"namespace": "gs:", "rungs": [A], "lists": [{**LIST, "start_journeys": "on"}]},
            "lists.l.start_journeys: must be true or false",
        ),
    ],
)
def test_structural_config_errors_name_the_problem(config, message):
    with pytest.raises(LadderConfigError, match=message):
        parse(config)


@pytest.mark.parametrize(
    ("rung", "message"),
    [
        (
            {"name": "organiser", "where": "events_hosted > 0"},
            "rung 'organiser': the rule does not run",
        ),
        (
            {"name": "organiser", "where": "actions_90d >>> 2"},
            "rung 'organiser': the rule does not run",
        ),
        (
            {"name": "organiser", "where": "true", "reason": "{no_such_column}"},
            "unknown column '{no_such_column}'",
        ),
    ],
)
def test_sql_config_errors_fail_before_anything_is_written(con, rung, message):
    build_people(con)
    build_ladder(con, DEFAULT, NOW)
    before = con.execute("SELECT * FROM ladder ORDER BY person_id").fetchall()
    broken = parse({"namespace": "gs:", "rungs": [rung, {"name": "rest", "where": "true"}]})
    with pytest.raises(LadderConfigError, match=message):
        build_ladder(con, broken, NOW)
    assert con.execute("SELECT * FROM ladder ORDER BY person_id").fetchall() == before


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(LadderConfigError, match="not found"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rungs: [unclosed")
    with pytest.raises(LadderConfigError, match="not valid YAML"):
        load(bad)


# --------------------------------------------- a ladder without a catch-all (issue 11, case 9)

NO_CATCH_ALL = {
    "namespace": "gs:",
    "rungs": [
        {"name": "active", "where": "actions_90d >= 3", "push": ["mailchimp"]},
        {"name": "reachable", "where": "email_reachable", "push": ["mailchimp"]},
    ],
}


def test_people_no_rung_places_go_on_the_unplaced_rung(con):
    put_metrics(
        con,
        {
            "act": {"actions_90d": 3, "email_reachable": True},
            "reach": {"email_reachable": True},
            "nobody1": {},
            "nobody2": {"email_suppressed": True},
        },
    )
    ladder = parse(NO_CATCH_ALL)
    counts = build_ladder(con, ladder, NOW)
    assert counts == {"active": 1, "reachable": 1, "unplaced": 2}
    rows = con.execute(
        "SELECT person_id, tier, tier_rank, reason FROM ladder ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("act", "active", 1, "active"),
        ("nobody1", "unplaced", 3, "meets no rung's rule in the ladder"),
        ("nobody2", "unplaced", 3, "meets no rung's rule in the ladder"),
        ("reach", "reachable", 2, "reachable"),
    ]
    # Everyone is accounted for, in the history too, and `unplaced` is never pushed.
    assert con.execute("SELECT count(*) FROM ladder_history").fetchone()[0] == 4
    assert [s for s, _, _ in ladder.pushed_segments("mailchimp")] == [
        "tier:active",
        "tier:reachable",
    ]


def test_a_rung_may_not_be_called_unplaced():
    config = {"namespace": "gs:", "rungs": [{"name": "unplaced", "where": "true"}]}
    with pytest.raises(LadderConfigError, match="rung 'unplaced': the name is kept"):
        parse(config)


def test_the_default_ladder_places_everyone_on_its_own_rungs(con):
    put_metrics(con, {case: values for case, (values, _) in RUNG_CASES.items()})
    counts = build_ladder(con, DEFAULT, NOW)
    assert "unplaced" not in counts
    assert con.execute("SELECT count(*) FROM ladder WHERE tier = 'unplaced'").fetchone()[0] == 0
