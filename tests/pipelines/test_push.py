"""Pushing back out, end to end on the simulators: the dry run, the guard rails and their
confirmation, partial refusals, resuming a killed push, batches, consent and the
namespace. Every test reads the simulators' own state and audit."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

import connectors.push as push_package
from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.push import push_action_network
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.push import collect_pending_batches, push_mailchimp
from connectors.mailchimp.reconcile import reconcile_mailchimp
from sandbox import LIVE, Sandbox, start_sandbox
from sandbox.audit import Refusal
from sandbox.httpserver import Response
from tests.support.pipeline import (
    ROOT,
    configure,
    run_push,
    run_through_pushes,
    sandbox_organisation,
)
from transforms.sync_config import MailchimpSync
from transforms.sync_plan import pending_operations

NAMESPACE = "groundswell:"


def _ladder(tmp_path, name: str = "ladder.yaml", **changes) -> str:
    """A copy of the default ladder.yaml with top-level keys replaced."""
    data = yaml.safe_load((ROOT / "ladder.yaml").read_text())
    data.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


SEED, PEOPLE = 5, 300


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
        # Everything a push reads; the exports, portal snapshot and backup no test here reads.
        assert run_through_pushes(run_config=_dry()).success
    return warehouse


@pytest.fixture()
def world(built, tmp_path, monkeypatch):
    """A fresh sandbox (the same organisation) and a copy of the built warehouse."""
    inbox = tmp_path / "inbox"
    (tmp_path / "run").mkdir()
    with start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as sandbox:
        warehouse = configure(monkeypatch, tmp_path / "run", sandbox.env, inbox)
        shutil.copy(built, warehouse)
        yield sandbox, warehouse, monkeypatch, tmp_path


def _writes(sandbox) -> list:
    return sandbox.mailchimp.audit.writes + sandbox.action_network.audit.writes


def _clear(sandbox) -> None:
    sandbox.mailchimp.audit.clear()
    sandbox.action_network.audit.clear()


def _sql(warehouse, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _materialised(result, key: str) -> bool:
    return any(
        e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.path[-1] == key
        for e in result.all_events
        if e.asset_key is not None
    )


def _plan_metadata(result) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.path[-1] == "sync_plan":
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError("sync_plan was not materialised")


def _dry(**extra) -> dict:
    return {"ops": {"sync_plan": {"config": {"dry_run": True, **extra}}}}


def test_dry_run_plans_and_sends_nothing(world):
    sandbox, warehouse, _, _ = world
    result = run_push(run_config=_dry())
    assert result.success
    metadata = _plan_metadata(result)
    assert metadata["status"] == "dry_run" and metadata["adds"] > 0
    for key in ("removes", "unchanged", "skipped_consent", "skipped_not_member"):
        assert key in metadata
    assert not _materialised(result, "mailchimp_sync")
    assert not _materialised(result, "action_network_sync")
    assert _writes(sandbox) == [], "a dry run sends nothing"
    planned = _sql(warehouse, "SELECT count(*) FROM sync_plan")[0][0]
    assert planned == metadata["adds"] + metadata["sets"]
    assert _sql(warehouse, "SELECT count(*) FROM sync_ledger")[0][0] == 0


def test_a_killed_push_resumes_without_resending_confirmed_operations(world):
    sandbox, warehouse, monkeypatch, _ = world
    env = sandbox.env
    client = MailchimpClient(
        env["MAILCHIMP_API_KEY"],
        env["MAILCHIMP_LIST_ID"],
        env["MAILCHIMP_BASE_URL"],
        max_connections=1,
    )
    monkeypatch.setattr(push_package, "CHUNK", 20)

    def killed(_message: str) -> None:
        raise KeyboardInterrupt  # the process dies at the first progress line

    con = duckdb.connect(str(warehouse))
    try:
        ops = pending_operations(con, "mailchimp")
        with pytest.raises(KeyboardInterrupt):
            push_mailchimp(con, client, ops, MailchimpSync(), "killed-run", killed)
        confirmed = {
            r[0]
            for r in con.execute(
                "SELECT member_key FROM sync_ledger WHERE run_id = 'killed-run'"
            ).fetchall()
        }
        # Answers are recorded in blocks as they arrive, not at the end.
        assert 20 - push_package.BLOCK <= len(confirmed) < ops["member_key"].nunique()
        sent_before = [w.member for w in sandbox.mailchimp.audit.writes]
        _clear(sandbox)
        # As the next run does: the writes it may have sent are read back first.
        reconcile_mailchimp(con, client, "next-run", print)
        resumed = pending_operations(con, "mailchimp")
        report = push_mailchimp(con, client, resumed, MailchimpSync(), "next-run", print)
        assert pending_operations(con, "mailchimp").empty
    finally:
        con.close()
    resent = {w.member for w in sandbox.mailchimp.audit.writes}
    assert not resent & set(sent_before), "nothing sent before the kill was sent twice"
    assert not resent & confirmed, "no confirmed operation was sent twice"
    assert report.status == "ok"
    assert set(sent_before) | resent >= set(ops["member_key"])


def test_large_plans_go_through_batches_and_a_killed_collection_is_read_back(world):
    sandbox, warehouse, monkeypatch, _ = world
    env = sandbox.env
    client = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    monkeypatch.setattr(push_package, "CHUNK", 10)
    calls = []

    def killed(message: str) -> None:
        calls.append(message)
        if "contacts" in message:  # progress while reading the results back
            raise KeyboardInterrupt

    con = duckdb.connect(str(warehouse))
    try:
        ops = pending_operations(con, "mailchimp")
        settings = MailchimpSync(batch_above=0, batch_size=10_000)
        with pytest.raises(KeyboardInterrupt):
            push_mailchimp(con, client, ops, settings, "batch-run", killed)
        assert (
            con.execute("SELECT count(*) FROM sync_batches WHERE collected_at IS NULL").fetchone()[
                0
            ]
            == 1
        )
        report = collect_pending_batches(con, client, "next-run", print)
        ledger = con.execute(
            "SELECT count(*) FROM sync_ledger WHERE destination = 'mailchimp'"
        ).fetchone()[0]
        assert (
            con.execute("SELECT count(*) FROM sync_batches WHERE collected_at IS NULL").fetchone()[
                0
            ]
            == 0
        )
        assert pending_operations(con, "mailchimp").empty, "everything is in the ledger"
    finally:
        con.close()
    assert report.confirmed > 0 and ledger == len(ops)
    batch_writes = [w for w in sandbox.mailchimp.audit.writes if w.batch_id]
    assert len({w.member for w in batch_writes}) == ops["member_key"].nunique()
    posts = [w for w in sandbox.mailchimp.audit.writes if w.route == "POST /batches"]
    assert len(posts) == 1, "the batch was sent once and read back, never resent"
    assert all(w.detail.get("is_syncing") for w in batch_writes if w.tags_added)


def test_people_without_email_are_tagged_by_tagging_id(world):
    sandbox, warehouse, _, _ = world
    env = sandbox.env
    client = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    person = sandbox.action_network.people[0].uuid
    con = duckdb.connect(str(warehouse))
    try:
        base = {
            "destination": "action_network",
            "member_key": person,
            "person_id": "p-test",
            "kind": "tag",
            "segment": "tier:hq",
            "value": None,
            "journeys": False,
            "email": None,
            "run_id": "r",
        }
        add = pd.DataFrame(
            [{**base, "item": f"{NAMESPACE}tier:hq", "op": "add", "remote_id": None}]
        )
        report = push_action_network(con, client, add, "r1", print)
        assert report.status == "ok"
        assert f"{NAMESPACE}tier:hq" in sandbox.action_network.person_tags(person)
        tagging = con.execute(
            "SELECT remote_id FROM sync_ledger WHERE member_key = ?", [person]
        ).fetchone()[0]
        assert tagging
        remove = add.assign(op="remove", remote_id=tagging)
        report = push_action_network(con, client, remove, "r2", print)
        assert report.status == "ok"
        assert f"{NAMESPACE}tier:hq" not in sandbox.action_network.person_tags(person)
    finally:
        con.close()
    assert [w.route for w in sandbox.action_network.audit.writes if w.member == person] == [
        "POST /tags/{tag_id}/taggings",
        "DELETE /tags/{tag_id}/taggings/{tagging_id}",
    ]


def test_a_namespace_colliding_with_a_tag_not_managed_is_refused(world):
    _, warehouse, monkeypatch, tmp_path = world
    monkeypatch.setenv("LADDER_CONFIG", _ladder(tmp_path, namespace="Core"))
    result = run_push()
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure and failure[0].step_key == "sync_plan"
    text = failure[0].event_specific_data.error.message
    assert "'Core'" in text and "'Core Team'" in text and "does not manage" in text
    assert _sql(warehouse, "SELECT count(*) FROM sync_ledger")[0][0] == 0


def test_a_tier_merge_field_the_audience_lacks_is_refused(world):
    sandbox, _warehouse, monkeypatch, tmp_path = world
    path = _ladder(tmp_path, sync={"mailchimp": {"tier_merge_field": "RUNG"}})
    monkeypatch.setenv("LADDER_CONFIG", path)
    result = run_push()
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure and failure[0].step_key == "sync_plan"
    text = failure[0].event_specific_data.error.message
    assert "'RUNG' is not a merge field" in text and "TIER" in text
    assert _writes(sandbox) == []


@pytest.mark.creates_contacts
def test_a_signup_that_lands_on_another_person_is_taken_back_and_not_retried(world):
    sandbox, warehouse, _, _ = world
    member_key, email = _sql(
        warehouse,
        "SELECT member_key, any_value(email) FROM sync_plan WHERE destination = 'action_network' "
        "AND op = 'add' AND email IS NOT NULL GROUP BY 1 ORDER BY 1 LIMIT 1",
    )[0]
    # The address moved on Action Network after the last extraction.
    sandbox.action_network.by_uuid[member_key].email = "moved.elsewhere@example.org"
    result = run_push()
    assert result.success
    refused = _sql(
        warehouse,
        "SELECT DISTINCT status, title FROM sync_rejections WHERE member_key = ?",
        [member_key],
    )
    assert refused == [(409, "Email Matched Another Person")]
    other = next(p for p in sandbox.action_network.people if (p.email or "").lower() == email)
    assert other.uuid != member_key
    assert not [t for t in other.tags if t.startswith(NAMESPACE)], "the tags were taken back"
    _clear(sandbox)
    again = run_push()
    assert again.success
    assert not [w for w in sandbox.action_network.audit.writes if (w.email or "") == email]


def test_a_plan_touching_too_many_people_is_stopped(world):
    sandbox, warehouse, monkeypatch, tmp_path = world
    monkeypatch.setenv("LADDER_CONFIG", _ladder(tmp_path, sync={"max_people": 5}))
    stopped = run_push()
    checks = [
        e for e in stopped.get_asset_check_evaluations() if e.check_name == "within_guard_rails"
    ]
    assert checks and not checks[0].passed
    assert _plan_metadata(stopped)["status"] == "stopped"
    message = _sql(
        warehouse, "SELECT message FROM sync_runs WHERE run_id = ? LIMIT 1", [stopped.run_id]
    )[0][0]
    assert "more than sync.max_people (5)" in message
    assert _writes(sandbox) == []


def test_batch_results_that_fail_to_download_are_read_again_not_resent(world):
    sandbox, warehouse, _, _ = world
    env = sandbox.env
    client = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    route = "GET /_sandbox/batch-results/{name}"
    serve = sandbox.mc_server.controls[route]
    # The storage behind the results link has a bad moment.
    sandbox.mc_server.controls[route] = lambda request: Response(503, "Slow Down", "text/plain")
    con = duckdb.connect(str(warehouse))
    try:
        ops = pending_operations(con, "mailchimp")
        settings = MailchimpSync(batch_above=0, batch_size=10_000)
        first = push_mailchimp(con, client, ops, settings, "run-1", print)
        assert first.confirmed == 0
        pending = con.execute(
            "SELECT count(*) FROM sync_batches WHERE collected_at IS NULL"
        ).fetchone()[0]
        assert pending == 1, "kept to be read again"
        sandbox.mc_server.controls[route] = serve
        again = collect_pending_batches(con, client, "run-2", print)
        assert again.confirmed == len(ops)
        assert pending_operations(con, "mailchimp").empty
    finally:
        con.close()
    posts = [w for w in sandbox.mailchimp.audit.writes if w.route == "POST /batches"]
    assert len(posts) == 1, "read back, never sent twice"


# Issue 11 review: batches held back, purged or slow; the Action Network look-ups.


def _mc_client(sandbox) -> MailchimpClient:
    env = sandbox.env
    return MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )


def _an_client(sandbox) -> ActionNetworkClient:
    env = sandbox.env
    return ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )


def _route(server, method: str, template: str):
    """One of a simulator's routes, to wrap its handler for a fault."""
    return next(r for r in server.routes if r.method == method and r.template == template)


