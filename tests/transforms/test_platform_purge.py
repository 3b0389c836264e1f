"""Each platform's part of erasure and the suppression purge lives in its folder
(connectors/<platform>/contacts.sql lists what its raw rows carry, purge.sql deletes its
rows): the shared purge runs whatever is registered, a platform without them is not purged
by it, a new platform's files take part unchanged, and a wrong file is refused by name
before anything is deleted."""

from __future__ import annotations

import hashlib
import json

import pytest

from transforms.erasure import email_hash, purge_suppressed
from warehouse import platform_sql
from warehouse.load import get_cursor, utcnow

ADDRESS = "gone.person@example.org"


def _suppress_address(con) -> None:
    con.execute(
        "INSERT INTO erasure_suppressions (key_hash, kind, erased_at) VALUES (?, 'email_key', ?)",
        [email_hash(ADDRESS), utcnow()],
    )


def _land_everywhere(con, address: str) -> None:
    """One contact record carrying `address` on each of the three platforms."""
    now = utcnow()
    con.execute(
        "INSERT INTO raw_action_network VALUES ('people', ?, ?, ?, 'b', ?)",
        [f"an-{address}", now, json.dumps({"email_addresses": [{"address": address}]}), now],
    )
    con.execute(
        "INSERT INTO raw_mailchimp VALUES ('members', ?, ?, ?, 'b', ?)",
        [
            hashlib.md5(address.encode()).hexdigest(),
            now,
            json.dumps({"email_address": address}),
            now,
        ],
    )
    row = con.execute("SELECT count(*) + 1 FROM raw_forms").fetchall()[0][0]
    con.execute(
        "INSERT INTO raw_forms VALUES ('h', 'f.csv', ?, 'google', ?, 'b', ?)",
        [row, json.dumps({"fields": {"email": address}, "answers": {}}), now],
    )


def _rows(con) -> dict[str, int]:
    return {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("raw_action_network", "raw_mailchimp", "raw_forms")
    }


def test_every_platform_registers_its_contacts_and_purge_files():
    for role in ("contacts", "purge"):
        files = platform_sql.files(role)
        assert list(files) == ["action_network", "mailchimp", "forms"]
        for platform, path in files.items():
            assert path.parts[-2:] == (platform, f"{role}.sql") and path.is_file()


def test_a_platform_without_contacts_and_purge_sql_is_not_purged_by_them(con, monkeypatch):
    _suppress_address(con)
    _land_everywhere(con, ADDRESS)
    _land_everywhere(con, "kept@example.org")
    monkeypatch.delitem(platform_sql._FILES["contacts"], "mailchimp")
    monkeypatch.delitem(platform_sql._FILES["purge"], "mailchimp")
    assert purge_suppressed(con, "US") == {"action_network": 1, "forms": 1}
    assert _rows(con) == {"raw_action_network": 1, "raw_mailchimp": 2, "raw_forms": 1}


def test_a_new_platforms_files_take_part_unchanged(con, tmp_path, monkeypatch):
    con.execute("CREATE TABLE raw_example (id VARCHAR, email VARCHAR, loaded_at TIMESTAMP)")
    con.execute(
        "INSERT INTO raw_example VALUES ('e1', ?, ?), ('e2', 'kept@example.org', ?)",
        [ADDRESS.upper(), utcnow(), utcnow()],
    )
    contacts = tmp_path / "contacts.sql"
    contacts.write_text(
        "-- step: contacts_example\n-- reads: raw_example\n"
        "-- writes: stage.contacts_example, stage.landed_example\n-- params: -\n-- udfs: -\n"
        "CREATE OR REPLACE VIEW stage.contacts_example AS SELECT 'example' AS source, "
        "id AS record, 'email' AS kind, email AS value, loaded_at, false AS link "
        "FROM raw_example;\n"
        "CREATE OR REPLACE VIEW stage.landed_example AS "
        "SELECT max(loaded_at) AS loaded_at FROM raw_example;\n"
    )
    purge = tmp_path / "purge.sql"
    purge.write_text(
        "-- step: purge_example\n-- reads: stage.purge_records\n-- writes: raw_example\n"
        "-- params: -\n-- udfs: -\n"
        "DELETE FROM raw_example WHERE id IN "
        "(SELECT record FROM stage.purge_records WHERE source = 'example');\n"
    )
    monkeypatch.setitem(platform_sql._FILES["contacts"], "example", contacts)
    monkeypatch.setitem(platform_sql._FILES["purge"], "example", purge)
    _suppress_address(con)
    assert purge_suppressed(con, "US") == {"example": 1}
    assert con.execute("SELECT id FROM raw_example").fetchall() == [("e2",)]
    # Its landings count in how far the purge read: the next purge reads nothing again.
    through = get_cursor(con, "erasure", "purged_through")
    assert (
        through
        == con.execute("SELECT max(loaded_at) FROM raw_example").fetchall()[0][0].isoformat()
    )


def test_a_purge_file_must_declare_what_it_deletes_from(con, tmp_path, monkeypatch):
    _suppress_address(con)
    _land_everywhere(con, ADDRESS)
    wrong = tmp_path / "purge.sql"
    wrong.write_text(
        "-- step: purge_forms\n-- reads: stage.purge_records\n-- writes: -\n-- params: -\n"
        "-- udfs: -\nDELETE FROM raw_forms WHERE row_number IN "
        "(SELECT record FROM stage.purge_records WHERE source = 'forms');\n"
    )
    monkeypatch.setitem(platform_sql._FILES["purge"], "forms", wrong)
    with pytest.raises(ValueError, match=r"purge\.sql: a platform's purge SQL declares") as raised:
        purge_suppressed(con, "US")
    assert ADDRESS not in str(raised.value)
    # Nothing was deleted and the purge did not advance: it runs again once fixed.
    assert _rows(con) == {"raw_action_network": 1, "raw_mailchimp": 1, "raw_forms": 1}
    assert get_cursor(con, "erasure", "purged_through") is None


def test_contacts_without_a_purge_are_refused(con, monkeypatch):
    _suppress_address(con)
    _land_everywhere(con, ADDRESS)
    monkeypatch.delitem(platform_sql._FILES["purge"], "forms")
    with pytest.raises(ValueError, match=r"forms/contacts\.sql: platform forms .* no purge\.sql"):
        purge_suppressed(con, "US")
    assert _rows(con) == {"raw_action_network": 1, "raw_mailchimp": 1, "raw_forms": 1}


def test_a_contacts_file_must_write_its_platform_view(con, tmp_path, monkeypatch):
    _suppress_address(con)
    _land_everywhere(con, ADDRESS)
    wrong = tmp_path / "contacts.sql"
    wrong.write_text(
        "-- step: contacts_forms\n-- reads: -\n-- writes: stage.other\n-- params: -\n"
        "-- udfs: -\nCREATE OR REPLACE VIEW stage.other AS SELECT 1 AS x;\n"
    )
    monkeypatch.setitem(platform_sql._FILES["contacts"], "forms", wrong)
    with pytest.raises(ValueError, match=r"writes stage\.contacts_forms"):
        purge_suppressed(con, "US")
    assert _rows(con) == {"raw_action_network": 1, "raw_mailchimp": 1, "raw_forms": 1}
