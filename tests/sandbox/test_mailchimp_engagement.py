"""The simulated Mailchimp's audience beyond members: merge fields, tags, sent campaigns and
their email activity, archive and permanent delete, and the clock moving all of it on."""

from collections import Counter
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
import requests

from sandbox import start_sandbox
from sandbox.generator import generate, subscriber_hash

# Simulator tests write tags and statuses themselves: not a sync's writes to audit.
pytestmark = pytest.mark.writes_outside_namespace

TODAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def sb():
    with start_sandbox(people=300, seed=21, an_rate=0, today=TODAY) as running:
        yield running


def mc(sb, path, method="GET", **kwargs):
    auth = ("anyone", sb.env["MAILCHIMP_API_KEY"])
    return requests.request(
        method, sb.env["MAILCHIMP_BASE_URL"] + path, auth=auth, timeout=5, **kwargs
    )


def lists(sb, suffix=""):
    return f"/lists/{sb.env['MAILCHIMP_LIST_ID']}{suffix}"


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)


def events_of(rows):
    """(email_id, action, type, timestamp, url) for every event in email-activity rows."""
    return [
        (row["email_id"], e["action"], e["type"], e["timestamp"], e["url"])
        for row in rows
        for e in row["activity"]
    ]


def all_activity(sb, campaign_id, count, **params):
    """Every row of a campaign's email-activity, read `count` at a time."""
    rows, offset = [], 0
    while True:
        body = mc(
            sb,
            f"/reports/{campaign_id}/email-activity",
            params={"count": count, "offset": offset, **params},
        ).json()
        rows += body["emails"]
        offset += count
        if offset >= body["total_items"]:
            return rows, body["total_items"]


def test_history_is_deterministic_and_realistic():
    org = generate(3000, 5, TODAY)
    again = generate(3000, 5, TODAY)
    assert [c.id for c in org.mc_campaigns] == [c.id for c in again.mc_campaigns]
    assert [c.events for c in org.mc_campaigns] == [c.events for c in again.mc_campaigns]
    sends = [c.send_time for c in org.mc_campaigns]
    assert 12 <= len(sends) <= 14 and sends == sorted(sends)
    assert org.now - timedelta(days=181) < sends[0] and sends[-1] < org.now
    assert all(timedelta(days=13) < b - a < timedelta(days=15) for a, b in pairwise(sends))
    sent = sum(c.emails_sent for c in org.mc_campaigns)
    tallies = [c.tally() for c in org.mc_campaigns]
    assert 0.25 < sum(t.unique_opens for t in tallies) / sent < 0.35
    assert 0.03 < sum(t.unique_clicks for t in tallies) / sent < 0.05
    assert 0.005 < sum(t.hard_bounces + t.soft_bounces for t in tallies) / sent < 0.01
    assert sum(t.opens for t in tallies) > sum(t.unique_opens for t in tallies), "some reopen"
    for c in org.mc_campaigns:
        moments = [c.at(i) for i in range(c.events)]
        assert all(c.send_time < m <= org.now for m in moments)
        within_a_day = sum(m - c.send_time <= timedelta(days=1) for m in moments)
        assert within_a_day / len(moments) > 0.75
        # No two events of one recipient look alike (clients key events on their content).
        keys = Counter((id(c.who[i]), c.kinds[i], c.offsets[i]) for i in range(c.events))
        assert max(keys.values()) == 1


def test_merge_fields(sb):
    body = mc(sb, lists(sb, "/merge-fields")).json()
    assert body["total_items"] == len(body["merge_fields"]) == 5
    assert body["list_id"] == sb.env["MAILCHIMP_LIST_ID"]
    by_tag = {f["tag"]: f for f in body["merge_fields"]}
    assert {"FNAME", "LNAME", "ADDRESS", "PHONE", "TIER"} == set(by_tag)
    assert by_tag["ADDRESS"]["type"] == "address" and by_tag["PHONE"]["type"] == "phone"
    field = by_tag["FNAME"]
    assert field["name"] == "First Name" and field["required"] is False
    assert {"merge_id", "default_value", "public", "display_order", "options", "help_text"} <= set(
        field
    )
    page = mc(
        sb,
        lists(sb, "/merge-fields"),
        params={"count": 2, "offset": 3, "exclude_fields": "merge_fields._links,_links"},
    ).json()
    assert [f["tag"] for f in page["merge_fields"]] == ["PHONE", "TIER"]
    assert "_links" not in page and "_links" not in page["merge_fields"][0]
    one = mc(sb, lists(sb, f"/merge-fields/{field['merge_id']}")).json()
    assert one["tag"] == "FNAME"
    assert mc(sb, lists(sb, "/merge-fields/999")).status_code == 404
    wrong = mc(sb, "/lists/0000000000/merge-fields")
    assert wrong.status_code == 404 and wrong.json()["title"] == "Resource Not Found"
    assert wrong.headers["Content-Type"].startswith("application/problem+json")
    member = mc(sb, lists(sb, f"/members/{sb.org.mc_members[0].id}")).json()
    assert set(member["merge_fields"]) == set(by_tag), "every merge field on every member"