def _uncollected(con) -> int:
    return con.execute("SELECT count(*) FROM sync_batches WHERE collected_at IS NULL").fetchone()[0]


def _unsettled(con) -> int:
    return con.execute(
        "SELECT count(*) FROM sync_intents WHERE state IN ('intended', 'sent')"
    ).fetchone()[0]


def _batch_posts(sandbox) -> int:
    return len([w for w in sandbox.mailchimp.audit.writes if w.route == "POST /batches"])


def test_a_batch_whose_member_reads_fail_stays_pending_until_they_are_read(world):
    """Results expired and some member reads fail: those writes are held back with a
    count, the batch is not taken as read, and the next run settles them."""
    sandbox, warehouse, _, _ = world
    client = _mc_client(sandbox)
    results = "GET /_sandbox/batch-results/{name}"
    serve_results = sandbox.mc_server.controls[results]
    sandbox.mc_server.controls[results] = lambda request: Response(404, "NoSuchKey", "text/plain")
    member_route = _route(sandbox.mc_server, "GET", "/lists/{list_id}/members/{subscriber_hash}")
    serve_member = member_route.handler
    logs: list[str] = []
    con = duckdb.connect(str(warehouse))
    try:
        ops = pending_operations(con, "mailchimp")
        unreadable = set(sorted(ops["member_key"].unique())[:3])

        def flaky(request):
            if request.args.get("subscriber_hash") in unreadable:
                return Response(400, {"title": "Bad Moment", "detail": "try later"})
            return serve_member(request)

        member_route.handler = flaky
        settings = MailchimpSync(batch_above=0, batch_size=10_000)
        first = push_mailchimp(con, client, ops, settings, "run-1", logs.append)
        held = ops[ops["member_key"].isin(unreadable)]
        assert first.unconfirmed == len(held)
        assert _uncollected(con) == 1, "the batch is read again while writes are unsettled"
        assert _unsettled(con) == len(held)
        assert any(f"{len(held):,} operation(s)" in m and "held back" in m for m in logs)
        assert not any("@" in m for m in logs), "counts only, never an address"

        member_route.handler = serve_member
        sandbox.mc_server.controls[results] = serve_results
        again = reconcile_mailchimp(con, client, "run-2", print)
        assert again.confirmed == len(held)
        assert _uncollected(con) == 0 and _unsettled(con) == 0
        assert pending_operations(con, "mailchimp").empty, "nothing held back for good"
        ledger = con.execute(
            "SELECT count(*) FROM sync_ledger WHERE destination = 'mailchimp'"
        ).fetchone()[0]
    finally:
        member_route.handler = serve_member
        con.close()
    assert ledger == len(ops)
    assert _batch_posts(sandbox) == 1, "settled by reading, never sent twice"


