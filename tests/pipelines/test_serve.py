"""Issue 16, part 1: `make serve` (`python -m pipelines.serve`) starts the Dagster webserver,
the daemon and the portal under one supervisor, refuses a second serve on the same data
(naming the first's pid), restarts a child that dies, runs the nightly job on its schedule,
and on SIGTERM stops every process it started and marks an interrupted run failed. Real
processes on loopback, a real Dagster instance on disk, the sandbox platforms."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipelines import runs, serve
from pipelines.supervisor import ChildSpec, Supervisor, alive, descendants
from tests.support.alert_receivers import MailServer, Webhook
from tests.support.pipeline import command_env

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE_TAG = "dagster/schedule_name"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Every file under `workdir/data`, free ports, a small quick sandbox."""
    data = workdir / "data"
    layout = {
        "PORTAL_DB": str(data / "portal" / "portal.db"),
        "PORTAL_SNAPSHOT": str(data / "portal" / "snapshot.duckdb"),
        "BACKUP_DIR": str(data / "backups"),
        "LOG_DIR": str(data / "logs"),
        "TEAMS_CONFIG": str(ROOT / "teams.yaml"),
        "DAGSTER_PORT": str(free_port()),
        "PORTAL_PORT": str(free_port()),
    }
    return command_env(data, people=60, **{**layout, **extra})


