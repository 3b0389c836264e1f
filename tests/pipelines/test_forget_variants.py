"""Erasure by match key: a person forgotten by one Gmail address never comes back under
another form of it (dots, +tag, googlemail.com) or their phone written another way, from a
form or from a platform, and their phone leaves the parse cache at once (issue 11, case 6)."""

from __future__ import annotations

import hashlib
import uuid

import duckdb
import pytest
import requests

from pipelines.__main__ import forget
from sandbox.actions import Action
from tests.support.people import mailchimp_signup, write_form
from tests.support.pipeline import (
    ephemeral_commands,
    run_job,
    run_through_pushes,
    sandbox_organisation,
)
from transforms.erasure import email_hash

ADDRESS = "eraseme.test@gmail.com"
FOLDED = "erasemetest@gmail.com"
PHONE = "+12025550143"  # (202) 555-0143 in E.164
VARIANTS = (
    "Erase.Me.Test+news@gmail.com",
    "erasemetest@googlemail.com",
    " ERASEME.TEST@GMAIL.COM ",
)
FAMILY = "Metestington"  # the forgotten person's family name, on every record of theirs
LEGACY = "legacy.person@example.org"  # forgotten before migration 010: exact-address hash


def _action_network_person(sandbox, email: str = "", phone: str = "") -> None:
    """The person signs a petition on Action Network themselves."""
    person: dict = {"given_name": "Erase", "family_name": FAMILY}
    if email:
        person["email_addresses"] = [{"address": email}]
    if phone:
        person["phone_numbers"] = [{"number": phone}]
    response = requests.post(
        f"{sandbox.env['ACTION_NETWORK_BASE_URL']}/people",
        headers={"OSDI-API-Token": sandbox.env["ACTION_NETWORK_API_KEY"]},
        json={"person": person},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _sign_a_petition(sandbox, email: str = "") -> tuple[str, str]:
    """An activist (by address, else the first generated one) signs a petition; returns
    their uuid and the signature's."""
    state = sandbox.action_network
    with state.lock:
        person = next(
            p
            for p in state.people
            if (p.email or "").lower() == email or (not email and p.email and p.human >= 0)
        )
        petition = state.organising.objects["petitions"][0]
        now = state.clock.now()
        signature = str(uuid.uuid4())
        state.organising.add(Action(signature, "signatures", petition.uuid, person.uuid, now, now))
        state.version += 1
    return person.uuid, signature


def _state(warehouse, activist: tuple[str, str] = ("", ""), control: str = "") -> dict:
    """What the warehouse holds of the forgotten person, by their keys, name and phone."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        one = lambda sql, *args: con.execute(sql, list(args)).fetchone()[0]  # noqa: E731
        theirs = (
            "SELECT source, source_record_id FROM stg_source_records "
            "WHERE email_key = ? OR family_name = ? OR (phone_key = ? AND email IS NULL)"
        )
        return {
            "people": one("SELECT count(*) FROM people"),
            "staged": one(f"SELECT count(*) FROM ({theirs})", FOLDED, FAMILY, PHONE),
            "people_by_key": one(
                "SELECT count(*) FROM people WHERE lower(email) LIKE 'erase%' "
                "OR family_name = ? OR email = ?",
                FAMILY,
                LEGACY,
            ),
            "person_sources": one(
                f"SELECT count(*) FROM person_sources WHERE (source, source_record_id) IN ({theirs})",
                FOLDED,
                FAMILY,
                PHONE,
            ),
            "activities": one(
                "SELECT count(*) FROM activities a JOIN people p USING (person_id) "
                "WHERE p.family_name = ?",
                FAMILY,
            ),
            "raw_forms": one(
                "SELECT count(*) FROM raw_forms WHERE payload ->> '$.fields.family_name' = ? "
                "OR lower(payload ->> '$.fields.email') LIKE '%erase%' "
                "OR lower(trim(payload ->> '$.fields.email')) = ?",
                FAMILY,
                LEGACY,
            ),
            "raw_platforms": one(
                "SELECT (SELECT count(*) FROM raw_mailchimp WHERE resource = 'members' "
                "        AND (lower(payload ->> '$.email_address') LIKE 'erase%' "
                "             OR payload ->> '$.merge_fields.LNAME' = ?))"
                " + (SELECT count(*) FROM raw_action_network WHERE resource = 'people' "
                "    AND payload ->> '$.family_name' = ?)",
                FAMILY,
                FAMILY,
            ),
            "their_actions": one(
                "SELECT count(*) FROM raw_action_network WHERE record_id = ? "
                "OR payload ->> '$.\"action_network:person_id\"' = ?",
                activist[1],
                activist[0],
            ),
            "control_action": one(
                "SELECT count(*) FROM raw_action_network WHERE record_id = ?", control
            ),
            "phone_parses": one("SELECT count(*) FROM phone_parses WHERE e164 = ?", PHONE),
            "phone_texts": one(
                "SELECT count(*) FROM phone_parses WHERE phone_text IN ('2025550143', ?)", PHONE
            ),
            "suppressions": dict(
                con.execute(
                    "SELECT kind, count(*) FROM erasure_suppressions GROUP BY kind"
                ).fetchall()
            ),
            "suppressed_hashes": {
                row[0]
                for row in con.execute("SELECT key_hash FROM erasure_suppressions").fetchall()
            },
            "stored_values": con.execute(
                "SELECT count(*) FROM erasure_suppressions "
                "WHERE NOT regexp_full_match(key_hash, '[0-9a-f]{64}')"
            ).fetchone()[0],
            "household": one(
                "SELECT count(*) FROM stg_source_records WHERE email = 'other.household@example.org' "
                "AND phone_key = ?",
                PHONE,
            ),
            "newly_arrived": one(
                "SELECT count(*) FROM people WHERE email = 'newly.arrived@example.org'"
            ),
        }
    finally:
        con.close()


def _exports(root) -> str:
    return "\n".join(p.read_text() for p in (root / "run").rglob("*.csv")).lower()


@pytest.fixture(scope="module")
def erased(tmp_path_factory):
    root = tmp_path_factory.mktemp("forget_variants")
    with sandbox_organisation(root, 200, 11) as (
        sandbox,
        warehouse,
        inbox,
        monkeypatch,
    ):
        ephemeral_commands(monkeypatch)
        # Known by a Gmail address and a phone on a form and on both platforms.
        write_form(inbox / "erase_me.csv", [["Erase", FAMILY, ADDRESS, "(202) 555-0143", "20001"]])
        mailchimp_signup(sandbox, ADDRESS, "Erase", FAMILY, "202-555-0143")
        _action_network_person(sandbox, ADDRESS, "+1 (202) 555-0143")
        sandbox.mailchimp.audit.clear()
        sandbox.action_network.audit.clear()
        # Up to the pushes only: nothing here reads this run's exports or portal snapshot
        # (the run after the erasure writes the exports checked below), and the rest of
        # the job costs ~2 s of CPU.
        assert run_through_pushes().success
        # Someone forgotten before migration 010 left the hash of the exact address.
        con = duckdb.connect(str(warehouse))
        con.execute(
            "INSERT INTO erasure_suppressions (key_hash, erased_at) VALUES (?, now())",
            [hashlib.sha256(LEGACY.encode()).hexdigest()],
        )
        con.close()
        before = _state(warehouse)

        assert forget(ADDRESS) == 0
        after_forget = _state(warehouse)

        # Every variant comes back: on a form, on Mailchimp, on Action Network.
        write_form(
            inbox / "late_signups.csv",
            [
                ["Erase", FAMILY, VARIANTS[0], "", "20001"],
                ["Erase", FAMILY, VARIANTS[1], "", "20001"],
                ["Erase", FAMILY, VARIANTS[2], "", "20001"],
                ["Erase", FAMILY, "", "+1 202 555 0143", "20001"],
                ["Erase", FAMILY, "", "202.555.0143", ""],
                ["Legacy", "Person", f" {LEGACY.upper()} ", "", ""],
                # A housemate sharing the phone, with an address of their own, is not them.
                ["Other", "Household", "other.household@example.org", "(202) 555 0143", "20001"],
                ["Newly", "Arrived", "newly.arrived@example.org", "", "20002"],
            ],
        )
        mailchimp_signup(sandbox, VARIANTS[0], "Erase", FAMILY, "(202) 555-0143")
        _action_network_person(sandbox, VARIANTS[1])
        _action_network_person(sandbox, phone="202 555 0143")
        # And the activist forgotten here, still on Action Network, acts again.
        activist = _sign_a_petition(sandbox, ADDRESS)
        _, control = _sign_a_petition(sandbox)
        sandbox.mailchimp.audit.clear()
        sandbox.action_network.audit.clear()
        assert run_job().success
        yield {
            "before": before,
            "after_forget": after_forget,
            "after_rerun": _state(warehouse, activist, control),
            "exported_after": _exports(root),
        }


def test_the_person_was_known_by_every_source_and_phone(erased):
    before = erased["before"]
    assert before["staged"] == 3, "the form row, the member and the activist"
    assert before["people_by_key"] == 1, "joined into one person"
    assert before["phone_parses"] == 2, "parsed as written on the form and on the platforms"


def test_forget_suppresses_every_match_key_as_hashes_only(erased):
    after = erased["after_forget"]
    # The address, the phone, the activist's and the member's ids, and the row kept
    # from before migration 010.
    assert after["suppressions"] == {"email_key": 1, "phone_key": 1, "record_key": 2, "email": 1}
    assert hashlib.sha256(FOLDED.encode()).hexdigest() in after["suppressed_hashes"]
    assert hashlib.sha256(PHONE.encode()).hexdigest() in after["suppressed_hashes"]
    assert email_hash(VARIANTS[0]) == email_hash(ADDRESS), "the CLI hashes the match key"
    assert after["stored_values"] == 0, "only hashes are kept"
    assert after["people"] == erased["before"]["people"] - 1


def test_the_phone_leaves_the_parse_cache_at_once(erased):
    after = erased["after_forget"]
    assert after["phone_parses"] == 0
    assert after["phone_texts"] == 0
    assert after["staged"] == after["person_sources"] == after["people_by_key"] == 0


@pytest.mark.parametrize(
    "what",
    [
        "staged",
        "people_by_key",
        "person_sources",
        "activities",
        "raw_forms",
        "raw_platforms",
        "their_actions",
    ],
)
def test_no_variant_brings_them_back(erased, what):
    assert erased["after_rerun"][what] == 0


def test_no_variant_reaches_the_exports(erased):
    assert FAMILY.lower() not in erased["exported_after"]
    assert "erasemetest" not in erased["exported_after"]
    assert "eraseme.test" not in erased["exported_after"]


def test_good_rows_and_a_housemate_sharing_the_phone_still_load(erased):
    after = erased["after_rerun"]
    assert after["newly_arrived"] == 1
    assert after["control_action"] == 1, "another activist's new signature landed"
    assert after["household"] == 1
