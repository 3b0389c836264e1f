"""Activation lists and segment_members on hand-built person_metrics, ladder and history rows."""

from datetime import timedelta

import pytest

from tests.support.metrics_rows import put_metrics as shared_put_metrics
from tests.support.raw import NOW
from transforms.ladder_config import LadderConfigError, load, parse
from transforms.segments import build_segments

DEFAULT = load("ladder.yaml")
RUNGS = [
    {"name": "top", "where": "false"},
    {"name": "middle", "where": "false"},
    {"name": "bottom", "where": "true"},
]


def put_metrics(con, rows: dict[str, dict]) -> None:
    """person_metrics rows; everyone reachable by email unless the row says otherwise."""
    shared_put_metrics(
        con,
        {
            person_id: {
                "email": f"{person_id}@example.org",
                "email_reachable": True,
                "given_name": person_id.title(),
                **given,
            }
            for person_id, given in rows.items()
        },
    )


def put_ladder(con, tiers: dict[str, tuple[str, int]]) -> None:
    con.execute("DELETE FROM ladder")
    for person_id, (tier, rank) in tiers.items():
        con.execute("INSERT INTO ladder VALUES (?, ?, ?, 'r', ?)", [person_id, tier, rank, NOW])


def put_history(con, rows: list[tuple[str, str, int, int]]) -> None:
    """(person_id, tier, tier_rank, days ago) rows of ladder_history."""
    for person_id, tier, rank, days in rows:
        con.execute(
            "INSERT INTO ladder_history (person_id, tier, tier_rank, computed_at) "
            "VALUES (?, ?, ?, ?)",
            [person_id, tier, rank, NOW - timedelta(days=days)],
        )


def members(con, segment: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT person_id, reason FROM segment_members WHERE segment = ? ORDER BY 1",
            [segment],
        ).fetchall()
    )


def default_list(con, name: str, metrics: dict[str, dict]) -> dict[str, str]:
    put_metrics(con, metrics)
    put_ladder(con, dict.fromkeys(metrics, ("subscriber", 5)))
    build_segments(con, DEFAULT, NOW)
    return members(con, f"list:{name}")


def test_default_lists_are_the_eight_documented():
    assert [a.name for a in DEFAULT.lists] == [
        "welcome_new",
        "first_action",
        "ready_to_host",
        "connectors",
        "slipping",
        "follow_up",
        "welcome_by_post",
        "door_knock",
    ]


def test_follow_up(con):
    due = {"follow_up_due": True, "follow_up_on": NOW.date(), "last_outcome": "said_yes"}
    got = default_list(
        con,
        "follow_up",
        {
            "due": due,
            "by_phone": {**due, "email": None, "phone": "+15125550100", "phone_reachable": True},
            "not_yet": {"follow_up_due": False, "follow_up_on": NOW.date() + timedelta(days=3)},
            "none": {},
            # Do not contact closes every channel (person_metrics says so): on no list.
            "dnc": {**due, "do_not_contact": True, "email_suppressed": True},
        },
    )
    assert set(got) == {"due", "by_phone"}
    assert got["due"] == "follow-up due on 2026-11-24; last outcome: said_yes"


def test_welcome_new(con):
    got = default_list(
        con,
        "welcome_new",
        {
            "new": {"days_since_joined": 3, "first_source": "forms", "first_seen": NOW},
            "week": {"days_since_joined": 7},
            "old": {"days_since_joined": 8},
            "optout": {"days_since_joined": 1, "email_suppressed": True},
            "noemail": {"days_since_joined": 1, "email": None},
        },
    )
    assert set(got) == {"new", "week"}
    assert got["new"] == "joined on 2026-11-24 via forms"


def test_first_action(con):
    got = default_list(
        con,
        "first_action",
        {
            "opener": {"email_opens_90d": 2},
            "clicker": {"email_clicks_90d": 1},
            "acted": {"email_opens_90d": 3, "actions_total": 1},
            "silent": {},
        },
    )
    assert set(got) == {"opener", "clicker"}
    assert got["opener"] == "opened 2 and clicked 0 email(s) in 90 days, no action yet"