def start_serve(workdir: Path, env: dict[str, str], name: str = "serve") -> subprocess.Popen:
    """`python -m pipelines.serve` in `workdir` (no stray .env), output in name.out."""
    out = open(workdir / f"{name}.out", "w")  # noqa: SIM115 (the process keeps writing it)
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.serve"],
        cwd=workdir,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until(what: str, check, timeout: float, context=lambda: "") -> object:
    """Poll `check` until it returns something true; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if found := check():
                return found
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f} s for {what}; it never happened.\n{context()}")


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(url, timeout=3) as response:
        return response.status == 200


def cron_a_minute_away() -> str:
    """A daily cron for the first two whole minutes at least 30 s from now (UTC): the daemon
    only fires ticks after its first look at the schedule, and on a busy machine it may
    start late for the first one. (Crossing the hour adds two ticks an hour off: harmless.)"""
    first = (datetime.now(UTC) + timedelta(seconds=30 + 59)).replace(second=0, microsecond=0)
    ticks = [first, first + timedelta(minutes=1)]
    minutes = ",".join(dict.fromkeys(str(t.minute) for t in ticks))
    hours = ",".join(dict.fromkeys(str(t.hour) for t in ticks))
    return f"{minutes} {hours} * * *"


DOTENV_EXPORTS = "exports-named-in-dotenv"


class Served:
    """The one serve most tests share, and how to read it (with the mail server, webhook
    and ladder.yaml copy its alerts and runs use)."""

    mail: MailServer
    webhook: Webhook
    ladder: Path

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.process = start_serve(workdir, env)
        self.logs = Path(env["LOG_DIR"])
        self.ui = f"http://127.0.0.1:{env['DAGSTER_PORT']}"
        self.portal = f"http://127.0.0.1:{env['PORTAL_PORT']}"

    def output(self) -> str:
        return (self.workdir / "serve.out").read_text()

    def log(self, name: str = "serve") -> str:
        path = self.logs / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def context(self) -> str:
        return f"serve output:\n{self.output()[-3000:]}\ndaemon log:\n{self.log('daemon')[-2000:]}"

    def child_pid(self, name: str) -> int:
        return int(re.findall(rf"Started the {name} \(pid (\d+)\)", self.log())[-1])

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    workdir = tmp_path_factory.mktemp("serve")
    mail, webhook = MailServer(), Webhook()
    mail.start()
    webhook.start()
    # A .env copied from .env.example, the keys left blank, and a setting the shell (as
    # systemd's EnvironmentFile) overrides: Dagster's processes load .env over what they
    # inherit, and neither may win there over the sandbox's keys or the shell.
    (workdir / ".env").write_text(
        "ACTION_NETWORK_API_KEY=\nMAILCHIMP_API_KEY=\nMAILCHIMP_LIST_ID=\n"
        f"EXPORTS_DIR={workdir / DOTENV_EXPORTS}\n"
    )
    ladder = workdir / "ladder.yaml"  # the test's own copy: a later test breaks it
    shutil.copyfile(ROOT / "ladder.yaml", ladder)
    env = serve_env(
        workdir,
        NIGHTLY_SCHEDULE="on",
        NIGHTLY_CRON=cron_a_minute_away(),
        LADDER_CONFIG=str(ladder),
        ALERT_WEBHOOK_URL=webhook.url,
        DAGSTER_UI_URL="https://dagster.groundswell.test",
        **mail.env,
    )
    serve = Served(workdir, env)
    serve.mail, serve.webhook, serve.ladder = mail, webhook, ladder
    try:
        yield serve
    finally:
        mail.stop()
        webhook.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.process.pid, signal.SIGKILL)
        for pid in descendants(serve.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        serve.process.wait(timeout=10)


@pytest.mark.slow
def test_serve_starts_the_ui_the_daemon_and_the_portal(served):
    wait_until(
        "the Dagster webserver to answer GET /server_info",
        lambda: answers(f"{served.ui}/server_info"),
        120,
        served.context,
    )
    wait_until("the portal to answer GET /health", lambda: answers(f"{served.portal}/health"), 60)
    # The daemon is up: the scheduler and the run queue write heartbeats to the instance.
    beats = wait_until(
        "the daemon's scheduler and run-queue heartbeats",
        lambda: (
            (b := served.instance().get_daemon_heartbeats())
            and {"SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= set(b)
            and b
        ),
        90,
        served.context,
    )
    assert {"SCHEDULER", "SENSOR"} <= set(beats)
    text = served.output()
    assert f"Dagster UI   {served.ui}" in text and f"portal       {served.portal}" in text
    assert "starting the sandbox platforms" in text  # no keys: a fresh clone serves the sandbox
    assert Path(served.env["WAREHOUSE_PATH"]).parent.joinpath("serve.pid").read_text().strip() == (
        str(served.process.pid)
    )


@pytest.mark.slow
def test_a_second_serve_on_the_same_data_refuses_naming_the_first(served):
    env = {**served.env, "DAGSTER_PORT": str(free_port()), "PORTAL_PORT": str(free_port())}
    second = start_serve(served.workdir, env, name="second")
    assert second.wait(timeout=60) == 1
    said = (served.workdir / "second.out").read_text()
    assert (
        f"Another `make serve` or `make ui` (pid {served.process.pid}) is already serving "
        "this data" in said
    )
    assert "serve.pid" in said
    assert served.process.poll() is None  # the first one goes on
    assert answers(f"{served.ui}/server_info")


@pytest.mark.slow
def test_make_ui_on_the_same_data_refuses_naming_the_serve(served):
    env = {**served.env, "DAGSTER_PORT": str(free_port())}
    ui = subprocess.run(
        [sys.executable, "-m", "pipelines", "ui"],
        cwd=served.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ui.returncode == 2, ui.stderr[-2000:]
    assert f"(pid {served.process.pid}) is already serving this data" in ui.stderr


@pytest.mark.slow
def test_a_child_that_dies_is_restarted(served):
    first = served.child_pid("portal")
    os.kill(first, signal.SIGKILL)
    wait_until(
        "the supervisor to notice the killed portal",
        lambda: f"The portal (pid {first}) was killed by signal 9" in served.log(),
        30,
        served.context,
    )
    wait_until("a new portal", lambda: served.child_pid("portal") != first, 30, served.context)
    wait_until("the restarted portal to answer", lambda: answers(f"{served.portal}/health"), 60)


def scheduled_runs(served: Served) -> list[dg.DagsterRun]:
    return served.instance().get_runs(
        filters=dg.RunsFilter(job_name="groundswell_sync", tags={SCHEDULE_TAG: "nightly_sync"})
    )


@pytest.mark.slow
def test_the_daemon_runs_the_nightly_job_on_its_schedule(served):
    """The scheduler fires NIGHTLY_CRON's tick, the run queue launches the run once the
    warehouse pool is free (the forms sensor's run over the sandbox's demo exports may hold
    it first), and the whole job runs to SUCCESS."""
    found = wait_until(
        f"the schedule's tick at NIGHTLY_CRON={served.env['NIGHTLY_CRON']} (UTC) to create a run",
        lambda: scheduled_runs(served),
        180,
        served.context,
    )
    run_id = found[-1].run_id
    wait_until(
        "the daemon to log the scheduled launch",
        lambda: f"Completed scheduled launch of run {run_id}" in served.log("daemon"),
        30,
        served.context,
    )
    finished = wait_until(
        "the scheduled run to finish",
        lambda: (run := served.instance().get_run_by_id(run_id)).is_finished and run,
        300,
        served.context,
    )
    assert finished.status == dg.DagsterRunStatus.SUCCESS, served.context()
    # The shell's EXPORTS_DIR won over .env's inside the run.
    assert list(Path(served.env["EXPORTS_DIR"]).rglob("*.csv"))
    assert not (served.workdir / DOTENV_EXPORTS).exists()
    # It synced the sandbox's platforms, not only the forms inbox.
    for source in ("action_network_people", "mailchimp_members"):
        landed = served.instance().get_latest_materialization_event(dg.AssetKey(source))
        metadata = landed.asset_materialization.metadata
        assert "skipped" not in metadata and metadata["records"].value > 0, source


def launch(served: Served) -> str:
    """Queue a run of the whole job through the webserver, as the UI's Launchpad does; the
    daemon's run queue launches it. Its run id."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=int(served.env["DAGSTER_PORT"]))
    return client.submit_job_execution("groundswell_sync")


