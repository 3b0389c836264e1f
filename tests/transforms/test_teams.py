"""Teams on hand-built people: membership by rule and by platform tag (several teams, or
none, each with why), the per-team ladder, movement and list sizes, lists split by team,
and a broken teams file that stops before anything is written."""

from datetime import timedelta

import pytest

from tests.support.metrics_rows import put_metrics
from tests.support.raw import NOW
from tests.transforms.test_steps import FORGOTTEN, build, small_org
from transforms.erasure import Target, email_hash, forget
from transforms.exports import write_list_exports
from transforms.ladder import build_ladder, build_movement
from transforms.ladder_config import parse
from transforms.segments import build_segments
from transforms.teams import build_teams
from transforms.teams_config import TeamsConfigError, parse_teams

LADDER = parse(
    {
        "namespace": "gs:",
        "rungs": [
            {"name": "active", "where": "actions_90d >= 3"},
            {"name": "member", "where": "true"},
        ],
    }
)
PEOPLE = {
    # In North by postcode and in Hosts by tag: two teams.
    "ana": {"postal_code": "78701", "region": "TX", "platform_tags": ["Event Host"]},
    "bo": {"postal_code": "78610", "region": "TX", "actions_90d": 4},
    "cy": {"postal_code": "10001", "region": "NY"},  # in no team
    "di": {"region": "TX", "platform_tags": ["event host"]},  # Hosts only (tags: any case)
    "ed": {},  # in no team
}
TEAMS = {
    "teams": [
        {
            "name": "North Austin",
            "where": "region = 'TX' AND left(postal_code, 3) IN ('787', '786')",
            "organisers": ["north@example.org"],
        },
        {"name": "Hosts", "tags": ["Event Host"], "organisers": []},
        {"name": "Nobody", "where": "false", "organisers": ["nobody@example.org"]},
    ]
}


def setup(con, people=PEOPLE, when=NOW) -> None:
    put_metrics(con, {p: {"email": f"{p}@example.org", **v} for p, v in people.items()})
    build_ladder(con, LADDER, when)
    build_movement(con, LADDER)


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_a_person_is_in_every_team_whose_rule_they_meet_with_why(con):
    setup(con)
    counts = build_teams(con, parse_teams(TEAMS), NOW)
    assert rows(con, "SELECT team, person_id, why FROM team_members ORDER BY ALL") == [
        ("Hosts", "ana", "tagged Event Host"),
        ("Hosts", "di", "tagged Event Host"),
        ("North Austin", "ana", "meets the team's rule"),
        ("North Austin", "bo", "meets the team's rule"),
    ]
    assert counts == {
        "teams": 3,
        "people": 5,
        "members": 3,
        "memberships": 4,
        "no_team": 2,
        "teams_without_organisers": 1,
    }
    assert rows(
        con, "SELECT team, position, organisers, organiser_count, members FROM teams ORDER BY 2"
    ) == [
        ("North Austin", 1, ["north@example.org"], 1, 2),
        ("Hosts", 2, [], 0, 2),
        ("Nobody", 3, ["nobody@example.org"], 1, 0),
    ]


def test_why_names_both_rules_when_both_hold(con):
    setup(con)
    both = {"teams": [{"name": "TX", "where": "region = 'TX'", "tags": ["Event Host"]}]}
    build_teams(con, parse_teams(both), NOW)
    assert dict(rows(con, "SELECT person_id, why FROM team_members")) == {
        "ana": "meets the team's rule and tagged Event Host",
        "bo": "meets the team's rule",
        "di": "meets the team's rule and tagged Event Host",
    }


