"""Every Mailchimp resource lands: the audience's lists, merge fields and tags, campaigns and
their email activity from per-campaign bookmarks, and a reconciliation that marks
permanently deleted members as deleted. Only Mailchimp's own "Resource Not Found", heard in
two runs, makes anything gone; an HTML 404 never does, and nothing landed is dropped."""

from datetime import timedelta

import pytest
import requests

from connectors.errors import NotFoundPageError
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.landing import (
    land_mailchimp_audience,
    land_mailchimp_campaigns,
    land_mailchimp_members,
    reconcile_mailchimp_members,
)
from sandbox import start_sandbox
from transforms.normalise import build_staging
from warehouse.load import utcnow
from warehouse.migrate import migrate


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


def missing_records(con, resource):
    return con.execute(
        "SELECT record_id, gone_at IS NOT NULL FROM missing_records WHERE resource = ? "
        "ORDER BY record_id",
        [resource],
    ).fetchall()


def test_a_campaign_deleted_on_mailchimp_keeps_its_activity_and_is_confirmed_in_a_later_run(
    con, sb
):
    land_mailchimp_campaigns(con, client(sb), "c1", quiet, now=sb.clock.now())
    before = distinct_ids(con, "email_activity")
    # Deleted on Mailchimp: it now answers "Resource Not Found" in problem+json.
    gone = sb.mailchimp.campaigns[-1]
    sb.mailchimp.campaigns.remove(gone)
    del sb.mailchimp.campaign_by_id[gone.id]
    first: list[str] = []
    land_mailchimp_campaigns(con, client(sb), "c2", first.append, now=sb.clock.now())
    assert any("looks again" in m for m in first)
    # A retry of the same run (Dagster's retry policy) is not a second look.
    land_mailchimp_campaigns(con, client(sb), "c2", quiet, now=sb.clock.now())
    assert missing_records(con, "campaigns") == [(gone.id, False)]
    second: list[str] = []
    land_mailchimp_campaigns(con, client(sb), "c3", second.append, now=sb.clock.now())
    assert any("not found in two runs" in m for m in second)
    assert missing_records(con, "campaigns") == [(gone.id, True)]
    assert distinct_ids(con, "email_activity") == before, "what landed stays"
    later: list[str] = []
    mc = client(sb)
    land_mailchimp_campaigns(con, mc, "c4", later.append, now=sb.clock.now())
    assert not any("not found" in m for m in later), "not asked for again"


def test_a_campaign_not_found_once_is_read_again_when_it_answers(con, sb):
    land_mailchimp_campaigns(con, client(sb), "c1", quiet, now=sb.clock.now())
    before = distinct_ids(con, "email_activity")
    # A Mailchimp hiccup: the newest campaign answers "Resource Not Found" for one run.
    hidden = sb.mailchimp.campaigns[-1]
    del sb.mailchimp.campaign_by_id[hidden.id]
    land_mailchimp_campaigns(con, client(sb), "c2", quiet, now=sb.clock.now())
    assert missing_records(con, "campaigns") == [(hidden.id, False)]
    sb.mailchimp.campaign_by_id[hidden.id] = hidden
    sb.advance(days=1)  # its opens and clicks keep arriving
    # Even past the activity window, a campaign not found once is looked at again.
    later = sb.clock.now() + timedelta(days=90)
    land_mailchimp_campaigns(con, client(sb), "c3", quiet, now=later)
    assert missing_records(con, "campaigns") == []
    landed_for_hidden = con.execute(
        "SELECT count(DISTINCT record_id) FROM raw_mailchimp WHERE resource = 'email_activity' "
        "AND payload ->> '$.campaign_id' = ?",
        [hidden.id],
    ).fetchone()[0]
    assert landed_for_hidden == hidden.events, "every event of the campaign landed"
    assert distinct_ids(con, "email_activity") > before


def test_html_404s_never_stop_a_campaigns_activity_being_read(con, sb):
    """Issue 11, case 3: an HTML 404 on one campaign's activity marked it gone for good.
    With one attempt per request, every HTML 404 reaches the landing; runs either finish
    or stop as a transient fault, and the next run carries on from its checkpoint."""
    sb.set_faults({"html_404_rate": 0.1, "seed": 5}, platform="mailchimp")
    faults = []
    for attempt in range(60):
        try:
            land_mailchimp_campaigns(
                con, client(sb, max_attempts=1), f"run{attempt}", quiet, now=sb.clock.now()
            )
            break
        except NotFoundPageError as exc:
            faults.append(str(exc))
    assert faults, "the fault was met"
    assert all("transient" in message for message in faults)
    sb.set_faults({"html_404_rate": 0})
    land_mailchimp_campaigns(con, client(sb), "after", quiet, now=sb.clock.now())
    assert distinct_ids(con, "email_activity") == sb.counts()["mailchimp_email_activity"]
    assert missing_records(con, "campaigns") == []


def test_campaigns_an_older_version_marked_gone_are_looked_at_again(con, sb):
    land_mailchimp_campaigns(con, client(sb), "c1", quiet, now=sb.clock.now())
    victim = sb.mailchimp.campaigns[-1]
    # What the version before migration 009 left after one HTML 404: a "gone" cursor,
    # and its activity rows lost from view.
    con.execute(
        "DELETE FROM raw_mailchimp WHERE resource = 'email_activity' "
        "AND payload ->> '$.campaign_id' = ?",
        [victim.id],
    )
    con.execute("DELETE FROM sync_cursors WHERE resource LIKE ?", [f"email-activity/{victim.id}%"])
    con.execute(
        "INSERT INTO sync_cursors VALUES ('mailchimp', ?, '2026-01-01', now())",
        [f"email-activity-gone/{victim.id}"],
    )
    con.execute("DROP TABLE missing_records")
    con.execute("DELETE FROM schema_migrations WHERE version = 9")
    assert migrate(con) == [9]
    assert missing_records(con, "campaigns") == [(victim.id, False)]
    land_mailchimp_campaigns(con, client(sb), "c2", quiet, now=sb.clock.now())
    assert missing_records(con, "campaigns") == []
    assert distinct_ids(con, "email_activity") == sb.counts()["mailchimp_email_activity"]


