"""The purge of re-landed rows, on a real warehouse file: which raw rows a suppression by
match key drops (any form of the address, the phone without an address of its own, a
platform id an action points at), which it keeps, and that it reads only new rows until
the suppressions change (issue 11, case 6)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import duckdb
import pytest

from transforms.erasure import email_hash, purge_suppressed
from warehouse.load import utcnow

PHONE = "+12025550143"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _suppress(con: duckdb.DuckDBPyConnection, kind: str, key_hash: str) -> None:
    con.execute(
        "INSERT INTO erasure_suppressions (key_hash, kind, erased_at) VALUES (?, ?, ?)",
        [key_hash, kind, utcnow()],
    )


def _form_row(
    con: duckdb.DuckDBPyConnection, row: int, email: str = "", phone: str = "", **more: str
) -> None:
    fields = {"given_name": "Someone", "email": email, "phone": phone, **more}
    con.execute(
        "INSERT INTO raw_forms VALUES ('h', 'signups.csv', ?, 'google', ?, 'b', ?)",
        [row, json.dumps({"fields": fields, "answers": {}}), utcnow()],
    )


def _an_row(con: duckdb.DuckDBPyConnection, resource: str, record_id: str, payload: dict) -> None:
    con.execute(
        "INSERT INTO raw_action_network VALUES (?, ?, ?, ?, 'b', ?)",
        [resource, record_id, utcnow(), json.dumps(payload), utcnow()],
    )


def _mc_row(con: duckdb.DuckDBPyConnection, resource: str, record_id: str, payload: dict) -> None:
    con.execute(
        "INSERT INTO raw_mailchimp VALUES (?, ?, ?, ?, 'b', ?)",
        [resource, record_id, utcnow(), json.dumps(payload), utcnow()],
    )


def _forms_left(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [r[0] for r in con.execute("SELECT row_number FROM raw_forms ORDER BY 1").fetchall()]


@pytest.fixture
def suppressed(con):
    """A warehouse that forgot erasemetest@gmail.com, their phone and their activist."""
    _suppress(con, "email_key", email_hash("eraseme.test@gmail.com"))
    _suppress(con, "phone_key", _sha(PHONE))
    _suppress(con, "record_key", _sha("action_network:forgotten-uuid"))
    return con


def test_every_form_of_the_address_and_the_bare_phone_are_dropped(suppressed):
    con = suppressed
    _form_row(con, 1, "Erase.Me.Test+news@gmail.com")
    _form_row(con, 2, " erasemetest@GOOGLEMAIL.com ")
    _form_row(con, 3, "", "(202) 555-0143")
    _form_row(con, 4, "", "202.555.0143")
    _form_row(con, 5, "", "p:+1 202 555 0143")
    _form_row(con, 6, "someone.new@example.org", "", alt_email="eraseme.test+x@gmail.com")
    # Kept: a housemate with their own address and the shared phone, and a stranger.
    _form_row(con, 7, "house.mate@example.org", "202-555-0143")
    _form_row(con, 8, "stranger@example.org", "(202) 555-0199")
    _form_row(con, 9, "erasemetest@yahoo.com")  # only Gmail folds dots away
    dropped = purge_suppressed(con, "US")
    assert _forms_left(con) == [7, 8, 9]
    assert dropped == {"forms": 6}


def test_platform_records_and_their_actions_are_dropped(suppressed):
    con = suppressed
    _an_row(
        con,
        "people",
        "variant-uuid",
        {
            "email_addresses": [
                {"address": "other@example.org"},
                {"address": "E.raseMeTest@gmail.com"},
            ]
        },
    )
    _an_row(con, "people", "phone-only-uuid", {"phone_numbers": [{"number": "2025550143"}]})
    _an_row(con, "people", "kept-uuid", {"email_addresses": [{"address": "kept@example.org"}]})
    _an_row(con, "people", "forgotten-uuid", {"given_name": "No address or phone any more"})
    for n, person in enumerate(["variant-uuid", "forgotten-uuid", "kept-uuid", "phone-only-uuid"]):
        _an_row(con, "signatures", f"sig-{n}", {"action_network:person_id": person})
    _mc_row(con, "members", "m1", {"email_address": "eraseme.test+news@googlemail.com"})
    _mc_row(con, "members", "m2", {"email_address": "kept@example.org"})
    _mc_row(con, "email_activity", "a1", {"email_id": "m1", "email_address": "x@example.org"})
    _mc_row(con, "email_activity", "a2", {"email_address": "ErAsEmEtEsT@gmail.com"})
    _mc_row(con, "email_activity", "a3", {"email_id": "m2", "email_address": "kept@example.org"})
    purge_suppressed(con, "US")
    an = con.execute("SELECT record_id FROM raw_action_network ORDER BY 1").fetchall()
    assert [r[0] for r in an] == ["kept-uuid", "sig-2"]
    mc = con.execute("SELECT record_id FROM raw_mailchimp ORDER BY 1").fetchall()
    assert [r[0] for r in mc] == ["a3", "m2"]


def test_rows_kept_from_before_migration_010_still_match(con):
    # A row kept from before migration 010 hashes the exact address: it still matches it.
    con.execute(
        "INSERT INTO erasure_suppressions (key_hash, erased_at) VALUES (?, ?)",
        [_sha("legacy.person@example.org"), utcnow()],
    )
    _form_row(con, 1, " Legacy.Person@Example.ORG")
    _form_row(con, 2, "legacy.person2@example.org")
    purge_suppressed(con, "US")
    assert _forms_left(con) == [2]


def test_later_purges_read_only_new_rows_until_the_suppressions_change(suppressed):
    con = suppressed
    _form_row(con, 1, "stranger@example.org")
    purge_suppressed(con, "US")
    # A row landed before the last purge is not read again (it was read against the same
    # suppressions): planted here with an old landing time, it stays.
    con.execute(
        "INSERT INTO raw_forms VALUES ('h', 'old.csv', 2, 'google', ?, 'b', ?)",
        [
            json.dumps({"fields": {"email": "erasemetest@gmail.com"}, "answers": {}}),
            datetime(2020, 1, 1),
        ],
    )
    _form_row(con, 3, "eraseme.test@gmail.com")
    assert purge_suppressed(con, "US") == {"forms": 1}
    assert _forms_left(con) == [1, 2]
    # A new suppression (an erasure, a restored backup) reads everything again.
    _suppress(con, "email_key", _sha("someone.else@example.org"))
    assert purge_suppressed(con, "US") == {"forms": 1}
    assert _forms_left(con) == [1]


def test_nothing_is_read_without_suppressions(con):
    _form_row(con, 1, "eraseme.test@gmail.com")
    assert purge_suppressed(con, "US") == {}
    assert _forms_left(con) == [1]
    assert con.execute("SELECT count(*) FROM sync_cursors").fetchall()[0][0] == 0


def test_the_watermark_is_the_latest_landing(suppressed):
    con = suppressed
    _form_row(con, 1, "stranger@example.org")
    purge_suppressed(con, "US")
    through = con.execute(
        "SELECT cursor_value FROM sync_cursors WHERE source = 'erasure' "
        "AND resource = 'purged_through'"
    ).fetchall()[0][0]
    landed = con.execute("SELECT max(loaded_at) FROM raw_forms").fetchall()[0][0]
    assert datetime.fromisoformat(through) == landed
    assert landed > utcnow() - timedelta(minutes=5)