def test_tag_search(sb):
    body = mc(sb, lists(sb, "/tag-search")).json()
    names = {t["name"] for t in body["tags"]}
    assert body["total_items"] == len(body["tags"]) == sb.counts()["mailchimp_tags"]
    assert "Core Team" in names and all(isinstance(t["id"], int) for t in body["tags"])
    found = mc(sb, lists(sb, "/tag-search"), params={"name": "core"}).json()
    assert [t["name"] for t in found["tags"]] == ["Core Team"] and found["total_items"] == 1
    assert mc(sb, lists(sb, "/tag-search"), params={"name": "zzz"}).json() == {
        "tags": [],
        "total_items": 0,
    }
    paged = mc(sb, lists(sb, "/tag-search"), params={"count": 1, "offset": 1}).json()
    assert len(paged["tags"]) == 1 and paged["total_items"] == body["total_items"]
    # A tag added through the API is known to the audience from then on.
    member = sb.org.mc_members[1]
    mc(
        sb,
        lists(sb, f"/members/{member.id}/tags"),
        method="POST",
        json={"tags": [{"name": "gs:engaged", "status": "active"}]},
    )
    again = mc(sb, lists(sb, "/tag-search"), params={"name": "GS:"}).json()
    assert [t["name"] for t in again["tags"]] == ["gs:engaged"]


def test_campaigns_paging_sorting_and_filters(sb):
    everything = mc(sb, "/campaigns", params={"count": 1000}).json()
    total = everything["total_items"]
    assert total == len(everything["campaigns"]) == sb.counts()["mailchimp_campaigns"] >= 12
    first = everything["campaigns"][0]
    assert len(first["id"]) == 10 and int(first["id"], 16) >= 0
    assert first["status"] == "sent" and first["type"] == "regular"
    assert first["recipients"]["list_id"] == sb.env["MAILCHIMP_LIST_ID"]
    assert first["recipients"]["recipient_count"] == first["emails_sent"] > 0
    assert {"subject_line", "title", "from_name", "reply_to"} <= set(first["settings"])
    summary = first["report_summary"]
    assert summary["unique_opens"] <= summary["opens"] and 0 < summary["open_rate"] < 1
    assert first["send_time"].endswith("+00:00") and len(first["send_time"]) == 25
    assert len(mc(sb, "/campaigns").json()["campaigns"]) == 10, "count defaults to 10"

    ascending = mc(
        sb, "/campaigns", params={"count": 1000, "sort_field": "send_time", "sort_dir": "ASC"}
    ).json()["campaigns"]
    times = [c["send_time"] for c in ascending]
    assert times == sorted(times)
    descending = mc(
        sb, "/campaigns", params={"count": 1000, "sort_field": "send_time", "sort_dir": "DESC"}
    ).json()["campaigns"]
    assert [c["id"] for c in descending] == [c["id"] for c in reversed(ascending)]
    pages = [
        c["id"]
        for offset in range(0, total, 4)
        for c in mc(
            sb,
            "/campaigns",
            params={"count": 4, "offset": offset, "sort_field": "send_time", "sort_dir": "ASC"},
        ).json()["campaigns"]
    ]
    assert pages == [c["id"] for c in ascending]

    cut = ascending[5]["send_time"]
    after = mc(sb, "/campaigns", params={"count": 1000, "since_send_time": cut}).json()
    assert after["total_items"] == total - 6, "since_send_time is strictly after"
    before = mc(sb, "/campaigns", params={"count": 1000, "before_send_time": cut}).json()
    assert before["total_items"] == 5, "before_send_time is strictly before"
    assert all(c["send_time"] > cut for c in after["campaigns"])
    mine = mc(
        sb,
        "/campaigns",
        params={"list_id": sb.env["MAILCHIMP_LIST_ID"], "status": "sent", "count": 1000},
    ).json()
    assert mine["total_items"] == total
    assert mc(sb, "/campaigns", params={"list_id": "0000000000"}).json()["total_items"] == 0
    assert mc(sb, "/campaigns", params={"status": "save"}).json()["total_items"] == 0
    assert mc(sb, "/campaigns", params={"status": "nope"}).status_code == 400
    assert mc(sb, "/campaigns", params={"since_send_time": "yesterday"}).status_code == 400
    only = mc(
        sb, "/campaigns", params={"fields": "campaigns.id,campaigns.send_time,total_items"}
    ).json()
    assert set(only) == {"campaigns", "total_items"}
    assert set(only["campaigns"][0]) == {"id", "send_time"}

    one = mc(sb, f"/campaigns/{first['id']}").json()
    assert one["id"] == first["id"] and one["settings"] == first["settings"]
    missing = mc(sb, "/campaigns/ffffffffff")
    assert missing.status_code == 404 and missing.json()["title"] == "Resource Not Found"


