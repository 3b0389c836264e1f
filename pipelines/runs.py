"""Runs started from the command line: opening the Dagster instance safely, finding runs of
ours whose process is gone (they would hold the `warehouse` pool for ever), saying what a
run waits for and for how long, and stopping promptly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._utils.interrupts import check_captured_interrupt

from pipelines import instance_config, settings

PID_TAG = "groundswell/pid"
HOST_TAG = "groundswell/host"
PROCESS_TAG = "groundswell/process"  # boot id and start time: tells a reused pid apart
LOCK_FILE = ".groundswell-instance.lock"
WAIT_SETTING = "RUN_WAIT_SECONDS"
PROGRESS_SECONDS = 60
POLL_SECONDS = 1.0
GRACE_SECONDS = 15  # after Ctrl-C, how long a step stuck in C code may take before we exit
EXIT_INTERRUPTED = 130
EXIT_GAVE_UP = 3
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
REPO_INSTANCE_CONFIG = Path(__file__).resolve().parents[1] / "dagster.yaml"


class GaveUpWaiting(RuntimeError):
    """The pool stayed held by another run for longer than RUN_WAIT_SECONDS."""


def say(line: str) -> None:
    """One line to stderr, at once (stdout carries the run summary)."""
    print(line, file=sys.stderr, flush=True)


# --- the instance -------------------------------------------------------------------------


def open_instance() -> dg.DagsterInstance:
    """The instance under DAGSTER_HOME (ephemeral without it), its dagster.yaml written from
    the repo's (with PostgreSQL storage when DAGSTER_POSTGRES_URL is set), created under a
    file lock so two first runs at once do not both create Dagster's tables. Raises
    PostgresUnreachable (a ValueError) when that database does not answer."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.ephemeral()
    postgres_url = settings.get(instance_config.SETTING)
    if postgres_url:
        # Before anything is created: a stopped server must leave DAGSTER_HOME as it was.
        instance_config.check_postgres(postgres_url)
        # Dagster's own connections (and those of the UI and daemon this process starts)
        # give up on a black-holed host instead of waiting minutes for TCP.
        os.environ.setdefault("PGCONNECT_TIMEOUT", str(instance_config.CONNECT_TIMEOUT_SECONDS))
    Path(home).mkdir(parents=True, exist_ok=True)
    with _locked(Path(home) / LOCK_FILE):
        _write_instance_config(Path(home) / "dagster.yaml", postgres=bool(postgres_url))
        instance = dg.DagsterInstance.get()
        # Touch every storage inside the lock: each creates its tables on first use.
        _ = instance.run_storage, instance.event_log_storage, instance.schedule_storage
        return instance


