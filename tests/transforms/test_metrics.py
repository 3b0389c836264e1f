"""person_metrics on hand-built people: windows at their boundaries, what counts as an
action, donations, email engagement, consent-aware channels, recruits who went on to act and
second-degree reach; and one sandbox organisation whose activities match its raw data."""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from connectors.forms.landing import land_form_exports
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.landing import land_mailchimp_campaigns, land_mailchimp_members
from sandbox import start_sandbox
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
from transforms.engagement import activity_stats, build_activities, build_person_metrics
from transforms.identity import resolve
from transforms.normalise import build_staging

AN = "raw_action_network"
UUIDS = {name: f"{name * 8}-0000-4000-8000-{n:012d}" for n, name in enumerate("abcdef", start=1)}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def before(**delta) -> str:
    return iso(NOW - timedelta(**delta))


def build(con, as_of: datetime = NOW) -> None:
    build_staging(con, "US")
    resolve(con, as_of)
    build_activities(con)
    build_person_metrics(con, as_of)


def metrics(con, email: str, *columns: str) -> dict:
    cursor = con.execute(
        f"SELECT {', '.join(columns)} FROM person_metrics WHERE email = ?", [email]
    )
    found = cursor.fetchall()
    assert len(found) == 1, email
    return dict(zip(columns, found[0], strict=True))


def objects() -> dict[str, list[dict]]:
    return {
        "petitions": [
            an_object("petitions", "p1", "Clean air"),
            an_object("petitions", "p2", "Parks"),
        ],
        "events": [an_object("events", "e1", "Town hall", start=before(days=10))],
        "fundraising_pages": [an_object("fundraising_pages", "fp1", "Winter fund")],
        "advocacy_campaigns": [an_object("advocacy_campaigns", "ac1", "Call your rep")],
    }


def land_objects(con) -> None:
    for resource, records in objects().items():
        land_records(con, AN, resource, records)


def test_windows_at_their_boundaries(con):
    land(con, an=[an_person("Ana", "Lima", "ana@example.org", uuid=UUIDS["a"])])
    land_objects(con)
    signed = [
        timedelta(days=30),
        timedelta(days=30, seconds=1),
        timedelta(days=90),
        timedelta(days=90, seconds=1),
        timedelta(days=180),
        timedelta(days=180, seconds=1),
        timedelta(days=365),
        timedelta(days=365, seconds=1),
    ]
    land_records(
        con,
        AN,
        "signatures",
        [an_action("signatures", UUIDS["a"], "p1", created=iso(NOW - d)) for d in signed],
    )
    land_records(
        con,
        AN,
        "donations",
        [
            an_action("donations", UUIDS["a"], "fp1", created=before(days=365), amount="25.00"),
            an_action(
                "donations",
                UUIDS["a"],
                "fp1",
                created=before(days=365, seconds=1),
                amount="100.00",
                recurring=True,
            ),
        ],
    )
    build(con)
    found = metrics(
        con,
        "ana@example.org",
        "petitions_30d",
        "petitions_90d",
        "petitions_180d",
        "petitions_365d",
        "petitions_total",
        "actions_30d",
        "actions_90d",
        "actions_180d",
        "actions_365d",
        "actions_total",
        "last_petition_at",
        "first_action_at",
        "last_action_at",
        "days_since_last_action",
        "donations_365d",
        "donations_total",
        "donated_amount_365d",
        "donated_amount_total",
        "recurring_donor",
    )
    assert found == {
        "petitions_30d": 1,
        "petitions_90d": 3,
        "petitions_180d": 5,
        "petitions_365d": 7,
        "petitions_total": 8,
        "actions_30d": 1,
        "actions_90d": 3,
        "actions_180d": 5,
        "actions_365d": 8,  # and the donation at exactly 365 days
        "actions_total": 10,
        "last_petition_at": NOW - timedelta(days=30),
        "first_action_at": NOW - timedelta(days=365, seconds=1),
        "last_action_at": NOW - timedelta(days=30),
        "days_since_last_action": 30,
        "donations_365d": 1,
        "donations_total": 2,
        "donated_amount_365d": Decimal("25.00"),
        "donated_amount_total": Decimal("125.00"),
        # The recurring gift is a second older than a year.
        "recurring_donor": False,
    }
    # A day later, the 30-day signature has left the window.
    build_person_metrics(con, NOW + timedelta(days=1))
    assert metrics(con, "ana@example.org", "petitions_30d", "petitions_90d") == {
        "petitions_30d": 0,
        "petitions_90d": 2,
    }