def test_ready_to_host(con):
    got = default_list(
        con,
        "ready_to_host",
        {
            "attendee": {"events_attended_365d": 1},
            "rsvper": {"events_rsvped_365d": 2},
            "one_rsvp": {"events_rsvped_365d": 1},
            "host": {"events_attended_365d": 4, "hosted_ever": True},
            # A two-channel list: reachable by phone alone is enough.
            "phone_only": {
                "events_attended_365d": 2,
                "email_suppressed": True,
                "phone": "+12025550101",
            },
        },
    )
    assert set(got) == {"attendee", "rsvper", "phone_only"}
    assert got["attendee"] == ("attended 1 and RSVPed to 0 event(s) in 365 days, never hosted")


def test_connectors_are_the_top_recruiters_whose_recruits_act(con):
    config = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [
                {**_raw_default_lists()["connectors"], "limit": 2},
            ],
        }
    )
    put_metrics(
        con,
        {
            "many_signups": {"recruits": 40, "recruits_who_acted": 0},
            "best": {"recruits": 5, "recruits_who_acted": 4},
            "second": {"recruits": 3, "recruits_who_acted": 2},
            "third": {"recruits": 9, "recruits_who_acted": 1},
        },
    )
    put_ladder(con, {})
    build_segments(con, config, NOW)
    got = members(con, "list:connectors")
    assert set(got) == {"best", "second"}
    assert got["best"] == "4 of 5 recruit(s) went on to act, 0 more reached through them"


def _raw_default_lists() -> dict[str, dict]:
    import yaml

    with open("ladder.yaml") as handle:
        return {item["name"]: item for item in yaml.safe_load(handle)["lists"]}


def test_slipping_compares_with_the_rung_30_days_ago(con):
    metrics = {p: {} for p in ("fell", "same", "rose", "recent", "new", "fell_twice")}
    put_metrics(con, metrics)
    put_ladder(
        con,
        {
            "fell": ("subscriber", 5),
            "same": ("supporter", 4),
            "rose": ("activist", 3),
            "recent": ("lapsed", 6),
            "new": ("lapsed", 6),
            "fell_twice": ("lapsed", 6),
        },
    )
    put_history(
        con,
        [
            ("fell", "activist", 3, 60),
            ("fell", "supporter", 4, 31),  # the latest at or before 30 days ago
            ("fell", "subscriber", 5, 0),
            ("same", "supporter", 4, 45),
            ("rose", "supporter", 4, 45),
            ("recent", "supporter", 4, 10),  # only history inside the 30 days: not compared
            ("fell_twice", "activist", 3, 30),
        ],
    )
    build_segments(con, DEFAULT, NOW)
    got = members(con, "list:slipping")
    assert set(got) == {"fell", "fell_twice"}
    assert got["fell"].startswith("was supporter 30 days ago, now subscriber")


def test_slipping_is_empty_without_history(con):
    put_metrics(con, {"a": {}, "b": {}})
    put_ladder(con, {"a": ("lapsed", 6), "b": ("hq", 1)})
    build_segments(con, DEFAULT, NOW)
    assert members(con, "list:slipping") == {}
    # And where ladder_history does not exist at all.
    con.execute("DROP TABLE ladder_history")
    counts = build_segments(con, DEFAULT, NOW)
    assert counts["list:slipping"] == 0


def test_segment_members_hold_every_tier_and_list(con):
    put_metrics(con, {"a": {"days_since_joined": 1}, "b": {"days_since_joined": 100}})
    put_ladder(con, {"a": ("supporter", 4), "b": ("lapsed", 6)})
    counts = build_segments(con, DEFAULT, NOW)
    assert counts["tier:supporter"] == 1
    assert counts["tier:lapsed"] == 1
    assert counts["list:welcome_new"] == 1
    assert counts["list:connectors"] == 0  # every list is counted, empty or not
    assert members(con, "tier:supporter") == {"a": "r"}
    computed = {
        row[0] for row in con.execute("SELECT DISTINCT computed_at FROM segment_members").fetchall()
    }
    assert computed == {NOW}


