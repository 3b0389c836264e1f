"""Opt-outs travel (sync.propagate_opt_outs), end to end on the simulators: an unsubscribe
on Action Network unsubscribes the person's Mailchimp member and the other way round; a
bounce does not travel; an archived member is left alone; nothing is sent with the setting
off; each opt-out is planned, shown in a dry run, recorded as an intent, confirmed in the
ledger, counted and sent once; they count toward no tag guard rail, only their own
(sync.max_opt_outs)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.failpoints import ENV, EXIT_CODE
from connectors.mailchimp.client import MailchimpClient
from sandbox import start_sandbox
from tests.support.pipeline import ROOT, configure, run_push, run_through_pushes
from tests.support.sync import clear_writes as _clear
from tests.support.sync import ladder_with_sync, run_counts
from tests.support.sync import platform_writes as _writes
from tests.support.sync import read_sql as _sql
from transforms.summary import summarise
from transforms.sync_config import SyncConfigError, parse_sync

SEED, PEOPLE = 13, 200


def _ladder(path: Path, **sync) -> str:
    return ladder_with_sync(path, sync)


def _counts(warehouse: Path, result, step: str = "plan") -> dict[str, int]:
    """opt_outs_propagated per destination, as the run recorded it for `step`."""
    return run_counts(warehouse, result, "opt_outs_propagated", step)


@pytest.fixture(scope="module")
def organisation(tmp_path_factory):
    """A sandbox organisation pushed once with the default settings (opt-outs stay put),
    shared by the tests here: a whole run costs ~12 s of CPU. Each test opts out people no
    other test touched (`_both_subscribed` skips anyone with an opt-out) and leaves nothing
    planned behind it."""
    tmp_path = tmp_path_factory.mktemp("opt_outs")
    inbox = tmp_path / "inbox"
    (tmp_path / "run").mkdir()
    with (
        start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, tmp_path / "run", sandbox.env, inbox)
        monkeypatch.setenv("LADDER_CONFIG", _ladder(tmp_path / "off.yaml"))
        assert run_through_pushes().success
        assert not [w for w in _writes(sandbox) if w.status_sent], "off: no status is ever sent"
        yield sandbox, warehouse, monkeypatch, tmp_path


@pytest.fixture()
def pushed(organisation):
    """The organisation, pushed with the default settings (opt-outs stay put), as the
    test before left it; its platform writes cleared."""
    sandbox, _, monkeypatch, tmp_path = organisation
    monkeypatch.setenv("LADDER_CONFIG", _ladder(tmp_path / "off.yaml"))
    _clear(sandbox)
    return organisation


def _both_subscribed(warehouse: Path, n: int) -> list[tuple[str, str]]:
    """(Mailchimp member, Action Network person) of `n` people subscribed on both, with no
    opt-out anywhere, carrying Groundswell tags on Mailchimp."""
    return _sql(
        warehouse,
        """
        SELECT any_value(mc.source_record_id), any_value(an.source_record_id)
        FROM person_sources pm
        JOIN stg_source_records mc USING (source, source_record_id)
        JOIN person_sources pa ON pa.person_id = pm.person_id AND pa.source = 'action_network'
        JOIN stg_source_records an
          ON an.source = pa.source AND an.source_record_id = pa.source_record_id
        JOIN person_metrics m ON m.person_id = pm.person_id
        WHERE pm.source = 'mailchimp' AND mc.email_status = 'subscribed'
          AND an.email_status = 'subscribed' AND an.email IS NOT NULL
          AND NOT m.email_suppressed
          AND EXISTS (SELECT 1 FROM sync_ledger l WHERE l.member_key = mc.source_record_id
                      AND l.kind = 'tag' AND l.state = 'active')
        GROUP BY pm.person_id HAVING count(*) = 1
        ORDER BY pm.person_id LIMIT ?
        """,
        [n],
    )


def _clients(sandbox) -> tuple[MailchimpClient, ActionNetworkClient]:
    env = sandbox.env
    mc = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    an = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    return mc, an


def _an_status(an: ActionNetworkClient, sandbox, person: str, status: str) -> None:
    """The person changes their email status on Action Network (by their own link)."""
    email = sandbox.action_network.by_uuid[person].email
    an.http.request(
        "PUT",
        f"people/{person}",
        json_body={"email_addresses": [{"address": email, "status": status}]},
    )


def _mc_status(mc: MailchimpClient, member: str, status: str) -> None:
    """The member's status changes on Mailchimp (an unsubscribe link, a bounce)."""
    mc.http.request("PATCH", f"lists/{mc.list_id}/members/{member}", json_body={"status": status})


