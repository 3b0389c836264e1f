"""Every list-member, member-tag, member-note, segment and merge-field method of the
official Mailchimp SDK, called against the simulator: a route it lacks fails here."""

import inspect
import re
from datetime import date

import mailchimp_marketing as MailchimpMarketing
import pytest
from mailchimp_marketing.api.lists_api import ListsApi
from mailchimp_marketing.api_client import ApiClientError

from sandbox import start_sandbox
from sandbox.generator import subscriber_hash

# These tests write tags, notes and contacts themselves: not a sync's writes to audit.
pytestmark = pytest.mark.writes_outside_namespace

MEMBER_KEYS = {"id", "email_address", "status", "merge_fields", "tags", "list_id", "_links"}
NOTE_KEYS = {"id", "created_at", "created_by", "updated_at", "note", "list_id", "email_id"}
SEGMENT_KEYS = {"id", "name", "member_count", "type", "created_at", "updated_at", "list_id"}
MERGE_KEYS = {"merge_id", "tag", "name", "type", "required", "options", "list_id"}


@pytest.fixture(scope="module")
def sb():
    with start_sandbox(people=200, seed=37, an_rate=0, today=date(2026, 11, 24)) as running:
        yield running


@pytest.fixture
def client(sb):
    client = MailchimpMarketing.Client()
    client.set_config({"api_key": sb.env["MAILCHIMP_API_KEY"], "server": "us21"})
    client.api_client.host = sb.env["MAILCHIMP_BASE_URL"]  # see test_sdk_clients.py
    return client


@pytest.fixture
def list_id(sb):
    return sb.env["MAILCHIMP_LIST_ID"]


def _no_content(answer) -> bool:
    """The SDK hands back the raw response for a 204 No Content."""
    return getattr(answer, "status_code", None) == 204


def _status(call) -> int:
    """The HTTP status of an SDK call expected to fail, checking the problem+json body."""
    with pytest.raises(ApiClientError) as raised:
        call()
    assert '"title"' in raised.value.text and '"status"' in raised.value.text
    return raised.value.status_code


def test_member_methods(sb, client, list_id):
    page = client.lists.get_list_members_info(list_id, count=5, offset=10)
    assert len(page["members"]) == 5 and page["total_items"] == len(sb.org.mc_members)
    assert set(page["members"][0]) >= MEMBER_KEYS
    first = sb.org.mc_members[0]
    assert client.lists.get_list_member(list_id, first.id)["id"] == first.id
    email = "sdk.add@sandbox.example.org"
    added = client.lists.add_list_member(list_id, {"email_address": email, "status": "pending"})
    assert set(added) >= MEMBER_KEYS and added["id"] == subscriber_hash(email)
    again = {"email_address": email, "status": "pending"}
    assert _status(lambda: client.lists.add_list_member(list_id, again)) == 400
    put = client.lists.set_list_member(
        list_id, added["id"], {"email_address": email, "status_if_new": "pending"}
    )
    assert put["id"] == added["id"]
    patched = client.lists.update_list_member(
        list_id, added["id"], {"merge_fields": {"FNAME": "Sdk"}}
    )
    assert patched["merge_fields"]["FNAME"] == "Sdk"
    assert _no_content(client.lists.delete_list_member(list_id, first.id))
    assert client.lists.get_list_member(list_id, first.id)["status"] == "archived"
    assert _no_content(client.lists.delete_list_member_permanent(list_id, added["id"]))
    assert _status(lambda: client.lists.get_list_member(list_id, added["id"])) == 404


def test_member_tag_methods(sb, client, list_id):
    member = sb.org.mc_members[5]
    body = {
        "tags": [{"name": "gs:one", "status": "active"}, {"name": "gs:two", "status": "active"}]
    }
    assert _no_content(client.lists.update_list_member_tags(list_id, member.id, body))
    tags = client.lists.get_list_member_tags(list_id, member.id, count=1, offset=0)
    assert tags["total_items"] == len(member.tags) and len(tags["tags"]) == 1
    assert {"id", "name", "date_added"} <= set(tags["tags"][0])
    rest = client.lists.get_list_member_tags(list_id, member.id, count=100)
    assert {"gs:one", "gs:two"} <= {t["name"] for t in rest["tags"]}
    assert [t["name"] for t in client.lists.tag_search(list_id, name="gs:one")["tags"]] == [
        "gs:one"
    ]
    assert _status(lambda: client.lists.get_list_member_tags(list_id, "0" * 32)) == 404


