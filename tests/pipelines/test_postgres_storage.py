"""Issue 16, part 2: with DAGSTER_POSTGRES_URL set, Dagster's runs, event logs and schedules
live in PostgreSQL. A real throwaway server (tests/support/postgres.py): the whole job runs
on an instance opened by `runs.open_instance()` and is read back by a fresh one, a nightly
tick is recorded there, and a server that is down stops `make run` with one clear message."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines import instance_config, runs
from pipelines.definitions import JOB_NAME, build_definitions
from sandbox import start_sandbox
from tests.support.pipeline import ROOT, command_env, configure
from tests.support.postgres import PASSWORD, postgres_server, unused_port  # noqa: F401

PEOPLE, SEED = 40, 16
SETTING = "DAGSTER_POSTGRES_URL"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("pg-inbox")
    with start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as running:
        yield running, inbox


def _settings(monkeypatch, sandbox, workdir: Path, home: Path, url: str) -> None:
    running, inbox = sandbox
    workdir.mkdir()
    configure(monkeypatch, workdir, running.env, inbox)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(SETTING, url)
    monkeypatch.setenv("NIGHTLY_CRON", "0 2 * * *")
    monkeypatch.setenv("SCHEDULE_TIMEZONE", "UTC")
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)


@pytest.fixture(scope="module")
def dagster_tables(postgres_server, sandbox, tmp_path_factory) -> str:  # noqa: F811
    """A database in which `runs.open_instance()` created Dagster's tables, once: each test
    copies it (creating the tables costs seconds)."""
    root = tmp_path_factory.mktemp("pg-base")
    with pytest.MonkeyPatch.context() as monkeypatch:
        url = postgres_server.create_database("dagster_base")
        _settings(monkeypatch, sandbox, root / "run", root / "dagster", url)
        runs.open_instance().dispose()
    return "dagster_base"


@pytest.fixture()
def on_postgres(request, postgres_server, dagster_tables, sandbox, tmp_path, monkeypatch):  # noqa: F811
    """The test's settings, its own DAGSTER_HOME and its own database on the server."""
    database = request.node.name.removeprefix("test_")[:40].lower()
    url = postgres_server.create_database(database, template=dagster_tables)
    home = tmp_path / "dagster"
    _settings(monkeypatch, sandbox, tmp_path / "run", home, url)
    return home, database


def _rows(server, database: str, sql: str, params: tuple = ()) -> list[tuple]:
    with server.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _no_sqlite_history(home: Path) -> None:
    """Nothing of Dagster's SQLite storage under DAGSTER_HOME: the history went elsewhere."""
    assert not (home / "history").exists()
    assert not (home / "schedules").exists()
    assert sorted(p.name for p in home.rglob("*.db")) == []


@pytest.mark.slow
def test_the_whole_job_runs_on_postgres_and_is_read_back(postgres_server, on_postgres):  # noqa: F811
    home, database = on_postgres
    instance = runs.open_instance()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    # The instance file names the setting, never the address (it holds the password).
    written = (home / "dagster.yaml").read_text()
    assert PASSWORD not in written and str(postgres_server.port) not in written
    config = yaml.safe_load(written)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": SETTING}}}
    assert config["concurrency"] == {"pools": {"default_limit": 1}}  # the template's kept

    # As `make run` runs it: clearing dead runs first, tagged with this process.
    job = build_definitions().resolve_job_def(JOB_NAME)
    result = runs.execute(job, instance, None)
    assert result.success
    materialised = {event.asset_key for event in result.all_events if event.is_step_materialization}
    assert len(materialised) >= 10  # every source, identity, the ladder, the pushes, ...
    instance.dispose()

    # A fresh instance, from the same DAGSTER_HOME, reads the run back from PostgreSQL.
    fresh = dg.DagsterInstance.get()
    try:
        record = fresh.get_run_record_by_id(result.run_id)
        assert record is not None
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert record.dagster_run.job_name == JOB_NAME
        assert record.dagster_run.tags[runs.PID_TAG] == str(os.getpid())
        logged = fresh.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert {entry.asset_materialization.asset_key for entry in logged} == materialised
        assert fresh.get_latest_materialization_event(sorted(materialised)[0]) is not None
    finally:
        fresh.dispose()

    # And PostgreSQL itself holds the rows; DAGSTER_HOME holds no SQLite history.
    status = _rows(
        postgres_server, database, "SELECT status FROM runs WHERE run_id = %s", (result.run_id,)
    )
    assert status == [("SUCCESS",)]
    (count,) = _rows(
        postgres_server,
        database,
        "SELECT count(*) FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        (result.run_id,),
    )[0]
    assert count == len(materialised)
    _no_sqlite_history(home)