def test_email_activity_shape_and_report(sb):
    campaign = sb.mailchimp.campaigns[0]
    rows, total = all_activity(sb, campaign.id, 1000)
    assert total == len(rows) > 0
    assert len(events_of(rows)) == campaign.events
    row = rows[0]
    assert row["campaign_id"] == campaign.id and row["list_id"] == sb.env["MAILCHIMP_LIST_ID"]
    assert row["email_id"] == subscriber_hash(row["email_address"])
    actions = Counter(e["action"] for r in rows for e in r["activity"])
    assert actions["open"] > 0
    for r in rows:
        for e in r["activity"]:
            assert set(e) == {"action", "type", "timestamp", "url", "ip"}
            assert (e["type"] in ("hard", "soft")) == (e["action"] == "bounce")
            assert bool(e["url"]) == (e["action"] == "click")
            assert when(e["timestamp"]) > campaign.send_time
        stamps = [e["timestamp"] for e in r["activity"]]
        assert stamps == sorted(stamps)
    everywhere = [
        e["action"]
        for c in sb.mailchimp.campaigns
        for r in all_activity(sb, c.id, 1000)[0]
        for e in r["activity"]
    ]
    assert {"open", "click", "bounce"} <= set(everywhere)
    assert len(everywhere) == sb.counts()["mailchimp_email_activity"]

    report = mc(sb, f"/reports/{campaign.id}").json()
    assert report["id"] == campaign.id and report["emails_sent"] == campaign.emails_sent
    assert report["opens"]["opens_total"] == actions["open"]
    assert report["clicks"]["clicks_total"] == actions["click"]
    bounces = report["bounces"]["hard_bounces"] + report["bounces"]["soft_bounces"]
    assert bounces == actions["bounce"]
    assert mc(sb, "/reports/ffffffffff").status_code == 404
    gone = mc(sb, "/reports/ffffffffff/email-activity")
    assert gone.status_code == 404 and gone.json()["title"] == "Resource Not Found"


