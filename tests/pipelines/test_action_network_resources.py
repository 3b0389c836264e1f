"""Every Action Network resource lands, incrementally, with referrer codes and taggings.
An HTML 404 is a transient fault; only Action Network's JSON error, in two runs, makes an
object gone, and nothing landed is dropped."""

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from connectors.errors import NotFoundPageError
from sandbox import start_sandbox
from sandbox.httpserver import Response
from transforms.normalise import build_staging


@pytest.fixture
def sb():
    with start_sandbox(people=600, seed=31, an_rate=0) as running:
        yield running


def client(sb):
    return ActionNetworkClient(
        sb.env["ACTION_NETWORK_API_KEY"], sb.env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )


def landed(con, resource):
    return {
        r[0]
        for r in con.execute(
            "SELECT record_id FROM raw_action_network WHERE resource = ?", [resource]
        ).fetchall()
    }


def test_every_action_resource_lands(con, sb):
    reports = land_action_network_actions(con, client(sb), "b1", lambda _: None)
    organising = sb.org.organising
    for collection, objects in organising.objects.items():
        assert landed(con, collection) == {o.uuid for o in objects}, collection
    for actions, records in organising.actions.items():
        assert landed(con, actions) == {a.uuid for a in records}, actions
        assert reports[actions].records == len(records)
    source = con.execute(
        "SELECT payload ->> '$.\"action_network:referrer_data\".source' FROM raw_action_network "
        "WHERE resource = 'signatures' AND payload ->> '$.\"action_network:referrer_data\".source' LIKE 'ref-%' LIMIT 1"
    ).fetchone()
    assert source is not None, "referral codes are kept on the action"


def test_actions_are_incremental_after_a_day(con, sb):
    an = client(sb)
    land_action_network_actions(con, an, "b1", lambda _: None)
    full_requests = an.http.stats.requests
    counts = sb.advance(days=1)
    again = client(sb)
    reports = land_action_network_actions(con, again, "b2", lambda _: None)
    assert counts["action_network_actions"] > 0
    for actions, records in sb.org.organising.actions.items():
        assert landed(con, actions) == {a.uuid for a in records}, actions
    new = sum(r.records for name, r in reports.items() if name in sb.org.organising.actions)
    assert new < counts["action_network_actions"] * 2 + 50, "only what changed (and the overlap)"
    assert again.http.stats.requests <= full_requests


# The test plays an organiser removing a tag by hand on the platform.
@pytest.mark.writes_outside_namespace
def test_tags_and_taggings_are_read_whole_and_diffed(con, sb):
    an = client(sb)
    land_action_network_people(con, an, "p", lambda _: None)
    counts = land_action_network_whole(con, an, "w1", lambda _: None)
    assert counts["tags"] >= 4 and counts["taggings"] > 0 and counts["custom_fields"] == 4
    build_staging(con, "US")
    core = {p.uuid for p in sb.org.an_people if "Core Team" in p.tags}
    tagged = {
        r[0]
        for r in con.execute(
            "SELECT source_record_id FROM stg_source_records WHERE list_contains(platform_tags, 'Core Team')"
        ).fetchall()
    }
    assert tagged == core
    # A tag removed on the platform is gone after the next read.
    removed = next(iter(core))
    an.signup(
        {"email_addresses": [{"address": sb.action_network.by_uuid[removed].email}]},
        remove_tags=["Core Team"],
    )
    land_action_network_whole(con, an, "w2", lambda _: None)
    build_staging(con, "US")
    still = con.execute(
        "SELECT list_contains(platform_tags, 'Core Team') FROM stg_source_records WHERE source_record_id = ?",
        [removed],
    ).fetchone()[0]
    assert still is False


@pytest.fixture
def small():
    with start_sandbox(people=200, seed=31, an_rate=0) as running:
        yield running


def fast_client(sb, attempts=2):
    return ActionNetworkClient(
        sb.env["ACTION_NETWORK_API_KEY"],
        sb.env["ACTION_NETWORK_BASE_URL"],
        requests_per_second=0,
        max_attempts=attempts,
        backoff_max=0.02,
    )


def missing_records(con):
    return con.execute(
        "SELECT resource, record_id, gone_at IS NOT NULL FROM missing_records ORDER BY ALL"
    ).fetchall()


def assert_every_action_landed(con, sb):
    for actions, records in sb.org.organising.actions.items():
        assert landed(con, actions) == {a.uuid for a in records}, actions