def test_what_counts_as_an_action(con):
    bo = UUIDS["b"]
    land(
        con,
        an=[
            an_person("Bo", "Ng", "bo@example.org", uuid=bo, created="2026-01-01T00:00:00Z"),
            an_person("Ana", "Lima", "ana@example.org", uuid=UUIDS["a"]),
        ],
        mc=[mc_member("Bo", "Ng", "bo@example.org", tags=("Volunteer",))],
        forms={
            "volunteers.csv": [
                {
                    "email": "bo@example.org",
                    "volunteer": "Yes",
                    "attended": "Checked in",
                    "submitted_at": "11/20/2026 10:00:00",
                }
            ]
        },
    )
    land_objects(con)
    hosted = an_object("events", "e2", "Bo's picnic", start=before(days=200), creator=bo)
    land_records(con, AN, "events", [hosted])
    land_records(
        con,
        AN,
        "attendances",
        [an_action("attendances", bo, "e1", status="checked in", created=before(days=40))],
    )
    land_records(
        con, AN, "outreaches", [an_action("outreaches", bo, "ac1", created=before(days=5))]
    )
    # Referred by Ana: one action, not two.
    land_records(
        con,
        AN,
        "signatures",
        [an_action("signatures", bo, "p1", source="ref-aaaaaaaa", created=before(days=3))],
    )
    land_records(
        con, "raw_mailchimp", "campaigns", [mc_campaign("c1", "News")], modified_key="send_time"
    )
    land_records(
        con,
        "raw_mailchimp",
        "email_activity",
        [
            mc_email_event("bo@example.org", "c1", "open", before(days=2)),
            mc_email_event("bo@example.org", "c1", "click", before(days=2, seconds=-60)),
            mc_email_event("bo@example.org", "c1", "bounce", before(days=1)),
        ],
        modified_key="timestamp",
    )
    land_an_tags(con, {"Event Host": [bo]})
    build(con)
    found = metrics(
        con,
        "bo@example.org",
        "actions_total",
        "actions_30d",
        "actions_365d",
        "events_rsvped_365d",
        "events_attended_30d",
        "events_attended_365d",
        "events_hosted_365d",
        "events_hosted_180d",
        "hosted_ever",
        "forms_365d",
        "form_submissions",
        "volunteered",
        "volunteer_signups_365d",
        "outreaches_30d",
        "petitions_30d",
        "recruited_by IS NOT NULL",
        "first_source",
    )
    assert found == {
        # The attendance (RSVP and attended, dated by the event 10 days ago), the hosted
        # event, the form row (submission, volunteer, checked in), the outreach and the
        # referred signature: five records. Opens, clicks, bounces, tags, joining: none.
        "actions_total": 5,
        "actions_30d": 4,
        "actions_365d": 5,
        "events_rsvped_365d": 2,
        "events_attended_30d": 2,
        "events_attended_365d": 2,
        "events_hosted_365d": 1,
        "events_hosted_180d": 0,
        "hosted_ever": True,
        "forms_365d": 1,
        "form_submissions": 1,
        "volunteered": True,
        "volunteer_signups_365d": 1,
        "outreaches_30d": 1,
        "petitions_30d": 1,
        "recruited_by IS NOT NULL": True,
        "first_source": "mailchimp",  # signed up in 2025, before Action Network knew him
    }
    assert metrics(con, "ana@example.org", "recruits", "actions_total") == {
        "recruits": 1,
        "actions_total": 0,
    }