@pytest.mark.slow
def test_a_failed_run_reaches_the_mail_server_and_the_webhook(served):
    original = served.ladder.read_text()
    served.ladder.write_text("rungs: [unclosed\n")  # a ladder.yaml broken by hand
    try:
        run_id = launch(served)
        failed = wait_until(
            "the run with the broken ladder.yaml to fail",
            lambda: (run := served.instance().get_run_by_id(run_id)).is_finished and run,
            180,
            served.context,
        )
    finally:
        served.ladder.write_text(original)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    # Only this run's alert: on a slow machine the schedule's second tick may still be
    # queued behind the first and fail on the broken file too, alerting on its own.
    link = f"https://dagster.groundswell.test/runs/{run_id}"

    def alerts_for_this_run():
        emails = [m for m in served.mail.messages if link in m.get_content()]
        posts = [b["text"] for b in served.webhook.bodies if link in b["text"]]
        return emails and posts and (emails, posts)

    emails, posts = wait_until(
        "the run-failure alert by email and by webhook",
        alerts_for_this_run,
        120,
        served.context,
    )
    assert len(emails) == 1 and len(posts) == 1  # one message per run, never two
    email = emails[0]
    for text in (email.get_content(), posts[0]):
        assert "groundswell_sync" in text and "ladder.yaml" in text
        assert "Fix each setting or file named above" in text
    assert "groundswell_sync" in email["Subject"]


