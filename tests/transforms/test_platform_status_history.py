"""Consent evidence per platform (issue 13): each platform that keeps a status history
(connectors/<platform>/status_history.sql, registered by connectors/registry.py) gives every
landed version's statuses in its own view, step platform_status unions them into
`stage.status_history`, and people.sql dates platform statuses from it without naming a
platform. A platform without the file gives no history; a file that does not declare its
view, or reads what is missing, is refused with its path and the people table is kept."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.raw import NOW, an_person, land, mc_member
from transforms import steps
from transforms.identity import resolve
from transforms.normalise import build_staging
from transforms.status_history import stage_status_history
from warehouse import platform_sql

EMAIL = "ana@example.org"
# Subscribed at signup, unsubscribed in July, subscribed again in September, then an edit.
VERSIONS = [
    ("subscribed", "2025-01-01"),
    ("unsubscribed", "2026-07-01"),
    ("subscribed", "2026-09-01"),
    ("subscribed", "2026-10-15"),
]
COLUMNS = [
    ("source", "VARCHAR"),
    ("source_record_id", "VARCHAR"),
    ("modified_at", "TIMESTAMP"),
    ("email_status", "VARCHAR"),
    ("phone_status", "VARCHAR"),
]


def world(con) -> None:
    for status, day in VERSIONS:
        land(
            con,
            mc=[
                mc_member(
                    "Ana",
                    "Lima",
                    EMAIL,
                    status=status,
                    last_changed=f"{day}T00:00:00+00:00",
                    signup="2024-05-01T00:00:00+00:00",
                )
            ],
        )
    land(
        con,
        an=[
            an_person("Bo", "Ng", "bo@example.org", phone="2025550143", phone_status="unsubscribed")
        ],
    )
    build_staging(con, "US")
    resolve(con, NOW)


def consent(con, email: str) -> tuple:
    return con.execute(
        "SELECT email_consent, email_consent_source, email_consent_at, email_reachable "
        "FROM people WHERE email = ?",
        [email],
    ).fetchone()


def test_the_platforms_with_a_status_history_register_it():
    files = platform_sql.files("status_history")
    assert list(files) == ["action_network", "mailchimp"]  # form rows are answers, not statuses
    for platform, path in files.items():
        assert path.parts[-2:] == (platform, "status_history.sql")


def test_every_landed_version_is_in_the_status_history(con):
    world(con)
    shape = con.execute("DESCRIBE stage.status_history").fetchall()
    assert [(name, kind) for name, kind, *_ in shape] == COLUMNS
    rows = con.execute(
        "SELECT source, modified_at::DATE::VARCHAR, email_status, phone_status "
        "FROM stage.status_history ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("action_network", "2026-11-01", "subscribed", "unsubscribed"),
        *(("mailchimp", day, status, None) for status, day in VERSIONS),
    ]
    # The resubscription dates from the first version that showed it after another status.
    assert consent(con, EMAIL) == ("yes", "mailchimp", datetime(2026, 9, 1), True)


def test_a_platform_without_a_status_history_file_gives_no_history(con, monkeypatch):
    world(con)
    monkeypatch.delitem(platform_sql._FILES["status_history"], "mailchimp")
    assert stage_status_history(con) == ["stage.status_history_action_network"]
    steps.run(con, "people")
    sources = con.execute("SELECT DISTINCT source FROM stage.status_history").fetchall()
    assert sources == [("action_network",)]
    # Its current status still answers, but with no versions to date it: a yes counts from
    # when the platform first had the person (the signup), as for any record without one.
    assert consent(con, EMAIL) == ("yes", "mailchimp", datetime(2024, 5, 1), True)
    # With no platform keeping one, the view still has its columns and people still builds.
    monkeypatch.delitem(platform_sql._FILES["status_history"], "action_network")
    assert stage_status_history(con) == []
    steps.run(con, "people")
    shape = con.execute("DESCRIBE stage.status_history").fetchall()
    assert [(name, kind) for name, kind, *_ in shape] == COLUMNS
    assert con.execute("SELECT count(*) FROM stage.status_history").fetchone() == (0,)
    assert consent(con, EMAIL) == ("yes", "mailchimp", datetime(2024, 5, 1), True)
    phone = con.execute(
        "SELECT phone_consent, phone_suppressed FROM people WHERE phone IS NOT NULL"
    )
    assert phone.fetchall() == [("no", True)]


def test_a_status_history_file_that_does_not_declare_its_view_is_refused(
    con, tmp_path, monkeypatch
):
    world(con)
    people = con.execute("SELECT * FROM people ORDER BY ALL").fetchall()
    wrong = tmp_path / "connectors" / "mailchimp" / "status_history.sql"
    wrong.parent.mkdir(parents=True)
    wrong.write_text(
        "-- step: status_history_mailchimp\n-- reads: raw_mailchimp\n-- writes: stage.other\n"
        "-- params: -\n-- udfs: -\n"
        "CREATE OR REPLACE VIEW stage.other AS SELECT record_id FROM raw_mailchimp;\n"
    )
    monkeypatch.setitem(platform_sql._FILES["status_history"], "mailchimp", wrong)
    with pytest.raises(ValueError) as raised:
        resolve(con, NOW)
    message = str(raised.value)
    assert str(wrong) in message and "writes stage.status_history_mailchimp" in message
    assert EMAIL not in message
    # The golden record of the last good build is kept.
    assert con.execute("SELECT * FROM people ORDER BY ALL").fetchall() == people


def test_a_status_history_file_reading_what_is_missing_is_refused(con, tmp_path, monkeypatch):
    world(con)
    people = con.execute("SELECT * FROM people ORDER BY ALL").fetchall()
    wrong = tmp_path / "status_history.sql"
    wrong.write_text(
        "-- step: status_history_mailchimp\n-- reads: raw_mailchimp_members\n"
        "-- writes: stage.status_history_mailchimp\n-- params: -\n-- udfs: -\n"
        "CREATE OR REPLACE VIEW stage.status_history_mailchimp AS "
        "SELECT * FROM raw_mailchimp_members;\n"
    )
    monkeypatch.setitem(platform_sql._FILES["status_history"], "mailchimp", wrong)
    with pytest.raises(steps.MissingInput) as raised:
        resolve(con, NOW)
    message = str(raised.value)
    assert message.startswith(f"{wrong}:") and "reads raw_mailchimp_members" in message
    assert con.execute("SELECT * FROM people ORDER BY ALL").fetchall() == people
