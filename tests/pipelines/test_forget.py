"""Erasure on the simulators, by each identifier `make forget` takes.

By email: a person forgotten from the warehouse, the exports, the portal and Groundswell's
tags on both platforms, and never re-imported from a form. By phone and by person id
(issue 12, item 5): `make forget PHONE=` forgets the whole person the phone belongs to and
suppresses every address they had, so none of the three comes back; `make forget
PERSON_ID=` forgets a person known on both platforms, who is not pulled back in; a phone
that matches nobody says so and changes nothing; a malformed or placeholder phone, a
malformed person id, or two identifiers at once are refused (exit 2).

Both are told in one sandbox organisation: a whole run costs ~12 s of CPU, and two serve
every erasure here (one to build the organisation, one to bring everyone back). The
erasures by email come first, while no suppression exists yet, and each erasure compares
only snapshots taken around it, so none of them sees another's."""

from __future__ import annotations

import contextlib
import hashlib
import io

import duckdb
import pytest

from pipelines.__main__ import forget, main
from pipelines.erasure import ForgetConfig, target_of
from tests.support.people import mailchimp_signup, write_form
from tests.support.pipeline import ephemeral_commands, run_job, sandbox_organisation
from transforms.erasure import email_hash, is_placeholder_phone, phone_hash

NAMESPACE = "groundswell:"

# The person forgotten by phone: one human with three addresses and one mobile.
FAMILY = "Threeaddress"
PHONE = "(303) 555-0177"
E164 = "+13035550177"
ADDRESSES = ("trio.one@example.org", "trio.two@example.net", "trio.three@gmail.com")
UNKNOWN_PHONE = "+1 303 555 0199"
SHARED_PHONE = "(303) 555-0155"  # two housemates with addresses of their own


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
    """What the warehouse holds of the person forgotten by email."""
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


def _state(warehouse, person_id: str = "", keys: tuple[str, ...] = ()) -> dict:
    """Counts of what the warehouse holds of the trio and of the person forgotten by id."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        one = lambda sql, *args: con.execute(sql, list(args)).fetchone()[0]  # noqa: E731
        folded = [email_hash(a) for a in ADDRESSES]
        return {
            "people": one("SELECT count(*) FROM people"),
            "suppressions": one("SELECT count(*) FROM erasure_suppressions"),
            "suppressed": {
                r[0] for r in con.execute("SELECT key_hash FROM erasure_suppressions").fetchall()
            },
            "trio_people": one(
                "SELECT count(DISTINCT ps.person_id) FROM person_sources ps "
                "JOIN stg_source_records s USING (source, source_record_id) "
                "WHERE s.family_name = ? OR sha256(s.email_key) IN (SELECT unnest(?))",
                FAMILY,
                folded,
            ),
            "trio_staged": one(
                "SELECT count(*) FROM stg_source_records "
                "WHERE family_name = ? OR sha256(email_key) IN (SELECT unnest(?)) "
                "OR phone = ?",
                FAMILY,
                folded,
                E164,
            ),
            "trio_raw": one(
                "SELECT (SELECT count(*) FROM raw_forms WHERE payload ->> '$.fields.family_name' = ?)"
                " + (SELECT count(*) FROM raw_mailchimp WHERE resource = 'members' "
                "    AND payload ->> '$.merge_fields.LNAME' = ?)",
                FAMILY,
                FAMILY,
            ),
            "by_id": one("SELECT count(*) FROM people WHERE person_id = ?", person_id),
            "by_id_keys": one(
                "SELECT count(*) FROM stg_source_records WHERE sha256(email_key) IN (SELECT unnest(?))",
                list(keys) or [""],
            ),
            "newly_arrived": one(
                "SELECT count(*) FROM people WHERE email = 'newly.arrived@example.org'"
            ),
        }
    finally:
        con.close()


def _forget(**kwargs) -> tuple[int, str, str]:
    """Run `forget` and capture what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = forget(**kwargs)
    return code, out.getvalue(), err.getvalue()


def _forget_by_email(sandbox, monkeypatch, warehouse, run_dir) -> dict:
    """Someone on a list, in a team and tagged on both platforms, forgotten by email after
    a bad, a placeholder and a refused attempt; what each step left."""
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
    portal = run_dir / "portal" / "snapshot.duckdb"
    in_portal_before = _rows_in_portal(portal, person_id)
    exported = "\n".join(p.read_text() for p in run_dir.rglob("*.csv"))
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
    return {
        "email": email,
        "person_id": person_id,
        "member_keys": member_keys,
        "people_before": people_before,
        "exported_before": exported,
        "writes": writes,
        "after_forget": _snapshot(warehouse, email),
        "refused_without_key": refused_without_key,
        "placeholder_refused": placeholder_refused,
        "in_portal": (in_portal_before, _rows_in_portal(portal, person_id)),
    }