def delete_permanently(sb, member_ids):
    base = f"{sb.env['MAILCHIMP_BASE_URL']}/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    auth = ("x", sb.env["MAILCHIMP_API_KEY"])
    for member_id in member_ids:
        response = requests.post(f"{base}/{member_id}/actions/delete-permanent", auth=auth)
        assert response.status_code == 204


def staged_members(con):
    build_staging(con, "US")
    return {
        r[0]: r[1]
        for r in con.execute(
            "SELECT source_record_id, email_status FROM stg_source_records WHERE source = 'mailchimp'"
        ).fetchall()
    }


def test_reconciliation_marks_permanently_deleted_members(con, sb):
    mc = client(sb)
    land_mailchimp_members(con, mc, "m1", quiet)
    held = [m.id for m in sb.org.mc_members if m.status == "subscribed"]
    gone, archived = held[:3], held[3]
    delete_permanently(sb, gone)
    base = f"{sb.env['MAILCHIMP_BASE_URL']}/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    assert requests.delete(f"{base}/{archived}", auth=("x", sb.env["MAILCHIMP_API_KEY"])).ok

    # The first run's full read counts as a reconciliation; a week later the next is due.
    assert reconcile_mailchimp_members(con, mc, "r0", quiet)["reconciled"] is False
    land_mailchimp_members(con, mc, "m2", quiet)
    week = utcnow() + timedelta(days=7, minutes=1)
    result = reconcile_mailchimp_members(con, mc, "r1", quiet, now=week)
    assert result["reconciled"] is True
    assert (result["members_deleted"], result["members_missing"]) == (0, 3), "one look only"
    assert set(gone) <= set(staged_members(con)), "not deleted on a single answer"

    # The next run looks again, even within the week, and confirms them.
    requests_before = mc.http.stats.requests
    soon = week + timedelta(days=3)
    result = reconcile_mailchimp_members(con, mc, "r2", quiet, now=soon)
    assert result["reconciled"] is False and result["members_deleted"] == 3
    assert mc.http.stats.requests - requests_before == 3, "one look-up per missing member"
    staged = staged_members(con)
    assert not set(gone) & set(staged), "deleted members are no longer a source"
    assert staged[archived] == "archived", "archived members are kept, as archived"
    assert len(staged) == len(sb.mailchimp.members)

    # Nothing is left to look at: within the week nothing is read, and the next
    # reconciliation marks nobody twice.
    requests_before = mc.http.stats.requests
    assert reconcile_mailchimp_members(con, mc, "r3", quiet, now=soon)["members_deleted"] == 0
    assert mc.http.stats.requests == requests_before
    later = week + timedelta(days=8)
    again = reconcile_mailchimp_members(con, mc, "r4", quiet, now=later)
    assert again["reconciled"] is True and again["members_deleted"] == 0


def hide_from_id_pages(mc, hidden):
    original = mc.iter_member_ids

    def pages_missing_some():
        for page in original():
            yield [member_id for member_id in page if member_id not in hidden]

    mc.iter_member_ids = pages_missing_some


def test_a_member_answering_an_html_404_is_never_deleted(con, sb):
    mc = client(sb, max_attempts=2, backoff_max=0.02)
    land_mailchimp_members(con, mc, "m1", quiet)
    reconcile_mailchimp_members(con, mc, "r0", quiet)
    hidden = sb.org.mc_members[0].id
    hide_from_id_pages(mc, {hidden})
    reconciled_at = "SELECT cursor_value FROM sync_cursors WHERE resource = 'members#reconciled_at'"
    before = con.execute(reconciled_at).fetchone()
    sb.set_faults({"html_404_rate": 1.0}, platform="mailchimp")
    with pytest.raises(NotFoundPageError):
        reconcile_mailchimp_members(con, mc, "r1", quiet, every=timedelta(0))
    sb.set_faults({"html_404_rate": 0})
    assert missing_records(con, "members") == []
    assert con.execute(reconciled_at).fetchone() == before, "the reconciliation is redone"
    assert staged_members(con)[hidden] != "deleted"
    result = reconcile_mailchimp_members(con, mc, "r2", quiet, every=timedelta(0))
    assert result["members_deleted"] == result["members_missing"] == 0


def test_a_member_not_found_once_that_answers_later_is_kept(con, sb):
    mc = client(sb)
    land_mailchimp_members(con, mc, "m1", quiet)
    reconcile_mailchimp_members(con, mc, "r0", quiet)
    member = sb.org.mc_members[0]
    hide_from_id_pages(mc, {member.id})
    # One run hears Mailchimp's own "Resource Not Found" for the member ...
    found = sb.mailchimp.by_id.pop(member.id)
    result = reconcile_mailchimp_members(con, mc, "r1", quiet, every=timedelta(0))
    assert result["members_missing"] == 1 and result["members_deleted"] == 0
    # ... and the next finds it again: kept, and no longer missing.
    sb.mailchimp.by_id[member.id] = found
    result = reconcile_mailchimp_members(con, mc, "r2", quiet, every=timedelta(days=7))
    assert result["members_deleted"] == 0 and result["members_missing"] == 0
    assert missing_records(con, "members") == []
    assert staged_members(con)[member.id] == member.status


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
