"""Staging and identity on hand-built records in a real DuckDB file."""

import json
from datetime import datetime, timedelta

from tests.support.raw import NOW, an_person, land, mc_member
from transforms import steps
from transforms.identity import resolve
from transforms.normalise import build_staging


def build(con, region: str = "US"):
    build_staging(con, region)
    return resolve(con, NOW)


def person_of(con, source: str, record_id: str) -> str:
    return con.execute(
        "SELECT person_id FROM person_sources WHERE source = ? AND source_record_id = ?",
        [source, record_id],
    ).fetchone()[0]


def test_normalises_email_and_phone(con):
    land(
        con,
        an=[
            an_person(
                "Ana", "Lima", "  Ana.Lima@GoogleMail.com ", phone="(202) 555-0143", uuid="u-1"
            )
        ],
    )
    build_staging(con, "US")
    email, key, phone = con.execute(
        "SELECT email, email_key, phone FROM stg_source_records"
    ).fetchone()
    assert email == "ana.lima@googlemail.com"
    assert key == "analima@gmail.com"
    assert phone == "+12025550143"


def test_phone_default_region_is_configurable(con):
    land(con, an=[an_person("Ana", "Lima", "ana@example.org", phone="0412 345 678", uuid="u-1")])
    build_staging(con, "AU")
    assert con.execute("SELECT phone FROM stg_source_records").fetchone()[0] == "+61412345678"


def test_gmail_variants_merge_into_one_person(con):
    land(
        con,
        an=[an_person("William", "Smith", "will.smith@gmail.com", uuid="u-1")],
        mc=[mc_member("Bill", "Smith", "WillSmith+news@googlemail.com")],
    )
    counts = build(con)
    assert counts["people"] == 1
    rule = con.execute(
        "SELECT match_rule FROM person_sources WHERE source = 'mailchimp'"
    ).fetchone()[0]
    assert rule == "email"


def test_shared_household_phone_does_not_merge(con):
    land(
        con,
        an=[
            an_person("John", "Smith", "john@example.org", phone="2025550143", uuid="u-1"),
            an_person("Jane", "Smith", "jane@example.org", phone="202.555.0143", uuid="u-2"),
        ],
    )
    assert build(con)["people"] == 2


def test_phone_plus_same_name_merges_across_emails(con):
    land(
        con,
        an=[an_person("Rosa", "Park", "rosa@work.example", phone="2025550143", uuid="u-1")],
        mc=[mc_member("Rosa", "Parks", "rosa@home.example", phone="+1 202 555 0143")],
    )
    assert build(con)["people"] == 1
    assert con.execute("SELECT DISTINCT match_rule FROM person_sources").fetchall() == [
        ("mobile+name",)
    ]


def test_records_with_nothing_stay_separate(con):
    land(con, an=[an_person(None, None, None, uuid="u-1"), an_person(None, None, None, uuid="u-2")])
    assert build(con)["people"] == 2


def test_person_ids_are_stable_and_deterministic(con, tmp_path):
    records = dict(
        an=[
            an_person("Ana", "Lima", "ana@example.org", uuid="u-1"),
            an_person("Bo", "Ng", "bo@example.org", uuid="u-2"),
        ],
        mc=[mc_member("Ana", "Lima", "ana@example.org")],
    )
    land(con, **records)
    build(con)
    first = con.execute("SELECT * FROM person_sources ORDER BY ALL").fetchall()
    resolve(con, NOW + timedelta(days=1))
    assert con.execute("SELECT * FROM person_sources ORDER BY ALL").fetchall() == first

    from warehouse.connection import connect

    other = connect(tmp_path / "second.duckdb")
    land(other, **records)
    build(other)
    assert other.execute(
        "SELECT source, source_record_id, person_id FROM person_sources ORDER BY ALL"
    ).fetchall() == [row[:3] for row in first]
    other.close()


def test_merge_keeps_the_older_id_and_records_the_other(con):
    land(con, an=[an_person("Ana", "Lima", "ana@work.example", uuid="u-1")])
    build(con)
    older = person_of(con, "action_network", "u-1")
    # A later record joins her two identities: the new Mailchimp id must fold into hers.
    land(con, mc=[mc_member("Ana", "Lima", "ana@home.example")])
    build_staging(con, "US")
    resolve(con, NOW + timedelta(days=1))
    newer = person_of(con, "mailchimp", mc_member("A", "L", "ana@home.example")["id"])
    assert newer != older
    land(
        con,
        an=[
            an_person(
                "Ana", "Lima", "ana@home.example", uuid="u-1", modified="2026-11-20T00:00:00Z"
            )
        ],
    )
    build_staging(con, "US")
    resolve(con, NOW + timedelta(days=2))
    assert person_of(con, "action_network", "u-1") == older
    assert person_of(con, "mailchimp", mc_member("A", "L", "ana@home.example")["id"]) == older
    merge = con.execute("SELECT old_person_id, new_person_id, rule FROM person_merges").fetchall()
    assert merge == [(newer, older, "merged by email")]
    assert (
        con.execute(
            "SELECT merged_into FROM person_registry WHERE person_id = ?", [newer]
        ).fetchone()[0]
        == older
    )


