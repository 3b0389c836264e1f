"""Every Action Network resource lands, incrementally, with referrer codes and taggings."""

import pytest

from connectors.action_network import ActionNetworkClient
from pipelines.landing import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from sandbox import start_sandbox
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
