"""The simulated Action Network and Mailchimp over HTTP: shapes, quirks, limits, state."""

import threading

import pytest
import requests

from sandbox import start_sandbox

# Simulator tests write tags and statuses themselves: not a sync's writes to audit.
pytestmark = pytest.mark.writes_outside_namespace


@pytest.fixture(scope="module")
def sb():
    with start_sandbox(people=300, seed=9, an_rate=0) as running:
        yield running


def an(sb, path, method="GET", key=None, **kwargs):
    headers = {"OSDI-API-Token": key or sb.env["ACTION_NETWORK_API_KEY"]}
    return requests.request(
        method, sb.env["ACTION_NETWORK_BASE_URL"] + path, headers=headers, timeout=5, **kwargs
    )


def mc(sb, path, method="GET", key=None, **kwargs):
    auth = ("anyone", key or sb.env["MAILCHIMP_API_KEY"])
    return requests.request(
        method, sb.env["MAILCHIMP_BASE_URL"] + path, auth=auth, timeout=5, **kwargs
    )


def stats(base_url, suffix):
    return requests.get(base_url.rsplit(suffix, 1)[0] + "/_sandbox/stats", timeout=5).json()


def test_action_network_auth(sb):
    response = an(sb, "/people", key="wrong")
    assert response.status_code == 401 and "error" in response.json()


