"""Activities from hand-built raw rows: every type from every source, the latest version of
each record only, and referrals attributed from codes and from "who referred you" answers."""

from datetime import datetime
from decimal import Decimal

import pytest

from tests.support.raw import (
    NOW,
    an_action,
    an_object,
    an_person,
    land,
    land_an_tags,
    land_records,
    mc_campaign,
    mc_email_event,
    mc_member,
)
from transforms.engagement import activity_stats, build_activities
from transforms.identity import resolve
from transforms.normalise import build_staging

ANA = "aaaaaaaa-0000-4000-8000-000000000001"
BO = "bbbbbbbb-0000-4000-8000-000000000002"
CY = "cccccccc-0000-4000-8000-000000000003"
DEE = "dddddddd-0000-4000-8000-000000000004"
SAM = "eeeeeeee-0000-4000-8000-000000000005"
AN = "raw_action_network"


def people() -> list[dict]:
    dee = an_person("Dee", "Diaz", "dee@example.org", uuid=DEE)
    dee["custom_fields"] = {"Referral code": "ref-dee-2026", "I am a parent": "1"}
    return [
        an_person("Ana", "Lima", "ana.lima@gmail.com", uuid=ANA),
        an_person("Bo", "Ng", "bo@example.org", uuid=BO),
        an_person(
            "Cy",
            "Oh",
            "cy@example.org",
            phone="2025550143",
            status="unsubscribed",
            phone_status="unsubscribed",
            modified="2026-11-10T00:00:00Z",
            uuid=CY,
        ),
        dee,
        an_person("Sam", "Lee", "sam.one@example.org", uuid=SAM),
    ]


def objects() -> dict[str, list[dict]]:
    return {
        "petitions": [an_object("petitions", "p1", "Clean air")],
        "events": [
            an_object("events", "e1", "Town hall", start="2026-11-15T18:00:00Z", creator=ANA),
            an_object("events", "e2", "Picnic", creator=ANA, organizer=BO),
            an_object("events", "e3", "Staff training"),
        ],
        "forms": [an_object("forms", "f1", "Volunteer form")],
        "fundraising_pages": [an_object("fundraising_pages", "fp1", "Winter fund")],
        "advocacy_campaigns": [an_object("advocacy_campaigns", "ac1", "Call your rep")],
    }


def actions() -> dict[str, list[dict]]:
    return {
        "signatures": [
            an_action("signatures", ANA, "p1", created="2026-11-02T10:00:00Z", uuid="s-ana"),
            # Ana's code, typed with another case and an underscore.
            an_action("signatures", BO, "p1", source="REF_AAAAAAAA", uuid="s-bo"),
            # Dee's code, from her custom field, as the referrer code.
            an_action("signatures", CY, "p1", referrer="REF-DEE-2026", uuid="s-cy"),
        ],
        "attendances": [
            an_action("attendances", ANA, "e1", uuid="at-ana"),
            an_action("attendances", BO, "e1", status="attended", uuid="at-bo"),
            an_action("attendances", CY, "e1", status="declined", uuid="at-cy"),
        ],
        "submissions": [an_action("submissions", ANA, "f1", source="email-nov", uuid="sub-ana")],
        "donations": [
            an_action("donations", BO, "fp1", amount="25.00", recurring=True, uuid="d-bo"),
            an_action("donations", CY, "fp1", amount="10.5", uuid="d-cy"),
        ],
        # Dee's own code on her own action is not a referral.
        "outreaches": [an_action("outreaches", DEE, "ac1", referrer="ref-dee-2026", uuid="o-dee")],
    }


