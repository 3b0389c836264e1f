"""Pushes killed or cut off at every point (issue 11, cases 2 and 4). Each write is
recorded as intended before it is sent and settled after; a kill, a lost answer or a
timeout leaves it unsettled and the next run reads the platform's state to settle it.
The push runs in a subprocess that a failpoint ends as `kill -9` would; the next run is
the real Dagster job. The simulators' audit then shows zero duplicate writes and a
complete end state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from connectors.failpoints import ENV, EXIT_CODE
from sandbox import start_sandbox
from sandbox.audit import Write, duplicate_writes
from sandbox.httpserver import Request, Response
from tests.support.pipeline import (
    ROOT,
    configure,
    run_push,
    run_through_pushes,
    sandbox_organisation,
)
from transforms.ladder_config import LadderConfigError, load
from transforms.sync_plan import check_namespace, pending_operations
from warehouse import migrate
from warehouse.connection import connect

SEED, PEOPLE = 11, 200
DESTINATIONS = ("action_network", "mailchimp")

# The push of one destination, as the asset runs it, over the warehouse a test prepared.
PUSH = """
import os, sys
from transforms.sync_config import MailchimpSync
from transforms.sync_plan import pending_operations
from warehouse.connection import connect

destination, path, batch = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
env = os.environ
con = connect(path)
ops = pending_operations(con, destination)
if destination == "action_network":
    from connectors.action_network.client import ActionNetworkClient
    from connectors.action_network.push import push_action_network
    client = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    push_action_network(con, client, ops, "killed-run", print)
else:
    from connectors.mailchimp.client import MailchimpClient
    from connectors.mailchimp.push import push_mailchimp
    client = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    settings = MailchimpSync(batch_above=0 if batch else 100_000)
    push_mailchimp(con, client, ops, settings, "killed-run", print)
