"""The Dagster definitions load, with and without platform keys."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDERS = {
    "ACTION_NETWORK_API_KEY": "placeholder",
    "MAILCHIMP_API_KEY": "placeholder-us6",
    "MAILCHIMP_LIST_ID": "placeholder",
}


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, **PLACEHOLDERS, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_asset_is_grouped_kinded_and_pooled(monkeypatch):
    for name, value in PLACEHOLDERS.items():
        monkeypatch.setenv(name, value)
    from pipelines.definitions import JOB_NAME, build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"sources", "identity", "engagement", "outbound", "operations"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.kinds, key
        assert node.pools == {"warehouse"}, key
    assert defs.resolve_job_def(JOB_NAME)
    schedule = defs.resolve_schedule_def("nightly_sync")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_secrets_are_env_vars_not_values(monkeypatch):
    for name, value in PLACEHOLDERS.items():
        monkeypatch.setenv(name, value)
    from pipelines.resources import build_resources

    resources = build_resources()
    assert isinstance(resources["action_network"].api_key, dg.EnvVar)
    assert isinstance(resources["mailchimp"].api_key, dg.EnvVar)


def test_the_ui_and_the_schedule_refuse_bad_settings_by_name(tmp_path, monkeypatch):
    """With a bad setting, the code location the UI and the daemon load still loads (so the
    alert and status sensors keep working), and every job and the nightly schedule's run
    fail at once with the refusal, each setting named."""
    mine = ("WAREHOUSE_PATH", "FORMS_INBOX", "BACKUP_DIR")
    bad = {**PLACEHOLDERS, "EXPORTS_DIR": "data", "MAILCHIMP_MAX_CONNECTIONS": "eight"}
    env = {
        **{k: v for k, v in os.environ.items() if k not in mine},
        **bad,
        "DAGSTER_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]

    from pipelines.definitions import defs

    monkeypatch.chdir(ROOT)
    for name in mine:
        monkeypatch.delenv(name, raising=False)
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    loaded = defs()
    assert {s.name for s in loaded.sensors or ()} >= {"alert_on_run_failure", "status_sensor"}
    [nightly] = loaded.schedules or ()
    for job in ("groundswell_sync", "forms_sync", "forget_person"):
        result = loaded.resolve_job_def(job).execute_in_process(raise_on_error=False)
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        said = failure.step_failure_data.user_failure_data.description
        assert "EXPORTS_DIR=data holds WAREHOUSE_PATH=data/warehouse.duckdb" in said, said
        assert "MAILCHIMP_MAX_CONNECTIONS='eight' is not a whole number" in said
    assert nightly.job_name == "groundswell_sync"
