"""Every people, tag, tagging, event and petition method of Parsons' ActionNetwork
connector, called against the simulator: a route it lacks, or a shape it gets wrong,
fails here instead of in a sync."""

import inspect
import json
import re
from datetime import date, datetime

import pytest
import requests
from parsons import ActionNetwork
from requests.exceptions import HTTPError

from connectors.action_network.client import ActionNetworkClient
from sandbox import start_sandbox

# These tests create people, tags, events and petitions themselves: not a sync's writes.
pytestmark = pytest.mark.writes_outside_namespace

PERSON_KEYS = {
    "identifiers",
    "created_date",
    "modified_date",
    "email_addresses",
    "phone_numbers",
    "postal_addresses",
    "custom_fields",
    "_links",
}
TAG_KEYS = {"identifiers", "name", "created_date", "modified_date", "_links"}
TAGGING_KEYS = {"identifiers", "created_date", "modified_date", "item_type", "_links"}
OBJECT_KEYS = {"identifiers", "origin_system", "title", "created_date", "modified_date", "_links"}
EVENT_KEYS = OBJECT_KEYS | {"start_date", "status", "browser_url", "total_accepted"}
PETITION_KEYS = OBJECT_KEYS | {"browser_url", "target", "total_signatures"}
ACTION_KEYS = {
    "identifiers",
    "created_date",
    "modified_date",
    "action_network:person_id",
    "action_network:referrer_data",
    "_links",
}
UNKNOWN = "00000000-0000-4000-8000-000000000000"
# The methods this file covers (the list); the last test reads their routes from
# Parsons' own source and checks the simulator answers each.
METHODS = (
    "get_people",
    "get_person",
    "add_person",
    "upsert_person",
    "update_person",
    "get_tags",
    "get_tag",
    "add_tag",
    "get_taggings",
    "get_tagging",
    "create_tagging",
    "delete_tagging",
    "get_events",
    "get_event",
    "create_event",
    "update_event",
    "get_event_attendances",
    "get_event_attendance",
    "create_attendance",
    "update_attendance",
    "get_person_attendances",
    "get_petitions",
    "get_petition",
    "create_petition",
    "update_petition",
    "get_petition_signatures",
    "get_petition_signature",
    "get_person_signatures",
    "get_person_signature",
    "create_signature",
    "update_signature",
)


@pytest.fixture(scope="module")
def sb():
    with start_sandbox(people=200, seed=41, an_rate=0, today=date(2026, 11, 24)) as running:
        yield running


@pytest.fixture
def an(sb):
    """Parsons pointed at the simulator: it builds relative URLs from its APIConnector's
    `uri` and absolute ones (the writes) from `api_url`, so both move."""
    client = ActionNetwork(api_token=sb.env["ACTION_NETWORK_API_KEY"])
    client.api_url = sb.env["ACTION_NETWORK_BASE_URL"]
    client.api.uri = client.api_url + "/"
    return client


def uuid_of(record: dict) -> str:
    """The Action Network uuid among a record's identifiers."""
    found = [i.split(":", 1)[1] for i in record["identifiers"] if i.startswith("action_network:")]
    assert len(found) == 1
    return found[0]


def person_link(sb, uuid: str) -> str:
    return f"{sb.env['ACTION_NETWORK_BASE_URL']}/people/{uuid}"


def status(call) -> int:
    """The HTTP status of a Parsons call expected to fail (Parsons raises HTTPError)."""
    with pytest.raises(HTTPError) as raised:
        call()
    found = re.search(r"Code: (\d{3})", str(raised.value))
    assert found, "Parsons names the status of a failed request"
    return int(found.group(1))


def busiest(sb, collection: str) -> str:
    """The generated object of a collection with the most actions."""
    by_object = sb.org.organising.by_object
    objects = sb.org.organising.objects[collection]
    return max(objects, key=lambda o: len(by_object.get(o.uuid, []))).uuid