con.close()
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A warehouse landed and built from the sandbox organisation, with a plan not sent."""
    root = tmp_path_factory.mktemp("built")
    with sandbox_organisation(root, PEOPLE, SEED) as (
        _sandbox,
        warehouse,
        _inbox,
        _monkeypatch,
    ):
        dry = {"ops": {"sync_plan": {"config": {"dry_run": True}}}}
        # Everything a push reads; the exports, portal snapshot and backup no test here reads.
        assert run_through_pushes(run_config=dry).success
    return warehouse


@pytest.fixture()
def world(built, tmp_path, monkeypatch):
    """A fresh sandbox (the same organisation) and a copy of the built warehouse."""
    inbox = tmp_path / "inbox"
    (tmp_path / "run").mkdir()
    with start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as sandbox:
        warehouse = configure(monkeypatch, tmp_path / "run", sandbox.env, inbox)
        shutil.copy(built, warehouse)
        yield sandbox, warehouse


def _sql(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _killed_push(sandbox, warehouse: Path, destination: str, point: str, batch: bool) -> int:
    """Run one destination's push in a subprocess that dies at `point`; its exit code."""
    env = {**os.environ, **sandbox.env, ENV: point, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PUSH, destination, str(warehouse), "1" if batch else "0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, EXIT_CODE), done.stderr[-2000:]
    return done.returncode


def _duplicates(sandbox, since: tuple[int, int] = (0, 0)) -> list[str]:
    """Writes that repeated an earlier write's effect (made from position `since` of each
    platform's log on)."""
    an, mc = sandbox.action_network.audit, sandbox.mailchimp.audit
    return an.duplicates(since[0]) + mc.duplicates(since[1])


def _logged(sandbox) -> tuple[int, int]:
    return len(sandbox.action_network.audit.writes), len(sandbox.mailchimp.audit.writes)


def _pending(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {d: len(pending_operations(con, d)) for d in DESTINATIONS}
    finally:
        con.close()


def _planned(warehouse: Path, destination: str) -> set[tuple[str, str]]:
    return {
        (k, i)
        for k, i in _sql(
            warehouse,
            "SELECT member_key, item FROM sync_plan WHERE destination = ? AND op <> 'create'",
            [destination],
        )
    }


def _ledger(warehouse: Path, destination: str) -> set[tuple[str, str]]:
    return {
        (k, i)
        for k, i in _sql(
            warehouse,
            "SELECT member_key, item FROM sync_ledger WHERE destination = ?",
            [destination],
        )
    }


def _platform_matches_ledger(sandbox, warehouse: Path) -> None:
    """Every tag the ledger says is active is on the contact, on both platforms."""
    for destination, member_key, item in _sql(
        warehouse,
        "SELECT destination, member_key, item FROM sync_ledger "
        "WHERE kind = 'tag' AND state = 'active'",
    ):
        if destination == "mailchimp":
            assert item in sandbox.mailchimp.by_id[member_key].tags
        else:
            assert item in sandbox.action_network.person_tags(member_key)


def test_the_audit_sees_a_write_sent_twice():
    """The duplicate count the tests rely on can fail: a repeat with nothing in between
    is a duplicate; add, remove, add again is not."""
    route = "POST /lists/{list_id}/members/{subscriber_hash}/tags"

    def tags(added: list[str], removed: list[str] = ()) -> Write:
        return Write(
            "mailchimp",
            "POST",
            route,
            "/",
            member="m1",
            status_code=204,
            tags_added=added,
            tags_removed=list(removed),
        )

    assert duplicate_writes([tags(["a"]), tags([], ["a"]), tags(["a"])]) == []
    assert len(duplicate_writes([tags(["a", "b"]), tags(["a"])])) == 1
    assert duplicate_writes([tags(["a"]), tags(["a"])], since=2) == []


KILLS = [
    ("action_network", "action_network.before_send:25", False),
    ("action_network", "action_network.after_send:25", False),
    ("action_network", "action_network.mid_ledger:3", False),
    ("action_network", "action_network.tag_after_send:1", False),
    ("mailchimp", "mailchimp.before_send:40", False),
    ("mailchimp", "mailchimp.after_send:40", False),
    ("mailchimp", "mailchimp.mid_ledger:3", False),
    ("mailchimp", "mailchimp.batch_before_send:1", True),
    ("mailchimp", "mailchimp.batch_after_send:1", True),
]
# Every point is killed once. A case kills an Action Network push and then a Mailchimp
# push over the same warehouse, each in its own process, and one run finishes both: a
# Dagster run (~3 s of CPU) per pair of points, not per point. The last case kills one
# push alone, so a run that settles one destination and pushes the other from scratch is
# still covered.
CASES = [
    (KILLS[0], KILLS[4]),
    (KILLS[1], KILLS[5]),
    (KILLS[2], KILLS[6]),
    (KILLS[3], KILLS[7]),
    (KILLS[8],),
]


@pytest.mark.parametrize(
    "kills", CASES, ids=["+".join(point for _, point, _ in case) for case in CASES]
)
def test_a_push_killed_at_any_point_is_finished_without_duplicate_writes(world, kills):
    sandbox, warehouse = world
    planned = {}
    for destination, point, batch in kills:
        planned[destination] = _planned(warehouse, destination)
        assert planned[destination], "the plan has work for this destination"
        assert _killed_push(sandbox, warehouse, destination, point, batch) == EXIT_CODE
        unsettled = _sql(
            warehouse,
            "SELECT count(*) FROM sync_intents "
            "WHERE destination = ? AND state IN ('intended', 'sent')",
            [destination],
        )[0][0]
        assert unsettled > 0, "the kill left writes whose outcome the warehouse does not know"
        assert _duplicates(sandbox) == []

    rerun = run_push()
    assert rerun.success
    assert _duplicates(sandbox) == [], "nothing confirmed was sent again"
    assert _pending(warehouse) == {d: 0 for d in DESTINATIONS}, "nothing lost was dropped"
    for destination, plan in planned.items():
        assert plan <= _ledger(warehouse, destination)
    assert _sql(
        warehouse, "SELECT count(*) FROM sync_intents WHERE state IN ('intended', 'sent')"
    ) == [(0,)]
    _platform_matches_ledger(sandbox, warehouse)
    assert sandbox.violations("groundswell:") == []


def test_a_killed_push_keeps_what_was_confirmed_before_the_kill(world):
    """The ledger is written as answers arrive, not every 500 contacts."""
    sandbox, warehouse = world
    point = "action_network.after_send:20"
    assert _killed_push(sandbox, warehouse, "action_network", point, False) == EXIT_CODE
    confirmed = _sql(
        warehouse,
        "SELECT count(DISTINCT member_key) FROM sync_ledger WHERE destination = 'action_network'",
    )[0][0]
    assert confirmed >= 10, "most answers received before the kill were recorded"


def test_lost_answers_are_settled_from_the_platform_and_never_block_the_plan(world):
    """Case 2: cut-off answers on both platforms, then a clean run: the plan is not
    refused over Groundswell's own tags and no write is sent twice."""
    sandbox, warehouse = world
    sandbox.set_faults({"truncate_rate": 0.1, "seed": 3})
    first = run_push()
    injected = sum(
        s.faults.as_dict()["injected"].get("truncate", 0)
        for s in (sandbox.an_server, sandbox.mc_server)
    )
    assert injected > 0
    sandbox.set_faults({"truncate_rate": 0.0})
    second = run_push()
    assert second.success, [
        e.event_specific_data.error.message
        for e in second.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert first.run_id != second.run_id
    # Neither run sends a write twice: a lost answer is settled from the platform's state.
    assert _duplicates(sandbox) == []
    assert _pending(warehouse) == {d: 0 for d in DESTINATIONS}
    _platform_matches_ledger(sandbox, warehouse)


def _cut_off_answers(sandbox, method: str, template: str):
    """Make the simulator apply every `method template` write but cut its answer in half,
    as a dropped connection would; returns a function that undoes it."""
    route = next(
        r for r in sandbox.an_server.routes if r.method == method and r.template == template
    )
    served = route.handler

    def cut(request: Request) -> Response:
        response = served(request)
        data = response.encoded()
        return Response(response.status, data[: len(data) // 2], response.content_type)

    route.handler = cut
    return lambda: setattr(route, "handler", served)


def test_a_lost_answer_to_a_tag_creation_never_makes_the_plan_refuse_that_tag(world):
    """Case 2 exactly: Action Network creates the tags but every answer is cut off. The
    next run, landing again (which reads the tags back), must not refuse Groundswell's
    own tag."""
    sandbox, warehouse = world
    restore = _cut_off_answers(sandbox, "POST", "/tags")
    run_push()
    restore()
    created = {
        str(w.detail.get("tag")) for w in sandbox.action_network.audit.writes if w.detail.get("tag")
    }
    assert created, "tags were created on Action Network"
    before_next = _logged(sandbox)
    following = run_through_pushes()  # the exports, snapshot and backup are not read
    failures = [
        e.event_specific_data.error.message
        for e in following.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert following.success, failures
    managed = {r[0] for r in _sql(warehouse, "SELECT tag FROM sync_managed_tags")}
    assert created <= managed
    assert _duplicates(sandbox, before_next) == []
    assert _pending(warehouse) == {d: 0 for d in DESTINATIONS}
    _platform_matches_ledger(sandbox, warehouse)


def test_an_existing_deployment_owns_the_tags_its_plans_created(world):
    """Case 2 on a warehouse from before the intent log: a tag an earlier push created
    but never recorded is Groundswell's, because a plan that was sent named it."""
    _, warehouse = world
    ladder = load(ROOT / "ladder.yaml")
    tag = _sql(
        warehouse,
        "SELECT item FROM sync_plan WHERE destination = 'action_network' AND kind = 'tag' "
        "ORDER BY item LIMIT 1",
    )[0][0]
    con = connect(warehouse)
    try:
        # The state issue 11 found: the plan was sent, the tag created on Action Network
        # and read back by the next extraction, its creation never recorded.
        con.execute("UPDATE sync_runs SET status = 'planned' WHERE step = 'plan'")
        con.execute(
            "INSERT INTO raw_action_network VALUES ('tags', 'tag-made-by-lost-push', NULL, "
            "json_object('name', ?), 'b', now())",
            [tag],
        )
        con.execute("DELETE FROM sync_managed_tags")
        with pytest.raises(LadderConfigError, match="does not manage"):
            check_namespace(con, ladder)
        # Back to the schema before this fix, then upgraded.
        con.execute("DROP TABLE sync_intents")
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
    finally:
        con.close()
    migrate.forget(warehouse)  # this process checked it already: check it again
    con = connect(warehouse)
    try:
        check_namespace(con, ladder)  # no longer refused
        managed = {r[0] for r in con.execute("SELECT tag FROM sync_managed_tags").fetchall()}
    finally:
        con.close()
    assert tag in managed
