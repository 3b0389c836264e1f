"""Erasure on the simulators: a person forgotten from the warehouse, the exports and
Groundswell's tags on both platforms, and never re-imported from a form."""

from __future__ import annotations

import csv
import hashlib

import duckdb
import pytest

from pipelines.__main__ import forget
from sandbox import start_sandbox
from tests.support.pipeline import configure, ephemeral_commands, run_job
from transforms.erasure import email_hash

NAMESPACE = "groundswell:"


@pytest.fixture(scope="module")
def forgotten(tmp_path_factory):
    root = tmp_path_factory.mktemp("forget")
    inbox = root / "inbox"
    (root / "run").mkdir()
    with (
        start_sandbox(people=200, seed=8, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, root / "run", sandbox.env, inbox)
        ephemeral_commands(monkeypatch)
        assert run_job().success
        con = duckdb.connect(str(warehouse), read_only=True)
        email, person_id, member_keys = con.execute(
            """
            SELECT p.email, p.person_id, list(DISTINCT l.member_key)
            FROM people p JOIN sync_ledger l USING (person_id)
            WHERE l.kind = 'tag' AND l.state = 'active' AND p.email IS NOT NULL
              AND EXISTS (SELECT 1 FROM segment_members s
                          WHERE s.person_id = p.person_id AND s.segment LIKE 'list:%')
              AND p.person_id IN (SELECT person_id FROM team_members)
            GROUP BY ALL
            HAVING count(DISTINCT l.destination) = 2
            ORDER BY p.person_id LIMIT 1
            """
        ).fetchone()
        people_before = con.execute("SELECT count(*) FROM people").fetchone()[0]
        con.close()
        portal = root / "run" / "portal" / "snapshot.duckdb"
        in_portal_before = _rows_in_portal(portal, person_id)
        exported = "\n".join(p.read_text() for p in (root / "run").rglob("*.csv"))
        sandbox.mailchimp.audit.clear()
        sandbox.action_network.audit.clear()

        assert forget("not an address") == 2, "a bad address is refused"
        # A placeholder would erase everyone who typed it: refused, nothing deleted.
        assert forget("None@None.com") == 1
        placeholder_refused = _snapshot(warehouse, email)
        # Without the Mailchimp key, its tags could not come off: nothing is deleted.
        monkeypatch.delenv("MAILCHIMP_API_KEY")
        assert forget(email) == 1
        refused_without_key = _snapshot(warehouse, email)
        monkeypatch.setenv("MAILCHIMP_API_KEY", sandbox.env["MAILCHIMP_API_KEY"])
        assert forget(f"  {email.upper()} ") == 0
        writes = sandbox.mailchimp.audit.writes + sandbox.action_network.audit.writes
        after_forget = _snapshot(warehouse, email)
        in_portal_after = _rows_in_portal(portal, person_id)

        # The same address arrives again in a form export, with someone else.
        with open(inbox / "late_signups.csv", "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["First name", "Last name", "Email", "Postcode"])
            out.writerow(["Again", "Person", email, "20001"])
            out.writerow(["Newly", "Arrived", "newly.arrived@example.org", "20002"])
        assert run_job().success
        after_rerun = _snapshot(warehouse, email)
        yield {
            "email": email,
            "person_id": person_id,
            "member_keys": member_keys,
            "people_before": people_before,
            "exported_before": exported,
            "writes": writes,
            "after_forget": after_forget,
            "refused_without_key": refused_without_key,
            "placeholder_refused": placeholder_refused,
            "after_rerun": after_rerun,
            "in_portal": (in_portal_before, in_portal_after),
            "sandbox": sandbox,
            "root": root,
        }


def _rows_in_portal(snapshot, person_id: str) -> int:
    """The person's rows in every table of the organisers' portal snapshot."""
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'person_id'"
        ).fetchall()
        return sum(
            con.execute(f'SELECT count(*) FROM "{t}" WHERE person_id = ?', [person_id]).fetchone()[
                0
            ]
            for (t,) in tables
        )
    finally:
        con.close()


def _snapshot(warehouse, email: str) -> dict:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        one = lambda sql: con.execute(sql, [digest]).fetchone()[0]  # noqa: E731
        return {
            "people": con.execute("SELECT count(*) FROM people").fetchone()[0],
            "people_with_email": one("SELECT count(*) FROM people WHERE sha256(lower(email)) = ?"),
            "staged": one("SELECT count(*) FROM stg_source_records WHERE sha256(email) = ?"),
            "raw_mailchimp": one(
                "SELECT count(*) FROM raw_mailchimp "
                "WHERE sha256(lower(payload ->> '$.email_address')) = ?"
            ),
            "raw_forms": one(
                "SELECT count(*) FROM raw_forms "
                "WHERE sha256(lower(trim(payload ->> '$.fields.email'))) = ?"
            ),
            "suppressed": con.execute(
                "SELECT count(*) FROM erasure_suppressions WHERE key_hash = ?", [email_hash(email)]
            ).fetchone()[0],
            "suppressions": con.execute("SELECT count(*) FROM erasure_suppressions").fetchone()[0],
            "newly_arrived": con.execute(
                "SELECT count(*) FROM stg_source_records WHERE email = 'newly.arrived@example.org'"
            ).fetchone()[0],
        }
    finally:
        con.close()


def test_the_person_is_gone_from_the_warehouse(forgotten):
    after = forgotten["after_forget"]
    assert after["people_with_email"] == 0
    assert after["staged"] == 0
    assert after["raw_mailchimp"] == 0
    assert after["suppressed"] == 1
    assert after["people"] == forgotten["people_before"] - 1


def test_the_person_leaves_the_portal_at_once(forgotten):
    before, after = forgotten["in_portal"]
    assert before > 0, "the chosen person was in the portal's snapshot"
    assert after == 0, "make forget republishes the snapshot without them"


def test_a_placeholder_address_is_never_forgotten(forgotten):
    kept = forgotten["placeholder_refused"]
    assert kept["people"] == forgotten["people_before"]
    assert kept["suppressions"] == 0, "no hash of the placeholder is kept either"


def test_forget_stops_before_deleting_when_a_platform_is_not_reached(forgotten):
    kept = forgotten["refused_without_key"]
    assert kept["people_with_email"] == 1 and kept["suppressed"] == 0
    assert kept["people"] == forgotten["people_before"]


def test_the_person_is_gone_from_the_exports(forgotten):
    email = forgotten["email"]
    assert email in forgotten["exported_before"], "the chosen person was on a list"
    for path in (forgotten["root"] / "run").rglob("*.csv"):
        assert email not in path.read_text(), path


def test_groundswell_tags_come_off_both_platforms_and_nothing_else(forgotten):
    sandbox = forgotten["sandbox"]
    touched = {w.platform for w in forgotten["writes"] if w.tags_removed}
    assert touched == {"mailchimp", "action_network"}
    assert all(
        t.startswith(NAMESPACE) for w in forgotten["writes"] for t in w.tags_removed + w.tags_added
    )
    assert not any(w.tags_added for w in forgotten["writes"])
    assert sandbox.violations(NAMESPACE) == []
    for key in forgotten["member_keys"]:
        member = sandbox.mailchimp.by_id.get(key)
        if member is not None:
            assert not [t for t in member.tags if t.startswith(NAMESPACE)]
        person = sandbox.action_network.by_uuid.get(key)
        if person is not None:
            assert not [t for t in person.tags if t.startswith(NAMESPACE)]


def test_a_form_never_brings_them_back_and_other_rows_load(forgotten):
    after = forgotten["after_rerun"]
    assert after["people_with_email"] == 0
    assert after["staged"] == 0
    assert after["raw_forms"] == 0
    assert after["newly_arrived"] == 1, "the good row of the same file loaded"