def test_a_batch_sent_before_the_intent_log_is_read_back_by_its_operation_ids(world):
    """Migration 008 keys an earlier version's pending batch operations as
    `<batch_id>.<operation_id>`; Mailchimp's results carry the bare id. They are settled
    from the results, not by reading every member."""
    sandbox, warehouse, _, _ = world
    from connectors.mailchimp import push as mc
    from warehouse import migrate
    from warehouse.connection import connect

    client = _mc_client(sandbox)
    con = connect(warehouse)
    try:
        ops = pending_operations(con, "mailchimp")
        units = mc.requests_for(ops)
        operations, rows = [], []
        # As the version before write intents sent a batch: operation ids 0, 1, 2...
        for n, (_, kind, journeys, frame) in enumerate(units):
            op = mc._operation(client, kind, journeys, frame)
            operations.append({**op, "body": json.dumps(op["body"]), "operation_id": str(n)})
            rows.append(frame.assign(operation_id=str(n)))
        batch_id = str(client.submit_batch(operations)["id"])
        mc.wait_for_batch(client, batch_id)
        columns = ["operation_id", "destination", "member_key", "person_id", "item"]
        old = pd.concat(rows)[[*columns, "kind", "segment", "op", "value"]]
        con.register("old_ops", old.assign(batch_id=batch_id))
        con.execute(
            "INSERT INTO sync_batches (batch_id, destination, run_id, submitted_at, operations) "
            "VALUES (?, 'mailchimp', 'old-run', now(), ?)",
            [batch_id, len(operations)],
        )
        con.execute("INSERT INTO sync_batch_operations BY NAME SELECT * FROM old_ops")
        con.execute("DROP TABLE sync_intents")
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
    finally:
        con.close()
    migrate.forget(warehouse)  # this process checked it already: check it again
    con = connect(warehouse)  # upgraded: the pending operations become intents
    try:
        assert _unsettled(con) == len(ops)
        before = client.http.stats.as_dict().get("requests", 0)
        report = collect_pending_batches(con, client, "next-run", print)
        reads = client.http.stats.as_dict().get("requests", 0) - before
        assert report.confirmed == len(ops)
        assert reads <= 2, "read from the batch's results, not member by member"
        assert _uncollected(con) == 0 and _unsettled(con) == 0
        assert pending_operations(con, "mailchimp").empty
    finally:
        con.close()
    assert _batch_posts(sandbox) == 1