def test_html_404s_on_action_streams_are_retried_and_every_action_lands(con, small):
    small.set_faults({"html_404_rate": 0.15, "seed": 3}, platform="action_network")
    land_action_network_actions(con, fast_client(small, attempts=8), "b1", lambda _: None)
    assert small.an_server.faults.injected.get("html_404", 0) > 5
    assert_every_action_landed(con, small)
    assert missing_records(con) == [], "an HTML 404 never marks anything missing"


def test_an_object_answering_html_404s_holds_back_nothing_else(con, small):
    """Action Network answers an unknown id with its HTML page: through every retry, while
    its API root answers, that object is missing (looked at again next run), the run goes
    on, and nothing landed is dropped."""
    petition = small.org.organising.objects["petitions"][0]
    its_signatures = {a.uuid for a in small.org.organising.by_object[petition.uuid]}
    assert its_signatures
    del small.action_network.objects[petition.uuid]
    said: list[str] = []
    land_action_network_actions(con, fast_client(small), "b1", said.append)
    assert any("looks again" in m for m in said)
    for actions, records in small.org.organising.actions.items():
        expected = {a.uuid for a in records} - its_signatures
        assert landed(con, actions) == expected, f"every other {actions} landed"
    assert missing_records(con) == [("petitions", petition.uuid, False)]
    # It was a passing fault after all: the next run reads it and clears the mark.
    small.action_network.objects[petition.uuid] = petition
    land_action_network_actions(con, fast_client(small), "b2", lambda _: None)
    assert_every_action_landed(con, small)
    assert missing_records(con) == []


def test_a_petition_deleted_on_action_network_is_gone_after_a_later_run(con, small):
    land_action_network_actions(con, fast_client(small), "b1", lambda _: None)
    signatures = landed(con, "signatures")
    petition = small.org.organising.objects["petitions"][0]
    del small.action_network.objects[petition.uuid]  # answered with the HTML 404 page
    land_action_network_actions(con, fast_client(small), "b2", lambda _: None)
    assert missing_records(con) == [("petitions", petition.uuid, False)]
    land_action_network_actions(con, fast_client(small), "b3", lambda _: None)
    assert missing_records(con) == [("petitions", petition.uuid, True)]
    assert landed(con, "signatures") == signatures, "what landed stays"


def test_html_404s_from_the_whole_api_are_an_outage_that_marks_nothing(con, small):
    land_action_network_actions(con, fast_client(small), "b1", lambda _: None)
    small.set_faults({"html_404_rate": 1.0}, platform="action_network")
    with pytest.raises(NotFoundPageError, match="HTML page"):
        land_action_network_actions(con, fast_client(small), "b2", lambda _: None)
    assert missing_records(con) == []
    small.set_faults({"html_404_rate": 0}, platform="action_network")
    land_action_network_actions(con, fast_client(small), "b3", lambda _: None)
    assert_every_action_landed(con, small)


def test_every_petition_answering_the_html_page_is_an_outage_not_deletions(con, small):
    land_action_network_actions(con, fast_client(small), "b1", lambda _: None)
    petitions = list(small.org.organising.objects["petitions"])
    assert len(petitions) >= 3
    for petition in petitions:  # the signatures path answers the HTML page, the root does not
        del small.action_network.objects[petition.uuid]
    with pytest.raises(NotFoundPageError, match="outage"):
        land_action_network_actions(con, fast_client(small), "b2", lambda _: None)
    assert missing_records(con) == [], "nothing marked missing in an outage"
    for petition in petitions:
        small.action_network.objects[petition.uuid] = petition
    land_action_network_actions(con, fast_client(small), "b3", lambda _: None)
    assert_every_action_landed(con, small)


def test_an_object_action_network_says_is_gone_is_confirmed_in_a_later_run(con, small):
    land_action_network_actions(con, fast_client(small), "b1", lambda _: None)
    petition = small.org.organising.objects["petitions"][0]
    signatures = landed(con, "signatures")
    # Deleted, and answered with Action Network's JSON error rather than its HTML page.
    del small.action_network.objects[petition.uuid]
    small.an_server.not_found = lambda request: Response(404, {"error": "Not found"})
    first: list[str] = []
    land_action_network_actions(con, fast_client(small), "b2", first.append)
    assert any("looks again" in m for m in first)
    assert missing_records(con) == [("petitions", petition.uuid, False)]
    second: list[str] = []
    land_action_network_actions(con, fast_client(small), "b3", second.append)
    assert any("in two runs" in m for m in second)
    assert missing_records(con) == [("petitions", petition.uuid, True)]
    assert landed(con, "signatures") == signatures, "what landed stays"
    later: list[str] = []
    land_action_network_actions(con, fast_client(small), "b4", later.append)
    assert not any("not found" in m for m in later), "not asked for again"