FORM_ROWS = [
    {
        "email": "fay@example.org",
        "given_name": "Fay",
        "family_name": "Fox",
        "submitted_at": "11/20/2026 10:00:00",
        "attended": "Checked In",
        "volunteer": "Door knocking;Phone banking",
        # Ana's address as she might type it: Gmail ignores dots and +tags.
        "referred_by": "AnaLima+events@googlemail.com",
    },
    {
        "email": "gus@example.org",
        "given_name": "Gus",
        "family_name": "Gray",
        "submitted_at": "11/21/2026 10:00:00",
        "attended": "Attending",
        "volunteer": "No",
        "referred_by": "bo ng",
    },
    {
        "email": "hal@example.org",
        "given_name": "Hal",
        "family_name": "Hu",
        "submitted_at": "11/22/2026 10:00:00",
        "referred_by": "Sam Lee",  # two people are called Sam Lee: no one is credited
    },
    {
        "email": "ivy@example.org",
        "given_name": "Ivy",
        "family_name": "Ito",
        "submitted_at": "11/22/2026 11:00:00",
        "volunteer": "not right now",
        "referred_by": "ivy@example.org",  # herself
    },
    {
        "email": "jo@example.org",
        "given_name": "Jo",
        "family_name": "Jay",
        "submitted_at": "11/22/2026 12:00:00",
        "referred_by": "Dee (her code REF_DEE-2026)",
    },
]


def build_world(con) -> dict[str, int]:
    land(
        con,
        an=people(),
        mc=[
            mc_member("Ana", "Lima", "ana.lima@gmail.com", tags=("Donor", "groundswell:supporter")),
            mc_member(
                "Eve",
                "Ek",
                "eve@example.org",
                status="unsubscribed",
                last_changed="2026-11-12T08:00:00+00:00",
            ),
            mc_member("Sam", "Lee", "sam.two@example.org"),
        ],
        forms={"signin.csv": FORM_ROWS},
    )
    for resource, records in objects().items():
        land_records(con, AN, resource, records)
    for resource, records in actions().items():
        land_records(con, AN, resource, records)
    land_an_tags(con, {"Volunteer": [BO], "groundswell:activist": [BO]})
    land_records(
        con,
        "raw_mailchimp",
        "campaigns",
        [mc_campaign("c1", "November news")],
        modified_key="send_time",
    )
    events = [
        mc_email_event("ana.lima@gmail.com", "c1", "open", "2026-11-01T16:00:00+00:00"),
        mc_email_event("ana.lima@gmail.com", "c1", "open", "2026-11-02T09:00:00+00:00"),
        mc_email_event(
            "ana.lima@gmail.com",
            "c1",
            "click",
            "2026-11-02T09:01:00+00:00",
            url="https://example.org/act",
        ),
        mc_email_event("eve@example.org", "c1", "bounce", "2026-11-01T15:01:00+00:00", kind="hard"),
    ]
    # The same event read twice (the activity window overlaps) is one event.
    land_records(con, "raw_mailchimp", "email_activity", events, modified_key="timestamp")
    land_records(con, "raw_mailchimp", "email_activity", events[:1], modified_key="timestamp")
    build_staging(con, "US")
    resolve(con, NOW)
    return build_activities(con)


def rows(con, where: str = "true") -> list[tuple]:
    """(email, activity_type, object, referrer's email) per activity, sorted."""
    return sorted(
        con.execute(
            f"""
            SELECT p.email, a.activity_type, a.object, r.email
            FROM activities a
            JOIN people p USING (person_id)
            LEFT JOIN people r ON r.person_id = a.referred_by_person_id
            WHERE {where}
            """
        ).fetchall(),
        key=lambda row: tuple(str(v) for v in row),
    )