def test_a_rerun_writes_only_what_changed_and_ends_as_a_full_rewrite_would(con):
    """people and person_sources are written as deltas: after a run with a rename, a new
    person and a merge, only the changed rows were written, they hold what a full rewrite
    would, and a run with nothing new writes nothing."""
    land(
        con,
        an=[
            an_person("Ana", "Lima", "ana@work.example", uuid="u-1"),
            an_person("Bo", "Ng", "bo@example.org", uuid="u-2"),
            an_person("Cy", "Tran", "cy@example.org", uuid="u-3"),
        ],
        mc=[mc_member("Ana", "Lima", "ana@home.example")],
    )
    build(con)
    home = mc_member("A", "L", "ana@home.example")["id"]
    her_ids = {person_of(con, "action_network", "u-1"), person_of(con, "mailchimp", home)}
    bo, cy = person_of(con, "action_network", "u-2"), person_of(con, "action_network", "u-3")
    cy_before = con.execute("SELECT * FROM people WHERE person_id = ?", [cy]).fetchall()
    later = "2026-11-20T00:00:00Z"
    land(
        con,
        an=[
            an_person("Ana", "Lima", "ana@home.example", uuid="u-1", modified=later),
            an_person("Robert", "Ng", "bo@example.org", uuid="u-2", modified=later),
            an_person("Dee", "Okafor", "dee@example.org", uuid="u-4"),
        ],
    )
    build_staging(con, "US")
    counts = resolve(con, NOW + timedelta(days=1))

    dee, ana = person_of(con, "action_network", "u-4"), person_of(con, "action_network", "u-1")
    assert person_of(con, "mailchimp", home) == ana and len(her_ids) == 2 and ana in her_ids
    # Her golden record, Bo's (renamed) and Dee's (new); not Cy's. Her two records are
    # linked by email now (one of them moved to her kept id); Dee's record is new.
    assert (counts["people_written"], counts["source_links_written"]) == (3, 3)
    links = con.execute(
        "SELECT source, source_record_id, person_id, match_rule FROM person_sources ORDER BY ALL"
    ).fetchall()
    assert links == sorted(
        [
            ("action_network", "u-1", ana, "email"),
            ("action_network", "u-2", bo, "single"),
            ("action_network", "u-3", cy, "single"),
            ("action_network", "u-4", dee, "single"),
            ("mailchimp", home, ana, "email"),
        ]
    )
    written = sorted(con.execute("FROM people").fetchall())
    # A full rewrite of people ends the same; a run with nothing new writes nothing.
    con.execute("DELETE FROM people")
    steps.run(con, "people")
    assert sorted(con.execute("FROM people").fetchall()) == written
    again = resolve(con, NOW + timedelta(days=2))
    assert (again["people_written"], again["source_links_written"]) == (0, 0)
    assert sorted(con.execute("FROM people").fetchall()) == written
    people = {r[0] for r in con.execute("SELECT person_id FROM people").fetchall()}
    assert people == {ana, bo, cy, dee}  # her other id left people with its merge
    assert con.execute("SELECT * FROM people WHERE person_id = ?", [cy]).fetchall() == cy_before
    assert con.execute("SELECT given_name FROM people WHERE person_id = ?", [bo]).fetchone() == (
        "Robert",
    )


def test_consent_rolls_up_per_channel(con):
    land(
        con,
        an=[
            an_person(
                "Ana",
                "Lima",
                "ana@example.org",
                status="unsubscribed",
                phone="2025550143",
                uuid="u-1",
            )
        ],
        mc=[mc_member("Ana", "Lima", "ana@example.org", status="subscribed")],
    )
    build(con)
    row = con.execute(
        "SELECT email_suppressed, email_reachable, phone_suppressed, phone_reachable, sources FROM people"
    ).fetchone()
    assert row == (True, False, False, True, ["action_network", "mailchimp"])


def test_golden_record_prefers_action_network_then_recency(con):
    land(
        con,
        an=[an_person("Elizabeth", "Ortiz", "liz@example.org", uuid="u-1")],
        mc=[mc_member("Liz", "Ortiz", "liz@example.org", tags=("Core Team",))],
    )
    build(con)
    assert con.execute("SELECT given_name, platform_tags FROM people").fetchone() == (
        "Elizabeth",
        ["Core Team"],
    )


def test_latest_raw_version_wins(con):
    land(
        con,
        an=[
            an_person("Ana", "Lima", "ana@example.org", uuid="u-1", modified="2026-01-01T00:00:00Z")
        ],
    )
    land(
        con,
        an=[
            an_person(
                "Ana", "Lima-Silva", "ana@example.org", uuid="u-1", modified="2026-02-01T00:00:00Z"
            )
        ],
    )
    build(con)
    assert con.execute("SELECT count(*), max(family_name) FROM stg_source_records").fetchone() == (
        1,
        "Lima-Silva",
    )


def test_latest_version_is_by_modified_time_then_load_time(con):
    """An undated version is older than any dated one; versions modified at the same time
    go by the later load; a record with only undated versions takes its latest load."""

    def put(uuid: str, family: str, modified: datetime | None, days_ago: int) -> None:
        payload = an_person("Ana", family, f"{uuid}@example.org", uuid=uuid)
        con.execute(
            "INSERT INTO raw_action_network (resource, record_id, modified_at, payload,"
            " batch_id, loaded_at) VALUES ('people', ?, ?, ?, 'test', ?)",
            [uuid, modified, json.dumps(payload), NOW - timedelta(days=days_ago)],
        )

    put("u-1", "Undated", None, 0)
    put("u-1", "Early", datetime(2026, 1, 1), 4)
    put("u-1", "TiedLater", datetime(2026, 2, 1), 1)
    put("u-1", "TiedFirst", datetime(2026, 2, 1), 2)
    put("u-2", "Newer", None, 1)
    put("u-2", "Older", None, 3)
    build(con)
    assert con.execute(
        "SELECT source_record_id, family_name FROM stg_source_records ORDER BY 1"
    ).fetchall() == [("u-1", "TiedLater"), ("u-2", "Newer")]
