"""The official Mailchimp SDK (`mailchimp-marketing`) works against the simulator with only
its host changed: the simulator's shapes and routes are the real API's."""

from datetime import date

import mailchimp_marketing as MailchimpMarketing
import pytest

from sandbox import start_sandbox

# Simulator tests write tags and statuses themselves: not a sync's writes to audit.
pytestmark = pytest.mark.writes_outside_namespace


@pytest.fixture(scope="module")
def sb():
    with start_sandbox(people=200, seed=31, an_rate=0, today=date(2026, 11, 24)) as running:
        yield running


@pytest.fixture
def client(sb):
    client = MailchimpMarketing.Client()
    client.set_config({"api_key": sb.env["MAILCHIMP_API_KEY"], "server": "us21"})
    # The SDK builds every URL from `host` (https://server.api.mailchimp.com/3.0, with
    # "server" replaced by the data centre); our base URL has no "server" in it to replace.
    client.api_client.host = sb.env["MAILCHIMP_BASE_URL"]
    return client


def test_sdk_reads_the_audience(sb, client):
    list_id = sb.env["MAILCHIMP_LIST_ID"]
    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}
    assert client.lists.get_list(list_id)["id"] == list_id
    page = client.lists.get_list_members_info(list_id, count=50, offset=50)
    assert page["total_items"] == len(sb.org.mc_members)
    assert [m["id"] for m in page["members"]] == [m.id for m in sb.org.mc_members[50:100]]
    fields = client.lists.get_list_merge_fields(list_id, count=100)
    assert {f["tag"] for f in fields["merge_fields"]} >= {"FNAME", "LNAME", "ADDRESS", "PHONE"}
    tags = client.lists.tag_search(list_id, name="core")
    assert [t["name"] for t in tags["tags"]] == ["Core Team"]


def test_sdk_reads_campaigns_and_activity(sb, client):
    campaigns = client.campaigns.list(
        count=100, list_id=sb.env["MAILCHIMP_LIST_ID"], sort_field="send_time", sort_dir="DESC"
    )
    assert campaigns["total_items"] == sb.counts()["mailchimp_campaigns"]
    newest = campaigns["campaigns"][0]
    since = campaigns["campaigns"][1]["send_time"]
    assert client.campaigns.list(since_send_time=since)["total_items"] == 1
    assert client.campaigns.get(newest["id"])["settings"]["title"] == newest["settings"]["title"]
    activity = client.reports.get_email_activity_for_campaign(
        newest["id"], count=20, offset=0, exclude_fields=["emails._links", "_links"]
    )
    assert activity["campaign_id"] == newest["id"] and activity["total_items"] > 0
    assert 0 < len(activity["emails"]) <= 20 and "_links" not in activity["emails"][0]
    report = client.reports.get_campaign_report(newest["id"])
    assert report["opens"]["unique_opens"] == newest["report_summary"]["unique_opens"]


def test_sdk_writes_member_tags(sb, client):
    list_id = sb.env["MAILCHIMP_LIST_ID"]
    member = sb.org.mc_members[3]
    client.lists.update_list_member_tags(
        list_id,
        member.id,
        {"tags": [{"name": "gs:sdk", "status": "active"}], "is_syncing": True},
    )
    assert "gs:sdk" in {t["name"] for t in sb.mailchimp.member(member.id)["tags"]}
    found = client.lists.tag_search(list_id, name="gs:")
    assert [t["name"] for t in found["tags"]] == ["gs:sdk"]
