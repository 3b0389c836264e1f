"""Issue 11, cases 1 and 11: a run killed with kill -9 must not hold the `warehouse` pool for
ever, a command waiting for the pool says for what and how long and stops on SIGTERM, and
several first runs at once on an empty DAGSTER_HOME do not crash. Real CLIs in subprocesses,
a real Dagster instance on disk, the sandbox platforms and a temporary warehouse."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines import runs
from tests.support.pipeline import command_env

ROOT = Path(__file__).resolve().parents[2]
POOL = "warehouse"


def holder_script(tagged: bool) -> str:
    """A job holding the warehouse pool for argv[1] seconds: started like our CLI starts its
    runs (tagged with its process), or like the UI, the schedule or a sensor would (not)."""
    execute = (
        "from pipelines import runs\nruns.execute(holder, runs.open_instance())"
        if tagged
        else "holder.execute_in_process(instance=dg.DagsterInstance.get())"
    )
    return f"""
import sys, time
import dagster as dg

@dg.op(pool="warehouse")
def hold_the_warehouse():
    print("holding", flush=True)
    time.sleep(float(sys.argv[1]))

@dg.job
def holder():
    hold_the_warehouse()

{execute}
"""


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Settings for a CLI in a subprocess: its own files, a small sandbox, a DAGSTER_HOME."""
    # Files under data/: a `sandbox` folder (the truth files) in the working directory would
    # shadow the `sandbox` package for `python -m`.
    data = tmp_path / "data"
    home = data / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return command_env(data, **extra)