def test_email_activity_since_and_exact_paging(sb):
    campaign = sb.mailchimp.campaigns[-1]
    rows, _ = all_activity(sb, campaign.id, 1000)
    events = events_of(rows)
    # Every event exactly once across small pages, in email id order.
    paged, total = all_activity(sb, campaign.id, 7)
    assert len(paged) == total == len(rows)
    assert sorted(events_of(paged)) == sorted(events) and len(set(events)) == len(events)
    assert [r["email_id"] for r in paged] == sorted(r["email_id"] for r in paged)

    stamps = sorted({e[3] for e in events})
    cut = stamps[len(stamps) // 2]
    later, total = all_activity(sb, campaign.id, 5, since=cut)
    expected = [e for e in events if when(e[3]) > when(cut)]
    assert sorted(events_of(later)) == sorted(expected), "since is strictly after"
    assert total == len({e[0] for e in expected}), "rows with nothing left are left out"
    assert all(r["activity"] for r in later)
    z = cut.replace("+00:00", "Z")
    assert (
        mc(sb, f"/reports/{campaign.id}/email-activity", params={"since": z}).json()["total_items"]
        == total
    )
    none = mc(sb, f"/reports/{campaign.id}/email-activity", params={"since": stamps[-1]}).json()
    assert none["emails"] == [] and none["total_items"] == 0
    bad = mc(sb, f"/reports/{campaign.id}/email-activity", params={"since": "soon"})
    assert bad.status_code == 400


def test_archive_and_delete_permanent():
    with start_sandbox(people=120, seed=22, an_rate=0, today=TODAY) as sb:
        subscribed = [m for m in sb.org.mc_members if m.status == "subscribed"]
        archived, deleted = subscribed[0], subscribed[1]
        before = archived.last_changed
        response = mc(sb, lists(sb, f"/members/{archived.id}"), method="DELETE")
        assert response.status_code == 204 and response.content == b""
        member = mc(sb, lists(sb, f"/members/{archived.id}")).json()
        assert member["status"] == "archived" and when(member["last_changed"]) > before
        again = mc(sb, lists(sb, f"/members/{archived.id}"), method="DELETE")
        assert again.status_code == 405 and again.json()["title"] == "Method Not Allowed"
        members = mc(sb, lists(sb, "/members"), params={"status": "archived", "count": 1000})
        assert [m["id"] for m in members.json()["members"]] == [archived.id]

        activity_before = sb.counts()["mailchimp_email_activity"]
        path = lists(sb, f"/members/{deleted.id}/actions/delete-permanent")
        assert mc(sb, path, method="POST").status_code == 204
        assert mc(sb, lists(sb, f"/members/{deleted.id}")).status_code == 404
        everyone = mc(sb, lists(sb, "/members"), params={"count": 1000}).json()
        assert deleted.id not in {m["id"] for m in everyone["members"]}
        assert (
            everyone["total_items"]
            == len(sb.org.mc_members) - 1
            == sb.counts()["mailchimp_members"]
        )
        assert sb.counts()["mailchimp_email_activity"] == activity_before
        assert mc(sb, path, method="POST").status_code == 404
        refused = mc(
            sb,
            lists(sb, f"/members/{deleted.id}"),
            method="PUT",
            json={"email_address": deleted.email, "status_if_new": "subscribed"},
        )
        assert refused.status_code == 400
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert refused.json()["title"] == "Forgotten Email Not Subscribed"
        assert mc(sb, "/lists/0000000000/members/" + deleted.id, method="DELETE").status_code == 404


def test_advance_sends_a_campaign_with_activity():
    with start_sandbox(people=400, seed=23, an_rate=0, today=TODAY) as sb:
        before = sb.counts()
        start = sb.clock.now()
        counts = sb.advance(days=2)
        end = when(counts["now"])
        after = sb.counts()
        assert counts["mailchimp_campaigns_sent"] >= 1
        assert (
            after["mailchimp_campaigns"]
            == before["mailchimp_campaigns"] + (counts["mailchimp_campaigns_sent"])
        )
        assert counts["mailchimp_activity_events"] > 0
        assert (
            after["mailchimp_email_activity"]
            == before["mailchimp_email_activity"] + (counts["mailchimp_activity_events"])
        )
        assert counts["mailchimp_deleted"] >= 1
        assert after["mailchimp_members"] == (
            before["mailchimp_members"] + counts["mailchimp_new"] - counts["mailchimp_deleted"]
        )
        new = mc(sb, "/campaigns", params={"since_send_time": start.isoformat() + "+00:00"}).json()[
            "campaigns"
        ]
        assert len(new) == counts["mailchimp_campaigns_sent"]
        campaign = sb.mailchimp.campaign_by_id[new[0]["id"]]
        subscribed = [m for m in sb.mailchimp.members if m.status == "subscribed"]
        assert campaign.emails_sent > 0.8 * len(subscribed)
        rows, _ = all_activity(sb, campaign.id, 1000)
        assert rows and all(
            start < when(e["timestamp"]) <= end for r in rows for e in r["activity"]
        )
        # Late opens on the campaign sent two days before the start, all inside the window.
        recent = sb.mailchimp.campaigns[len(sb.org.mc_campaigns) - 1]
        late, _ = all_activity(sb, recent.id, 1000, since=start.isoformat())
        assert late and all(when(e["timestamp"]) <= end for r in late for e in r["activity"])

        # Less than a day: no campaign unless a week has gone by since the last one.
        short = sb.advance(days=0.5)
        assert short["mailchimp_campaigns_sent"] == 0 and short["mailchimp_deleted"] == 0
        week = sb.advance(days=14)
        assert week["mailchimp_campaigns_sent"] == 2