def test_member_note_methods(sb, client, list_id):
    member = sb.org.mc_members[6]
    made = [
        client.lists.create_list_member_note(list_id, member.id, {"note": f"n{i}"})
        for i in range(3)
    ]
    assert set(made[0]) >= NOTE_KEYS and made[0]["email_id"] == member.id
    page = client.lists.get_list_member_notes(list_id, member.id, count=2, offset=1)
    assert page["total_items"] == 3 and [n["note"] for n in page["notes"]] == ["n1", "n2"]
    one = client.lists.get_list_member_note(list_id, member.id, made[0]["id"])
    assert one["note"] == "n0"
    changed = client.lists.update_list_member_note(list_id, member.id, made[0]["id"], {"note": "x"})
    assert changed["note"] == "x" and changed["id"] == made[0]["id"]
    assert _no_content(client.lists.delete_list_member_note(list_id, member.id, made[1]["id"]))
    assert client.lists.get_list_member_notes(list_id, member.id)["total_items"] == 2
    gone = made[1]["id"]
    assert _status(lambda: client.lists.get_list_member_note(list_id, member.id, gone)) == 404
    assert _status(lambda: client.lists.get_list_member_notes(list_id, "0" * 32)) == 404


def test_segment_methods(sb, client, list_id):
    a, b, c = sb.org.mc_members[7:10]
    static = client.lists.create_segment(
        list_id, {"name": "gs:segment", "static_segment": [a.email, b.email]}
    )
    assert set(static) >= SEGMENT_KEYS and static["type"] == "static"
    assert static["member_count"] == 2
    saved = client.lists.create_segment(
        list_id, {"name": "gs:saved", "options": {"match": "any", "conditions": []}}
    )
    assert saved["type"] == "saved" and saved["options"]["match"] == "any"
    listed = client.lists.list_segments(list_id, count=1000)
    assert {static["id"], saved["id"]} <= {s["id"] for s in listed["segments"]}
    assert listed["total_items"] == len(listed["segments"])
    assert client.lists.list_segments(list_id, type="saved")["total_items"] == 1
    assert len(client.lists.list_segments(list_id, count=1, offset=1)["segments"]) == 1
    assert client.lists.get_segment(list_id, static["id"])["name"] == "gs:segment"
    renamed = client.lists.update_segment(list_id, static["id"], {"name": "gs:renamed"})
    assert renamed["name"] == "gs:renamed" and renamed["id"] == static["id"]
    assert "gs:renamed" in sb.org.mc_members[7].tags
    batch = client.lists.batch_segment_members(
        {"members_to_add": [c.email], "members_to_remove": [a.email]}, list_id, static["id"]
    )
    assert batch["total_added"] == 1 and batch["total_removed"] == 1 and batch["errors"] == []
    members = client.lists.get_segment_members_list(list_id, static["id"], count=10)
    assert {m["id"] for m in members["members"]} == {b.id, c.id} and members["total_items"] == 2
    added = client.lists.create_segment_member(list_id, static["id"], {"email_address": a.email})
    assert added["id"] == a.id
    assert _no_content(client.lists.remove_segment_member(list_id, static["id"], b.id))
    assert client.lists.get_segment(list_id, static["id"])["member_count"] == 2
    assert _no_content(client.lists.delete_segment(list_id, saved["id"]))
    assert _no_content(client.lists.delete_segment(list_id, static["id"]))
    assert _status(lambda: client.lists.get_segment(list_id, static["id"])) == 404
    assert "gs:renamed" not in sb.org.mc_members[9].tags
    # A deleted static segment is a deleted tag: tag search no longer finds it.
    assert client.lists.tag_search(list_id, name="gs:renamed")["total_items"] == 0
    assert client.lists.tag_search(list_id, name="gs:segment")["total_items"] == 0


def test_merge_field_methods(sb, client, list_id):
    page = client.lists.get_list_merge_fields(list_id, count=2, offset=1)
    assert len(page["merge_fields"]) == 2 and set(page["merge_fields"][0]) >= MERGE_KEYS
    made = client.lists.add_list_merge_field(
        list_id, {"name": "Ward", "type": "text", "tag": "WARD"}
    )
    assert made["tag"] == "WARD"
    assert client.lists.get_list_merge_field(list_id, made["merge_id"])["name"] == "Ward"
    changed = client.lists.update_list_merge_field(
        list_id, made["merge_id"], {"name": "Council ward"}
    )
    assert changed["name"] == "Council ward" and changed["tag"] == "WARD"
    assert _no_content(client.lists.delete_list_merge_field(list_id, made["merge_id"]))
    gone = made["merge_id"]
    assert _status(lambda: client.lists.get_list_merge_field(list_id, gone)) == 404
    member = sb.org.mc_members[11]
    assert "WARD" not in client.lists.get_list_member(list_id, member.id)["merge_fields"]