def test_every_activity_type_from_its_source(con):
    counts = build_world(con)
    assert set(counts) == {
        "joined",
        "petition_signature",
        "event_rsvp",
        "event_attended",
        "event_hosted",
        "form_submission",
        "volunteer_signup",
        "donation",
        "outreach",
        "email_open",
        "email_click",
        "email_bounce",
        "unsubscribe",
        "tag_added",
        "referral",
    }
    ana, bo, cy = "ana.lima@gmail.com", "bo@example.org", "cy@example.org"
    assert rows(con, "activity_type NOT IN ('joined', 'referral')") == sorted(
        [
            (ana, "petition_signature", "Clean air", None),
            (bo, "petition_signature", "Clean air", ana),
            (cy, "petition_signature", "Clean air", "dee@example.org"),
            (ana, "event_rsvp", "Town hall", None),
            (bo, "event_rsvp", "Town hall", None),
            (bo, "event_attended", "Town hall", None),
            (ana, "event_hosted", "Town hall", None),  # the creator
            (bo, "event_hosted", "Picnic", None),  # the organizer before the creator
            (ana, "form_submission", "Volunteer form", None),
            (bo, "donation", "Winter fund", None),
            (cy, "donation", "Winter fund", None),
            ("dee@example.org", "outreach", "Call your rep", None),
            ("fay@example.org", "form_submission", "signin.csv", ana),
            ("fay@example.org", "event_rsvp", "signin.csv", ana),
            ("fay@example.org", "event_attended", "signin.csv", ana),
            ("fay@example.org", "volunteer_signup", "signin.csv", ana),
            ("gus@example.org", "form_submission", "signin.csv", bo),
            ("gus@example.org", "event_rsvp", "signin.csv", bo),
            ("hal@example.org", "form_submission", "signin.csv", None),
            ("ivy@example.org", "form_submission", "signin.csv", None),
            ("jo@example.org", "form_submission", "signin.csv", "dee@example.org"),
            (ana, "email_open", "November news", None),
            (ana, "email_open", "November news", None),
            (ana, "email_click", "November news", None),
            ("eve@example.org", "email_bounce", "November news", None),
            (cy, "unsubscribe", None, None),
            (cy, "unsubscribe", None, None),
            ("eve@example.org", "unsubscribe", None, None),
            (bo, "tag_added", "Volunteer", None),
            (ana, "tag_added", "Donor", None),
        ],
        key=lambda row: tuple(str(v) for v in row),
    )


def test_typed_columns(con):
    build_world(con)

    def one(where: str) -> tuple:
        found = con.execute(
            "SELECT occurred_at, channel, amount, recurring, object_id, detail FROM activities "
            f"WHERE {where}"
        ).fetchall()
        assert len(found) == 1, where
        return found[0]

    assert one("source_record_id = 'd-bo'")[1:5] == ("web", Decimal("25.00"), True, "fp1")
    assert one("source_record_id = 'd-cy'")[2:4] == (Decimal("10.50"), False)
    # An attendance is dated by the event it was for; the RSVP by when it was made.
    assert one("source_record_id = 'at-bo' AND activity_type = 'event_attended'")[:2] == (
        datetime(2026, 11, 15, 18, 0),
        "event",
    )
    assert one("source_record_id = 'at-bo' AND activity_type = 'event_rsvp'")[0] == datetime(
        2026, 11, 1
    )
    assert one("source_record_id = 'sub-ana'")[5] == "email-nov"  # the campaign code
    click = one("activity_type = 'email_click'")
    assert click[:2] == (datetime(2026, 11, 2, 9, 1), "email")
    assert click[4:] == ("c1", "https://example.org/act")
    assert one("activity_type = 'email_bounce'")[5] == "hard"
    # Unsubscribes: by channel, dated by the record's last change.
    assert sorted(
        con.execute(
            "SELECT source, channel, occurred_at FROM activities WHERE activity_type = 'unsubscribe'"
        ).fetchall()
    ) == [
        ("action_network", "email", datetime(2026, 11, 10)),
        ("action_network", "phone", datetime(2026, 11, 10)),
        ("mailchimp", "email", datetime(2026, 11, 12, 8)),
    ]
    # Tags: Action Network's dated by the tagging; Mailchimp's by when they were first seen.
    assert sorted(
        con.execute(
            "SELECT source, object, occurred_at FROM activities WHERE activity_type = 'tag_added'"
        ).fetchall()
    ) == [("action_network", "Volunteer", datetime(2026, 10, 1)), ("mailchimp", "Donor", NOW)]
    assert one("activity_type = 'form_submission' AND source_record_id = 'signin.csv:1'")[:2] == (
        datetime(2026, 11, 20, 10),
        "form",
    )