def test_team_ladder_and_movement_count_the_teams_people(con):
    setup(con, when=NOW - timedelta(days=31))
    setup(con, {**PEOPLE, "ana": {**PEOPLE["ana"], "actions_90d": 5}}, when=NOW)
    build_teams(con, parse_teams(TEAMS), NOW)
    assert rows(con, "SELECT team, rung, people FROM team_ladder ORDER BY team, tier_rank") == [
        ("Hosts", "active", 1),
        ("Hosts", "member", 1),
        ("Nobody", "active", 0),
        ("Nobody", "member", 0),
        ("North Austin", "active", 2),
        ("North Austin", "member", 0),
    ]
    moved = rows(
        con,
        "SELECT period, rung, was, now, stayed, moved_up, moved_down, arrived, conversion "
        "FROM team_movement WHERE team = 'North Austin' ORDER BY period, rung",
    )
    assert moved == [
        ("30d", "active", 1, 2, 1, 0, 0, 0, 0.0),
        ("30d", "member", 1, 0, 0, 1, 0, 0, 1.0),
        ("7d", "active", 1, 2, 1, 0, 0, 0, 0.0),
        ("7d", "member", 1, 0, 0, 1, 0, 0, 1.0),
        ("90d", "active", 0, 2, 0, 0, 0, 0, None),
        ("90d", "member", 0, 0, 0, 0, 0, 0, None),
        ("last_run", "active", 1, 2, 1, 0, 0, 0, 0.0),
        ("last_run", "member", 1, 0, 0, 1, 0, 0, 1.0),
    ]
    baselines = rows(con, "SELECT DISTINCT period, baseline_at FROM team_movement ORDER BY 1")
    assert baselines == [
        ("30d", NOW - timedelta(days=31)),
        ("7d", NOW - timedelta(days=31)),
        ("90d", None),
        ("last_run", NOW - timedelta(days=31)),
    ]


def test_list_sizes_per_team_count_a_person_in_each_of_their_teams(con):
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [{"name": "member", "where": "true"}],
            "lists": [
                {"name": "everyone", "where": "true"},
                {"name": "tx", "where": "region = 'TX'"},
            ],
        }
    )
    put_metrics(con, {p: {"email": f"{p}@example.org", **v} for p, v in PEOPLE.items()})
    build_ladder(con, ladder, NOW)
    build_movement(con, ladder)
    build_teams(con, parse_teams(TEAMS), NOW)
    build_segments(con, ladder, NOW)
    assert rows(con, "SELECT team, list, people FROM team_list_sizes ORDER BY ALL") == [
        ("Hosts", "everyone", 2),
        ("Hosts", "tx", 2),
        ("Nobody", "everyone", 0),
        ("Nobody", "tx", 0),
        ("North Austin", "everyone", 2),
        ("North Austin", "tx", 2),
    ]


def test_group_by_team_puts_a_person_in_each_of_their_teams_and_the_rest_in_no_team(con, tmp_path):
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [{"name": "member", "where": "true"}],
            "lists": [
                {"name": "everyone", "where": "true", "group_by": "team"},
                {"name": "hosts_only", "where": "list_contains(team, 'Hosts')"},
            ],
        }
    )
    put_metrics(con, {p: {"email": f"{p}@example.org", **v} for p, v in PEOPLE.items()})
    build_ladder(con, ladder, NOW)
    build_movement(con, ladder)
    build_teams(con, parse_teams(TEAMS), NOW)
    build_segments(con, ladder, NOW)
    report = write_list_exports(con, ladder, tmp_path / "out", NOW)
    parts = {f.group: f.rows for f in report.files if f.list_name == "everyone"}
    assert parts == {"hosts": 2, "north-austin": 2, "no-team": 2}
    folder = tmp_path / "out" / "everyone"
    ids = {
        name: sorted(
            line.split(",")[0] for line in (folder / f"{name}.csv").read_text().split()[1:]
        )
        for name in parts
    }
    assert ids == {"hosts": ["ana", "di"], "north-austin": ["ana", "bo"], "no-team": ["cy", "ed"]}
    # Lists may read a person's teams, too.
    assert dict(
        rows(con, "SELECT person_id, 1 FROM segment_members WHERE segment = 'list:hosts_only'")
    ) == {
        "ana": 1,
        "di": 1,
    }