@pytest.mark.slow
def test_sigterm_stops_every_process_and_marks_a_run_in_progress_failed(served):
    def runs_in_progress():
        return served.instance().get_runs(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        )

    launch(served)
    in_progress = wait_until("the launched run to be in progress", runs_in_progress, 120)
    everything = [served.process.pid, *descendants(served.process.pid)]
    # serve, the sandbox, the webserver, the daemon, the portal, code servers, the run
    assert len(everything) >= 7, everything

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=90) == 0, served.context()
    left = [pid for pid in everything if alive(pid)]
    assert left == [], f"still running after the stop: {left}\n{served.context()}"
    instance = served.instance()
    for run in in_progress:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    # (a run the scheduler had only created, NOT_STARTED, is its own to resume next time)
    in_progress_statuses = [s for s in runs.UNFINISHED if s != dg.DagsterRunStatus.NOT_STARTED]
    unfinished = instance.get_runs(filters=dg.RunsFilter(statuses=in_progress_statuses))
    assert unfinished == [], [(r.job_name, r.status) for r in unfinished]
    pool = instance.event_log_storage.get_concurrency_info("warehouse")
    assert pool.claimed_slots == [] and pool.pending_steps == []
    text = served.log()
    assert "Stopping: SIGTERM to the webserver" in text and "Every child has ended." in text
    assert "Groundswell `make serve` stopped." in text
    for name in ("webserver", "daemon", "portal"):
        assert served.log(name).strip(), f"{name}.log is empty"


def test_a_run_whose_worker_was_killed_is_marked_failed_at_the_stop(tmp_path):
    """What the stop does when a run's process could not report its own end (SIGKILLed after
    the grace period): marked failed with a message saying why, its pool slot freed."""
    from tests.pipelines.test_runs import holder_script

    env = serve_env(tmp_path)
    script = tmp_path / "untagged.py"
    script.write_text(holder_script(tagged=False))
    Path(env["DAGSTER_HOME"]).mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    out = tmp_path / "holder.out"
    with open(out, "w") as sink:
        holder = subprocess.Popen(
            [sys.executable, str(script), "120"], cwd=tmp_path, env=env, stdout=sink
        )
    try:
        wait_until("the run to hold the pool", lambda: "holding" in out.read_text(), 60)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.STARTED  # the fault: left in progress

    assert serve.finish_interrupted_runs(instance, quiet_log(tmp_path)) >= 1
    record = instance.get_run_record_by_id(run.run_id)
    assert record.dagster_run.status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots == []
    said = (tmp_path / "supervisor.log").read_text()
    assert f"Run {run.run_id[:8]} (holder) was in progress: marked failed" in said
    failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
    assert "`make serve` was stopped" in failure.message


# --- refusals, before anything starts -------------------------------------------------------


def run_serve(tmp_path: Path, **extra: str) -> tuple[int, str]:
    env = serve_env(tmp_path, SANDBOX="off", **extra)
    process = start_serve(tmp_path, env)
    return process.wait(timeout=60), (tmp_path / "serve.out").read_text()


def test_a_bad_setting_refuses_naming_it(tmp_path):
    code, said = run_serve(tmp_path, DAGSTER_PORT="3000x", LOG_KEEP="0")
    assert code == 2
    assert "DAGSTER_PORT" in said and "LOG_KEEP" in said and "Traceback" not in said
    assert not (tmp_path / "data" / "logs").exists()  # nothing started, nothing written


def test_the_same_port_for_both_refuses(tmp_path):
    code, said = run_serve(tmp_path, DAGSTER_PORT="8123", PORTAL_PORT="8123")
    assert code == 2
    assert "DAGSTER_PORT and PORTAL_PORT are both 8123" in said


def test_a_port_in_use_refuses_naming_the_setting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, said = run_serve(tmp_path, PORTAL_PORT=str(port))
    assert code == 1
    assert f"PORTAL_PORT={port}: 127.0.0.1:{port} cannot be used" in said
    # The lock it took is given back: a serve can start on this data afterwards.
    assert (tmp_path / "data" / "serve.pid").read_text() == ""


# --- the supervisor on its own, with real processes ------------------------------------------


def quiet_log(tmp_path: Path) -> logging.Logger:
    log = logging.getLogger(f"test.serve.{tmp_path.name}")
    log.propagate = False
    log.handlers[:] = [logging.FileHandler(tmp_path / "supervisor.log")]
    log.setLevel(logging.INFO)
    return log