def test_only_the_latest_version_of_each_record(con):
    build_world(con)
    # Dee accepted, then declined; the newer version is landed first, the older after it.
    newer = an_action(
        "attendances", DEE, "e1", status="declined", modified="2026-11-05T00:00:00Z", uuid="at-dee"
    )
    older = an_action(
        "attendances", DEE, "e1", status="accepted", modified="2026-11-03T00:00:00Z", uuid="at-dee"
    )
    land_records(con, AN, "attendances", [newer], loaded_at=NOW)
    land_records(con, AN, "attendances", [older], loaded_at=datetime(2026, 11, 25))
    # A petition renamed: the new title everywhere.
    renamed = an_object("petitions", "p1", "Clean air now")
    renamed["modified_date"] = "2026-02-01T00:00:00Z"
    land_records(con, AN, "petitions", [renamed])
    build_activities(con)
    assert con.execute(
        "SELECT count(*) FROM activities WHERE source_record_id = 'at-dee'"
    ).fetchall() == [(0,)]
    titles = con.execute(
        "SELECT DISTINCT object FROM activities WHERE activity_type = 'petition_signature'"
    ).fetchall()
    assert titles == [("Clean air now",)]
    assert con.execute(
        "SELECT count(*) FROM activities WHERE activity_type = 'email_open'"
    ).fetchall() == [(2,)]


def test_referrals_from_codes_and_form_answers(con):
    build_world(con)
    referrals = con.execute(
        """
        SELECT p.email, r.email, a.source, a.detail, a.object
        FROM activities a
        JOIN people p USING (person_id)
        JOIN people r ON r.person_id = a.referred_by_person_id
        WHERE a.activity_type = 'referral'
        ORDER BY 1
        """
    ).fetchall()
    assert referrals == [
        ("bo@example.org", "ana.lima@gmail.com", "action_network", "referral code", "Clean air"),
        ("cy@example.org", "dee@example.org", "action_network", "referral code", "Clean air"),
        ("fay@example.org", "ana.lima@gmail.com", "forms", "form answer: email", "signin.csv"),
        ("gus@example.org", "bo@example.org", "forms", "form answer: name", "signin.csv"),
        ("jo@example.org", "dee@example.org", "forms", "form answer: code", "signin.csv"),
    ]
    stats = activity_stats(con)
    assert stats["referrals_by_code"] == 2
    assert stats["referrals_by_form_answer"] == 3
    assert stats["form_referral_answers"] == 5
    assert stats["actions_without_person"] == 0


def test_a_code_two_people_claim_credits_no_one(con):
    build_world(con)
    claimant = an_person(
        "Zed", "Zu", "zed@example.org", uuid="ffffffff-0000-4000-8000-00000000000f"
    )
    claimant["custom_fields"] = {"Code": "ref-dee-2026"}
    land(con, an=[claimant])
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    assert rows(con, "activity_type = 'referral' AND source_record_id = 's-cy'") == []
    assert activity_stats(con)["referral_codes_ambiguous"] == 1


def test_a_custom_field_code_beats_an_id_prefix(con):
    build_world(con)
    # Bo writes Ana's id-derived code into his custom field: the written code wins.
    bo = next(p for p in people() if p["identifiers"][0].endswith(BO))
    bo["custom_fields"] = {"Referral code": "ref-aaaaaaaa"}
    bo["modified_date"] = "2026-11-20T00:00:00Z"
    land(con, an=[bo])
    extra = an_action("signatures", CY, "p1", source="ref-aaaaaaaa", uuid="s-cy-2")
    land_records(con, AN, "signatures", [extra])
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    assert rows(con, "activity_type = 'referral' AND source_record_id = 's-cy-2'") == [
        ("cy@example.org", "referral", "Clean air", "bo@example.org")
    ]
    # ... and Bo's own signature, made through that code, is now his own: no referral.
    assert rows(con, "activity_type = 'referral' AND source_record_id = 's-bo'") == []


def test_groundswell_namespace_is_configurable(con):
    build_world(con)
    build_activities(con, namespace="gs:")
    tags = {
        r[0]
        for r in con.execute(
            "SELECT object FROM activities WHERE activity_type = 'tag_added'"
        ).fetchall()
    }
    assert tags == {"Volunteer", "Donor", "groundswell:activist", "groundswell:supporter"}


@pytest.mark.parametrize(
    ("answer", "volunteer"),
    [("Yes", True), ("Data entry", True), ("no", False), ("N/A", False), ("", False)],
)
def test_volunteer_answers(con, answer, volunteer):
    land(
        con,
        forms={
            "v.csv": [{"email": "v@example.org", "volunteer": answer, "submitted_at": "11/20/2026"}]
        },
    )
    build_staging(con, "US")
    resolve(con, NOW)
    counts = build_activities(con)
    assert ("volunteer_signup" in counts) is volunteer
