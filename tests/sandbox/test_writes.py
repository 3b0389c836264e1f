"""Writes on the simulators: Mailchimp batches, merge fields and tags, Action Network
taggings and person updates, the write audit and refusal injection; plus the generator's
attendance records, form referrals and the referral codes a push writes back."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections import Counter
from datetime import date
from typing import Any

import pytest
import requests

from sandbox import start_sandbox
from sandbox.action_network import action_json
from sandbox.generator import GOOGLE_HEADER, generate, subscriber_hash

TODAY = date(2026, 11, 24)
NS = "gs:"

# These tests write tags, statuses and contacts on purpose, to check the audit sees them.
pytestmark = pytest.mark.writes_outside_namespace


@pytest.fixture
def sb():
    with start_sandbox(people=600, seed=5, an_rate=0, today=TODAY) as running:
        yield running


def mc(sb, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
    auth = ("anyone", sb.env["MAILCHIMP_API_KEY"])
    return requests.request(
        method, sb.env["MAILCHIMP_BASE_URL"] + path, auth=auth, timeout=5, **kwargs
    )


def an(sb, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
    headers = {"OSDI-API-Token": sb.env["ACTION_NETWORK_API_KEY"]}
    return requests.request(
        method, sb.env["ACTION_NETWORK_BASE_URL"] + path, headers=headers, timeout=5, **kwargs
    )


def control(sb, platform: str, suffix: str, method: str = "GET", **kwargs: Any) -> Any:
    base, cut = (
        (sb.env["MAILCHIMP_BASE_URL"], "/3.0")
        if platform == "mailchimp"
        else (sb.env["ACTION_NETWORK_BASE_URL"], "/api/v2")
    )
    url = base.rsplit(cut, 1)[0] + "/_sandbox" + suffix
    return requests.request(method, url, timeout=5, **kwargs)


def members_path(sb, member_id: str = "") -> str:
    path = f"/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
    return f"{path}/{member_id}" if member_id else path


def member_with(sb, status: str):
    return next(m for m in sb.mailchimp.members if m.status == status)


def wait_finished(sb, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = mc(sb, f"/batches/{batch_id}").json()
        if batch["status"] == "finished":
            return batch
        time.sleep(0.02)
    raise AssertionError("batch never finished")


def batch_results(url: str) -> list[dict[str, Any]]:
    response = requests.get(url, timeout=5)  # no auth: it is a signed link
    assert response.status_code == 200
    results: list[dict[str, Any]] = []
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.endswith(".json"):
                results += json.load(tar.extractfile(member))
    return results


# Mailchimp ------------------------------------------------------------------------------


def test_batch_runs_operations_and_leaves_a_tarball(sb):
    m = member_with(sb, "subscribed")
    refused = member_with(sb, "pending")
    control(sb, "mailchimp", "/refuse", "POST", json={"members": [refused.email], "status": 400})
    tags = {"tags": [{"name": "gs:tier-a", "status": "active"}], "is_syncing": True}
    ops = [
        {
            "method": "POST",
            "path": f"{members_path(sb, m.id)}/tags",
            "body": json.dumps(tags),
            "operation_id": "tag-1",
        },
        {
            "method": "PUT",
            "path": members_path(sb, m.id),
            "body": json.dumps({"email_address": m.email, "merge_fields": {"TIER": "a"}}),
            "operation_id": "put-1",
        },
        {"method": "GET", "path": "/nowhere", "operation_id": "lost"},
        {
            "method": "PUT",
            "path": members_path(sb, refused.id),
            "body": json.dumps({"merge_fields": {"TIER": "b"}}),
            "operation_id": "refused",
        },
    ]
    created = mc(sb, "/batches", "POST", json={"operations": ops})
    assert created.status_code == 200
    body = created.json()
    assert body["status"] == "pending" and body["total_operations"] == 4
    assert body["response_body_url"] == "" and body["completed_at"] == ""
    done = wait_finished(sb, body["id"])
    assert done["finished_operations"] == 4 and done["errored_operations"] == 2
    assert done["response_body_url"].endswith(f"/_sandbox/batch-results/{body['id']}.tar.gz")
    results = {r["operation_id"]: r for r in batch_results(done["response_body_url"])}
    assert results["tag-1"] == {"status_code": 204, "operation_id": "tag-1", "response": ""}
    assert json.loads(results["put-1"]["response"])["merge_fields"]["TIER"] == "a"
    assert results["lost"]["status_code"] == 404
    assert results["refused"]["status_code"] == 400
    assert json.loads(results["refused"]["response"])["title"] == "Member In Compliance State"
    assert "gs:tier-a" in {t["name"] for t in sb.mailchimp.member(m.id)["tags"]}
    assert sb.mailchimp.member(refused.id)["merge_fields"]["TIER"] == ""
    listed = mc(sb, "/batches").json()
    assert listed["total_items"] == 1 and listed["batches"][0]["id"] == body["id"]
    assert mc(sb, "/batches/nope").json()["title"] == "Resource Not Found"


@pytest.mark.parametrize(
    "body",
    [{}, {"operations": "x"}, {"operations": [{"method": "FETCH", "path": "/x"}]},
     {"operations": [{"method": "POST", "path": "/x", "body": {"not": "a string"}}]}],
)  # fmt: skip
def test_batch_rejects_malformed_bodies(sb, body):
    response = mc(sb, "/batches", "POST", json=body)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["title"] == "Invalid Resource"


def test_merge_fields_tags_and_put_record_what_they_did(sb):
    list_path = f"/lists/{sb.env['MAILCHIMP_LIST_ID']}/merge-fields"
    made = mc(sb, list_path, "POST", json={"tag": "gs_tier", "name": "GS Tier", "type": "text"})
    assert made.status_code == 200 and made.json()["tag"] == "GS_TIER"
    again = mc(sb, list_path, "POST", json={"tag": "GS_TIER", "name": "x", "type": "text"})
    assert again.status_code == 400 and again.json()["title"] == "Invalid Resource"
    listed = mc(sb, list_path, params={"count": 100}).json()
    assert "GS_TIER" in {f["tag"] for f in listed["merge_fields"]}
    assert sb.counts()["mailchimp_merge_fields"] == listed["total_items"]

    m = member_with(sb, "subscribed")
    before = sb.mailchimp.member(m.id)["merge_fields"]
    assert before["GS_TIER"] == ""
    put = mc(sb, members_path(sb, m.id), "PUT", json={"merge_fields": {"GS_TIER": "core"}})
    after = put.json()["merge_fields"]
    assert after["GS_TIER"] == "core" and after["FNAME"] == before["FNAME"]
    assert after["LNAME"] == before["LNAME"] and after["PHONE"] == before["PHONE"]

    mc(sb, f"{members_path(sb, m.id)}/tags", "POST",
       json={"tags": [{"name": "gs:x", "status": "active"}], "is_syncing": True})  # fmt: skip
    pending = member_with(sb, "pending")
    mc(sb, members_path(sb, pending.id), "PUT", json={"status": "subscribed"})
    log = sb.mailchimp.audit.writes
    tagging = next(w for w in log if w.route.endswith("/tags"))
    assert tagging.detail["is_syncing"] is True and tagging.tags_added == ["gs:x"]
    status_put = log[-1]
    assert status_put.status_sent == "subscribed" and status_put.status_before == "pending"
    assert status_put.member == pending.id


def test_audit_lists_what_a_sync_must_never_do(sb):
    pending = member_with(sb, "pending")
    m = member_with(sb, "subscribed")
    mc(sb, members_path(sb, pending.id), "PUT", json={"status": "subscribed"})
    mc(sb, f"{members_path(sb, m.id)}/tags", "POST",
       json={"tags": [{"name": "GS:ok", "status": "active"},
                      {"name": "Donor", "status": "inactive"}]})  # fmt: skip
    email = "new.person@example.org"
    mc(sb, members_path(sb, subscriber_hash(email)), "PUT",
       json={"email_address": email, "status_if_new": "subscribed"})  # fmt: skip
    found = sb.mailchimp.violations(NS)
    assert len(found) == 3, found
    assert any("resubscribed (pending -> subscribed)" in v for v in found)
    assert any("'Donor' removed" in v for v in found)
    assert any(f"contact {subscriber_hash(email)} created" in v for v in found)
    over_http = control(sb, "mailchimp", "/audit", params={"namespace": NS}).json()
    assert over_http["writes"] == 3 and over_http["violations"] == found
    assert over_http["by_route"]["PUT /lists/{list_id}/members/{subscriber_hash}"] == 2
    detail = control(sb, "mailchimp", "/audit", params={"detail": "true"}).json()
    assert len(detail["log"]) == 3
    # Refused writes change nothing, so they are no violation.
    other = next(x for x in sb.mailchimp.members if x.status == "pending" and x is not pending)
    control(sb, "mailchimp", "/refuse", "POST", json={"members": [other.id]})
    mc(sb, members_path(sb, other.id), "PUT", json={"status": "subscribed"})
    assert len(sb.mailchimp.violations(NS)) == 3 and sb.mailchimp.audit.writes[-1].status_code


def test_refusal_injection_on_mailchimp(sb):
    m = member_with(sb, "subscribed")
    refused = control(
        sb, "mailchimp", "/refuse", "POST",
        json={"members": [m.email.upper()], "status": 403, "title": "User Disabled",
              "detail": "This account is disabled."},
    )  # fmt: skip
    assert refused.status_code == 200
    put = mc(sb, members_path(sb, m.id), "PUT", json={"merge_fields": {"TIER": "x"}})
    assert put.status_code == 403
    assert put.headers["Content-Type"].startswith("application/problem+json")
    assert put.json()["title"] == "User Disabled" and put.json()["detail"].startswith("This")
    assert mc(sb, members_path(sb, m.id)).status_code == 200, "reads are not refused"
    assert control(sb, "mailchimp", "/refuse", "DELETE").status_code == 200
    assert mc(sb, members_path(sb, m.id), "PUT", json={"merge_fields": {}}).status_code == 200


# Action Network -------------------------------------------------------------------------


def test_taggings_add_and_remove(sb):
    person = sb.action_network.people[3]
    tag = an(sb, "/tags", "POST", json={"name": "gs:volunteer"}).json()
    tag_id = tag["identifiers"][0].split(":", 1)[1]
    modified = person.modified
    sb.clock.advance(0.01)
    href = f"{sb.env['ACTION_NETWORK_BASE_URL']}/people/{person.uuid}"
    added = an(sb, f"/tags/{tag_id}/taggings", "POST",
               json={"_links": {"osdi:person": {"href": href}}})  # fmt: skip
    assert added.status_code == 200
    tagging = added.json()
    assert "gs:volunteer" in sb.action_network.person_tags(person.uuid)
    assert person.modified > modified
    listed = an(sb, f"/tags/{tag_id}/taggings").json()["_embedded"]["osdi:taggings"]
    assert [t["identifiers"] for t in listed] == [tagging["identifiers"]]
    tagging_id = tagging["identifiers"][0].split(":", 1)[1]
    assert an(sb, f"/tags/{tag_id}/taggings/{tagging_id}", "DELETE").status_code == 200
    assert "gs:volunteer" not in sb.action_network.person_tags(person.uuid)
    assert an(sb, f"/tags/{tag_id}/taggings/{tagging_id}", "DELETE").status_code == 404
    quiet = an(sb, f"/tags/{tag_id}/taggings", "POST",
               params={"background_processing": "true"},
               json={"_links": {"osdi:person": {"href": href}}})  # fmt: skip
    assert quiet.status_code == 200 and quiet.json() == {}
    assert "gs:volunteer" in sb.action_network.person_tags(person.uuid)
    assert sb.action_network.violations(NS) == []


def test_put_person_merges_custom_fields_and_keeps_status(sb):
    person = next(p for p in sb.action_network.people if p.email_status == "unsubscribed")
    path = f"/people/{person.uuid}"
    first = an(sb, path, "PUT", json={"custom_fields": {"gs_tier": "core"}, "given_name": "Al"})
    assert first.status_code == 200
    an(sb, path, "PUT", json={"custom_fields": {"gs_code": "ref-abc"}})
    shown = an(sb, path).json()
    assert shown["custom_fields"] == {"gs_tier": "core", "gs_code": "ref-abc"}
    assert shown["given_name"] == "Al" and shown["email_addresses"][0]["status"] == "unsubscribed"
    assert sb.action_network.violations(NS) == []
    quiet = an(sb, path, "PUT", params={"background_processing": "true"},
               json={"email_addresses": [{"status": "subscribed"}]})  # fmt: skip
    assert quiet.json() == {} and person.email_status == "subscribed"
    assert sb.action_network.violations(NS) == [
        f"action_network: {person.uuid} resubscribed (unsubscribed -> subscribed) by "
        "PUT /people/{person_id}"
    ]
    assert an(sb, "/people/00000000-0000-0000-0000-000000000000", "PUT", json={}).status_code == 404


def test_signup_merges_custom_fields_and_is_audited(sb):
    person = sb.action_network.people[0]
    body = {"person": {"email_addresses": [{"address": person.email}],
                       "custom_fields": {"gs_tier": "active"}},
            "add_tags": ["Volunteer"]}  # fmt: skip
    response = an(sb, "/people", "POST", json=body)
    assert response.json()["custom_fields"]["gs_tier"] == "active"
    new = {"person": {"email_addresses": [{"address": "fresh@example.org"}]}}
    quiet = an(sb, "/people", "POST", params={"background_processing": "true"}, json=new)
    assert quiet.status_code == 200 and quiet.json() == {}
    found = control(sb, "action_network", "/audit", params={"namespace": NS}).json()
    assert found["writes"] == 2 and found["by_route"] == {"POST /people": 2}
    assert len(found["violations"]) == 2
    assert "tag 'Volunteer' added" in found["violations"][0]
    assert "contact" in found["violations"][1] and "created" in found["violations"][1]


def test_refusal_injection_on_action_network(sb):
    person = sb.action_network.people[1]
    control(sb, "action_network", "/refuse", "POST",
            json={"members": [person.uuid], "status": 409, "detail": "locked"})  # fmt: skip
    put = an(sb, f"/people/{person.uuid}", "PUT", json={"given_name": "Zed"})
    assert put.status_code == 409 and put.json() == {"error": "locked"}
    signup = an(sb, "/people", "POST",
                json={"person": {"email_addresses": [{"address": person.email}]}})  # fmt: skip
    assert signup.status_code == 409, "refused by uuid, caught by email"
    assert person.given != "Zed"
    control(sb, "action_network", "/refuse", "DELETE")
    assert an(sb, f"/people/{person.uuid}", "PUT", json={"given_name": "Zed"}).status_code == 200


# Generator ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org():
    return generate(3000, 42, TODAY)


def test_attendance_is_recorded_for_past_events_whose_host_records_it(org):
    events = {o.uuid: o for o in org.organising.objects["events"]}
    recording = [e for e in events.values() if e.records_attendance]
    assert 0 < len(recording) < len(events)
    marked = [a for a in org.organising.actions["attendances"] if a.attended is not None]
    for a in org.organising.actions["attendances"]:
        event = events[a.object_uuid]
        expected = event.records_attendance and event.start <= org.now and a.status == "accepted"
        assert (a.attended is not None) == expected
    share = sum(a.attended for a in marked) / len(marked)
    assert 0.6 < share < 0.8
    api = "http://x/api/v2"
    objects = {o.uuid: o for objs in org.organising.objects.values() for o in objs}
    assert action_json(marked[0], api, objects)["attended"] == marked[0].attended
    unmarked = next(a for a in org.organising.actions["attendances"] if a.attended is None)
    assert "attended" not in action_json(unmarked, api, objects)
    again = generate(3000, 42, TODAY)
    assert [a.attended for a in again.organising.actions["attendances"]] == [
        a.attended for a in org.organising.actions["attendances"]
    ]


def test_google_forms_referral_column(org, tmp_path):
    assert GOOGLE_HEADER[-1] == "Who referred you? (name, email or referral code)"
    assert all(len(row) == len(GOOGLE_HEADER) for row in org.google_rows)
    filled = [row[-1] for row in org.google_rows if row[-1]]
    assert 0.04 < len(filled) / len(org.google_rows) < 0.18
    kinds = Counter(
        "code" if v.startswith("ref-") else "email" if "@" in v else "name" for v in filled
    )
    assert set(kinds) == {"code", "email", "name"}
    assert {v for v in filled if v.startswith("ref-")} <= set(org.organising.codes)
    for row, index in zip(org.google_rows, org.google_humans, strict=True):
        assert row[-1] not in org.humans[index].emails, "nobody refers themselves"
    assert [r[-1] for r in generate(3000, 42, TODAY).google_rows] == [
        r[-1] for r in org.google_rows
    ]


def test_written_back_referral_codes_join_the_pool(sb):
    code = "ref-gs-written-1"
    person = sb.action_network.people[0]
    an(sb, f"/people/{person.uuid}", "PUT", json={"custom_fields": {"gs_referral": code}})
    an(sb, f"/people/{sb.action_network.people[1].uuid}", "PUT",
       json={"custom_fields": {"note": "ref-NOT A CODE"}})  # fmt: skip
    sb.advance(60)
    assert code in sb.org.organising.codes and "ref-NOT A CODE" not in sb.org.organising.codes
    sources = {a.source for acts in sb.org.organising.actions.values() for a in acts}
    assert code in sources
    assert all(re.fullmatch(r"ref-[0-9a-z-]+", c) for c in sb.org.organising.codes)
