"""Every Mailchimp resource lands: the audience's lists, merge fields and tags, campaigns and
their email activity from per-campaign bookmarks, and a reconciliation that marks
permanently deleted members as deleted."""

from datetime import timedelta

import pytest
import requests

from connectors.mailchimp import MailchimpClient
from pipelines.landing import (
    land_mailchimp_audience,
    land_mailchimp_campaigns,
    land_mailchimp_members,
    reconcile_mailchimp_members,
)
from sandbox import start_sandbox
from transforms.normalise import build_staging
from warehouse.load import utcnow


def quiet(_: str) -> None:
    pass


@pytest.fixture
def sb():
    with start_sandbox(people=500, seed=33, an_rate=0) as running:
        yield running


def client(sb, **kwargs) -> MailchimpClient:
    env = sb.env
    return MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"], **kwargs
    )


def distinct_ids(con, resource):
    return con.execute(
        "SELECT count(DISTINCT record_id) FROM raw_mailchimp WHERE resource = ?", [resource]
    ).fetchone()[0]


def test_audience_merge_fields_and_tags_land_whole(con, sb):
    counts = land_mailchimp_audience(con, client(sb), "a1")
    truth = sb.counts()
    assert counts["lists"] == 1
    assert counts["merge_fields"] == truth["mailchimp_merge_fields"] >= 4
    assert counts["tags"] == truth["mailchimp_tags"] >= 1
    tags = {
        r[0]
        for r in con.execute(
            "SELECT payload ->> '$.name' FROM raw_mailchimp WHERE resource = 'tags'"
        ).fetchall()
    }
    assert "Core Team" in tags


def test_campaign_activity_in_full_then_only_what_is_new(con, sb):
    mc = client(sb)
    reports = land_mailchimp_campaigns(con, mc, "c1", quiet, now=sb.clock.now())
    truth = sb.counts()
    assert reports["campaigns"].records == truth["mailchimp_campaigns"] > 0
    assert distinct_ids(con, "email_activity") == truth["mailchimp_email_activity"] > 0
    kinds = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT payload ->> '$.action' FROM raw_mailchimp WHERE resource = 'email_activity'"
        ).fetchall()
    }
    assert {"open", "click", "bounce"} <= kinds
    full_requests = mc.http.stats.requests

    day = sb.advance(days=1)
    again = client(sb)
    reports = land_mailchimp_campaigns(con, again, "c2", quiet, now=sb.clock.now())
    truth = sb.counts()
    assert day["mailchimp_campaigns_sent"] >= 1
    assert distinct_ids(con, "campaigns") == truth["mailchimp_campaigns"]
    assert distinct_ids(con, "email_activity") == truth["mailchimp_email_activity"]
    # Old campaigns outside the activity window are not read again; the new one is.
    assert reports["email_activity"].records < truth["mailchimp_email_activity"] / 2
    assert again.http.stats.requests < full_requests


def test_a_campaign_with_no_activity_is_bookmarked_at_its_send_time(con, sb):
    mc = client(sb)
    land_mailchimp_campaigns(con, mc, "c1", quiet, now=sb.clock.now())
    bookmarks = con.execute(
        "SELECT count(*) FROM sync_cursors WHERE source = 'mailchimp' "
        "AND resource LIKE 'email-activity/%' AND resource NOT LIKE '%#pass'"
    ).fetchone()[0]
    assert bookmarks == sb.counts()["mailchimp_campaigns"]
    # Far past every campaign's window, a second run reads no activity at all.
    later = sb.clock.now() + timedelta(days=365)
    again = client(sb)
    reports = land_mailchimp_campaigns(con, again, "c2", quiet, activity_days=30, now=later)
    assert reports["email_activity"].records == 0
    assert again.http.stats.requests == 1  # the campaigns page alone


