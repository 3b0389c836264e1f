"""SIGTERM during a push (issue 16), as systemd or `make serve` sends it: `make run` stops,
its run is marked failed, not left started; the next run settles what was sent from the
ledger and sends nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from sandbox import start_sandbox
from tests.support.pipeline import ROOT, configure, run_job

SEED, PEOPLE = 23, 60
WAIT_SECONDS = 240


def _writes(sandbox) -> int:
    return len(sandbox.action_network.audit.writes) + len(sandbox.mailchimp.audit.writes)


def test_sigterm_during_a_push_leaves_nothing_half_done_and_nothing_resent(tmp_path):
    inbox = tmp_path / "inbox"
    (tmp_path / "run").mkdir()
    home = tmp_path / "dagster"
    with (
        start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, tmp_path / "run", sandbox.env, inbox)
        env = {**os.environ, "DAGSTER_HOME": str(home), "SANDBOX": "off"}
        started = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "run"],
            cwd=tmp_path / "run",
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + WAIT_SECONDS
        # Once the push sends, every answer takes a while, so it is still sending when
        # SIGTERM comes (slow from the start, the pulls before it took a minute).
        for writes, pause in ((1, 0.005), (3, 0.05)):
            while _writes(sandbox) < writes:
                assert started.poll() is None, started.stdout.read()[-3000:]
                assert time.monotonic() < deadline, "waited for the push to start sending"
                time.sleep(pause)
            sandbox.action_network.latency = sandbox.mailchimp.latency = 0.05
        started.send_signal(signal.SIGTERM)
        try:
            output, _ = started.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            started.kill()
            raise AssertionError("make run did not stop within 60 s of SIGTERM") from None
        assert started.returncode == 130, output[-3000:]
        assert "Stopped (Ctrl-C or SIGTERM)" in output
        sent_before = _writes(sandbox)

        # The interrupted run is marked failed in Dagster's history, not left started.
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            records = instance.get_run_records()
            assert records and records[0].dagster_run.status == dg.DagsterRunStatus.FAILURE

        # The next run settles what the stopped one sent and finishes the rest.
        sandbox.action_network.latency = sandbox.mailchimp.latency = 0.0
        assert run_job().success
        assert _writes(sandbox) > sent_before, "the rest of the push was sent"
        assert sandbox.action_network.audit.duplicates() == []
        assert sandbox.mailchimp.audit.duplicates() == []
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            unsettled = con.execute(
                "SELECT count(*) FROM sync_intents WHERE state IN ('intended', 'sent')"
            ).fetchone()[0]
        finally:
            con.close()
        assert unsettled == 0
