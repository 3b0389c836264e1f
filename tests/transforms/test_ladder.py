"""The ladder, its config errors, segments and organiser exports on hand-built people."""

import csv

import pytest

from tests.support.raw import NOW, an_person, land, mc_member
from transforms.engagement import build_activities, build_person_metrics
from transforms.exports import write_list_exports
from transforms.identity import resolve
from transforms.ladder import build_ladder, build_segments
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
    assert counts == {"hq": 1, "supporter": 2, "subscriber": 1, "lapsed": 1}


def test_reasons_are_filled_per_person(con):
    build_people(con)
    build_ladder(con, DEFAULT, NOW)
    reason = con.execute(
        "SELECT reason FROM ladder JOIN people USING (person_id) WHERE email = 'sol@example.org'"
    ).fetchone()[0]
    assert reason == "1 action(s) in the last 365 days, the last on 2026-11-20"


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


def test_segments_hold_tiers_and_lists_with_reasons(con):
    build_people(con)
    build_ladder(con, DEFAULT, NOW)
    counts = build_segments(con, DEFAULT, NOW)
    assert counts["tier:supporter"] == 2
    # New this week: Sol (joined on Action Network 2 days ago) and the new form signer;
    # not the lapsed person, whose email is suppressed.
    members = con.execute(
        "SELECT p.email, s.reason FROM segment_members s JOIN people p USING (person_id) "
        "WHERE segment = 'list:new_this_week' ORDER BY 1"
    ).fetchall()
    assert members == [
        ("new@example.org", "first seen on 2026-11-23 via forms"),
        ("sol@example.org", "first seen on 2026-11-20 via forms"),
    ]


def test_exports_neutralise_formulas_and_leave_out_opt_outs(con, tmp_path):
    build_people(con)
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [{"name": "all", "where": "true"}],
            "lists": [
                {
                    "name": "everyone",
                    "where": "true",
                    "channel": "email",
                    "reason": "in",
                    "columns": ["given_name", "family_name", "email", "reason"],
                },
            ],
        }
    )
    build_ladder(con, ladder, NOW)
    build_segments(con, ladder, NOW)
    written = write_list_exports(con, ladder, tmp_path / "exports")
    assert written[0]["rows"] == 4
    with open(written[0]["path"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0].keys()) == ["given_name", "family_name", "email", "reason"]
    emails = {r["email"] for r in rows}
    assert "lap@example.org" not in emails  # unsubscribed: never on an email list
    new = next(r for r in rows if r["email"] == "new@example.org")
    assert new["given_name"] == '\'=HYPERLINK("x")'
    assert new["family_name"] == "'+Nu"
    assert not list((tmp_path / "exports").glob(".*partial"))


def test_phone_list_never_includes_a_phone_opt_out(con, tmp_path):
    land(
        con,
        an=[
            an_person("Ana", "A", "ana@example.org", phone="2025550101", uuid="u-1"),
            an_person(
                "Bo",
                "B",
                "bo@example.org",
                phone="2025550102",
                phone_status="unsubscribed",
                uuid="u-2",
            ),
        ],
    )
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    build_person_metrics(con, NOW)
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [{"name": "all", "where": "true"}],
            "lists": [
                {
                    "name": "call",
                    "where": "true",
                    "channel": "phone",
                    "columns": ["given_name", "phone"],
                },
            ],
        }
    )
    build_ladder(con, ladder, NOW)
    build_segments(con, ladder, NOW)
    written = write_list_exports(con, ladder, tmp_path)
    with open(written[0]["path"], newline="") as handle:
        assert [r["given_name"] for r in csv.DictReader(handle)] == ["Ana"]


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


def test_list_with_unknown_column_is_refused(con):
    build_people(con)
    broken = parse(
        {
            "namespace": "gs:",
            "rungs": [{"name": "a", "where": "true"}],
            "lists": [{"name": "l", "where": "true", "columns": ["email", "shoe_size"]}],
        }
    )
    with pytest.raises(LadderConfigError, match="list 'l': unknown column"):
        build_ladder(con, broken, NOW)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(LadderConfigError, match="not found"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rungs: [unclosed")
    with pytest.raises(LadderConfigError, match="not valid YAML"):
        load(bad)