class Cli:
    """A `python -m pipelines ...` process (or any script), its output in files."""

    def __init__(self, tmp_path: Path, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            # Its own session: the test can clean up the CLI and its sandbox by group id.
            self.process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_for(self, pattern: str, timeout: float) -> str:
        """Wait until `pattern` appears in its output; fail (with the output) if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return self.text()
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared; output:\n{self.text()[-3000:]}")

    def finish(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout} s; output:\n{self.text()[-3000:]}"
            ) from None

    def kill_group(self) -> None:
        """SIGKILL to the CLI and everything it started (its own session and group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def started(tmp_path):
    """Every process a test starts, killed (with its group) at the end whatever happened."""
    processes: list[Cli] = []

    def start(name: str, argv: list[str], env: dict[str, str]) -> Cli:
        cli = Cli(tmp_path, name, argv, env)
        processes.append(cli)
        return cli

    yield start
    for cli in processes:
        cli.kill_group()


def instance_for(env: dict[str, str]) -> dg.DagsterInstance:
    """The same instance the CLIs use, read from the test."""
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def pool_holders(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {slot.run_id for slot in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def only_run(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun:
    found = instance.get_runs(filters=dg.RunsFilter(job_name=job_name))
    assert len(found) == 1, [r.status for r in found]
    return found[0]


def kill_during_a_warehouse_step(started, env: dict[str, str]) -> dg.DagsterRun:
    """`python -m pipelines run`, kill -9 once a step holds the pool; the run it left."""
    first = started("first", ["-m", "pipelines", "run"], env)
    first.wait_for(r"STEP_START", timeout=120)
    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    instance = instance_for(env)
    killed = only_run(instance, "groundswell_sync")
    # The fault as reported: the run stays STARTED and keeps its slot of the pool.
    assert killed.status == dg.DagsterRunStatus.STARTED
    assert killed.run_id in pool_holders(instance)
    assert killed.tags[runs.PID_TAG] == str(first.pid)
    return killed


def assert_cleared(output: str, killed: dg.DagsterRun, env: dict[str, str]) -> None:
    """The one line about the dead run, and the instance agrees: failed, slot given back."""
    lines = [line for line in output.splitlines() if "was left unfinished" in line]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith(f"Run {killed.run_id[:8]} (started 20")
    assert f"its process {killed.tags[runs.PID_TAG]} is gone" in lines[0]
    assert "marked failed and freed its 1 slot(s) of the warehouse pool" in lines[0]
    instance = instance_for(env)
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert killed.run_id not in pool_holders(instance)


@pytest.mark.slow
def test_a_run_killed_mid_step_does_not_block_the_next_run(tmp_path, started):
    env = cli_env(tmp_path)
    killed = kill_during_a_warehouse_step(started, env)

    # A dry run goes through every warehouse step (all in the pool), only the pushes are left.
    second = started("second", ["-m", "pipelines", "run", "--dry-run"], env)
    assert second.finish(timeout=150) == 0, second.text()[-3000:]
    assert_cleared(second.text(), killed, env)
    assert "Done." in second.out.read_text()
    # Nothing lost: the second run built the whole warehouse the first one had started.
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as con:
        assert con.execute("SELECT count(*) FROM people").fetchone()[0] > 150
        sources = con.execute("SELECT DISTINCT source FROM stg_source_records").fetchall()
    assert {s for (s,) in sources} >= {"action_network", "mailchimp", "forms"}
    assert pool_holders(instance_for(env)) == set()


@pytest.mark.slow
def test_forget_after_a_killed_run_does_not_hang(tmp_path, started):
    env = cli_env(tmp_path)
    killed = kill_during_a_warehouse_step(started, env)

    forget = started("forget", ["-m", "pipelines", "forget", "--email", "x@example.org"], env)
    assert forget.finish(timeout=60) == 0, forget.text()[-3000:]
    assert_cleared(forget.text(), killed, env)
    assert "Forgot 0 person(s)" in forget.out.read_text()
    assert "x@example.org" not in forget.text()
    assert only_run(instance_for(env), "forget_person").status == dg.DagsterRunStatus.SUCCESS


class HeldPool:
    """A DAGSTER_HOME whose warehouse pool a live run of ours (tagged like the CLI's) holds,
    kept from one test to the next: starting the holder, a Python process importing Dagster,
    costs ~5 s of CPU. A test finds it as a new one would be (the holder alive and alone in
    the pool, which each test checks before it ends); when it is not (the holder was killed,
    or a failed test left a run queued), a new home and holder are started."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.factory = tmp_path_factory
        self.holder: Cli | None = None
        self.run: dg.DagsterRun | None = None
        self.env: dict[str, str] = {}

    def get(self) -> tuple[Cli, dg.DagsterRun, dict[str, str]]:
        if not self._intact():
            self._start()
        assert self.holder is not None and self.run is not None
        return self.holder, self.run, self.env

    def _intact(self) -> bool:
        if self.holder is None or self.run is None or self.holder.process.poll() is not None:
            return False
        return pool_holders(instance_for(self.env)) == {self.run.run_id}

    def _start(self) -> None:
        self.stop()
        tmp = self.factory.mktemp("held")
        self.env = cli_env(tmp)
        script = tmp / "holder.py"
        script.write_text(holder_script(tagged=True))
        # Held far longer than the tests need it; stop() ends it with the module.
        self.holder = Cli(tmp, "holder", [str(script), "1800"], self.env)
        self.holder.wait_for("holding", timeout=60)
        self.run = only_run(instance_for(self.env), "holder")

    def stop(self) -> None:
        if self.holder is not None:
            self.holder.kill_group()


@pytest.fixture(scope="module")
def shared_pool(tmp_path_factory):
    held = HeldPool(tmp_path_factory)
    yield held
    held.stop()


@pytest.fixture
def held_pool(shared_pool) -> tuple[Cli, dg.DagsterRun, dict[str, str]]:
    """The live holder, its run and the home's settings (see HeldPool)."""
    return shared_pool.get()


def runs_of(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    return {r.run_id for r in instance.get_runs(filters=dg.RunsFilter(job_name=job_name))}


def new_run(instance: dg.DagsterInstance, job_name: str, before: set[str]) -> dg.DagsterRun:
    """The one run of `job_name` made since `before` (the home is shared between tests)."""
    found = runs_of(instance, job_name) - before
    assert len(found) == 1, found
    return instance.get_run_by_id(found.pop())


# The next three tests share one live holder (HeldPool); the one that kills it runs last.
@pytest.mark.slow
def test_a_live_holder_is_named_and_sigterm_stops_the_wait(started, held_pool):
    holder, held_by, home = held_pool
    env = {**home, "RUN_WAIT_SECONDS": "600"}
    before = runs_of(instance_for(env), "forget_person")

    forget = started("forget", ["-m", "pipelines", "forget", "--email", "x@example.org"], env)
    output = forget.wait_for("Waiting for the warehouse pool", timeout=60)
    line = next(x for x in output.splitlines() if "Waiting for the warehouse pool" in x)
    assert f"run {held_by.run_id[:8]} (holder, step hold_the_warehouse, pid {holder.pid}" in line
    assert "running since 20" in line
    assert "Waiting at most 10 min (RUN_WAIT_SECONDS); Ctrl-C stops." in line

    stopped_at = time.monotonic()
    forget.process.send_signal(signal.SIGTERM)
    assert forget.finish(timeout=30) == runs.EXIT_INTERRUPTED
    # Within seconds (most of them Python unloading its modules on a busy machine).
    assert time.monotonic() - stopped_at < 15
    assert "Stopping: marking this run failed" in forget.err.read_text()
    assert "Traceback" not in forget.err.read_text()
    instance = instance_for(env)
    ours = new_run(instance, "forget_person", before)
    assert ours.status == dg.DagsterRunStatus.FAILURE
    # Its queue place is given back; the live holder keeps its slot and is left alone.
    assert pool_holders(instance) == {held_by.run_id}
    assert holder.process.poll() is None
    assert instance.get_run_by_id(held_by.run_id).status == dg.DagsterRunStatus.STARTED


@pytest.mark.slow
def test_the_wait_gives_up_at_run_wait_seconds(started, held_pool):
    _, held_by, home = held_pool
    env = {**home, "RUN_WAIT_SECONDS": "3"}
    before = runs_of(instance_for(env), "forget_person")

    forget = started("forget", ["-m", "pipelines", "forget", "--email", "x@example.org"], env)
    assert forget.finish(timeout=60) == runs.EXIT_GAVE_UP
    err = forget.err.read_text()
    assert "Gave up waiting for the warehouse pool after" in err
    assert f"(RUN_WAIT_SECONDS=3): held by run {held_by.run_id[:8]}" in err
    assert "Traceback" not in err
    instance = instance_for(env)
    assert new_run(instance, "forget_person", before).status == dg.DagsterRunStatus.FAILURE
    assert pool_holders(instance) == {held_by.run_id}


@pytest.mark.slow
def test_a_holder_killed_while_we_wait_is_cleared_and_the_wait_ends(started, held_pool):
    holder, held_by, home = held_pool
    env = {**home, "RUN_WAIT_SECONDS": "600"}
    forget = started("forget", ["-m", "pipelines", "forget", "--email", "x@example.org"], env)
    forget.wait_for("Waiting for the warehouse pool", timeout=60)

    os.kill(holder.pid, signal.SIGKILL)
    holder.process.wait(timeout=10)
    assert forget.finish(timeout=30) == 0, forget.text()[-3000:]
    assert "Forgot 0 person(s)" in forget.out.read_text()
    assert_cleared(forget.text(), held_by, env)


def test_a_bad_run_wait_setting_is_one_clear_line(tmp_path, started):
    env = cli_env(tmp_path, RUN_WAIT_SECONDS="soon")
    forget = started("forget", ["-m", "pipelines", "forget", "--email", "x@example.org"], env)
    assert forget.finish(timeout=60) == 2
    err = forget.err.read_text().strip()
    assert "Traceback" not in err
    problems = [line for line in err.splitlines() if line.startswith("- ")]
    assert problems == [
        "- RUN_WAIT_SECONDS='soon' is not a whole number: expected seconds to wait for "
        "another run's warehouse slot (default 1800)."
    ]


@pytest.mark.slow
def test_several_first_runs_at_once_on_an_empty_dagster_home(tmp_path, started):
    """Case 11: the first commands on an empty data/ (only the dagster.yaml `make` copies
    there) create Dagster's tables once, in turn. Three, as two collide only sometimes."""
    env = cli_env(tmp_path)
    argv = ["-m", "pipelines", "forget", "--email", "x@example.org"]
    clis = [started(f"first-{n}", argv, env) for n in range(3)]
    codes = [cli.finish(timeout=120) for cli in clis]
    for cli in clis:
        assert "Traceback" not in cli.err.read_text(), cli.err.read_text()[-3000:]
    assert codes == [0, 0, 0]
    instance = instance_for(env)
    statuses = [
        r.status for r in instance.get_runs(filters=dg.RunsFilter(job_name="forget_person"))
    ]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 3


@pytest.mark.slow
def test_a_dead_run_the_schedule_or_the_ui_started_is_cleared_by_the_sensor(tmp_path, started):
    """Case 1 for runs our CLI did not start (no pid tag): the process Dagster recorded for
    the run is judged, by the dead_runs_sensor the daemon evaluates every minute."""
    from pipelines.sensors import dead_runs_sensor

    env = cli_env(tmp_path)
    script = tmp_path / "untagged.py"
    script.write_text(holder_script(tagged=False))
    holder = started("untagged", [str(script), "120"], env)
    holder.wait_for("holding", timeout=60)
    instance = instance_for(env)
    run = only_run(instance, "holder")
    assert runs.PID_TAG not in run.tags and run.run_id in pool_holders(instance)

    # Alive: left alone.
    result = dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert "no dead runs" in str(result.skip_message)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED

    holder.kill_group()  # kill -9, as the out-of-memory killer would
    result = dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert "1 dead run(s) cleared" in str(result.skip_message)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert run.run_id not in pool_holders(instance)


def test_a_lost_wake_up_in_dagsters_pool_queue_is_repaired(tmp_path):
    """Case 11, found under load: a step that joined the pool's queue just after the only
    slot was freed stays queued beside the free slot for good (nobody holds the pool, yet
    Dagster never assigns it). The CLI's wait assigns the free slot to the queue's head."""
    with dg.DagsterInstance.local_temp(
        str(tmp_path), overrides={"concurrency": {"pools": {"default_limit": 1}}}
    ) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("warehouse")
        # The state the race leaves: queued unassigned (the check saw the slot taken), and
        # the slot freed before the step was in the queue to be given it.
        storage.add_pending_step("warehouse", "run-b", "step", should_assign=False)
        assert not storage.claim_concurrency_slot("warehouse", "run-b", "step").is_claimed
        assert not storage.get_concurrency_info("warehouse").claimed_slots

        assert runs.wake_lost_assignment(instance, "warehouse")
        assert storage.claim_concurrency_slot("warehouse", "run-b", "step").is_claimed
        # Nothing left to give: a second call assigns nothing.
        assert not runs.wake_lost_assignment(instance, "warehouse")
