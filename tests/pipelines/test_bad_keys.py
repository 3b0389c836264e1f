"""A wrong or missing key: that platform fails fast (or is skipped) and the others load."""

import time

import duckdb
import pytest
import requests

from pipelines.settings import SettingsError
from sandbox import start_sandbox
from tests.support.pipeline import configure, run_job, run_through_pushes


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("inbox")
    with start_sandbox(people=150, seed=3, an_rate=0, forms_dir=inbox) as running:
        yield running, inbox


def _count(warehouse, table):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def _failure_messages(result):
    return {
        e.step_key: e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    }


def test_wrong_action_network_key_fails_fast_and_others_load(sandbox, tmp_path, monkeypatch):
    running, inbox = sandbox
    env = {**running.env, "ACTION_NETWORK_API_KEY": "wrong-key"}
    base = running.env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0]
    requests.post(base + "/_sandbox/reset", timeout=5)
    warehouse = configure(monkeypatch, tmp_path, env, inbox)
    result = run_job()
    assert not result.success
    failures = _failure_messages(result)
    action_network_steps = {
        "action_network_people",
        "action_network_actions",
        "action_network_tags",
    }
    assert set(failures) == action_network_steps
    assert all("ACTION_NETWORK_API_KEY" in message for message in failures.values())
    stats = requests.get(base + "/_sandbox/stats", timeout=5).json()
    assert sum(stats["requests"].values()) == 3, "one refused request per step, never retried"
    assert _count(warehouse, "raw_mailchimp") > 0
    assert _count(warehouse, "raw_forms") > 0


def test_wrong_mailchimp_key_names_the_variable(sandbox, tmp_path, monkeypatch):
    running, inbox = sandbox
    env = {**running.env, "MAILCHIMP_API_KEY": "0123456789abcdef0123456789abcdef-us21"}
    warehouse = configure(monkeypatch, tmp_path, env, inbox)
    result = run_job()
    failures = _failure_messages(result)
    assert set(failures) == {"mailchimp_members", "mailchimp_audience", "mailchimp_campaigns"}
    assert all("MAILCHIMP_API_KEY" in message for message in failures.values())
    assert _count(warehouse, "raw_action_network") > 0


def test_missing_key_skips_the_platform_and_the_run_succeeds(sandbox, tmp_path, monkeypatch):
    running, inbox = sandbox
    env = {k: v for k, v in running.env.items() if not k.startswith("ACTION_NETWORK")}
    warehouse = configure(monkeypatch, tmp_path, env, inbox)
    # Through the pushes (Mailchimp's included): the assets after them (exports, portal
    # snapshot, ask conversion, ladder movement, backup) read no platform and run whole with
    # Action Network skipped in test_forms_inbox_alone_is_a_valid_setup.
    result = run_through_pushes()
    assert result.success
    assert _count(warehouse, "raw_action_network") == 0
    assert _count(warehouse, "people") > 0


def test_forms_inbox_alone_is_a_valid_setup(sandbox, tmp_path, monkeypatch):
    _, inbox = sandbox
    warehouse = configure(monkeypatch, tmp_path, {}, inbox)
    result = run_job()
    assert result.success
    assert _count(warehouse, "people") > 0


def test_mailchimp_key_without_its_data_centre_stops_the_run_before_any_request(
    sandbox, tmp_path, monkeypatch
):
    """It used to be retried for over two minutes and end in "Exceeded max_retries"."""
    running, inbox = sandbox
    base = running.env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0]
    requests.post(base + "/_sandbox/reset", timeout=5)
    key = running.env["MAILCHIMP_API_KEY"].rsplit("-", 1)[0]
    env = {k: v for k, v in running.env.items() if k != "MAILCHIMP_BASE_URL"}
    warehouse = configure(monkeypatch, tmp_path, {**env, "MAILCHIMP_API_KEY": key}, inbox)
    started = time.monotonic()
    with pytest.raises(SettingsError) as raised:
        run_job()
    assert time.monotonic() - started < 10
    assert "MAILCHIMP_API_KEY has no data-centre suffix" in str(raised.value)
    assert key not in str(raised.value)
    stats = requests.get(base + "/_sandbox/stats", timeout=5).json()
    assert sum(stats["requests"].values()) == 0, "refused before any request"
    assert not warehouse.exists(), "nothing was written"