def test_lists_may_read_the_tier(con):
    config = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [{"name": "tops", "where": "tier = 'top'", "reason": "on {tier}"}],
        }
    )
    put_metrics(con, {"a": {}, "b": {}})
    put_ladder(con, {"a": ("top", 1), "b": ("bottom", 3)})
    build_segments(con, config, NOW)
    assert members(con, "list:tops") == {"a": "on top"}


def test_phone_list_leaves_out_phone_opt_outs(con):
    config = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [{"name": "call", "where": "true", "channel": "phone"}],
        }
    )
    put_metrics(
        con,
        {
            "ok": {"phone": "+12025550101"},
            "optout": {"phone": "+12025550102", "phone_suppressed": True},
            "nophone": {},
        },
    )
    put_ladder(con, {})
    build_segments(con, config, NOW)
    assert set(members(con, "list:call")) == {"ok"}


def _config(**list_item) -> dict:
    return {
        "namespace": "gs:",
        "rungs": RUNGS,
        "lists": [{"name": "broken", "where": "true", **list_item}],
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {
                "namespace": "gs:",
                "rungs": RUNGS,
                "lists": [{"name": "a", "where": "true"}, {"name": "a", "where": "false"}],
            },
            "list 'a' appears twice",
        ),
        (_config(channel="fax"), "list 'broken': channel 'fax' is not one of email, phone, both"),
        (_config(where=None), "list 'broken': has no 'where' rule"),
        (_config(where="true; DROP TABLE people"), "list 'broken': 'where' must be one SQL"),
        (_config(push=["myspace"]), "list 'broken': push destination 'myspace'"),
        (_config(limit=10), "list 'broken': 'limit' needs 'order_by'"),
        (_config(limit=0, order_by="actions_90d"), "list 'broken': 'limit' must be a whole"),
        (_config(columns="email"), "list 'broken': 'columns' must be a list"),
        (_config(columns=["email", "email"]), "column 'email' appears twice"),
        (_config(group_by="region; DROP TABLE people"), "'group_by' must be one SQL"),
        ({**_config(), "lists": [{"name": "Bad Name", "where": "true"}]}, "must be lower case"),
    ],
)
def test_structural_list_errors_name_the_list(config, message):
    with pytest.raises(LadderConfigError, match=message):
        parse(config)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"columns": ["email", "shoe_size"]}, "list 'broken': unknown column\\(s\\) shoe_size"),
        ({"where": "shoe_size > 3"}, "list 'broken': the rule does not run"),
        ({"where": "actions_90d >>> 2"}, "list 'broken': the rule does not run"),
        ({"reason": "{shoe_size}"}, "list 'broken': reason names unknown column"),
        ({"group_by": "shoe_size"}, "list 'broken': 'group_by' does not run"),
        ({"order_by": "shoe_size DESC", "limit": 3}, "list 'broken': 'order_by' does not run"),
        # Binds, but fails on the data: caught when the list runs, still before writing.
        ({"where": "CAST(given_name AS INTEGER) > 0"}, "list 'broken': the rule does not run"),
    ],
)
def test_sql_list_errors_fail_before_anything_is_written(con, item, message):
    put_metrics(con, {"a": {"days_since_joined": 1}})
    put_ladder(con, {"a": ("bottom", 3)})
    build_segments(con, DEFAULT, NOW)
    before = con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall()
    assert before
    with pytest.raises(LadderConfigError, match=message) as failure:
        build_segments(con, parse(_config(**item)), NOW)
    assert "'A'" not in str(failure.value), "a person's value in the error"
    assert con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall() == before