def test_a_batch_mailchimp_no_longer_has_is_settled_from_the_members(world):
    """Killed while reading a batch, which Mailchimp then purged (its JSON 404): the
    next run settles the batch's writes by reading the members, never fails on it, and
    its progress line counts the work there is."""
    sandbox, warehouse, monkeypatch, _ = world
    client = _mc_client(sandbox)
    monkeypatch.setattr(push_package, "CHUNK", 10)

    def killed(message: str) -> None:
        if "contacts" in message:
            raise KeyboardInterrupt

    logs: list[str] = []
    con = duckdb.connect(str(warehouse))
    try:
        ops = pending_operations(con, "mailchimp")
        settings = MailchimpSync(batch_above=0, batch_size=10_000)
        with pytest.raises(KeyboardInterrupt):
            push_mailchimp(con, client, ops, settings, "batch-run", killed)
        assert _uncollected(con) == 1 and _unsettled(con) > 0
        assert sandbox.mailchimp.purge_batches()
        report = reconcile_mailchimp(con, client, "next-run", logs.append)
        assert _uncollected(con) == 0 and _unsettled(con) == 0
        assert report.unconfirmed == 0
        assert pending_operations(con, "mailchimp").empty, "the batch's writes are confirmed"
        ledger = con.execute(
            "SELECT count(*) FROM sync_ledger WHERE destination = 'mailchimp'"
        ).fetchone()[0]
    finally:
        con.close()
    assert ledger == len(ops)
    assert _batch_posts(sandbox) == 1
    assert any("no longer has batch" in m for m in logs)
    progress = [re.search(r"([\d,]+)/([\d,]+) contacts.*about (-?\d+) s", m) for m in logs]
    progress = [m for m in progress if m]
    assert progress, "the member reads reported progress"
    for done, total, left in (m.groups() for m in progress):
        assert int(done.replace(",", "")) <= int(total.replace(",", "")) and int(left) >= 0