def test_batch_subscribe_method(sb, client, list_id):
    gone = next(m for m in sb.org.mc_members if m.status == "unsubscribed")
    kept = sb.org.mc_members[12]
    email = "sdk.batch@sandbox.example.org"
    body = {
        "members": [
            {"email_address": email, "status": "subscribed"},
            {"email_address": kept.email, "status": kept.status},
        ]
    }
    first = client.lists.batch_list_members(list_id, body)
    assert first["total_created"] == 1 and first["error_count"] == 1
    assert first["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    assert set(first["new_members"][0]) >= MEMBER_KEYS
    again = {"members": [{"email_address": gone.email, "status": "subscribed"}]}
    second = client.lists.batch_list_members(list_id, again | {"update_existing": True})
    # The compliance rule holds inside a batch: no resubscription, an error instead.
    assert second["total_updated"] == 0 and second["error_count"] == 1
    assert sb.mailchimp.member(gone.id)["status"] == "unsubscribed"


def test_member_activity_and_event_methods(sb, client, list_id):
    member = sb.org.mc_members[13]
    for call in (
        client.lists.get_list_member_activity,
        client.lists.get_list_member_activity_feed,
    ):
        answer = call(list_id, member.id)
        assert answer["email_id"] == member.id and answer["activity"] == []
    assert client.lists.getListMemberGoals(list_id, member.id)["goals"] == []
    event = {"name": "signed-petition", "properties": {"petition": "parks"}}
    assert _no_content(client.lists.create_list_member_event(list_id, member.id, event))
    events = client.lists.get_list_member_events(list_id, member.id)
    assert events["total_items"] == 1 and events["events"][0]["name"] == "signed-petition"
    bad = {"name": "x"}
    assert _status(lambda: client.lists.create_list_member_event(list_id, member.id, bad)) == 400
    assert _status(lambda: client.lists.get_list_member_activity(list_id, "0" * 32)) == 404


def test_segment_writes_stay_audited(sb, client, list_id):
    """A static segment is a tag: writing one outside the namespace is a violation."""
    a, b = sb.org.mc_members[14:16]
    before = len(sb.mailchimp.violations("gs:"))
    inside = client.lists.create_segment(list_id, {"name": "gs:ok", "static_segment": [a.email]})
    client.lists.create_segment_member(list_id, inside["id"], {"email_address": b.email})
    assert len(sb.mailchimp.violations("gs:")) == before
    outside = client.lists.create_segment(list_id, {"name": "Outsiders", "static_segment": []})
    client.lists.create_segment_member(list_id, outside["id"], {"email_address": a.email})
    client.lists.remove_segment_member(list_id, outside["id"], a.id)
    found = sb.mailchimp.violations("gs:")[before:]
    assert len(found) == 2 and all("'Outsiders'" in line for line in found)
    assert all(a.email not in line for line in found)  # hashes only, never an address


IN_SCOPE = ("/members", "/merge-fields", "/segments", "/tag-search")


def _sdk_routes() -> set[tuple[str, str]]:
    """(method, path template) of every SDK lists method on members, their tags, notes,
    events and activity, segments and merge fields, read from the SDK's own source."""
    source = inspect.getsource(ListsApi)
    found = re.findall(r"call_api\(\s*'([^']+)', '([A-Z]+)'", source)
    return {
        (method, path)
        for path, method in found
        if any(part in path for part in IN_SCOPE)
        or (path == "/lists/{list_id}" and method == "POST")
    }


def test_every_sdk_route_in_scope_is_answered(sb):
    """A newer SDK's route the simulator lacks fails here, before a sync meets it."""
    routes = _sdk_routes()
    assert len(routes) >= 35  # the SDK parsed: a regex that matched nothing cannot pass
    missing = [
        f"{method} {path}"
        for method, path in sorted(routes)
        if sb.mc_server._match(method, re.sub(r"\{\w+\}", "x1", path))[0] is None
    ]
    assert missing == []