def test_a_campaign_deleted_on_mailchimp_keeps_its_activity_and_is_not_asked_again(con, sb):
    mc = client(sb)
    land_mailchimp_campaigns(con, mc, "c1", quiet, now=sb.clock.now())
    before = distinct_ids(con, "email_activity")
    # Deleted on Mailchimp (or a warehouse older than the sandbox it now talks to).
    gone = sb.mailchimp.campaigns[-1]
    sb.mailchimp.campaigns.remove(gone)
    del sb.mailchimp.campaign_by_id[gone.id]
    con.execute("DELETE FROM sync_cursors WHERE resource = ?", [f"email-activity/{gone.id}"])
    messages = []
    land_mailchimp_campaigns(con, client(sb), "c2", messages.append, now=sb.clock.now())
    assert any("no longer exists" in m for m in messages)
    assert distinct_ids(con, "email_activity") == before, "what landed stays"
    later: list[str] = []
    land_mailchimp_campaigns(con, client(sb), "c3", later.append, now=sb.clock.now())
    assert not any("no longer exists" in m for m in later), "not asked for again"


def test_reconciliation_marks_permanently_deleted_members(con, sb):
    mc = client(sb)
    land_mailchimp_members(con, mc, "m1", quiet)
    held = [m.id for m in sb.org.mc_members if m.status == "subscribed"]
    gone, archived = held[:3], held[3]
    base = f"{sb.env['MAILCHIMP_BASE_URL']}/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    auth = ("x", sb.env["MAILCHIMP_API_KEY"])
    for member_id in gone:
        response = requests.post(f"{base}/{member_id}/actions/delete-permanent", auth=auth)
        assert response.status_code == 204
    assert requests.delete(f"{base}/{archived}", auth=auth).status_code == 204

    # The first run's full read counts as a reconciliation; a week later the next is due.
    assert reconcile_mailchimp_members(con, mc, "r0", quiet)["reconciled"] is False
    land_mailchimp_members(con, mc, "m2", quiet)
    week = utcnow() + timedelta(days=7, minutes=1)
    result = reconcile_mailchimp_members(con, mc, "r1", quiet, now=week)
    assert result["reconciled"] is True and result["members_deleted"] == 3
    build_staging(con, "US")
    staged = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT source_record_id, email_status FROM stg_source_records WHERE source = 'mailchimp'"
        ).fetchall()
    }
    assert not set(gone) & set(staged), "deleted members are no longer a source"
    assert staged[archived] == "archived", "archived members are kept, as archived"
    assert len(staged) == len(sb.mailchimp.members)

    # Within the week nothing is read; the next reconciliation marks nobody twice.
    requests_before = mc.http.stats.requests
    soon = week + timedelta(days=3)
    assert reconcile_mailchimp_members(con, mc, "r2", quiet, now=soon)["reconciled"] is False
    assert mc.http.stats.requests == requests_before
    later = week + timedelta(days=8)
    again = reconcile_mailchimp_members(con, mc, "r3", quiet, now=later)
    assert again["reconciled"] is True and again["members_deleted"] == 0


def test_a_member_missing_from_the_id_pages_but_still_there_is_not_deleted(con, sb):
    mc = client(sb)
    land_mailchimp_members(con, mc, "m1", quiet)
    before = distinct_ids(con, "members")
    # Reading ids a page at a time while members leave can skip one that is still there:
    # simulate by hiding one id from the pages the reconciliation reads.
    hidden = sb.org.mc_members[0].id
    original = mc.iter_member_ids

    def pages_missing_one():
        for page in original():
            yield [member_id for member_id in page if member_id != hidden]

    mc.iter_member_ids = pages_missing_one
    result = reconcile_mailchimp_members(con, mc, "r1", quiet, every=timedelta(0))
    assert result["reconciled"] is False  # the first: the full read just done
    result = reconcile_mailchimp_members(con, mc, "r1", quiet, every=timedelta(0))
    assert result["reconciled"] is True
    assert result["members_deleted"] == 0
    assert distinct_ids(con, "members") == before