def test_people_methods(sb, an):
    everyone = an.get_people()
    # The people collection has no totals and always links a next page: Parsons stops on
    # the first empty page, and so every person arrives exactly once.
    assert everyone.num_rows == len(sb.action_network.people)
    assert len({uuid_of(r) for r in everyone}) == everyone.num_rows
    some = an.get_people(limit=23, per_page=10)
    assert some.num_rows == 23 and set(some.columns) >= PERSON_KEYS
    page = an.get_people(page=2, per_page=10)
    assert (page["page"], page["per_page"], len(page["_embedded"]["osdi:people"])) == (2, 10, 10)
    assert "total_pages" not in page and "next" in page["_links"]
    past = an.get_people(page=1000, per_page=25)
    assert past["_embedded"]["osdi:people"] == [] and "next" in past["_links"]

    first = sb.action_network.people[0]
    one = an.get_person(first.uuid)
    assert one["identifiers"] == [f"action_network:{first.uuid}"] and set(one) >= PERSON_KEYS
    assert one["_links"]["self"]["href"] == person_link(sb, first.uuid)
    assert status(lambda: an.get_person(UNKNOWN)) == 404


def test_upsert_add_and_update_person(sb, an):
    made = an.upsert_person(
        "parsons.new@sandbox.example.org",
        given_name="Parsons",
        tags=["Volunteer", "No such tag"],
        postal_addresses=[
            {
                "address_lines": ["1 Main St"],
                "locality": "Springfield",
                "region": "IL",
                "postal_code": "62701",
            }
        ],
        mobile_number="(555) 010-9999",
        Employer="Acme",
    )
    new = uuid_of(made)
    assert set(made) >= PERSON_KEYS and made["created_date"] == made["modified_date"]
    assert made["email_addresses"][0] == {
        "primary": True,
        "address": "parsons.new@sandbox.example.org",
        "status": "subscribed",
    }
    # No mobile_status sent: a new number is not opted in to texts.
    assert made["phone_numbers"][0]["status"] == "unsubscribed"
    assert made["postal_addresses"][0]["postal_code"] == "62701"
    assert made["custom_fields"] == {"Employer": "Acme"}
    assert sb.action_network.person_tags(new) == {"Volunteer"}  # unknown names are ignored

    again = an.upsert_person("PARSONS.NEW@sandbox.example.org", family_name="Person")
    assert uuid_of(again) == new and again["family_name"] == "Person"
    # A status sent is a status changed (the person asked): here, texts opted in.
    texts = an.upsert_person(
        "parsons.new@sandbox.example.org", mobile_number=5550109999, mobile_status="subscribed"
    )
    assert uuid_of(texts) == new and texts["phone_numbers"][0]["status"] == "subscribed"

    assert an.add_person("parsons.added@sandbox.example.org", given_name="Added") is None
    found = an.get_people(filter="email_address eq 'parsons.added@sandbox.example.org'")
    assert found.num_rows == 1 and found[0]["given_name"] == "Added"

    changed = an.update_person(new, given_name="Renamed", custom_fields={"Employer": "Co-op"})
    assert uuid_of(changed) == new and changed["given_name"] == "Renamed"
    read = an.get_person(new)
    assert read["given_name"] == "Renamed" and read["custom_fields"]["Employer"] == "Co-op"
    assert read["email_addresses"][0]["status"] == "subscribed"  # no status sent, none changed
    assert an.update_person(new, background_processing=True, family_name="Later") == {}
    assert an.get_person(new)["family_name"] == "Later"
    assert status(lambda: an.update_person(UNKNOWN, given_name="X")) == 404


def test_tag_methods(sb, an):
    before = an.get_tags()
    assert before.num_rows == len(sb.action_network.tags) and set(before.columns) >= TAG_KEYS
    made = [an.add_tag(f"parsons:tag-{n:02}") for n in range(26)]
    assert set(made[0]) >= TAG_KEYS and made[0]["name"] == "parsons:tag-00"
    assert made[0]["_links"]["osdi:taggings"]["href"].endswith(f"/tags/{uuid_of(made[0])}/taggings")
    # Names are unique, case-insensitively: adding one again answers the existing tag.
    assert uuid_of(an.add_tag("PARSONS:TAG-00")) == uuid_of(made[0])
    after = an.get_tags()  # more than one page of 25
    assert after.num_rows == before.num_rows + 26
    assert len({uuid_of(t) for t in after}) == after.num_rows
    assert an.get_tags(limit=27).num_rows == 27
    assert an.get_tag(uuid_of(made[5]))["name"] == "parsons:tag-05"
    assert status(lambda: an.get_tag(UNKNOWN)) == 404