def _next_nightly(now: datetime) -> datetime:
    """The next 02:00 UTC after `now` (NIGHTLY_CRON 0 2 * * *)."""
    at = now.replace(hour=2, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def test_a_nightly_tick_is_recorded_in_postgres(postgres_server, on_postgres):  # noqa: F811
    """One iteration of the daemon's scheduler, as `dagster-daemon` runs it, at the next
    02:00: the tick and the run it queued are in PostgreSQL's schedule and run storage."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import create_test_daemon_workspace_context, load_remote_repo
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._scheduler.scheduler import launch_scheduled_runs

    home, database = on_postgres
    instance = runs.open_instance()
    target = InProcessWorkspaceLoadTarget(
        InProcessCodeLocationOrigin(
            LoadableTargetOrigin(
                executable_path=sys.executable,
                module_name="pipelines.definitions",
                working_directory=str(ROOT),
            ),
            location_name="pipelines.definitions",
        )
    )
    with create_test_daemon_workspace_context(target, instance) as workspace:
        schedule = load_remote_repo(workspace, "__repository__").get_schedule("nightly_sync")
        instance.start_schedule(schedule)  # as the UI's switch does
        at = _next_nightly(datetime.now(UTC)) + timedelta(seconds=30)
        list(
            launch_scheduled_runs(
                workspace, logging.getLogger("test.scheduler"), at, iteration_times={}
            )
        )
        origin_id, selector_id = schedule.get_remote_origin_id(), schedule.selector_id
    instance.dispose()

    fresh = dg.DagsterInstance.get()
    try:
        ticks = fresh.get_ticks(origin_id, selector_id)
        assert [tick.status for tick in ticks] == [TickStatus.SUCCESS]
        assert ticks[0].timestamp == pytest.approx(at.timestamp() - 30)
        (run_id,) = ticks[0].run_ids
        run = fresh.get_run_by_id(run_id)
        assert run is not None and run.job_name == JOB_NAME
        assert run.tags["dagster/schedule_name"] == "nightly_sync"
        # Queued for the daemon's run queue, which launches it within the warehouse pool.
        assert run.status == dg.DagsterRunStatus.QUEUED
    finally:
        fresh.dispose()
    assert _rows(postgres_server, database, "SELECT count(*) FROM job_ticks") == [(1,)]
    assert _rows(
        postgres_server, database, "SELECT status FROM runs WHERE run_id = %s", (run_id,)
    ) == [("QUEUED",)]
    _no_sqlite_history(home)


def test_unsetting_the_url_goes_back_to_sqlite(on_postgres, monkeypatch):
    home, _ = on_postgres
    runs.open_instance().dispose()
    assert "postgres" in (home / "dagster.yaml").read_text()
    monkeypatch.delenv(SETTING)
    instance = runs.open_instance()
    try:
        assert type(instance.run_storage).__name__.startswith("Sqlite")
        assert "storage" not in yaml.safe_load((home / "dagster.yaml").read_text())
    finally:
        instance.dispose()


def test_a_template_that_sets_storage_itself_is_refused():
    with pytest.raises(ValueError, match=r"remove the `storage:` block from dagster\.yaml"):
        instance_config.instance_yaml("storage:\n  sqlite:\n    base_dir: x\n", postgres=True)


# --- Postgres down at start -----------------------------------------------------------------


def _down_url(port: int) -> str:
    return f"postgresql://groundswell:{PASSWORD}@127.0.0.1:{port}/groundswell"


def test_a_server_that_is_down_stops_make_run_with_one_clear_message(tmp_path):
    data = tmp_path / "data"
    port = unused_port()
    env = command_env(data, people=50, DAGSTER_POSTGRES_URL=_down_url(port))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert time.monotonic() - started < 30  # an import of Dagster, then no waiting
    message = done.stderr.strip()
    assert "Traceback" not in message
    assert SETTING in message
    assert f"127.0.0.1:{port}/groundswell" in message
    assert "connection refused" in message
    assert "server is running" in message and "createdb" in message
    assert PASSWORD not in done.stdout + done.stderr
    assert "groundswell:" not in message  # nor the user name
    # Nothing was created: no instance, no warehouse, no sandbox started.
    assert not data.exists()
    assert "sandbox" not in done.stdout


def test_a_black_holed_server_gives_up_within_the_timeout():
    """A host that takes the connection and never answers: the check stops after its
    timeout instead of waiting minutes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever speaks
        started = time.monotonic()
        with pytest.raises(instance_config.PostgresUnreachable) as caught:
            instance_config.check_postgres(_down_url(silent.getsockname()[1]), timeout=2)
        assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "no answer within 2 s" in message and SETTING in message
    assert PASSWORD not in message


def test_a_wrong_password_says_what_to_check(postgres_server, tmp_path, monkeypatch):  # noqa: F811
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(SETTING, postgres_server.url().replace(PASSWORD, "not-the-password"))
    with pytest.raises(instance_config.PostgresUnreachable) as caught:
        runs.open_instance()
    message = str(caught.value)
    assert "the user name or password was not accepted" in message
    assert "not-the-password" not in message
    assert not home.exists()


def test_a_postgres_scheme_dagster_cannot_read_is_refused(tmp_path, monkeypatch):
    """libpq reads postgres://, SQLAlchemy (which Dagster connects through) does not."""
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(SETTING, _down_url(unused_port()).replace("postgresql://", "postgres://"))
    with pytest.raises(
        ValueError, match=r"DAGSTER_POSTGRES_URL must start with postgresql://"
    ) as caught:
        runs.open_instance()
    assert PASSWORD not in str(caught.value)
    assert not home.exists()


def test_sqlalchemy_2_1_with_a_bare_postgresql_address_is_refused(tmp_path, monkeypatch):
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3, whose server-side parameters break
    Dagster's NOTIFY; the pin in pyproject.toml keeps 2.0, and a newer one is named."""
    import sqlalchemy

    monkeypatch.setattr(sqlalchemy, "__version__", "2.1.9")
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(SETTING, _down_url(unused_port()))
    with pytest.raises(ValueError, match=r"postgresql\+psycopg2://") as caught:
        runs.open_instance()
    assert "make setup" in str(caught.value) and PASSWORD not in str(caught.value)
    assert not home.exists()