def test_email_engagement_and_reachable_channels(con):
    land(
        con,
        an=[
            an_person("Cy", "Oh", "cy@example.org", phone="2025550143", uuid=UUIDS["c"]),
            an_person(
                "Dee",
                "Diaz",
                "dee@example.org",
                phone="2025550144",
                status="unsubscribed",
                uuid=UUIDS["d"],
            ),
            an_person(
                "Eve",
                "Ek",
                "eve@example.org",
                status="bouncing",
                phone="2025550145",
                phone_status="unsubscribed",
                uuid=UUIDS["e"],
            ),
        ],
        mc=[mc_member("Cy", "Oh", "cy@example.org")],
    )
    land_records(
        con,
        "raw_mailchimp",
        "campaigns",
        [mc_campaign("c1", "One"), mc_campaign("c2", "Two"), mc_campaign("c3", "Three")],
        modified_key="send_time",
    )
    opens = [
        mc_email_event("cy@example.org", "c1", "open", before(days=100)),
        mc_email_event("cy@example.org", "c2", "open", before(days=60)),
        mc_email_event("cy@example.org", "c2", "open", before(days=59)),
        mc_email_event("cy@example.org", "c3", "open", before(days=20)),
        mc_email_event("cy@example.org", "c3", "click", before(days=20, seconds=-30), url="u"),
        mc_email_event("cy@example.org", "c1", "click", before(days=95), url="u"),
    ]
    land_records(con, "raw_mailchimp", "email_activity", opens, modified_key="timestamp")
    build(con)
    assert metrics(
        con,
        "cy@example.org",
        "email_opens_30d",
        "email_opens_90d",
        "email_opens_365d",
        "campaigns_opened_90d",
        "email_clicks_30d",
        "email_clicks_90d",
        "email_clicks_365d",
        "last_open_at",
        "last_click_at",
        "actions_total",
        "channels",
    ) == {
        "email_opens_30d": 1,
        "email_opens_90d": 3,
        "email_opens_365d": 4,
        "campaigns_opened_90d": 2,
        "email_clicks_30d": 1,
        "email_clicks_90d": 1,
        "email_clicks_365d": 2,
        "last_open_at": NOW - timedelta(days=20),
        "last_click_at": NOW - timedelta(days=20, seconds=-30),
        "actions_total": 0,
        "channels": ["email", "phone"],
    }
    assert metrics(con, "dee@example.org", "channels", "unsubscribed_at IS NOT NULL") == {
        "channels": ["phone"],
        "unsubscribed_at IS NOT NULL": True,
    }
    assert metrics(con, "eve@example.org", "channels")["channels"] == []


def test_recruits_who_acted_and_second_degree_reach(con):
    a, b, c, d, e = (UUIDS[k] for k in "abcde")
    land(
        con,
        an=[
            an_person("Ana", "Lima", "ana@example.org", uuid=a),
            an_person("Bo", "Ng", "bo@example.org", uuid=b),
            an_person("Cy", "Oh", "cy@example.org", uuid=c),
            an_person("Dee", "Diaz", "dee@example.org", uuid=d),
            an_person("Eve", "Ek", "eve@example.org", uuid=e),
        ],
        forms={
            # Cy, recruited by Ana on 3 November: her last action.
            "rsvp.csv": [
                {
                    "email": "cy@example.org",
                    "referred_by": "ana@example.org",
                    "submitted_at": "11/03/2026 12:00:00",
                }
            ]
        },
    )
    land_objects(con)
    land_records(
        con,
        AN,
        "signatures",
        [
            # Ana recruits Bo, who acts again later.
            an_action("signatures", b, "p1", source="ref-aaaaaaaa", created="2026-11-01T00:00:00Z"),
            an_action("signatures", b, "p2", created="2026-11-05T00:00:00Z"),
            # Bo recruited Cy before Ana did; Cy acted after that (the form row).
            an_action("signatures", c, "p1", source="ref-bbbbbbbb", created="2026-10-30T00:00:00Z"),
            # Bo recruits Dee, Dee recruits Eve.
            an_action(
                "signatures", d, "p1", referrer="ref-bbbbbbbb", created="2026-11-06T00:00:00Z"
            ),
            an_action("signatures", e, "p1", source="ref_DDDDDDDD", created="2026-11-07T00:00:00Z"),
        ],
    )
    build(con)
    columns = ("recruits", "recruits_who_acted", "second_degree_reach", "recruited_by")
    ids = dict(con.execute("SELECT email, person_id FROM people").fetchall())
    found = {
        email.split("@")[0]: metrics(con, email, *columns)
        for email in ("ana@example.org", "bo@example.org", "cy@example.org", "dee@example.org")
    }
    assert found == {
        # Bo acted after Ana recruited him, Cy did not; Bo's recruits: Cy (Ana's own, not
        # counted twice) and Dee.
        "ana": {
            "recruits": 2,
            "recruits_who_acted": 1,
            "second_degree_reach": 1,
            "recruited_by": None,
        },
        # Cy acted after Bo recruited her; Dee did not. Dee recruited Eve.
        "bo": {
            "recruits": 2,
            "recruits_who_acted": 1,
            "second_degree_reach": 1,
            "recruited_by": ids["ana@example.org"],
        },
        # Bo was first.
        "cy": {
            "recruits": 0,
            "recruits_who_acted": 0,
            "second_degree_reach": 0,
            "recruited_by": ids["bo@example.org"],
        },
        "dee": {
            "recruits": 1,
            "recruits_who_acted": 0,
            "second_degree_reach": 0,
            "recruited_by": ids["bo@example.org"],
        },
    }


# ------------------------------------------------------------------ a sandbox organisation

SIGN_IN = "sign_in_sheet.csv"