def test_opt_outs_travel_both_ways_only_when_enabled(pushed):
    sandbox, warehouse, monkeypatch, tmp_path = pushed
    mc, an = _clients(sandbox)
    (a_mc, a_an), (b_mc, b_an), (c_mc, c_an), (d_mc, d_an) = _both_subscribed(warehouse, 4)
    _an_status(an, sandbox, a_an, "unsubscribed")  # A: unsubscribed on Action Network
    _mc_status(mc, b_mc, "unsubscribed")  # B: unsubscribed on Mailchimp
    _mc_status(mc, c_mc, "cleaned")  # C: bounced on Mailchimp: not an opt-out
    _an_status(an, sandbox, d_an, "unsubscribed")  # D: unsubscribed on AN, and ...
    mc.http.request("DELETE", f"lists/{mc.list_id}/members/{d_mc}")  # archived on Mailchimp
    _clear(sandbox)

    # Off (the default): nothing travels. This run pulls the changes; until the pushes
    # below send something, nothing changes on the platforms, so the runs in between
    # re-plan and push over that pull (run_push) instead of pulling it again.
    off = run_through_pushes()
    assert off.success
    assert _counts(warehouse, off) == {"mailchimp": 0, "action_network": 0}
    assert not [w for w in _writes(sandbox) if w.status_sent]
    assert sandbox.mailchimp.by_id[a_mc].status == "subscribed"
    assert sandbox.action_network.by_uuid[b_an].email_status == "subscribed"
    _clear(sandbox)

    # On, as a dry run: planned and shown, nothing sent.
    monkeypatch.setenv("LADDER_CONFIG", _ladder(tmp_path / "on.yaml", propagate_opt_outs=True))
    dry = run_push(run_config={"ops": {"sync_plan": {"config": {"dry_run": True}}}})
    assert dry.success
    planned = set(
        _sql(warehouse, "SELECT destination, member_key FROM sync_plan WHERE op = 'unsubscribe'")
    )
    assert {("mailchimp", a_mc), ("action_network", b_an)} <= planned
    assert not {("action_network", c_an), ("mailchimp", d_mc)} & planned, (
        "a bounce does not travel; an archived member is left alone"
    )
    assert _counts(warehouse, dry)["mailchimp"] >= 1
    assert _counts(warehouse, dry)["action_network"] >= 1
    assert _writes(sandbox) == []

    # More opt-outs than sync.max_opt_outs: an unsubscribe cannot be undone, so they wait
    # for a confirmation, like any stopped plan.
    monkeypatch.setenv(
        "LADDER_CONFIG",
        _ladder(tmp_path / "few.yaml", propagate_opt_outs=True, max_people=1, max_opt_outs=1),
    )
    stopped = run_push()
    checks = [
        e for e in stopped.get_asset_check_evaluations() if e.check_name == "within_guard_rails"
    ]
    assert checks and not checks[0].passed
    assert _writes(sandbox) == [], "a stopped plan sends nothing"
    message = _sql(
        warehouse,
        "SELECT message FROM sync_runs WHERE step = 'plan' AND run_id = ? LIMIT 1",
        [stopped.run_id],
    )[0][0]
    assert "sync.max_opt_outs" in message and "@" not in message
    assert sandbox.mailchimp.by_id[a_mc].status == "subscribed"

    # Sent, each recorded as an intent first and confirmed in the ledger after. Opt-outs
    # count toward neither tag guard rail: this plan touches more people than max_people.
    monkeypatch.setenv(
        "LADDER_CONFIG", _ladder(tmp_path / "on.yaml", propagate_opt_outs=True, max_people=1)
    )
    sent_run = run_push()
    assert sent_run.success, "not stopped by max_people"
    assert sandbox.mailchimp.by_id[a_mc].status == "unsubscribed"
    assert sandbox.action_network.by_uuid[b_an].email_status == "unsubscribed"
    assert sandbox.action_network.by_uuid[c_an].email_status == "subscribed", "a bounce stays"
    assert sandbox.mailchimp.by_id[d_mc].status == "archived", "an archived member is left"
    sent = [w for w in _writes(sandbox) if w.status_sent]
    assert sent and {w.status_sent for w in sent} == {"unsubscribed"}
    assert not [w for w in _writes(sandbox) if w.member in (c_an, d_mc) and w.status_sent]
    pushed_counts = _counts(warehouse, sent_run, "push")
    assert pushed_counts["mailchimp"] == len(
        [w for w in sandbox.mailchimp.audit.writes if w.status_sent]
    )
    assert pushed_counts["action_network"] == len(
        [w for w in sandbox.action_network.audit.writes if w.status_sent]
    )
    ledger = set(
        _sql(
            warehouse,
            "SELECT destination, member_key FROM sync_ledger WHERE kind = 'status' "
            "AND item = 'email_status' AND state = 'unsubscribed'",
        )
    )
    assert {("mailchimp", a_mc), ("action_network", b_an)} <= ledger
    summary = summarise(str(warehouse), sent_run.run_id, [])
    assert f"{pushed_counts['mailchimp']:,} opt_outs_propagated" in summary
    assert "@" not in summary, "counts only, never an address"
    intents = _sql(
        warehouse,
        "SELECT DISTINCT state FROM sync_intents WHERE op = 'unsubscribe' AND member_key IN (?, ?)",
        [a_mc, b_an],
    )
    assert intents == [("confirmed",)], "recorded as intended before, confirmed after"
    assert not [t for t in sandbox.mailchimp.by_id[a_mc].tags if t.startswith("groundswell:")], (
        "an opted-out person loses Groundswell's tags on Mailchimp"
    )
    _clear(sandbox)

    # Idle: the whole job pulls again, and no opt-out is sent twice.
    idle = run_through_pushes()
    assert idle.success
    assert _counts(warehouse, idle) == {"mailchimp": 0, "action_network": 0}
    assert _writes(sandbox) == []


