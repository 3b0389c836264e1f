"""Running the real Dagster job in-process against the sandbox and a temporary warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (
    "WAREHOUSE_PATH",
    "FORMS_INBOX",
    "EXPORTS_DIR",
    "LADDER_CONFIG",
    "IDENTITY_CONFIG",
    "ACTION_NETWORK_API_KEY",
    "ACTION_NETWORK_BASE_URL",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_BASE_URL",
    "MAILCHIMP_LIST_ID",
    "SANDBOX",
    "ACTION_NETWORK_RATE",
    "TEAMS_CONFIG",
    "PORTAL_SNAPSHOT",
    "PORTAL_DB",
    "BACKUP_DIR",
)


def configure(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, platform_env: dict[str, str], inbox: Path
) -> Path:
    """Point every setting at the test's own files and the given platforms."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(workdir)  # a stray .env in the repo must not leak in
    warehouse = workdir / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("FORMS_INBOX", str(inbox))
    monkeypatch.setenv("EXPORTS_DIR", str(workdir / "exports"))
    monkeypatch.setenv("LADDER_CONFIG", str(ROOT / "ladder.yaml"))
    monkeypatch.setenv("IDENTITY_CONFIG", str(ROOT / "identity.yaml"))
    monkeypatch.setenv("TEAMS_CONFIG", str(ROOT / "teams.yaml"))
    monkeypatch.setenv("PORTAL_SNAPSHOT", str(workdir / "portal" / "snapshot.duckdb"))
    monkeypatch.setenv("PORTAL_DB", str(workdir / "portal" / "portal.db"))
    monkeypatch.setenv("BACKUP_DIR", str(workdir / "backups"))
    monkeypatch.setenv("SANDBOX", "off")
    # Tests serve Action Network without a rate limit; the client's is tested on its own.
    monkeypatch.setenv("ACTION_NETWORK_RATE", "0")
    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    return warehouse


class Organisation(NamedTuple):
    sandbox: object  # sandbox.Sandbox
    warehouse: Path
    inbox: Path
    monkeypatch: pytest.MonkeyPatch


@contextmanager
def sandbox_organisation(root: Path, people: int, seed: int) -> Iterator[Organisation]:
    """For a module's fixture: a sandbox organisation serving both platforms (no rate
    limit) and its form exports in root/inbox, every setting pointed at root/run."""
    from sandbox import start_sandbox

    (root / "run").mkdir(exist_ok=True)
    inbox = root / "inbox"
    with (
        start_sandbox(people=people, seed=seed, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, root / "run", sandbox.env, inbox)
        yield Organisation(sandbox, warehouse, inbox, monkeypatch)


# What a command in a subprocess must not inherit from the developer's shell: real keys,
# real addresses, a wait or a database of their own.
COMMAND_SCRUBBED = (
    "ACTION_NETWORK_API_KEY",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_LIST_ID",
    "ACTION_NETWORK_BASE_URL",
    "MAILCHIMP_BASE_URL",
    "RUN_WAIT_SECONDS",
    "DAGSTER_POSTGRES_URL",
    "ALERT_WEBHOOK_URL",
    "ALERT_EMAIL_TO",
    "SMTP_HOST",
)


def command_env(data: Path, people: int = 200, **extra: str) -> dict[str, str]:
    """Settings for a command (`python -m pipelines ...`) in a subprocess: every file under
    `data` (never the working directory, where a `sandbox` folder would shadow the package
    for `python -m`), the sandbox platforms with `people`, answering at once."""
    env = {k: v for k, v in os.environ.items() if k not in COMMAND_SCRUBBED}
    env.update(
        DAGSTER_HOME=str(data / "dagster"),
        WAREHOUSE_PATH=str(data / "warehouse.duckdb"),
        FORMS_INBOX=str(data / "inbox"),
        EXPORTS_DIR=str(data / "exports"),
        LADDER_CONFIG=str(ROOT / "ladder.yaml"),
        IDENTITY_CONFIG=str(ROOT / "identity.yaml"),
        SANDBOX="on",
        SANDBOX_PEOPLE=str(people),
        SANDBOX_LATENCY_MS="0",
        SANDBOX_AN_RATE="0",
        ACTION_NETWORK_RATE="0",
    )
    env.update(extra)
    return env


def ephemeral_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process commands (`forget`) run on an ephemeral Dagster instance, not the
    DAGSTER_HOME `make test` exports: no test run lands in data/dagster's history, waits
    behind a developer's live run for the warehouse pool, or pays for a run store on disk.
    The CLI's own instance on disk is tested with real processes (test_runs.py)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def run_job(
    instance: dg.DagsterInstance | None = None, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    from pipelines.definitions import JOB_NAME, build_definitions

    job = build_definitions().resolve_job_def(JOB_NAME)
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config=run_config,
    )


PUSH_ASSETS = ("sync_plan", "mailchimp_sync", "action_network_sync")


def run_push(run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Only the plan and the pushes, over a warehouse an earlier run built."""
    from pipelines.definitions import JOB_NAME, build_definitions

    job = build_definitions().resolve_job_def(JOB_NAME)
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config=run_config,
        asset_selection=[dg.AssetKey(name) for name in PUSH_ASSETS],
    )


def run_through_pushes(run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Land, build, plan and push: the pushes and every asset upstream of them, as the
    whole job runs them, without the assets nothing pushed depends on (the activation
    exports, ladder movement), which tests of the push do not read."""
    from pipelines.definitions import JOB_NAME, build_definitions

    defs = build_definitions()
    needed = dg.AssetSelection.assets(*PUSH_ASSETS[1:]).upstream()
    needed = needed.resolve(defs.resolve_asset_graph())
    # An op that makes several assets runs whole (identity also writes the review file).
    keys = {
        key
        for op in defs.assets or ()
        if isinstance(op, dg.AssetsDefinition) and op.keys & needed
        for key in op.keys
    }
    return defs.resolve_job_def(JOB_NAME).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config=run_config,
        asset_selection=sorted(keys),
    )


def logged_text(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """Every log line and metadata value the run left in the instance, as one string."""
    parts = []
    for entry in instance.all_logs(result.run_id):
        parts.append(entry.user_message or "")
        materialization = entry.asset_materialization
        if materialization is not None:
            parts.extend(str(v.value) for v in materialization.metadata.values())
    return "\n".join(parts)