def test_a_child_that_keeps_failing_is_given_up_on(tmp_path):
    crash = ChildSpec("crasher", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"])
    supervisor = Supervisor(
        [crash], quiet_log(tmp_path), tmp_path / "logs", 10**6, 2, max_quick_failures=3,
        backoff=(0.1,),
    )  # fmt: skip
    assert supervisor.run() == 1
    said = (tmp_path / "supervisor.log").read_text()
    assert said.count("exited with code 3") == 3
    assert "3 times in a row, each within 60 s of starting, so giving up" in said
    assert str(tmp_path / "logs" / "crasher.log") in said
    assert (tmp_path / "logs" / "crasher.log").read_text().count("boom") == 3


def test_child_logs_rotate_at_the_limit_keeping_that_many(tmp_path):
    chatty = ChildSpec(
        "chatty",
        [sys.executable, "-c", "import time\nfor i in range(600): print(f'{i:04d}', 'x' * 995)\n"
         "time.sleep(60)"],
    )  # fmt: skip
    supervisor = Supervisor([chatty], quiet_log(tmp_path), tmp_path / "logs", 100_000, 2)
    supervisor.start(supervisor.children[0])
    logs = tmp_path / "logs"
    wait_until(
        "the last line in the log",
        lambda: "0599 " in (logs / "chatty.log").read_text(),
        30,
    )
    supervisor.stop()
    assert sorted(p.name for p in logs.iterdir()) == ["chatty.log", "chatty.log.1", "chatty.log.2"]
    assert all(p.stat().st_size <= 100_000 for p in logs.iterdir())


def test_stop_ends_grandchildren_in_their_own_session(tmp_path):
    """A run worker may leave its parent's process group; the stop still finds and ends it."""
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " start_new_session=True)\n"
        "print('grandchild', p.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    supervisor = Supervisor(
        [ChildSpec("parent", [sys.executable, "-c", script])],
        quiet_log(tmp_path),
        tmp_path / "logs",
        10**6,
        2,
        stop_seconds=5,
    )
    child = supervisor.children[0]
    supervisor.start(child)
    grandchild = int(
        wait_until(
            "the grandchild's pid",
            lambda: re.search(r"grandchild (\d+)", (tmp_path / "logs" / "parent.log").read_text()),
            30,
        ).group(1)
    )
    try:
        supervisor.stop()
        assert not alive(child.pid) and not alive(grandchild)
        assert "and 1 process(es) they started" in (tmp_path / "supervisor.log").read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)


# --- the systemd unit ---------------------------------------------------------------------------


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (Debian: apt-get install systemd)")
    unit = (ROOT / "deploy" / "groundswell.service").read_text()
    assert re.search(r"^ExecStart=/usr/bin/make serve$", unit, re.M)
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)
    assert re.search(r"^Restart=on-failure$", unit, re.M)
    # verify checks ExecStart's binary exists: point it at one this machine has.
    make = shutil.which("make") or sys.executable
    copy = tmp_path / "groundswell.service"
    copy.write_text(unit.replace("/usr/bin/make", make))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    if "Failed to" in result.stderr and "bus" in result.stderr.lower():
        pytest.skip(f"systemd-analyze verify cannot run in this container: {result.stderr}")
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    # And it does catch a mistake (an unknown key), so the check above means something.
    copy.write_text(unit.replace("[Service]", "[Service]\nRestartt=always"))
    broken = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert "Unknown key" in broken.stderr


def test_the_example_caddyfile_is_valid(tmp_path):
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed here (Debian: apt-get install caddy)")
    text = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy 127.0.0.1:3000" in text and "reverse_proxy 127.0.0.1:8000" in text
    assert re.search(r"basic_?auth", text)  # the Dagster UI has no sign-in of its own
    copy = tmp_path / "Caddyfile"
    copy.write_text(text)
    result = subprocess.run(
        [caddy, "validate", "--adapter", "caddyfile", "--config", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