BAD = [
    (
        {"name": "North", "where": "regoin = 'TX'"},
        "teams.yaml: teams[2].where (team 'North'): unknown column 'regoin'; did you mean "
        "'region'?",
    ),
    (
        {"name": "North", "where": "region = "},
        "teams.yaml: teams[2].where (team 'North'): the rule does not run: Parser Error",
    ),
    (
        {"name": "North", "where": "no_such_function(region)"},
        "teams.yaml: teams[2].where (team 'North'): the rule does not run: Catalog Error",
    ),
    (
        {"name": "North", "where": "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"},
        "teams.yaml: teams[2].where (team 'North'): the rule does not run: it reads a file",
    ),
    (
        # Binds on no rows, fails on the data: named by kind, never with the value.
        {"name": "North", "where": "CAST(email AS INTEGER) > 0"},
        "teams.yaml: teams[2].where (team 'North'): the rule does not run on the data: it "
        "fails because a value could not be converted",
    ),
]


@pytest.mark.parametrize(("team", "message"), BAD)
def test_a_broken_rule_names_the_team_and_writes_nothing(con, team, message):
    setup(con)
    build_teams(con, parse_teams(TEAMS), NOW)
    tables = ("teams", "team_members", "team_ladder", "team_movement")
    before = {t: rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    assert all(before.values())
    broken = parse_teams({"teams": [TEAMS["teams"][0], {**team, "organisers": []}]})
    with pytest.raises(TeamsConfigError) as raised:
        build_teams(con, broken, NOW + timedelta(days=1))
    text = str(raised.value)
    assert text.startswith(message), text
    assert "nothing was written" in text
    assert "ana@example.org" not in text and "78701" not in text
    assert {t: rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in tables} == before


def test_no_teams_empties_the_tables(con):
    setup(con)
    build_teams(con, parse_teams(TEAMS), NOW)
    counts = build_teams(con, parse_teams({}), NOW)
    assert counts["teams"] == 0 and counts["no_team"] == 5
    assert rows(con, "SELECT count(*) FROM team_members") == [(0,)]
    assert rows(con, "SELECT count(*) FROM team_ladder") == [(0,)]


def test_a_rule_reads_only_the_columns_lists_use(con):
    setup(con)
    outside = {"teams": [{"name": "x", "where": "person_id IN (SELECT person_id FROM people)"}]}
    with pytest.raises(
        TeamsConfigError, match=r"teams\[1\]\.where \(team 'x'\): the rule does not"
    ):
        build_teams(con, parse_teams(outside), NOW)
    assert rows(con, "SELECT count(*) FROM team_members") == [(0,)]


def test_forgetting_someone_removes_their_team_memberships(con):
    """Erasure (transforms/erasure.sql) deletes the forgotten person's team_members rows;
    everyone else's stay."""
    small_org(con)
    build(con)
    everyone = {
        "teams": [
            {"name": "All", "where": "true"},
            {"name": "62701", "where": "postal_code = '62701'"},
        ]
    }
    build_teams(con, parse_teams(everyone), NOW)
    person = rows(
        con,
        "SELECT DISTINCT person_id FROM person_sources JOIN stg_source_records "
        f"USING (source, source_record_id) WHERE email = '{FORGOTTEN}'",
    )
    assert len(person) == 1
    held = "SELECT team FROM team_members WHERE person_id = ? ORDER BY 1"
    assert con.execute(held, [person[0][0]]).fetchall() == [("62701",), ("All",)]
    others = rows(con, "SELECT count(*) FROM team_members")[0][0] - 2
    forget(con, Target(email_hash=email_hash(FORGOTTEN)), NOW, "US")
    assert con.execute(held, [person[0][0]]).fetchall() == []
    assert rows(con, "SELECT count(*) FROM team_members") == [(others,)]