def test_tagging_methods(sb, an):
    tag = uuid_of(an.add_tag("parsons:tagging"))
    people = [p.uuid for p in sb.action_network.people[10:13]]
    made = [
        an.create_tagging(tag, {"_links": {"osdi:person": {"href": person_link(sb, p)}}})
        for p in people
    ]
    assert set(made[0]) >= TAGGING_KEYS and made[0]["item_type"] == "osdi:person"
    assert made[0]["_links"]["osdi:person"]["href"] == person_link(sb, people[0])
    listed = an.get_taggings(tag, per_page=2)  # two pages
    assert sorted(uuid_of(t) for t in listed) == sorted(uuid_of(t) for t in made)
    first = an.get_taggings(tag, page=1, per_page=2)
    assert (first["total_pages"], first["total_records"], first["page"]) == (2, 3, 1)
    assert (
        "next" in first["_links"]
        and "next" not in an.get_taggings(tag, page=2, per_page=2)["_links"]
    )
    one = an.get_tagging(tag, uuid_of(made[1]))
    assert one["_links"]["self"]["href"] == made[1]["_links"]["self"]["href"]

    deleted = an.delete_tagging(tag, uuid_of(made[1]))
    assert deleted == {"notice": "This tagging was successfully deleted."}
    assert status(lambda: an.get_tagging(tag, uuid_of(made[1]))) == 404
    assert "parsons:tagging" not in sb.action_network.person_tags(people[1])
    assert an.get_taggings(tag).num_rows == 2
    late = sb.action_network.people[14].uuid
    link = {"_links": {"osdi:person": {"href": person_link(sb, late)}}}
    assert an.create_tagging(tag, link, background_processing=True) == {}
    assert "parsons:tagging" in sb.action_network.person_tags(late)
    assert status(lambda: an.get_tagging(UNKNOWN, uuid_of(made[0]))) == 404


