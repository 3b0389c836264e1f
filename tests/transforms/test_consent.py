"""Consent from forms (issue 12, item 3): each answer read per channel, a form's "no" as an
opt-out, a "yes" as a recorded subscription, and the latest answer across sources deciding,
on raw rows in a real warehouse through the real staging, identity and planning steps."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from connectors.forms.landing import land_form_exports
from tests.support.raw import NOW, an_person, land, mc_member
from transforms.engagement import build_activities, build_person_metrics
from transforms.identity import resolve
from transforms.ladder import build_ladder
from transforms.ladder_config import parse
from transforms.normalise import build_staging
from transforms.segments import build_segments
from transforms.sync_plan import build_plan

ROOT = Path(__file__).resolve().parents[2]

# Each answer, and what it says for the email question and for the texting question.
ANSWERS: list[tuple[str | None, str | None, str | None]] = [
    ("Y", "yes", "yes"),
    ("Yes", "yes", "yes"),
    ("yes please", "yes", "yes"),
    ("Yes!", "yes", "yes"),
    ("true", "yes", "yes"),
    ("1", "yes", "yes"),
    ("checked", "yes", "yes"),
    ("I agree", "yes", "yes"),
    ("OK", "yes", "yes"),
    ("✓", "yes", "yes"),
    ("N", "no", "no"),
    ("No", "no", "no"),
    ("No thanks", "no", "no"),
    ("no thank you", "no", "no"),
    ("false", "no", "no"),
    ("0", "no", "no"),
    ("unsubscribe me", "no", "no"),
    ("don't contact me", "no", "no"),
    ("Don\u2019t contact me", "no", "no"),
    # "Not now" refuses for now: an opt-out until a later yes.
    ("not now", "no", "no"),
    # A refusal stays one whatever follows it.
    ("No, but\u2026", "no", "no"),
    ("No, but text me", "no", "no"),
    # A qualified yes is read for the channel asked.
    ("Yes, but not by text", "yes", "no"),
    ("Yes, only by email", "yes", "no"),
    ("Sure, why not", "yes", "yes"),
    ("Sí", "yes", "yes"),
    ("Nein", "no", "no"),
    # Blank or unclear: no answer.
    ("", None, None),
    ("   ", None, None),
    (None, None, None),
    ("maybe", None, None),
    ("Not sure", None, None),
    ("I don't know", None, None),
    ("n/a", None, None),
    ("none", None, None),
    ("Yesterday", None, None),
    ("Yes, but not now", None, None),
]
STATUS = {"yes": "subscribed", "no": "unsubscribed", None: None}


def form_row(email: str | None, **fields) -> dict:
    row = {"given_name": "Ana", "family_name": "Lima", "submitted_at": "2026-06-01 10:00:00"}
    if email:
        row["email"] = email
    row.update({k: v for k, v in fields.items() if v is not None})
    return row


def build(con) -> None:
    build_staging(con, "US")
    resolve(con, NOW)


def person(con, email: str) -> dict:
    cursor = con.execute(
        "SELECT email_suppressed, email_reachable, email_consent, email_consent_source, "
        "email_consent_at, phone_suppressed, phone_reachable, phone_consent, "
        "phone_consent_source FROM people WHERE email = ?",
        [email],
    )
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, f"one person with that address, found {len(rows)}"
    return dict(zip(names, rows[0], strict=True))


def staged(con, file_name: str) -> dict[int, tuple[str | None, str | None]]:
    return {
        n: (e, p)
        for n, e, p in con.execute(
            "SELECT row_number, email_status, phone_status FROM stg_source_records "
            "WHERE file_name = ? ORDER BY row_number",
            [file_name],
        ).fetchall()
    }


def test_every_answer_is_read_per_channel(con):
    rows = [
        form_row(f"p{i}@example.org", phone=f"202555{i:04d}", consent_email=a, consent_sms=a)
        for i, (a, _, _) in enumerate(ANSWERS)
    ]
    land(con, forms={"answers.csv": rows})
    build(con)
    got = staged(con, "answers.csv")
    want = {i + 1: (STATUS[e], STATUS[s]) for i, (_, e, s) in enumerate(ANSWERS)}
    wrong = {ANSWERS[n - 1][0]: (got.get(n), w) for n, w in want.items() if got.get(n) != w}
    assert wrong == {}, "answer: (staged, expected)"


def test_rows_landed_before_read_consent_as_email(con):
    land(con, forms={"old.csv": [form_row("old@example.org", consent="No thanks")]})
    build(con)
    assert staged(con, "old.csv") == {1: ("unsubscribed", None)}
    assert person(con, "old@example.org")["email_suppressed"] is True


def test_a_form_no_suppresses_a_person_subscribed_on_mailchimp_earlier(con):
    # Mailchimp's record changed after the form (a field set, say): that is no new "yes".
    land(
        con,
        mc=[
            mc_member(
                "Ana",
                "Lima",
                "ana@example.org",
                signup="2025-01-01T00:00:00+00:00",
                last_changed="2026-11-20T00:00:00+00:00",
            )
        ],
        forms={"signup.csv": [form_row("ana@example.org", consent_email="No thanks")]},
    )
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_suppressed"], got["email_reachable"]) == (True, False)
    assert (got["email_consent"], got["email_consent_source"]) == ("no", "forms")
    assert got["email_consent_at"] == datetime(2026, 6, 1, 10, 0)
    # The Mailchimp member itself is untouched: still subscribed there.
    status = con.execute(
        "SELECT email_status FROM stg_source_records WHERE source = 'mailchimp'"
    ).fetchone()[0]
    assert status == "subscribed"


@pytest.mark.parametrize(
    ("first", "then", "reachable"),
    [("No", "Yes please", True), ("Yes please", "No", False)],
)
def test_the_later_form_answer_wins(con, first, then, reachable):
    land(
        con,
        forms={
            "march.csv": [
                form_row("ana@example.org", consent_email=first, submitted_at="2026-03-01 09:00:00")
            ],
            "september.csv": [
                form_row("ana@example.org", consent_email=then, submitted_at="2026-09-01 09:00:00")
            ],
        },
    )
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_reachable"], got["email_suppressed"]) == (reachable, not reachable)
    assert got["email_consent_at"] == datetime(2026, 9, 1, 9, 0)


@pytest.mark.parametrize(
    ("unsubscribed_on", "answer", "expected"),
    [
        # A Mailchimp unsubscribe after the form's yes wins.
        ("2026-08-01", "Yes", ((True, False), ("no", "mailchimp"))),
        # A form yes after the Mailchimp unsubscribe makes the person reachable.
        ("2026-02-01", "yes please", ((False, True), ("yes", "forms"))),
    ],
    ids=["unsubscribe after the yes", "yes after the unsubscribe"],
)
def test_the_later_of_a_mailchimp_unsubscribe_and_a_form_yes_wins(
    con, unsubscribed_on, answer, expected
):
    land(
        con,
        mc=[
            mc_member(
                "Ana",
                "Lima",
                "ana@example.org",
                status="unsubscribed",
                last_changed=f"{unsubscribed_on}T00:00:00+00:00",
            )
        ],
        forms={"form.csv": [form_row("ana@example.org", consent_email=answer)]},
    )
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_suppressed"], got["email_reachable"]) == expected[0]
    assert (got["email_consent"], got["email_consent_source"]) == expected[1]


def test_a_later_change_to_an_unsubscribed_member_does_not_outdate_a_form_yes(con):
    """Setting a merge field (Groundswell's tier, say) moves Mailchimp's last_changed; the
    unsubscribe still dates from the first read that showed it."""
    unsubscribed = {"status": "unsubscribed", "last_changed": "2026-02-01T00:00:00+00:00"}
    land(con, mc=[mc_member("Ana", "Lima", "ana@example.org", **unsubscribed)])
    land(con, forms={"june.csv": [form_row("ana@example.org", consent_email="Yes")]})
    unsubscribed["last_changed"] = "2026-10-01T00:00:00+00:00"
    land(con, mc=[mc_member("Ana", "Lima", "ana@example.org", **unsubscribed)])
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_reachable"], got["email_consent_source"]) == (True, "forms")


def test_a_platform_status_counts_from_when_it_was_first_seen(con):
    """Subscribed, a form's no, then unsubscribed and subscribed again on Mailchimp: the
    resubscription is the latest answer, dated by the version that first showed it."""
    versions = [
        ("subscribed", "2025-01-01"),
        ("unsubscribed", "2026-07-01"),
        ("subscribed", "2026-09-01"),
        ("subscribed", "2026-10-15"),  # a later edit: still the September subscription
    ]
    land(con, forms={"june.csv": [form_row("ana@example.org", consent_email="No")]})
    for status, day in versions:
        member = mc_member(
            "Ana", "Lima", "ana@example.org", status=status, last_changed=f"{day}T00:00:00+00:00"
        )
        land(con, mc=[member])
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_reachable"], got["email_consent_source"]) == (True, "mailchimp")
    assert got["email_consent_at"] == datetime(2026, 9, 1)


def test_a_tie_goes_to_the_opt_out(con):
    land(
        con,
        mc=[
            mc_member(
                "Ana",
                "Lima",
                "ana@example.org",
                status="unsubscribed",
                last_changed="2026-06-01T10:00:00+00:00",
            )
        ],
        forms={"same.csv": [form_row("ana@example.org", consent_email="Yes")]},
    )
    build(con)
    assert person(con, "ana@example.org")["email_suppressed"] is True


def test_a_bounce_suppresses_email_whatever_was_answered(con):
    land(
        con,
        mc=[mc_member("Ana", "Lima", "ana@example.org", status="cleaned")],
        forms={"later.csv": [form_row("ana@example.org", consent_email="Yes")]},
    )
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_suppressed"], got["email_reachable"]) == (True, False)
    assert got["email_consent"] == "yes", "the answer is kept; the address does not work"


@pytest.mark.parametrize(
    ("status", "suppressed", "reachable", "source"),
    [("subscribed", False, True, "mailchimp"), ("unsubscribed", True, False, "mailchimp")],
)
def test_blank_answers_change_nothing(con, status, suppressed, reachable, source):
    land(
        con,
        mc=[
            mc_member(
                "Ana",
                "Lima",
                "ana@example.org",
                status=status,
                last_changed="2026-02-01T00:00:00+00:00",
            )
        ],
        forms={
            "blank.csv": [
                form_row("ana@example.org", consent_email="", consent_sms="  "),
                form_row("ana@example.org", consent_email="maybe"),
            ]
        },
    )
    build(con)
    got = person(con, "ana@example.org")
    assert (got["email_suppressed"], got["email_reachable"]) == (suppressed, reachable)
    assert got["email_consent_source"] == source


def test_an_sms_answer_affects_the_phone_only(con):
    land(
        con,
        an=[an_person("Ana", "Lima", "ana@example.org", phone="2025550143", uuid="u-1")],
        forms={
            "texts.csv": [
                form_row("ana@example.org", phone="(202) 555-0143", consent_sms="No"),
                form_row("bo@example.org", given_name="Bo", phone="2025550199", consent_sms="Y"),
            ]
        },
    )
    build(con)
    ana = person(con, "ana@example.org")
    assert (ana["phone_suppressed"], ana["phone_reachable"]) == (True, False)
    assert (ana["email_suppressed"], ana["email_reachable"]) == (False, True)
    assert ana["phone_consent_source"] == "forms"
    bo = person(con, "bo@example.org")
    assert (bo["phone_reachable"], bo["phone_consent"]) == (True, "yes")
    assert (bo["email_reachable"], bo["email_suppressed"]) == (False, False)


def test_a_yes_without_the_channel_on_the_row_records_nothing(con):
    land(
        con,
        forms={
            "sheet.csv": [
                # No address and no phone on the row: nothing to subscribe.
                form_row(None, postal_code="20001", consent_email="Yes", consent_sms="Yes"),
                # A placeholder address is not one to subscribe either.
                form_row("none@none.com", given_name="Bo", consent_email="Yes"),
                # A refusal needs no address: it is the person's.
                form_row(None, given_name="Cy", postal_code="20002", consent_email="No"),
            ]
        },
    )
    build(con)
    assert staged(con, "sheet.csv") == {
        1: (None, None),
        2: (None, None),
        3: ("unsubscribed", None),
    }


def test_a_consent_column_of_mixed_answers_loses_no_row(con, tmp_path):
    """The issue's bad input through the real loader: "Y", "yes please", "No thanks" and
    blanks in one export; every row loads and each answer counts for its own person."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "signups.csv").write_text(
        "Timestamp,Email address,First name,Last name,Keep me updated by email?\n"
        "6/1/2026 10:00:00,amy@example.org,Amy,Ames,Y\n"
        "6/1/2026 10:05:00,ben@example.org,Ben,Bell,yes please\n"
        "6/1/2026 10:10:00,cat@example.org,Cat,Cole,No thanks\n"
        "6/1/2026 10:15:00,dan@example.org,Dan,Dale,\n"
        "6/1/2026 10:20:00,eve@example.org,Eve,East,   \n",
        encoding="utf-8",
    )
    messages: list[str] = []
    report = land_form_exports(con, inbox, "b1", messages.append, messages.append)
    assert report.files_skipped == []
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    build(con)
    build_activities(con)
    assert con.execute("SELECT count(*) FROM people").fetchone()[0] == 5
    got = {
        email: (reachable, suppressed)
        for email, reachable, suppressed in con.execute(
            "SELECT email, email_reachable, email_suppressed FROM people"
        ).fetchall()
    }
    assert got == {
        "amy@example.org": (True, False),
        "ben@example.org": (True, False),
        "cat@example.org": (False, True),
        "dan@example.org": (False, False),
        "eve@example.org": (False, False),
    }
    submissions = con.execute(
        "SELECT count(*) FROM activities WHERE activity_type = 'form_submission'"
    ).fetchone()[0]
    assert submissions == 5
    unsubscribes = con.execute(
        "SELECT count(*) FROM activities WHERE activity_type = 'unsubscribe' AND source = 'forms'"
    ).fetchone()[0]
    assert unsubscribes == 1
    assert not any("@" in m for m in messages), "no address in any message"


