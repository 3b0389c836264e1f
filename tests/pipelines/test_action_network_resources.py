"""Every Action Network resource lands, incrementally, with referrer codes and taggings.
An HTML 404 is a transient fault; only Action Network's JSON error, in two runs, makes an
object gone, and nothing landed is dropped."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from connectors.errors import NotFoundPageError
from sandbox import Sandbox, start_sandbox
from sandbox.httpserver import Response
from transforms.normalise import build_staging
from warehouse.connection import connect


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


@dataclass
class FirstLanding:
    """A first landing of every action resource, made once for the tests that start from
    one: its warehouse file (each test works on a copy), reports and request count."""

    sandbox: Sandbox
    warehouse: Path
    reports: dict
    requests: int


def first_landing(sandbox: Sandbox, folder: Path, migrated: Path, an) -> FirstLanding:
    warehouse = folder / "warehouse.duckdb"
    shutil.copyfile(migrated, warehouse)
    con = connect(warehouse)
    try:
        reports = land_action_network_actions(con, an, "b1", lambda _: None)
    finally:
        con.close()
    return FirstLanding(sandbox, warehouse, reports, an.http.stats.requests)


@pytest.fixture
def copy_of(tmp_path):
    """A connection to the test's own copy of a landed warehouse file."""
    opened = []

    def copy(landing: FirstLanding) -> duckdb.DuckDBPyConnection:
        target = tmp_path / "warehouse.duckdb"
        shutil.copyfile(landing.warehouse, target)
        opened.append(connect(target))
        return opened[-1]

    yield copy
    for con in opened:
        con.close()


@pytest.fixture(scope="module")
def landed_600(tmp_path_factory, migrated_warehouse):
    """The 600-people sandbox after one full landing. The test that moves its clock on
    (test_actions_are_incremental_after_a_day) comes after the one that reads it as landed."""
    with start_sandbox(people=600, seed=31, an_rate=0) as running:
        folder = tmp_path_factory.mktemp("landed_600")
        yield first_landing(running, folder, migrated_warehouse, client(running))


def test_every_action_resource_lands(landed_600, copy_of):
    con, sb, reports = copy_of(landed_600), landed_600.sandbox, landed_600.reports
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


def test_actions_are_incremental_after_a_day(landed_600, copy_of):
    con, sb = copy_of(landed_600), landed_600.sandbox
    full_requests = landed_600.requests  # the full landing's
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


@pytest.fixture(scope="module")
def small_sandbox():
    with start_sandbox(people=200, seed=31, an_rate=0) as running:
        yield running


NO_FAULTS = {
    "error_rate": 0,
    "timeout_rate": 0,
    "truncate_rate": 0,
    "html_404_rate": 0,
    "burst_429": 0,
}


@pytest.fixture
def small(small_sandbox):
    """The module's 200-people sandbox as it was started: each test deletes objects,
    injects faults or swaps the not-found answer, and all of it is put back after."""
    state, server = small_sandbox.action_network, small_sandbox.an_server
    objects = dict(state.objects)
    for faults in (server.faults, small_sandbox.mc_server.faults):
        faults.injected.clear()
    yield small_sandbox
    state.objects.clear()
    state.objects.update(objects)
    vars(server).pop("not_found", None)  # the class's own HTML page again
    small_sandbox.set_faults(NO_FAULTS)


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


@pytest.fixture(scope="module")
def small_landed(tmp_path_factory, migrated_warehouse, small_sandbox):
    """A first landing (b1) from the small sandbox as started, for the tests that delete
    or break something after one: made once, before any of them changes the sandbox."""
    folder = tmp_path_factory.mktemp("small_landed")
    return first_landing(small_sandbox, folder, migrated_warehouse, fast_client(small_sandbox))


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


def test_a_petition_deleted_on_action_network_is_gone_after_a_later_run(
    small, small_landed, copy_of
):
    con = copy_of(small_landed)  # after a first landing, b1
    signatures = landed(con, "signatures")
    petition = small.org.organising.objects["petitions"][0]
    del small.action_network.objects[petition.uuid]  # answered with the HTML 404 page
    land_action_network_actions(con, fast_client(small), "b2", lambda _: None)
    assert missing_records(con) == [("petitions", petition.uuid, False)]
    land_action_network_actions(con, fast_client(small), "b3", lambda _: None)
    assert missing_records(con) == [("petitions", petition.uuid, True)]
    assert landed(con, "signatures") == signatures, "what landed stays"


def test_html_404s_from_the_whole_api_are_an_outage_that_marks_nothing(
    small, small_landed, copy_of
):
    con = copy_of(small_landed)  # after a first landing, b1
    small.set_faults({"html_404_rate": 1.0}, platform="action_network")
    with pytest.raises(NotFoundPageError, match="HTML page"):
        land_action_network_actions(con, fast_client(small), "b2", lambda _: None)
    assert missing_records(con) == []
    small.set_faults({"html_404_rate": 0}, platform="action_network")
    land_action_network_actions(con, fast_client(small), "b3", lambda _: None)
    assert_every_action_landed(con, small)


def test_every_petition_answering_the_html_page_is_an_outage_not_deletions(
    small, small_landed, copy_of
):
    con = copy_of(small_landed)  # after a first landing, b1
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


def test_an_object_action_network_says_is_gone_is_confirmed_in_a_later_run(
    small, small_landed, copy_of
):
    con = copy_of(small_landed)  # after a first landing, b1
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