def test_event_methods(sb, an):
    events = sb.org.organising.objects["events"]
    count = len(events)
    listed = an.get_events(per_page=7)
    assert listed.num_rows == count and set(listed.columns) >= EVENT_KEYS
    page = an.get_events(page=1, per_page=7)
    assert (page["total_pages"], page["total_records"]) == (-(-count // 7), count)
    one = an.get_event(events[0].uuid)
    assert uuid_of(one) == events[0].uuid and set(one) >= EVENT_KEYS
    assert one["_links"]["osdi:attendances"]["href"].endswith(
        f"/events/{events[0].uuid}/attendances"
    )

    where = {"venue": "Town hall", "address_lines": ["1 Main St"], "locality": "Springfield"}
    made = an.create_event(
        "Parsons picnic", start_date=datetime(2026, 12, 5, 18, 30), location=where
    )
    assert made["event_id"] == uuid_of(made) and made["start_date"] == "2026-12-05T18:30:00Z"
    assert made["location"] == where and made["total_accepted"] == 0
    read = an.get_event(made["event_id"])
    assert read["title"] == "Parsons picnic" and read["location"] == where
    assert an.get_events().num_rows == count + 1

    body = json.dumps({"title": "Parsons picnic (moved)", "description": "Bring a hat"})
    changed = an.update_event(made["event_id"], body)
    assert changed["title"] == "Parsons picnic (moved)" and changed["description"] == "Bring a hat"
    assert an.get_event(made["event_id"])["location"] == where  # fields not sent stay
    # Parsons form-encodes a dict payload under a JSON content type: refused, changing nothing.
    assert status(lambda: an.update_event(made["event_id"], {"title": "x"})) == 400
    assert an.get_event(made["event_id"])["title"] == "Parsons picnic (moved)"
    assert status(lambda: an.update_event(UNKNOWN, body)) == 404
    assert status(lambda: an.get_event(UNKNOWN)) == 404


def test_attendance_methods(sb, an):
    event = busiest(sb, "events")
    truth = sb.org.organising.by_object[event]
    listed = an.get_event_attendances(event, per_page=2)
    assert listed.num_rows == len(truth) > 2 and set(listed.columns) >= ACTION_KEYS | {"status"}
    one = an.get_event_attendance(event, truth[0].uuid)
    assert uuid_of(one) == truth[0].uuid and one["action_network:event_id"] == event
    assert status(lambda: an.get_event_attendance(event, UNKNOWN)) == 404

    new_event = an.create_event("Parsons meeting")["event_id"]
    person = sb.action_network.people[20]
    # Parsons sends this payload in the query string; the API reads it as body fields.
    made = an.create_attendance(
        new_event, {"_links[osdi:person][href]": person_link(sb, person.uuid)}
    )
    assert set(made) >= ACTION_KEYS and made["status"] == "accepted"
    assert made["action_network:person_id"] == person.uuid
    assert made["action_network:event_id"] == new_event
    # The record helper finds the person by email: one attendance per person per event.
    by_email = an.create_attendance(new_event, {"person[email_addresses][][address]": person.email})
    assert uuid_of(by_email) == uuid_of(made)
    assert an.get_event(new_event)["total_accepted"] == 1
    # The documented nested dict reaches the API as `_links=osdi:person`: no person.
    nested = {"_links": {"osdi:person": {"href": person_link(sb, person.uuid)}}}
    assert status(lambda: an.create_attendance(new_event, nested)) == 400

    body = json.dumps({"status": "declined", "identifiers": ["other-system:230125a"]})
    changed = an.update_attendance(new_event, uuid_of(made), body)
    assert changed["status"] == "declined" and "other-system:230125a" in changed["identifiers"]
    assert an.get_event(new_event)["total_accepted"] == 0
    bad = json.dumps({"status": "maybe"})
    assert status(lambda: an.update_attendance(new_event, uuid_of(made), bad)) == 400
    assert status(lambda: an.update_attendance(new_event, UNKNOWN, body)) == 404

    mine = [a for a in sb.org.organising.actions["attendances"] if a.person_uuid == person.uuid]
    theirs = an.get_person_attendances(person.uuid, per_page=1)
    assert sorted(uuid_of(a) for a in theirs) == sorted(a.uuid for a in mine)
    assert uuid_of(made) in {uuid_of(a) for a in theirs}
    assert status(lambda: an.get_person_attendances(UNKNOWN)) == 404


def test_petition_methods(sb, an):
    petitions = sb.org.organising.objects["petitions"]
    count = len(petitions)
    listed = an.get_petitions(per_page=3)
    assert listed.num_rows == count and set(listed.columns) >= PETITION_KEYS
    one = an.get_petition(petitions[0].uuid)
    assert uuid_of(one) == petitions[0].uuid
    assert one["total_signatures"] == len(sb.org.organising.by_object.get(petitions[0].uuid, []))

    made = an.create_petition("Parsons petition", "Why", "We ask", "City council")
    assert set(made) >= PETITION_KEYS and made["target"] == [{"name": "City council"}]
    assert (made["description"], made["petition_text"]) == ("Why", "We ask")
    new = uuid_of(made)
    assert an.get_petition(new)["title"] == "Parsons petition"
    changed = an.update_petition(
        new, "Parsons petition 2", "Why not", "We insist", [{"name": "Mayor"}]
    )
    assert changed["title"] == "Parsons petition 2" and changed["target"] == [{"name": "Mayor"}]
    assert an.get_petition(new)["petition_text"] == "We insist"
    assert an.create_petition("Queued", "d", "t", "x", background_processing=True) == {}
    assert an.get_petitions().num_rows == count + 2
    assert status(lambda: an.get_petition(UNKNOWN)) == 404
    assert status(lambda: an.update_petition(UNKNOWN, "t", "d", "p", "x")) == 404


def test_signature_methods(sb, an):
    petition = busiest(sb, "petitions")
    truth = sb.org.organising.by_object[petition]
    listed = an.get_petition_signatures(petition, per_page=5)
    assert listed.num_rows == len(truth) > 5 and set(listed.columns) >= ACTION_KEYS
    one = an.get_petition_signature(petition, truth[0].uuid)
    assert uuid_of(one) == truth[0].uuid and one["action_network:petition_id"] == petition

    new = uuid_of(an.create_petition("Parsons signing", "d", "t", "x"))
    person = sb.action_network.people[30]
    payload = {"comments": "Count me in", "_links[osdi:person][href]": person_link(sb, person.uuid)}
    made = an.create_signature(new, payload)
    assert set(made) >= ACTION_KEYS and made["comments"] == "Count me in"
    assert made["action_network:person_id"] == person.uuid
    assert an.get_petition(new)["total_signatures"] == 1
    nested = {"_links": {"osdi:person": {"href": person_link(sb, person.uuid)}}}
    assert status(lambda: an.create_signature(new, nested)) == 400
    changed = an.update_signature(new, uuid_of(made), json.dumps({"comments": "Still in"}))
    assert changed["comments"] == "Still in"
    assert an.get_petition_signature(new, uuid_of(made))["comments"] == "Still in"
    assert status(lambda: an.update_signature(new, UNKNOWN, json.dumps({}))) == 404

    mine = [a for a in sb.org.organising.actions["signatures"] if a.person_uuid == person.uuid]
    theirs = an.get_person_signatures(person.uuid, per_page=1)
    assert sorted(uuid_of(s) for s in theirs) == sorted(a.uuid for a in mine)
    assert uuid_of(an.get_person_signature(person.uuid, uuid_of(made))) == uuid_of(made)
    assert status(lambda: an.get_person_signature(person.uuid, UNKNOWN)) == 404


def test_parsons_writes_are_seen_by_our_connector(sb, an):
    """What Parsons writes, our own client reads back: one state behind both."""
    event = an.create_event("Seen by both")["event_id"]
    person = sb.action_network.people[40]
    link = {"_links[osdi:person][href]": person_link(sb, person.uuid)}
    attendance = uuid_of(an.create_attendance(event, link))
    made = uuid_of(an.upsert_person("seen.by.both@sandbox.example.org", given_name="Both"))
    ours = ActionNetworkClient(
        sb.env["ACTION_NETWORK_API_KEY"], sb.env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    events = [e for page in ours.iter_pages("events", "osdi:events") for e in page]
    assert event in {uuid_of(e) for e in events}
    rsvps = [
        a
        for page in ours.iter_pages(f"events/{event}/attendances", "osdi:attendances")
        for a in page
    ]
    assert [uuid_of(a) for a in rsvps] == [attendance]
    people = [p for page in ours.iter_people_pages() for p in page]
    assert made in {uuid_of(p) for p in people}


def test_action_writes_are_audited_and_refusable(sb, an):
    """The new write routes keep the simulator's rules: each write is logged, and a
    person the platform refuses gets no attendance or signature."""
    event = an.create_event("Refusals")["event_id"]
    person = sb.action_network.people[50]
    control = f"{sb.an_server.url}/_sandbox/refuse"
    body = {"members": [person.email], "status": 400, "detail": "refused"}
    assert requests.post(control, json=body, timeout=10).status_code == 200
    try:
        link = {"_links[osdi:person][href]": person_link(sb, person.uuid)}
        assert status(lambda: an.create_attendance(event, link)) == 400
    finally:
        requests.delete(control, timeout=10)
    assert an.get_event_attendances(event).num_rows == 0
    routes = [w.route for w in sb.action_network.audit.writes[-2:]]
    assert routes == ["POST /events", "POST /events/{object_id}/attendances"]
    assert sb.action_network.audit.writes[-1].member == person.uuid


def _routes(method: str) -> set[tuple[str, str]]:
    """(HTTP method, path) of every request one Parsons method makes, from its source."""
    source = inspect.getsource(getattr(ActionNetwork, method))
    verbs = set(re.findall(r"self\.api\.(get|post|put|delete)_request\(", source))
    # `url = f"{url}?background_processing=true"` only adds a query to the path before.
    paths = [p for p in re.findall(r'url\s*=\s*f?"([^"]+)"', source) if not p.startswith("{url}")]
    listed = re.findall(r'self\._get_(?:page|entry_list)\(\s*f?"([^"]+)"', source)
    found = {("GET", p) for p in listed}
    found |= {(verb.upper(), p) for verb in verbs for p in paths}
    return {
        (verb, re.sub(r"\{[^}]+\}", "x1", path.replace("{self.api_url}/", "").split("?")[0]))
        for verb, path in found
    }


def test_every_parsons_method_in_scope_is_answered(sb):
    """Each method's routes, read from Parsons' source, resolve on the simulator; a newer
    Parsons calling a route the simulator lacks fails here."""
    delegating = {"add_person": "upsert_person"}  # calls another method, no URL of its own
    missing, seen = [], 0
    for method in METHODS:
        routes = _routes(delegating.get(method, method))
        assert routes, f"no route parsed from Parsons' {method}"
        seen += len(routes)
        missing += [
            f"{method}: {verb} /{path}"
            for verb, path in sorted(routes)
            if sb.an_server._match(verb, "/" + path)[0] is None
        ]
    assert seen >= len(METHODS)
    assert missing == []