def _forget_by_phone_and_id(warehouse) -> dict:
    """Refused, unknown and shared identifiers, then the trio forgotten by phone and
    someone on both platforms by person id; what each step left."""
    con = duckdb.connect(str(warehouse), read_only=True)
    # Someone on both platforms, forgotten by id.
    person_id, keys = con.execute(
        """
        SELECT ps.person_id, list(DISTINCT sha256(s.email_key))
        FROM person_sources ps JOIN stg_source_records s USING (source, source_record_id)
        JOIN people p ON p.person_id = ps.person_id
        WHERE s.email_key IS NOT NULL AND p.family_name IS DISTINCT FROM ?
        GROUP BY ps.person_id
        HAVING count(DISTINCT ps.source) >= 2
        ORDER BY ps.person_id LIMIT 1
        """,
        [FAMILY],
    ).fetchone()
    con.close()
    keys = tuple(keys)
    before = _state(warehouse, person_id, keys)

    refused = {
        "bad_phone": _forget(phone="12ab"),
        "placeholder_phone": _forget(phone="555-555-5555"),
        "placeholder_digits": _forget(phone="(123) 456-7890"),
        "bad_person_id": _forget(person_id="bob; drop table people"),
        "two_at_once": _forget(email=ADDRESSES[0], phone=PHONE),
        "none_given": _forget(),
    }
    after_refusals = _state(warehouse, person_id, keys)
    unknown = _forget(phone=UNKNOWN_PHONE)
    unknown_others = {
        "email": _forget(email="nobody.here@example.org"),
        "person id": _forget(person_id="p_0000000000000000"),
    }
    after_unknown = _state(warehouse, person_id, keys)
    shared = _forget(phone=SHARED_PHONE)
    after_shared = _state(warehouse, person_id, keys)
    by_phone = _forget(phone="303.555.0177")
    after_phone = _state(warehouse, person_id, keys)
    by_id = _forget(person_id=f" {person_id.upper().replace('P_', 'p_')} ")
    after_id = _state(warehouse, person_id, keys)
    return {
        "person_id": person_id,
        "keys": keys,
        "before": before,
        "refused": refused,
        "after_refusals": after_refusals,
        "unknown": unknown,
        "unknown_others": unknown_others,
        "after_unknown": after_unknown,
        "shared": shared,
        "after_shared": after_shared,
        "by_phone": by_phone,
        "after_phone": after_phone,
        "by_id": by_id,
        "after_id": after_id,
    }


@pytest.fixture(scope="module")
def organisation(tmp_path_factory):
    """A sandbox organisation run once, its people forgotten by email, phone and id, then
    every one of them back (on a form, on Mailchimp, still on the platforms) and run again."""
    root = tmp_path_factory.mktemp("forget")
    with sandbox_organisation(root, 200, 8) as (
        sandbox,
        warehouse,
        inbox,
        monkeypatch,
    ):
        ephemeral_commands(monkeypatch)
        # One human with three addresses and one mobile, joined by mobile and name.
        write_form(
            inbox / "trio.csv",
            [["Trio", FAMILY, address, PHONE, "80202"] for address in ADDRESSES]
            + [
                ["Pat", "Sharedline", "pat.sharedline@example.org", SHARED_PHONE, "80203"],
                ["Sam", "Sharedline", "sam.sharedline@example.org", SHARED_PHONE, "80203"],
            ],
        )
        mailchimp_signup(sandbox, ADDRESSES[0], "Trio", FAMILY)
        sandbox.mailchimp.audit.clear()  # the person's own signup, not a Groundswell write
        assert run_job().success

        by_email = _forget_by_email(sandbox, monkeypatch, warehouse, root / "run")
        by_phone_and_id = _forget_by_phone_and_id(warehouse)

        # They all come back: the address forgotten by email arrives again in a form
        # export, with someone else; every one of the trio's addresses comes back, on the
        # same form and on Mailchimp; the platforms still hold the person forgotten by id.
        email = by_email["email"]
        write_form(
            inbox / "late_signups.csv",
            [["Again", "Person", email, "", "20001"]]
            + [["Trio", FAMILY, address, "", ""] for address in ADDRESSES]
            + [["Newly", "Arrived", "newly.arrived@example.org", "", "20002"]],
        )
        for address in ADDRESSES[1:]:
            mailchimp_signup(sandbox, address, "Trio", FAMILY)
        sandbox.mailchimp.audit.clear()
        sandbox.action_network.audit.clear()
        assert run_job().success
        by_email["after_rerun"] = _snapshot(warehouse, email)
        by_phone_and_id["after_rerun"] = _state(
            warehouse, by_phone_and_id["person_id"], by_phone_and_id["keys"]
        )
        by_email.update(sandbox=sandbox, root=root)
        yield {"by_email": by_email, "by_phone_and_id": by_phone_and_id}


@pytest.fixture(scope="module")
def forgotten(organisation):
    """The erasure by email: what each step left, the sandbox and the run's folder."""
    return organisation["by_email"]