def _ladder_adding_new_people():
    data = yaml.safe_load((ROOT / "ladder.yaml").read_text())
    data["sync"] = {"mailchimp": {"add_new_people": True}}
    return parse(data, "ladder.yaml")


def test_add_new_people_relies_on_a_form_yes(con):
    land(
        con,
        mc=[
            mc_member(
                "Dee",
                "Dunn",
                "dee@example.org",
                status="unsubscribed",
                last_changed="2026-02-01T00:00:00+00:00",
            )
        ],
        forms={
            "signups.csv": [
                form_row("yes@example.org", given_name="Yan", consent_email="Yes please"),
                form_row("blank@example.org", given_name="Bea", consent_email=""),
                form_row("no@example.org", given_name="Noa", consent_email="No thanks"),
                # Unsubscribed on Mailchimp, then a newer yes on a form: reachable, but the
                # member is never created again nor sent a status.
                form_row(
                    "dee@example.org", given_name="Dee", family_name="Dunn", consent_email="yes"
                ),
            ]
        },
    )
    ladder = _ladder_adding_new_people()
    build(con)
    build_activities(con)
    build_person_metrics(con, NOW)
    build_ladder(con, ladder, NOW)
    build_segments(con, ladder, NOW)
    build_plan(con, ladder, "run-1", NOW)
    creates = dict(
        con.execute(
            "SELECT m.email, p.value FROM stage.sync_plan p JOIN person_metrics m USING (person_id) "
            "WHERE p.destination = 'mailchimp' AND p.op = 'create'"
        ).fetchall()
    )
    assert creates == {"yes@example.org": "subscribed", "blank@example.org": "pending"}
    dee = con.execute(
        "SELECT list(DISTINCT p.op), list(DISTINCT p.kind) FROM stage.sync_plan p "
        "JOIN person_metrics m USING (person_id) WHERE m.email = 'dee@example.org'"
    ).fetchone()
    assert dee == (["add"], ["tag"]), "only Groundswell's tags, never a member or a status"