def test_a_batch_that_does_not_finish_in_time_is_left_for_the_next_run(world):
    """A batch still running after the timeout: a warning, the writes held back, no
    failure; once it finishes, the next run reads it and nothing is sent twice."""
    sandbox, warehouse, monkeypatch, _ = world
    from connectors.mailchimp import push as mc

    client = _mc_client(sandbox)
    monkeypatch.setattr(mc, "BATCH_TIMEOUT", 0.0)
    route = _route(sandbox.mc_server, "GET", "/batches/{batch_id}")
    serve = route.handler

    def still_running(request):
        response = serve(request)
        if response.status == 200 and isinstance(response.body, dict):
            response.body = {**response.body, "status": "started"}
        return response

    route.handler = still_running
    logs: list[str] = []
    con = duckdb.connect(str(warehouse))
    try:
        ops = pending_operations(con, "mailchimp")
        settings = MailchimpSync(batch_above=0, batch_size=10_000)
        first = push_mailchimp(con, client, ops, settings, "run-1", logs.append)
        assert first.confirmed == 0 and first.unconfirmed == len(ops)
        assert any("has not finished" in m for m in logs)
        waiting = reconcile_mailchimp(con, client, "run-2", logs.append)  # no failure either
        assert waiting.unconfirmed == len(ops)
        assert _uncollected(con) == 1
        assert pending_operations(con, "mailchimp").empty, "held back, not planned again"
        route.handler = serve
        done = reconcile_mailchimp(con, client, "run-3", print)
        assert done.confirmed == len(ops)
        assert _uncollected(con) == 0 and _unsettled(con) == 0
    finally:
        route.handler = serve
        con.close()
    assert _batch_posts(sandbox) == 1