@pytest.fixture(scope="module")
def sandbox_org(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("inbox")
    with start_sandbox(people=300, seed=21, an_rate=0, forms_dir=inbox) as running:
        yield running, inbox


def test_sandbox_organisation_activities_match_the_raw_data(con, sandbox_org):
    sb, inbox = sandbox_org
    org = sb.org
    env = sb.env
    an = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    mc = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    quiet = lambda _: None  # noqa: E731
    # An organiser's sign-in sheet records attendance and who referred each person: three
    # of the sandbox's people signed in, each naming a friend.
    with_email = [p for p in org.an_people if p.email and p.given and p.family][:6]
    lines = ["First name,Last name,Email,Checked in,Who referred you?"]
    for person, friend in zip(with_email[:3], with_email[3:], strict=True):
        lines.append(f"{person.given},{person.family},{person.email},Yes,{friend.email}")
    Path(inbox, SIGN_IN).write_text("\n".join(lines) + "\n")

    land_action_network_people(con, an, "b1", quiet)
    land_action_network_actions(con, an, "b1", quiet)
    land_action_network_whole(con, an, "b1", quiet)
    land_mailchimp_members(con, mc, "b1", quiet)
    land_mailchimp_campaigns(con, mc, "b1", quiet, now=sb.clock.now())
    land_form_exports(con, inbox, "b1", quiet, quiet)
    now = sb.clock.now()
    build_staging(con, "US")
    resolve(con, now)
    counts = build_activities(con)
    stats = activity_stats(con)
    build_person_metrics(con, now)

    assert set(counts) >= {
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
    actions = org.organising.actions
    accepted = [a for a in actions["attendances"] if a.status != "declined"]
    assert stats["actions_without_person"] == 0
    assert counts["petition_signature"] == len(actions["signatures"])
    assert counts["event_rsvp"] == len(accepted) + 3
    attended = [a for a in actions["attendances"] if a.attended]
    assert attended, "the sandbox records attendance at some past events"
    # Attendance Action Network recorded, and the three people of the sign-in sheet.
    assert counts["event_attended"] == len(attended) + 3
    assert counts["form_submission"] == (
        len(actions["submissions"])
        + len(org.google_rows)
        + len(org.typeform_rows)
        + len(org.paper_rows)  # the typed-up paper sign-in sheet
        + 3
    )
    assert counts["volunteer_signup"] == len(org.google_rows)  # every answer names a way to help
    assert counts["donation"] == len(actions["donations"])
    assert counts["outreach"] == len(actions["outreaches"])
    hosts = [e for e in org.organising.objects["events"] if e.host]
    assert counts["event_hosted"] == len(hosts)

    raw = dict(
        con.execute(
            "SELECT payload ->> '$.action', count(DISTINCT record_id) FROM raw_mailchimp "
            "WHERE resource = 'email_activity' GROUP BY 1"
        ).fetchall()
    )
    assert stats["email_events_without_person"] == 0
    assert {k: counts[f"email_{k}"] for k in raw} == raw

    tags = sum(len(p.tags) for p in org.an_people) + sum(len(m.tags) for m in org.mc_members)
    assert counts["tag_added"] == tags

    # Referrals by code: each action made through another person's ref- code (declined
    # RSVPs are not actions), plus the form answers naming a recruiter.
    owner = {code: uuid for uuid, code in org.organising.referral_codes.items()}
    referred = [
        a
        for kind, records in actions.items()
        for a in records
        if a.source in owner
        and owner[a.source] != a.person_uuid
        and not (kind == "attendances" and a.status == "declined")
    ]
    # The sandbox's Google Forms rows name who referred some people, by email, full name
    # or code; a name shared by two people, or the person themself, credits no one.
    answered = [row for row in org.google_rows if row[-1]]
    assert answered, "some demo form rows say who referred them"
    by_form = stats["referrals_by_form_answer"]
    assert 3 < by_form <= 3 + len(answered)
    assert counts["referral"] == len(referred) + by_form

    donated = sum(Decimal(a.amount) for a in actions["donations"])
    total, recruits = con.execute(
        "SELECT sum(donated_amount_total), sum(recruits) FROM person_metrics"
    ).fetchall()[0]
    assert total == donated
    assert (
        recruits
        == con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT person_id, referred_by_person_id FROM activities "
            "WHERE activity_type = 'referral')"
        ).fetchall()[0][0]
    )
    assert (
        con.execute("SELECT count(*) FROM person_metrics").fetchall()
        == con.execute("SELECT count(*) FROM people").fetchall()
    )