def test_action_network_people_paging_quirks(sb):
    first = an(sb, "/people?per_page=100").json()
    assert first["per_page"] == 25 and len(first["_embedded"]["osdi:people"]) == 25
    assert "total_pages" not in first and "total_records" not in first
    last_page = -(-len(sb.org.an_people) // 25)
    last = an(sb, f"/people?page={last_page}").json()
    assert last["_embedded"]["osdi:people"] and "next" in last["_links"]
    beyond = an(sb, f"/people?page={last_page + 1}").json()
    assert beyond["_embedded"]["osdi:people"] == [] and "next" in beyond["_links"]
    person = first["_embedded"]["osdi:people"][0]
    assert person["identifiers"][0].startswith("action_network:")
    assert {"email_addresses", "phone_numbers", "postal_addresses", "_links"} <= person.keys()
    dates = [p["modified_date"] for p in first["_embedded"]["osdi:people"]]
    assert dates != sorted(dates), "not ordered by modified date"


def test_action_network_filters(sb):
    everyone = [
        p
        for page in range(1, 20)
        for p in an(sb, f"/people?page={page}").json()["_embedded"]["osdi:people"]
    ]
    cut = sorted(p["modified_date"] for p in everyone)[len(everyone) // 2]
    after = an(sb, "/people", params={"filter": f"modified_date gt '{cut}'", "per_page": 25}).json()
    assert all(p["modified_date"] > cut for p in after["_embedded"]["osdi:people"])
    before = an(sb, "/people", params={"filter": f"modified_date lt '{cut}'"}).json()
    assert all(p["modified_date"] < cut for p in before["_embedded"]["osdi:people"])
    email = everyone[0]["email_addresses"][0]["address"]
    found = an(sb, "/people", params={"filter": f"email_address eq '{email.upper()}'"}).json()
    assert len(found["_embedded"]["osdi:people"]) == 1
    assert an(sb, "/people", params={"filter": "shoe_size gt 9"}).status_code == 400


def test_action_network_unknown_id_is_an_html_404(sb):
    response = an(sb, "/people/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


def test_action_network_signup_helper(sb):
    target = sb.org.an_people[0]
    before_status = target.email_status
    body = {
        "person": {"email_addresses": [{"address": target.email.upper()}]},
        "add_tags": ["Volunteer", "No Such Tag"],
        "remove_tags": ["Donor"],
    }
    response = an(sb, "/people", method="POST", json=body)
    assert response.status_code == 200
    assert response.json()["identifiers"][0] == f"action_network:{target.uuid}"
    assert sb.action_network.person_tags(target.uuid) >= {"Volunteer"}
    assert "No Such Tag" not in sb.action_network.person_tags(target.uuid)
    assert target.email_status == before_status, "no status sent, none changed"


def test_action_network_tags_have_totals(sb):
    body = an(sb, "/tags").json()
    assert body["total_records"] >= 4 and "total_pages" in body
    created = an(sb, "/tags", method="POST", json={"name": "core team"}).json()
    assert created["name"] == "Core Team", "names are unique case-insensitively"


def test_action_network_rate_limit_answers_429():
    with start_sandbox(people=50, seed=1, an_rate=2) as limited:
        codes = [an(limited, "/").status_code for _ in range(10)]
        assert codes.count(429) >= 5
        assert stats(limited.env["ACTION_NETWORK_BASE_URL"], "/api/v2")["throttled"] == codes.count(
            429
        )


def test_mailchimp_auth_is_problem_json(sb):
    response = mc(sb, "/lists", key="0" * 32 + "-us21")
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["title"] == "API Key Invalid"


def test_mailchimp_members_paging_and_filters(sb):
    path = f"/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    body = mc(sb, path, params={"count": 5000, "exclude_fields": "members._links"}).json()
    assert body["total_items"] == len(sb.org.mc_members)
    assert len(body["members"]) == min(1000, body["total_items"])
    assert "_links" not in body["members"][0]
    page2 = mc(sb, path, params={"count": 10, "offset": 10}).json()["members"]
    assert [m["id"] for m in page2] == [m["id"] for m in body["members"][10:20]]
    unsubscribed = mc(sb, path, params={"status": "unsubscribed", "count": 1000}).json()
    assert unsubscribed["members"] and all(
        m["status"] == "unsubscribed" for m in unsubscribed["members"]
    )
    changes = sorted(m["last_changed"] for m in body["members"])
    recent = mc(sb, path, params={"since_last_changed": changes[-5], "count": 1000}).json()
    assert 0 < recent["total_items"] < 5
    only = mc(sb, path, params={"fields": "members.id,total_items", "count": 2}).json()
    assert set(only) == {"members", "total_items"} and set(only["members"][0]) == {"id"}


def test_mailchimp_compliance_rule(sb):
    path = f"/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    member = next(m for m in sb.org.mc_members if m.status == "unsubscribed")
    response = mc(
        sb,
        f"{path}/{member.id}",
        method="PUT",
        json={"email_address": member.email, "status": "subscribed"},
    )
    assert response.status_code == 400 and response.json()["title"] == "Member In Compliance State"
    assert sb.mailchimp.member(member.id)["status"] == "unsubscribed"


def test_mailchimp_new_member_needs_status_if_new(sb):
    path = f"/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    from sandbox.generator import subscriber_hash

    email = "brand.new@example.org"
    response = mc(
        sb, f"{path}/{subscriber_hash(email)}", method="PUT", json={"email_address": email}
    )
    assert response.status_code == 400 and response.json()["title"] == "Invalid Resource"
    created = mc(
        sb,
        f"{path}/{subscriber_hash(email)}",
        method="PUT",
        json={"email_address": email, "status_if_new": "pending"},
    )
    assert created.status_code == 200 and created.json()["status"] == "pending"


def test_mailchimp_tags(sb):
    member = sb.org.mc_members[0]
    path = f"/lists/{sb.env['MAILCHIMP_LIST_ID']}/members/{member.id}/tags"
    response = mc(
        sb,
        path,
        method="POST",
        json={"tags": [{"name": "x:one", "status": "active"}], "is_syncing": True},
    )
    assert response.status_code == 204 and response.content == b""
    assert "x:one" in {t["name"] for t in sb.mailchimp.member(member.id)["tags"]}
    mc(sb, path, method="POST", json={"tags": [{"name": "x:one", "status": "inactive"}]})
    assert "x:one" not in {t["name"] for t in sb.mailchimp.member(member.id)["tags"]}
    assert (
        mc(sb, path.replace(member.id, "0" * 32), method="POST", json={"tags": []}).status_code
        == 404
    )


def test_mailchimp_concurrency_limit_and_stats():
    with start_sandbox(people=50, seed=1, mc_connections=2, latency=0.3) as limited:
        base = limited.env["MAILCHIMP_BASE_URL"]
        requests.post(base.rsplit("/3.0", 1)[0] + "/_sandbox/reset", timeout=5)
        codes = []

        def call():
            codes.append(mc(limited, "/ping").status_code)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes.count(200) >= 2 and codes.count(429) >= 4
        body = stats(base, "/3.0")
        assert body["requests"] == {"GET /ping": 8}
        assert body["throttled"] == codes.count(429)
        assert body["max_concurrency"] >= 3
        requests.post(base.rsplit("/3.0", 1)[0] + "/_sandbox/reset", timeout=5)
        assert stats(base, "/3.0") == {"requests": {}, "throttled": 0, "max_concurrency": 0}