def test_a_new_person_is_found_by_an_address_with_an_apostrophe(world):
    """o'neil@ is looked up as itself (the quote doubled), never as oneil@, and only a
    person carrying the wanted address counts."""
    from connectors.action_network.reconcile import _find_by_email

    sandbox, _, _, _ = world
    state = sandbox.action_network
    quoted, plain = state.people[0], state.people[1]
    with state.lock:
        quoted.email, plain.email = "o'neil@example.org", "oneil@example.org"
        state.version += 1
    client = _an_client(sandbox)
    assert _find_by_email(client, "O'Neil@example.org") == quoted.uuid
    assert _find_by_email(client, "oneil@example.org") == plain.uuid

    # A platform that ignores the filter answers with other people: none is taken.
    route = _route(sandbox.an_server, "GET", "/people")
    serve = route.handler

    def unfiltered(request):
        return serve(dataclasses.replace(request, params={}))

    route.handler = unfiltered
    try:
        assert _find_by_email(client, "nobody.here@example.org") == ""
    finally:
        route.handler = serve


def test_a_tag_added_by_id_whose_answer_is_unreadable_keeps_its_tagging_id(world):
    """The tagging's answer is cut off: the add is not taken as done without its id; the
    next run reads the person's taggings, records the id, and the tag can be removed."""
    from connectors.action_network.reconcile import reconcile_action_network

    sandbox, warehouse, _, _ = world
    client = _an_client(sandbox)
    person = sandbox.action_network.people[0].uuid
    tag = f"{NAMESPACE}tier:hq"
    route = _route(sandbox.an_server, "POST", "/tags/{tag_id}/taggings")
    serve = route.handler

    def cut(request):
        response = serve(request)
        data = response.encoded()
        return Response(response.status, data[: len(data) // 2], response.content_type)

    add = pd.DataFrame(
        [
            {
                "destination": "action_network",
                "member_key": person,
                "person_id": "p-test",
                "kind": "tag",
                "segment": "tier:hq",
                "value": None,
                "journeys": False,
                "email": None,
                "run_id": "r",
                "item": tag,
                "op": "add",
                "remote_id": None,
            }
        ]
    )
    con = duckdb.connect(str(warehouse))
    try:
        route.handler = cut
        first = push_action_network(con, client, add, "r1", print)
        route.handler = serve
        assert first.unconfirmed == 1 and first.confirmed == 0
        assert tag in sandbox.action_network.person_tags(person), "the tag was applied"
        settled = reconcile_action_network(con, client, "r2", print)
        assert settled.confirmed == 1
        tagging = con.execute(
            "SELECT remote_id FROM sync_ledger WHERE member_key = ? AND item = ?", [person, tag]
        ).fetchone()[0]
        assert tagging, "the tagging id was read back"
        removed = push_action_network(
            con, client, add.assign(op="remove", remote_id=tagging), "r3", print
        )
        assert removed.status == "ok"
    finally:
        route.handler = serve
        con.close()
    assert tag not in sandbox.action_network.person_tags(person)
    assert [w.route for w in sandbox.action_network.audit.writes if w.member == person] == [
        "POST /tags/{tag_id}/taggings",
        "DELETE /tags/{tag_id}/taggings/{tagging_id}",
    ]


# A first push, with five refusals, and a second with nothing changed: both tests read
# these two runs (~5 s of CPU) instead of making their own. The refusal test reads only
# what was recorded as each push ended, so the guard rail test can go on from them, in
# the same sandbox and warehouse, in either order.


@dataclasses.dataclass
class Pushed:
    """What the two pushes left, read as each push ended."""

    sandbox: Sandbox
    warehouse: Path
    refused: list[str]  # the Mailchimp members the platform refused
    first: dg.ExecuteInProcessResult  # the first push
    violations: list[str]  # the platform rules the first push broke
    tagged: int  # tags the ledger holds active after the first push
    rejected: list[tuple]  # sync_rejections after the first push
    refused_in_ledger: list[tuple]  # the ledger's rows for a refused member, after it
    again: dg.ExecuteInProcessResult  # the second push
    sent_again: list  # the write requests the second push sent


@pytest.fixture(scope="module")
def pushed(built, tmp_path_factory) -> Iterator[Pushed]:
    """A fresh sandbox that refuses five Mailchimp members, and the two pushes."""
    root = tmp_path_factory.mktemp("pushed")
    with sandbox_organisation(root, PEOPLE, SEED) as (
        sandbox,
        warehouse,
        _inbox,
        _monkeypatch,
    ):
        shutil.copy(built, warehouse)
        refused = [
            row[0]
            for row in _sql(
                warehouse,
                "SELECT DISTINCT member_key FROM sync_plan WHERE destination = 'mailchimp' "
                "ORDER BY 1 LIMIT 5",
            )
        ]
        sandbox.mailchimp.audit.refuse(
            refused, Refusal(400, "Member In Compliance State", "in a compliance state")
        )
        _clear(sandbox)
        first = run_push()
        violations = sandbox.violations(NAMESPACE)
        tagged = _sql(
            warehouse,
            "SELECT count(*) FROM sync_ledger WHERE kind = 'tag' AND state = 'active'",
        )[0][0]
        rejected = _sql(warehouse, "SELECT DISTINCT member_key, title, status FROM sync_rejections")
        refused_in_ledger = _sql(
            warehouse,
            "SELECT 1 FROM sync_ledger WHERE member_key IN (SELECT unnest(?::VARCHAR[]))",
            [refused],
        )
        _clear(sandbox)
        again = run_push()
        yield Pushed(
            sandbox,
            warehouse,
            refused,
            first,
            violations,
            tagged,
            rejected,
            refused_in_ledger,
            again,
            _writes(sandbox),
        )


def test_refused_operations_are_recorded_and_not_retried(pushed):
    members, result = pushed.refused, pushed.first
    assert result.success
    push_meta = {
        k: v.value
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.path[-1] == "mailchimp_sync"
        for k, v in e.event_specific_data.materialization.metadata.items()
    }
    assert push_meta["status"] == "partial"
    assert push_meta["rejected: Member In Compliance State"] >= 5
    assert push_meta["confirmed"] > 0, "the rest were applied"
    rejected = pushed.rejected
    assert {r[0] for r in rejected} == set(members)
    assert {(r[1], r[2]) for r in rejected} == {("Member In Compliance State", 400)}
    assert not pushed.refused_in_ledger, "a refused operation never reaches the ledger"

    again = pushed.again
    assert again.success
    assert pushed.sent_again == [], "refused operations are not retried on the next run"
    assert _plan_metadata(again)["skipped_rejected"] >= 5


def test_push_then_idle_then_guard_rail_and_confirmation(pushed, monkeypatch, tmp_path):
    sandbox, warehouse = pushed.sandbox, pushed.warehouse
    assert pushed.first.success
    assert pushed.violations == []
    tagged = pushed.tagged
    assert tagged > 0

    # Nothing changed (the refused operations are not retried): no write request is sent.
    second = pushed.again
    assert second.success and pushed.sent_again == []
    assert _plan_metadata(second)["unchanged"] >= tagged
    _clear(sandbox)

    # Stop pushing tiers to Mailchimp: every tier tag there would go. Stopped, check fails.
    data = yaml.safe_load((ROOT / "ladder.yaml").read_text())
    for rung in data["rungs"]:
        rung["push"] = [d for d in rung["push"] if d != "mailchimp"]
    path = tmp_path / "narrow.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LADDER_CONFIG", str(path))
    stopped = run_push()
    checks = [
        e for e in stopped.get_asset_check_evaluations() if e.check_name == "within_guard_rails"
    ]
    assert checks and not checks[0].passed
    assert not _materialised(stopped, "mailchimp_sync")
    assert _writes(sandbox) == [], "a stopped plan sends nothing"
    assert _plan_metadata(stopped)["status"] == "stopped"
    message = _sql(
        warehouse,
        "SELECT message FROM sync_runs WHERE step = 'plan' AND run_id = ? LIMIT 1",
        [stopped.run_id],
    )[0][0]
    assert "tier:" in message and "max_remove_share" in message

    # Confirmed once: the removals go out as tags made inactive, nothing else is touched.
    confirmed = run_push(
        run_config={"ops": {"sync_plan": {"config": {"confirm_large_changes": True}}}}
    )
    assert confirmed.success and _materialised(confirmed, "mailchimp_sync")
    removed = [w for w in sandbox.mailchimp.audit.writes if w.tags_removed]
    assert removed and all(
        t.startswith(f"{NAMESPACE}tier:") for w in removed for t in w.tags_removed
    )
    assert sandbox.violations(NAMESPACE) == []
    left = _sql(
        warehouse,
        "SELECT count(*) FROM sync_ledger WHERE destination = 'mailchimp' AND kind = 'tag' "
        "AND state = 'active' AND segment LIKE 'tier:%'",
    )[0][0]
    assert left == 0


# Adding new people. Both tests read one run (a landing, plan and push with
# `add_new_people`, ~10 s of CPU) instead of one each. They come last in the module: the
# contacts that run makes would fail the audit of any other test run while its sandbox
# is live.

# A subscribed Mailchimp member whose person also subscribed on Action Network: were they
# taken for new, status_if_new would even be `subscribed`.
ARCHIVABLE = """
    SELECT mc.source_record_id FROM person_sources mc
    JOIN stg_source_records s USING (source, source_record_id)
    JOIN person_sources an ON an.person_id = mc.person_id AND an.source = 'action_network'
    JOIN stg_source_records a
      ON a.source = an.source AND a.source_record_id = an.source_record_id
    JOIN ladder l ON l.person_id = mc.person_id
    WHERE mc.source = 'mailchimp' AND s.email_status = 'subscribed'
      AND a.email_status = 'subscribed' AND l.tier IN ('activist', 'supporter')
    ORDER BY 1 LIMIT 1
"""


@pytest.fixture(scope="module")
def added(built, tmp_path_factory) -> Iterator[tuple[Sandbox, Path, str]]:
    """A fresh sandbox where one such member was archived on Mailchimp, then a run that
    lands again, plans and pushes with `add_new_people` and the TIER merge field: the
    sandbox, the warehouse and the archived member's key."""
    root = tmp_path_factory.mktemp("added")
    with sandbox_organisation(root, PEOPLE, SEED) as (
        sandbox,
        warehouse,
        _inbox,
        monkeypatch,
    ):
        shutil.copy(built, warehouse)
        member_key = _sql(warehouse, ARCHIVABLE)[0][0]
        sandbox.mailchimp.archive(sandbox.mailchimp.by_id[member_key])
        path = _ladder(
            root, sync={"mailchimp": {"add_new_people": True, "tier_merge_field": "TIER"}}
        )
        monkeypatch.setenv("LADDER_CONFIG", path)
        # Landing again is what sees the archive; nothing here reads the exports.
        assert run_through_pushes().success
        yield sandbox, warehouse, member_key
    # Each test's audit saw this sandbox (allowing creations); this is its last, once
    # stopped, which the next test (maybe another module's) would make without allowing them.
    problems = [p for p in sandbox.violations(NAMESPACE) if "created" not in p]
    LIVE.discard(sandbox)
    assert problems == [], f"a sync broke the platform rules: {problems[:5]}"


@pytest.mark.creates_contacts
def test_new_members_are_added_pending_and_never_resubscribed(added):
    sandbox, warehouse, _ = added
    created = [w for w in sandbox.mailchimp.audit.writes if w.created]
    assert created, "people known only elsewhere were added"
    assert all(w.status_sent is None for w in sandbox.mailchimp.audit.writes)
    statuses = {w.status_after for w in created}
    assert statuses <= {"pending", "subscribed"}
    problems = [v for v in sandbox.violations(NAMESPACE) if "created" not in v]
    assert problems == [], "only creations, which this configuration asked for"
    suppressed = _sql(
        warehouse,
        "SELECT count(*) FROM sync_plan p JOIN person_metrics m USING (person_id) "
        "WHERE p.op = 'create' AND m.email_suppressed",
    )[0][0]
    assert suppressed == 0
    # The tier merge field carries each member's rung.
    tiers = dict(
        _sql(
            warehouse,
            "SELECT member_key, state FROM sync_ledger WHERE kind = 'field' AND item = 'TIER'",
        )
    )
    assert tiers
    for member_key, tier in tiers.items():
        assert sandbox.mailchimp.by_id[member_key].tier == tier


@pytest.mark.creates_contacts
def test_an_archived_member_is_never_added_again(added):
    sandbox, warehouse, member_key = added
    assert _sql(
        warehouse,
        "SELECT email_status FROM stg_source_records WHERE source_record_id = ?",
        [member_key],
    ) == [("archived",)]
    # Not added again, under this address or another of theirs.
    creates = _sql(
        warehouse,
        "SELECT p.member_key FROM sync_plan p JOIN person_sources ps USING (person_id) "
        "WHERE ps.source_record_id = ? AND p.op = 'create'",
        [member_key],
    )
    assert creates == []
    created = {w.member for w in sandbox.mailchimp.audit.writes if w.created}
    person_keys = {
        r[0]
        for r in _sql(
            warehouse,
            "SELECT p.member_key FROM sync_ledger p JOIN person_sources ps USING (person_id) "
            "WHERE ps.source_record_id = ?",
            [member_key],
        )
    }
    assert not created & person_keys
    assert [w for w in sandbox.mailchimp.audit.writes if w.member == member_key] == []
    assert sandbox.mailchimp.by_id[member_key].status == "archived"
