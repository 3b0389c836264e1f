"""Every fault the sandbox can inject: landing either completes with every record, or
stops with a clear error and the next run resumes without loss or duplicates."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import land_action_network_people
from connectors.errors import AuthError, BadResponseError, NotFoundError, NotFoundPageError
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.landing import land_mailchimp_members
from connectors.registry import platform
from pipelines.assets.sources import _platform_failure
from sandbox import start_sandbox
from tests.support.pipeline import configure
from transforms.normalise import build_staging

ROOT = Path(__file__).resolve().parents[2]
AN_SETTINGS = platform("action_network").named_in_failures
MC_SETTINGS = platform("mailchimp").named_in_failures


@pytest.fixture
def sandbox():
    with start_sandbox(people=400, seed=21, an_rate=0) as running:
        yield running


def clients(sb, attempts=8):
    env = sb.env
    fast = {"backoff_max": 0.02, "max_attempts": attempts, "timeout": (2.0, 0.5)}
    an = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0, **fast
    )
    mc = MailchimpClient(
        env["MAILCHIMP_API_KEY"],
        env["MAILCHIMP_LIST_ID"],
        env["MAILCHIMP_BASE_URL"],
        page_size=25,
        **fast,
    )
    return an, mc


def land_both(con, sb, attempts=8):
    an, mc = clients(sb, attempts)
    reports = (
        land_action_network_people(con, an, "test", lambda _: None),
        land_mailchimp_members(con, mc, "test", lambda _: None),
    )
    return reports, an.http.stats.retries + mc.http.stats.retries


def assert_complete(con, sb):
    """Every record the platforms hold landed, and staging holds each exactly once."""
    an_ids = {r[0] for r in con.execute("SELECT record_id FROM raw_action_network").fetchall()}
    mc_ids = {r[0] for r in con.execute("SELECT record_id FROM raw_mailchimp").fetchall()}
    assert an_ids == {p.uuid for p in sb.org.an_people}
    assert mc_ids == {m.id for m in sb.org.mc_members}
    build_staging(con, "US")
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (source, source_record_id)) FROM stg_source_records"
    ).fetchone()
    assert total == distinct == len(sb.org.an_people) + len(sb.org.mc_members)


@pytest.mark.parametrize(
    "fault",
    [
        {"error_rate": 0.15},
        {"truncate_rate": 0.15},
        {"timeout_rate": 0.15, "stall_seconds": 1.0},
        {"burst_429": 6},
        {"html_404_rate": 0.15},
    ],
    ids=["5xx", "truncated", "timeout", "429-burst", "html-404"],
)
def test_transient_faults_are_retried_without_loss(con, sandbox, fault):
    sandbox.set_faults({**fault, "seed": 4})
    _, retries = land_both(con, sandbox)
    injected = sum(sandbox.an_server.faults.injected.values()) + sum(
        sandbox.mc_server.faults.injected.values()
    )
    assert injected > 0 and retries >= injected, "every injected fault was retried"
    assert_complete(con, sandbox)


def test_html_404_every_time_stops_as_a_transient_fault_then_resumes(con, sandbox):
    # Seed 2 spares page 1 (asked for alone, first) and hits a later page; one attempt
    # only, so the HTML 404 is what the landing sees.
    sandbox.set_faults({"html_404_rate": 0.3, "seed": 2}, platform="action_network")
    an, _ = clients(sandbox, attempts=1)
    with pytest.raises(NotFoundPageError, match="HTML page") as caught:
        land_action_network_people(con, an, "first", lambda _: None)
    assert not isinstance(caught.value, NotFoundError), "an HTML page is not a deletion"
    checkpoint = con.execute(
        "SELECT cursor_value FROM sync_cursors WHERE resource = 'people#pass'"
    ).fetchone()
    assert checkpoint is not None, "the pages before the fault are kept with a checkpoint"
    failure = _platform_failure(caught.value, AN_SETTINGS)
    assert "transient" in failure.description and "nothing landed is lost" in failure.description
    assert "key was refused" not in failure.description
    sandbox.set_faults({"html_404_rate": 0})
    (an_report, _), _ = land_both(con, sandbox)
    assert an_report.extra["resumed"] is True
    assert_complete(con, sandbox)


def test_only_the_platforms_own_not_found_names_the_setting(con, sandbox):
    env = sandbox.env
    fast = {"backoff_max": 0.02, "max_attempts": 2}
    wrong_list = MailchimpClient(
        env["MAILCHIMP_API_KEY"], "0000000000", env["MAILCHIMP_BASE_URL"], **fast
    )
    with pytest.raises(NotFoundError) as caught:
        land_mailchimp_members(con, wrong_list, "x", lambda _: None)
    # A full pull asks for its opening window of pages at once; none is asked again.
    assert wrong_list.http.stats.retries == 0, "Mailchimp's own answer is not retried"
    assert wrong_list.http.stats.requests <= wrong_list.max_connections
    failure = _platform_failure(caught.value, MC_SETTINGS)
    assert (
        "MAILCHIMP_LIST_ID" in failure.description and "Resource Not Found" in failure.description
    )
    sandbox.set_faults({"html_404_rate": 1.0}, platform="mailchimp")
    _, mc = clients(sandbox, attempts=2)
    with pytest.raises(NotFoundPageError) as caught:
        land_mailchimp_members(con, mc, "x", lambda _: None)
    stats = mc.http.stats  # each page of the opening window asked twice: retried once
    assert stats.retries >= 1 and stats.requests == 2 * stats.retries, "an HTML 404 is retried"
    assert "transient" in _platform_failure(caught.value, MC_SETTINGS).description


def test_unparseable_page_is_kept_raw_then_resumed(con, sandbox):
    sandbox.set_faults({"truncate_rate": 1.0}, platform="mailchimp")
    _, mc = clients(sandbox, attempts=2)
    with pytest.raises(BadResponseError):
        land_mailchimp_members(con, mc, "first", lambda _: None)
    source, reason, payload = con.execute(
        "SELECT source, reason, payload->>'$.body' FROM quarantine"
    ).fetchone()
    assert source == "mailchimp" and "cut off or is not valid JSON" in reason
    assert payload.startswith('{"members"'), "what arrived is kept"
    sandbox.set_faults({"truncate_rate": 0})
    land_both(con, sandbox)
    assert_complete(con, sandbox)


def test_bad_key_fails_fast_without_retries(con, sandbox):
    an = ActionNetworkClient("wrong", sandbox.env["ACTION_NETWORK_BASE_URL"], requests_per_second=0)
    with pytest.raises(AuthError, match="refused"):
        land_action_network_people(con, an, "x", lambda _: None)
    assert an.http.stats.requests == 1 and an.http.stats.retries == 0


KILLED_RUN = """
import sys
from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import land_action_network_people
from warehouse.connection import connect
con = connect(sys.argv[1])
client = ActionNetworkClient(sys.argv[2], sys.argv[3], requests_per_second=0)
print("landing", flush=True)
land_action_network_people(con, client, "killed", lambda _: None)
print("finished", flush=True)
"""


def test_killed_run_resumes_with_no_gap_and_no_duplicate(tmp_path):
    with start_sandbox(people=3000, seed=8, an_rate=0, an_latency=0.1) as sb:
        warehouse = tmp_path / "w.duckdb"
        script = tmp_path / "run.py"
        script.write_text(KILLED_RUN)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(warehouse),
                sb.env["ACTION_NETWORK_API_KEY"],
                sb.env["ACTION_NETWORK_BASE_URL"],
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert process.stdout.readline().strip() == "landing"
        time.sleep(1.0)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # The latency only had to keep the pass going until the kill; the resume needs none.
        sb.an_server.latency = 0.0

        from warehouse.connection import connect

        con = connect(warehouse)
        try:
            partial = con.execute(
                "SELECT count(DISTINCT record_id) FROM raw_action_network"
            ).fetchone()[0]
            assert 0 < partial < len(sb.org.an_people), "the kill landed mid-pass"
            an = ActionNetworkClient(
                sb.env["ACTION_NETWORK_API_KEY"],
                sb.env["ACTION_NETWORK_BASE_URL"],
                requests_per_second=0,
            )
            report = land_action_network_people(con, an, "resumed", lambda _: None)
            assert report.extra["resumed"] is True
            landed = con.execute(
                "SELECT count(*), count(DISTINCT record_id) FROM raw_action_network"
            ).fetchone()
            assert landed == (len(sb.org.an_people), len(sb.org.an_people)), (
                "no gap and no duplicate"
            )
            assert (
                con.execute(
                    "SELECT count(*) FROM sync_cursors WHERE resource LIKE '%#pass'"
                ).fetchone()[0]
                == 0
            )
        finally:
            con.close()


def test_incremental_after_a_day_lands_every_change(con):
    with start_sandbox(people=600, seed=13, an_rate=0) as sb:
        land_both(con, sb)
        first_an = con.execute("SELECT count(*) FROM raw_action_network").fetchone()[0]
        counts = sb.advance(days=1)
        an, mc = clients(sb)
        an_report = land_action_network_people(con, an, "day2", lambda _: None)
        land_mailchimp_members(con, mc, "day2", lambda _: None)
        assert an_report.incremental
        changed = counts["action_network_new"] + counts["action_network_modified"]
        assert changed <= an_report.records < first_an / 4
        # Every new or modified record's latest version is what staging now holds.
        build_staging(con, "US")
        truth = pd.DataFrame(  # noqa: F841 - read by name in the SQL below
            {
                "uuid": [p.uuid for p in sb.org.an_people],
                "modified": [p.modified for p in sb.org.an_people],
            }
        )
        stale = con.execute(
            "SELECT count(*) FROM truth t LEFT JOIN stg_source_records s "
            "ON s.source = 'action_network' AND s.source_record_id = t.uuid "
            "WHERE s.modified_at IS DISTINCT FROM t.modified"
        ).fetchone()[0]
        assert stale == 0, "every record's latest version is staged"

        statuses = dict(
            con.execute(
                "SELECT source_record_id, email_status FROM stg_source_records WHERE source = 'mailchimp'"
            ).fetchall()
        )
        assert all(statuses[m.id] == m.status for m in sb.org.mc_members)


SOURCE_ASSETS = (
    "action_network_people",
    "action_network_actions",
    "action_network_tags",
    "mailchimp_members",
    "mailchimp_audience",
    "mailchimp_campaigns",
)


def run_sources() -> dg.ExecuteInProcessResult:
    """The platform source assets of the real job, as a run lands them."""
    from pipelines.definitions import JOB_NAME, build_definitions

    job = build_definitions().resolve_job_def(JOB_NAME)
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=[dg.AssetKey(name) for name in SOURCE_ASSETS],
    )


def test_runs_under_html_404s_complete_and_lose_no_campaign_activity(tmp_path, monkeypatch):
    """Issue 11, case 3: with html_404_rate 0.1, runs failed with "check the key" and a
    campaign answering one HTML 404 was never read again."""
    with start_sandbox(people=200, seed=21, an_rate=0) as sb:
        warehouse = configure(monkeypatch, tmp_path, sb.env, tmp_path / "inbox")
        sb.set_faults({"html_404_rate": 0.1, "seed": 7})
        first = run_sources()
        assert first.success, "HTML 404s are retried, never a failed run"
        assert sum(s.faults.injected.get("html_404", 0) for s in (sb.an_server, sb.mc_server)) > 5
        sb.set_faults({"html_404_rate": 0})
        sb.advance(days=1)
        assert run_sources().success
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            events = con.execute(
                "SELECT count(DISTINCT record_id) FROM raw_mailchimp "
                "WHERE resource = 'email_activity'"
            ).fetchone()[0]
            marked = con.execute("SELECT count(*) FROM missing_records").fetchone()[0]
        finally:
            con.close()
        assert events == sb.counts()["mailchimp_email_activity"], "every event landed"
        assert marked == 0, "an HTML 404 never marks anything missing"