def _write_instance_config(config: Path, postgres: bool) -> None:
    """$DAGSTER_HOME/dagster.yaml as the repo's template and DAGSTER_POSTGRES_URL make it,
    rewritten whenever it differs (so unsetting the URL goes back to SQLite)."""
    # Without the template the pool `warehouse` has no limit and runs collide on DuckDB's lock.
    template = REPO_INSTANCE_CONFIG.read_text() if REPO_INSTANCE_CONFIG.is_file() else None
    if template is None and not postgres:  # installed without the repo: left as it is
        return
    text = instance_config.instance_yaml(template or "", postgres)
    instance_config.write_if_changed(config, text)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes on `path` (no lock where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; first runs there are not run in parallel
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- whose process is it ------------------------------------------------------------------


def run_tags() -> dict[str, str]:
    """Tags that let a later command tell whether this process still runs."""
    return {
        PID_TAG: str(os.getpid()),
        HOST_TAG: socket.gethostname(),
        PROCESS_TAG: _process_identity(os.getpid()) or "",
    }


def _process_identity(pid: int) -> str | None:
    """Boot id and start time of `pid` (Linux), None when unknown or gone; `Z` for a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # killed, not yet reaped: it is gone
        return "Z"
    return f"{boot}:{fields[19]}"  # field 22 of stat: start time in clock ticks since boot


def process_gone(tags: dict[str, str]) -> bool:
    """True when the tagged process ran on this machine and is no longer running; False when
    it still runs or runs elsewhere (another machine's processes cannot be seen from here)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    pid = int(tags[PID_TAG])
    if Path("/proc").is_dir():
        identity = _process_identity(pid)
        if identity is None or identity == "Z":
            return True
        recorded = tags.get(PROCESS_TAG)
        return bool(recorded) and recorded != identity  # the pid now belongs to another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


def _local_storage(instance: dg.DagsterInstance) -> bool:
    """Whether runs are kept in a SQLite file on this machine: then every run in it ran here
    (with Postgres, runs of other machines share the storage and their pids mean nothing)."""
    return type(instance.run_storage).__name__.startswith("Sqlite")


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process a run started from the UI, a schedule or a sensor ran in, as Dagster
    recorded it ('Started process for run', or the executor's first engine event)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = (data.metadata or {}).get("pid") if data else None
        text = getattr(pid, "value", pid)
        if isinstance(text, str) and text.isdigit():
            return int(text)
    return None


def _started_after(pid: int, timestamp: float) -> bool:
    """Whether process `pid` started after `timestamp` (so it is not the run's process)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return False
    return boot + ticks / os.sysconf("SC_CLK_TCK") > timestamp + 1


def untagged_run_gone(instance: dg.DagsterInstance, record) -> bool:
    """A run without our tags (started from the UI, the nightly schedule or a sensor) whose
    recorded process is no longer running here; only judged with storage on this machine."""
    if not _local_storage(instance):
        return False
    pid = _worker_pid(instance, record.dagster_run.run_id)
    if pid is None:
        return False
    identity = _process_identity(pid) if Path("/proc").is_dir() else None
    if identity in (None, "Z"):
        if Path("/proc").is_dir():
            return True
        return process_gone({HOST_TAG: socket.gethostname(), PID_TAG: str(pid)})
    started = record.start_time or record.create_timestamp.timestamp()
    return _started_after(pid, started)  # the pid was given to a newer process


# --- dead runs and their slots ------------------------------------------------------------


def _started(record) -> str:
    """When a run started (or was created), in UTC to the minute."""
    timestamp = record.start_time or record.create_timestamp.timestamp()
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _slots_held(instance: dg.DagsterInstance, run_id: str) -> tuple[int, list[str]]:
    """How many pool slots `run_id` holds, and the pools where it holds or awaits one."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0, []
    count, pools = 0, []
    for pool, info in storage.get_concurrency_infos(list(storage.get_concurrency_keys())).items():
        held = sum(1 for slot in info.claimed_slots if slot.run_id == run_id)
        if held or any(step.run_id == run_id for step in info.pending_steps):
            count += held
            pools.append(pool)
    return count, pools


def _free(instance: dg.DagsterInstance, run_id: str) -> tuple[int, list[str]]:
    """Free every slot and queue place of `run_id`; what it held."""
    held = _slots_held(instance, run_id)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return held


def _freed_words(count: int, pools: list[str]) -> str:
    if not pools:
        return "it held no pool slot"
    names = ", ".join(pools)
    return f"freed its {count} slot(s) of the {names} pool" if count else f"left the {names} queue"


def clear_dead_runs(
    instance: dg.DagsterInstance, only: set[str] | None = None, log: Callable[[str], None] = say
) -> int:
    """Mark failed every unfinished run whose process is gone (ours by their tags; those the
    UI, the schedule or a sensor started by the process Dagster recorded), free the pool
    slots of those and of finished runs still holding any, one line each; how many runs
    were cleared."""
    cleared = 0
    for record in instance.get_run_records(filters=RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        if only is not None and run.run_id not in only:
            continue
        tags = dict(run.tags)
        if PID_TAG in tags:
            if not process_gone(tags):
                continue
            pid = tags[PID_TAG]
        elif record.dagster_run.status == DagsterRunStatus.STARTED and untagged_run_gone(
            instance, record
        ):
            pid = str(_worker_pid(instance, run.run_id))
        else:
            continue
        instance.report_run_failed(
            run,
            f"The process that ran this run (pid {pid}) is gone: it was killed or crashed. "
            "Marked failed by Groundswell.",
        )
        count, pools = _free(instance, run.run_id)
        log(
            f"Run {run.run_id[:8]} (started {_started(record)}) "
            f"was left unfinished: its process {pid} is gone, so it is now "
            f"marked failed and {_freed_words(count, pools)}."
        )
        cleared += 1
    return cleared + _free_slots_of_finished_runs(instance, only, log)


def _free_slots_of_finished_runs(
    instance: dg.DagsterInstance, only: set[str] | None, log: Callable[[str], None] = say
) -> int:
    """A run that has ended needs no slot; one left holding any blocks everyone else."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0
    run_ids = storage.get_concurrency_run_ids()
    if only is not None:
        run_ids &= only
    cleared = 0
    for run_id in sorted(run_ids):
        record = instance.get_run_record_by_id(run_id)
        if record is not None and record.dagster_run.status not in FINISHED:
            continue
        count, pools = _free(instance, run_id)
        state = record.dagster_run.status.value.lower() if record else "no longer recorded"
        log(
            f"Run {run_id[:8]} has ended ({state}) but still held the pool: {_freed_words(count, pools)}."
        )
        cleared += 1
    return cleared


def describe_holder(instance: dg.DagsterInstance, run_id: str, step_key: str | None) -> str:
    """Which run holds a slot, in what step, which process, since when (no personal data)."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return f"run {run_id[:8]} (no longer recorded)"
    run = record.dagster_run
    tags = dict(run.tags)
    if PID_TAG in tags:
        where = "this machine" if tags.get(HOST_TAG) == socket.gethostname() else tags.get(HOST_TAG)
        who = f"pid {tags[PID_TAG]} on {where}"
    else:
        who = "started from the UI or another tool"
    step = f", step {step_key}" if step_key else ""
    return f"run {run_id[:8]} ({run.job_name}{step}, {who}, running since {_started(record)})"


# --- waiting on the pool, and stopping -----------------------------------------------------


def wait_limit_seconds() -> int:
    """RUN_WAIT_SECONDS: how long a command waits for a pool slot another run holds."""
    return settings.current().run.RUN_WAIT_SECONDS


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


@dataclass
class _Blocked:
    pool: str
    step_key: str
    since: float


class RunWatch:
    """While a run executes in this process: says what it waits for when a pool slot is held
    by another run, clears a holder whose process died, gives up after RUN_WAIT_SECONDS,
    and turns Ctrl-C/SIGTERM into a prompt stop even while Dagster waits for a slot (its
    in-process executor only records the signal there, and would wait for ever)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, limit: int) -> None:
        self.instance = instance
        self.run_id = run_id
        self.limit = limit
        self.reason: str | None = None  # "interrupted" or "gave up"
        self.gave_up_message = ""
        self._blocked: _Blocked | None = None
        self._announced_at: float | None = None
        self._stop_at: float | None = None
        self._raised = False
        self._check_failed = False
        self._done = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(
            target=self._loop, name="groundswell-run-watch", daemon=True
        )
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._old_wakeup = -1

    def __enter__(self) -> RunWatch:
        self.instance.add_event_listener(self.run_id, self._on_event)
        if threading.current_thread() is threading.main_thread():
            # Python writes every signal's number to this socket at once, even while the main
            # thread is inside C code or Dagster's own handler swallows the signal.
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._wakeup = (reader, writer)
            self._old_wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._wakeup is not None:  # wake the watch from its select() at once
            with contextlib.suppress(OSError):
                self._wakeup[1].send(b"\0")
        try:
            self._thread.join(timeout=5)
        except KeyboardInterrupt:  # the one we raised, landing late: `reason` says why
            if not self._raised:
                raise
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            for sock in self._wakeup:
                sock.close()
        with contextlib.suppress(ValueError):
            self.instance._subscribers[self.run_id].remove(self._on_event)

    def _on_event(self, entry) -> None:
        """Called in the main thread for each event of our run: is a step blocked on a pool?"""
        event = entry.dagster_event
        if event is None:
            return
        message = entry.user_message or ""
        if (
            event.event_type == dg.DagsterEventType.ENGINE_EVENT
            and "blocked by limit for pool" in message
        ):
            if self._blocked is None or self._blocked.step_key != entry.step_key:
                pool = message.rsplit(" ", 1)[-1]
                self._blocked = _Blocked(pool, entry.step_key or "", time.monotonic())
        elif event.event_type in (
            dg.DagsterEventType.STEP_START,
            dg.DagsterEventType.STEP_SKIPPED,
            dg.DagsterEventType.RUN_FAILURE,
            dg.DagsterEventType.RUN_SUCCESS,
        ):
            self._blocked = None

    def _loop(self) -> None:
        while not self._done.is_set():
            self._wait_for_signal(POLL_SECONDS)
            try:
                self._check_pool()
            except Exception as exc:  # a failed look at the pool must never stop the run
                if not self._check_failed:
                    say(f"(Could not look at the pool's holders: {type(exc).__name__}.)")
                self._check_failed = True
            self._check_stopping()

    def _wait_for_signal(self, timeout: float) -> None:
        if self._wakeup is None:
            self._done.wait(timeout)
            return
        ready, _, _ = select.select([self._wakeup[0]], [], [], timeout)
        if not ready:
            return
        with contextlib.suppress(BlockingIOError):
            received = self._wakeup[0].recv(64)
            if {signal.SIGINT, signal.SIGTERM} & set(received):
                self._on_signal()

    def _on_signal(self) -> None:
        if self._stop_at is not None:  # a second Ctrl-C: stop now
            self._exit_now("Stopping now, as asked twice.")
        self.reason = self.reason or "interrupted"
        self._stop_at = time.monotonic()
        say("Stopping: marking this run failed and freeing its pool slots...")

    def _check_stopping(self) -> None:
        if self._stop_at is None or self._done.is_set():
            return
        # Dagster raises the interrupt inside a running step; while it waits for a slot it only
        # records it, so raise it in the main thread ourselves.
        if not self._raised and (
            self.reason == "gave up" or check_captured_interrupt() or self._blocked
        ):
            self._raise_in_main()
        if time.monotonic() - self._stop_at > GRACE_SECONDS:
            self._exit_now(f"Stopping now: the current step did not stop within {GRACE_SECONDS} s.")

    def _raise_in_main(self) -> None:
        self._raised = True
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self._main), ctypes.py_object(KeyboardInterrupt)
        )

    def _exit_now(self, why: str) -> None:
        say(why)
        with contextlib.suppress(Exception):
            finish_unfinished(self.instance, self.run_id, "Stopped before it finished.")
        os._exit(EXIT_GAVE_UP if self.reason == "gave up" else EXIT_INTERRUPTED)

    def _check_pool(self) -> None:
        blocked = self._blocked
        if blocked is None:
            if self._announced_at is not None and not self.reason:
                say("Got the pool slot; carrying on.")
            self._announced_at = None
            return
        waited = time.monotonic() - blocked.since
        if waited < 2 or self.reason:
            return
        holders = self._holders(blocked.pool)
        if clear_dead_runs(self.instance, only={run_id for run_id, _ in holders}):
            return  # Dagster's next claim takes the freed slot
        if not holders and wake_lost_assignment(self.instance, blocked.pool):
            return
        who = "; ".join(describe_holder(self.instance, r, s) for r, s in holders) or "nobody yet"
        if self._announced_at is None:
            say(
                f"Waiting for the {blocked.pool} pool (step {blocked.step_key}): held by {who}. "
                f"Waiting at most {_minutes(self.limit)} ({WAIT_SETTING}); Ctrl-C stops."
            )
            self._announced_at = time.monotonic()
        elif time.monotonic() - self._announced_at >= PROGRESS_SECONDS:
            say(
                f"Still waiting for the {blocked.pool} pool after {_minutes(waited)} "
                f"(of {_minutes(self.limit)}): held by {who}."
            )
            self._announced_at = time.monotonic()
        if waited >= self.limit:
            self.reason = "gave up"
            self.gave_up_message = (
                f"Gave up waiting for the {blocked.pool} pool after {_minutes(waited)} "
                f"({WAIT_SETTING}={self.limit}): held by {who}. If that run is stuck, stop it "
                "(its process, or Terminate in `make ui`), then run this again."
            )
            self._stop_at = time.monotonic()
            self._raise_in_main()

    def _holders(self, pool: str) -> list[tuple[str, str | None]]:
        info = self.instance.event_log_storage.get_concurrency_info(pool)
        return [(s.run_id, s.step_key) for s in info.claimed_slots if s.run_id != self.run_id]


def wake_lost_assignment(instance: dg.DagsterInstance, pool: str) -> bool:
    """Dagster 1.13 can lose a wake-up: a slot freed between a step's check for a free slot
    and its joining the queue leaves the step queued beside a free slot for good (the free
    assigns the queue's head, and the step was not in it yet). Assign a free slot to the
    head of the queue, as the free would have; True when one was assigned."""
    storage = instance.event_log_storage
    if not storage.has_unassigned_slots(pool):
        return False
    storage.assign_pending_steps([pool])
    return True


def finish_unfinished(instance: dg.DagsterInstance, run_id: str, message: str) -> None:
    """Mark our run failed if it has not finished, and free whatever pool slots it holds."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status not in FINISHED:
        instance.report_run_failed(run, message)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def execute(
    job: dg.JobDefinition, instance: dg.DagsterInstance, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """Clear dead runs, then execute `job` in-process, tagged with this process. Raises
    KeyboardInterrupt when stopped by Ctrl-C/SIGTERM and GaveUpWaiting at RUN_WAIT_SECONDS;
    either way the run is marked failed and its slots freed first."""
    limit = wait_limit_seconds()
    clear_dead_runs(instance)
    run_id = _new_run_id()
    watch = RunWatch(instance, run_id, limit)
    result = None
    try:
        with watch, _claims_checked_calmly():
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config=run_config,
                run_id=run_id,
                tags=run_tags(),
            )
    except KeyboardInterrupt:
        watch.reason = watch.reason or "interrupted"
    finally:
        # Also on any other error: a run of ours must never stay STARTED holding a slot.
        if result is None or watch.reason:
            finish_unfinished(instance, run_id, "Stopped before it finished.")
    if watch.reason == "gave up":
        raise GaveUpWaiting(watch.gave_up_message)
    if watch.reason:
        raise KeyboardInterrupt
    assert result is not None
    return result


@contextlib.contextmanager
def _claims_checked_calmly() -> Iterator[None]:
    """Dagster 1.13 re-checks a blocked pool claim in a busy loop (its next-check interval is
    min(0, ...), never positive; see dagster-io/dagster#20367), so a waiting command burns a
    core the running one needs. Sleep until the next check instead, at most a second so
    Ctrl-C and the watch's stop still land promptly."""
    original = InstanceConcurrencyContext.interval_to_next_pending_claim_check

    def interval(self: InstanceConcurrencyContext) -> float:
        timeouts = self._pending_timeouts.values()
        if not self._pending_claims or not timeouts:
            return 0.0
        return min(1.0, max(0.0, min(timeouts) - time.time()))

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval
    try:
        yield
    finally:
        InstanceConcurrencyContext.interval_to_next_pending_claim_check = original


def _new_run_id() -> str:
    from dagster._core.utils import make_new_run_id

    return make_new_run_id()


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so cleanup runs (restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
