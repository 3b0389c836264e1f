"""The Action Network and Mailchimp clients against the sandbox servers over HTTP."""

from datetime import datetime, timedelta

import pytest
import requests

from connectors.action_network.client import ActionNetworkClient, person_uuid
from connectors.errors import AuthError, PlatformError
from connectors.mailchimp.client import MailchimpClient, base_url_for_key, subscriber_hash
from sandbox import start_sandbox


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(people=300, seed=5, an_rate=0) as running:
        yield running


def an_client(env, **kwargs) -> ActionNetworkClient:
    return ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], **kwargs
    )


def mc_client(env, **kwargs) -> MailchimpClient:
    return MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"], **kwargs
    )


def test_action_network_pages_until_the_empty_page(sandbox):
    client = an_client(sandbox.env)
    pages = list(client.iter_people_pages())
    people = [p for page in pages for p in page]
    uuids = {person_uuid(p) for p in people}
    assert len(uuids) == len(people) == len(sandbox.org.an_people)
    assert all(len(page) <= 25 for page in pages)
    # One request per page, the empty page that ends it, and at most the rest of the
    # in-flight window past the end.
    assert len(pages) + 1 <= client.http.stats.requests <= len(pages) + client.window


def test_action_network_modified_filter(sandbox):
    client = an_client(sandbox.env)
    everyone = [p for page in client.iter_people_pages() for p in page]
    dates = sorted(p["modified_date"] for p in everyone)
    cut = datetime.fromisoformat(dates[len(dates) // 2].replace("Z", "+00:00"))
    recent = [p for page in client.iter_people_pages(modified_since=cut) for p in page]
    assert recent and len(recent) < len(everyone)
    assert all(
        datetime.fromisoformat(p["modified_date"].replace("Z", "+00:00")) > cut for p in recent
    )


def test_action_network_rate_limit_is_honoured():
    with start_sandbox(people=300, seed=5, an_rate=4) as limited:
        client = an_client(limited.env, requests_per_second=4)
        list(client.iter_people_pages())
        stats = requests.get(
            limited.env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0] + "/_sandbox/stats",
            timeout=5,
        ).json()
    assert stats["throttled"] == 0
    assert client.http.stats.throttled == 0


def test_action_network_bad_key_is_an_auth_error(sandbox):
    env = {**sandbox.env, "ACTION_NETWORK_API_KEY": "nope"}
    with pytest.raises(AuthError):
        list(an_client(env).iter_people_pages())


def test_action_network_tags_and_signup(sandbox):
    client = an_client(sandbox.env)
    names = {t["name"] for t in client.list_tags()}
    assert "Core Team" in names
    client.create_tag("groundswell:tier:supporter")
    assert "groundswell:tier:supporter" in {t["name"] for t in client.list_tags()}


def test_mailchimp_pages_every_member(sandbox):
    client = mc_client(sandbox.env)
    members = [m for page in client.iter_member_pages(count=100) for m in page]
    assert len({m["id"] for m in members}) == len(members) == len(sandbox.org.mc_members)
    assert all(m["id"] == subscriber_hash(m["email_address"]) for m in members)
    assert "_links" not in members[0]


def test_mailchimp_since_last_changed(sandbox):
    client = mc_client(sandbox.env)
    everyone = [m for page in client.iter_member_pages() for m in page]
    changes = sorted(m["last_changed"] for m in everyone)
    cut = datetime.fromisoformat(changes[len(changes) // 2]) + timedelta(seconds=1)
    recent = [m for page in client.iter_member_pages(since_last_changed=cut) for m in page]
    assert recent and len(recent) < len(everyone)


def test_mailchimp_set_tags_active_and_inactive(sandbox):
    client = mc_client(sandbox.env)
    member = next(iter(client.iter_member_pages(count=1)))[0]
    client.set_member_tags(member["id"], {"groundswell:test": True})
    assert "groundswell:test" in {t["name"] for t in sandbox.mailchimp.member(member["id"])["tags"]}
    client.set_member_tags(member["id"], {"groundswell:test": False})
    assert "groundswell:test" not in {
        t["name"] for t in sandbox.mailchimp.member(member["id"])["tags"]
    }


def test_mailchimp_bad_key_is_an_auth_error(sandbox):
    env = {**sandbox.env, "MAILCHIMP_API_KEY": "0" * 32 + "-us21"}
    with pytest.raises(AuthError):
        list(mc_client(env).iter_member_pages())


def test_mailchimp_base_url_from_the_key():
    assert base_url_for_key("abc123-us6") == "https://us6.api.mailchimp.com/3.0"
    with pytest.raises(PlatformError, match="data-centre suffix"):
        base_url_for_key("abc123")


def test_mailchimp_connections_are_capped_at_ten():
    assert (
        MailchimpClient("k-us1", "l", "http://127.0.0.1:1", max_connections=50).max_connections
        == 10
    )