@pytest.fixture(scope="module")
def erased(organisation):
    """The erasures by phone and by person id: what each step left."""
    return organisation["by_phone_and_id"]


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


def test_the_three_addresses_were_one_person(erased):
    assert erased["before"]["trio_people"] == 1
    assert erased["before"]["trio_staged"] == 4, "three form rows and the member"


@pytest.mark.parametrize(
    "case, words",
    [
        ("bad_phone", "not a phone number"),
        ("placeholder_phone", "placeholder"),
        ("placeholder_digits", "placeholder"),
        ("bad_person_id", "person id is p_"),
        ("two_at_once", "exactly one of"),
        ("none_given", "exactly one of"),
    ],
)
def test_bad_identifiers_are_refused_with_exit_2(erased, case, words):
    code, _, err = erased["refused"][case]
    assert code == 2
    assert words in err
    assert "12ab" not in err and "bob" not in err and "trio" not in err, "never repeated"


def test_refusals_change_nothing(erased):
    before, after = erased["before"], erased["after_refusals"]
    assert after == before


def test_an_unknown_phone_says_nobody_matched_and_changes_nothing(erased):
    code, out, _ = erased["unknown"]
    assert code == 0
    assert "nobody in the warehouse has that phone number" in out
    assert "0199" not in out
    assert erased["after_unknown"] == erased["before"]


@pytest.mark.parametrize("what", ["email", "person id"])
def test_an_unknown_email_or_person_id_changes_nothing_either(erased, what):
    code, out, _ = erased["unknown_others"][what]
    assert code == 0
    assert (
        "nobody in the warehouse has that " + ("email address" if what == "email" else what) in out
    )
    assert "nobody.here" not in out
    assert erased["after_unknown"] == erased["before"]


def test_a_household_phone_reaching_two_people_needs_force(erased):
    code, _, err = erased["shared"]
    assert code == 1
    assert "that phone number reaches 2 different people" in err
    assert "FORCE=1" in err and "0155" not in err
    assert erased["after_shared"] == erased["before"], "nothing was deleted"


def test_forget_by_phone_forgets_the_person_and_all_three_addresses(erased):
    code, out, err = erased["by_phone"]
    assert code == 0, err
    assert "Forgot 1 person(s) and 4 source record(s)" in out
    after = erased["after_phone"]
    assert after["people"] == erased["before"]["people"] - 1
    assert after["trio_staged"] == after["trio_raw"] == 0
    for address in ADDRESSES:
        assert email_hash(address) in after["suppressed"], "every address is suppressed"
    assert hashlib.sha256(E164.encode()).hexdigest() in after["suppressed"]


def test_forget_by_person_id_forgets_them_and_their_keys(erased):
    code, out, err = erased["by_id"]
    assert code == 0, err
    assert "Forgot 1 person(s)" in out
    after = erased["after_id"]
    assert erased["before"]["by_id"] == 1
    assert after["by_id"] == after["by_id_keys"] == 0
    assert after["people"] == erased["after_phone"]["people"] - 1


@pytest.mark.parametrize("what", ["trio_people", "trio_staged", "trio_raw", "by_id", "by_id_keys"])
def test_none_of_them_comes_back(erased, what):
    assert erased["after_rerun"][what] == 0


def test_good_rows_still_load(erased):
    assert erased["after_rerun"]["newly_arrived"] == 1


def test_the_command_line_takes_each_identifier(capsys):
    """`python -m pipelines forget` (what make forget calls) refuses before touching anything."""
    assert main(["forget", "--phone", "12ab"]) == 2
    assert "not a phone number" in capsys.readouterr().err
    assert main(["forget", "--email", "a@example.org", "--person-id", "p_0123456789abcdef"]) == 2
    assert "exactly one of EMAIL=, PHONE= or PERSON_ID=" in capsys.readouterr().err


def test_the_op_config_takes_hashes_and_refuses_placeholder_phones():
    digest = phone_hash("+1 303 555 0177")
    assert digest == hashlib.sha256(E164.encode()).hexdigest()
    assert phone_hash("303-555-0177", region="US") == digest
    assert target_of(ForgetConfig(phone_sha256=digest)).phone_hash == digest
    assert target_of(ForgetConfig(person_id="p_0123456789ABCDEF")).person_id == "p_0123456789abcdef"
    with pytest.raises(ValueError, match="exactly one"):
        target_of(ForgetConfig(person_id="p_0123456789abcdef", phone_sha256=digest))
    with pytest.raises(ValueError, match="64 hexadecimal"):
        target_of(ForgetConfig(phone_sha256="+13035550177"))
    placeholder = hashlib.sha256(b"+11234567890").hexdigest()
    assert is_placeholder_phone(placeholder, ["1234567890"], "US")
    assert not is_placeholder_phone(digest, ["1234567890"], "US")