def test_the_setting_is_off_by_default_and_must_be_true_or_false():
    assert parse_sync(None, "ladder.yaml").propagate_opt_outs is False
    assert parse_sync({"propagate_opt_outs": True}, "ladder.yaml").propagate_opt_outs is True
    with pytest.raises(SyncConfigError, match=r"sync\.propagate_opt_outs: must be true or false"):
        parse_sync({"propagate_opt_outs": "yes"}, "ladder.yaml")
    assert parse_sync(None, "ladder.yaml").max_opt_outs == 200
    with pytest.raises(SyncConfigError, match=r"max_opt_outs"):
        parse_sync({"max_opt_outs": -1}, "ladder.yaml")


# The Mailchimp push as the asset runs it, over the plan in the warehouse, in a process a
# failpoint ends as `kill -9` would.
PUSH = """
import os, sys
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.push import push_mailchimp
from transforms.sync_config import MailchimpSync
from transforms.sync_plan import pending_operations
from warehouse.connection import connect

env = os.environ
con = connect(sys.argv[1])
client = MailchimpClient(
    env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"],
    max_connections=1,
)
push_mailchimp(con, client, pending_operations(con, "mailchimp"), MailchimpSync(), "killed", print)
con.close()
"""


def test_an_opt_out_whose_answer_was_lost_is_checked_not_sent_again(pushed):
    sandbox, warehouse, monkeypatch, tmp_path = pushed
    _, an = _clients(sandbox)
    (a_mc, a_an), *_ = _both_subscribed(warehouse, 1)
    _an_status(an, sandbox, a_an, "unsubscribed")
    assert run_through_pushes().success  # off: the person's Groundswell tags come off Mailchimp
    monkeypatch.setenv("LADDER_CONFIG", _ladder(tmp_path / "on.yaml", propagate_opt_outs=True))
    # Nothing changed on the platforms since that pull: only the plan is made again.
    assert run_push(run_config={"ops": {"sync_plan": {"config": {"dry_run": True}}}}).success
    planned = {
        row[0]
        for row in _sql(
            warehouse,
            "SELECT member_key FROM sync_plan WHERE destination = 'mailchimp' "
            "AND op = 'unsubscribe'",
        )
    }
    assert a_mc in planned
    ops = _sql(warehouse, "SELECT DISTINCT op FROM sync_plan WHERE destination = 'mailchimp'")
    assert ops == [("unsubscribe",)], "the first request sent is an unsubscribe"
    _clear(sandbox)

    # Killed after the first unsubscribe was sent, before its answer was recorded.
    env = {**os.environ, **sandbox.env, ENV: "mailchimp.after_send:1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PUSH, str(warehouse)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == EXIT_CODE, done.stderr[-2000:]
    unsettled = _sql(
        warehouse,
        "SELECT count(*) FROM sync_intents WHERE op = 'unsubscribe' AND state = 'intended'",
    )[0][0]
    assert unsettled >= 1, "recorded as intended before it was sent"

    # The next run reads the member, records what it shows, and sends only the rest.
    assert run_through_pushes().success
    sent = Counter(w.member for w in sandbox.mailchimp.audit.writes if w.status_sent)
    assert set(sent) == planned and set(sent.values()) == {1}, "each sent exactly once"
    assert {sandbox.mailchimp.by_id[m].status for m in planned} == {"unsubscribed"}
    assert not _sql(
        warehouse,
        "SELECT 1 FROM sync_intents WHERE op = 'unsubscribe' AND state IN ('intended', 'sent')",
    )
