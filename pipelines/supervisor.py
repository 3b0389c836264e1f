"""Keeping a few long-lived processes running: each in its own process group, its output in a
rotating log file, restarted with backoff when it dies, given up on after repeated quick
failures, and stopped together (SIGTERM, a grace period, then SIGKILL) with everything they
started. Plain subprocesses; nothing here knows Dagster."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
QUICK_SECONDS = 60.0  # a child that dies sooner than this after starting failed quickly
MAX_QUICK_FAILURES = 5
STOP_SECONDS = 30.0
POLL_SECONDS = 0.5
EXIT_GAVE_UP = 1


@dataclass(frozen=True)
class ChildSpec:
    """A process to keep running: its name (and log file's), its command line."""

    name: str
    argv: list[str]


@dataclass
class Child:
    """One supervised process and its restart history."""

    spec: ChildSpec
    log: logging.Logger
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None
    pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def child_log(name: str, path: Path, max_bytes: int, keep: int) -> logging.Logger:
    """A logger writing lines as they are to `path`, rotated at `max_bytes`, `keep` old files."""
    log = logging.getLogger(f"groundswell.child.{name}")
    log.propagate = False
    log.setLevel(logging.INFO)
    for old in list(log.handlers):
        log.removeHandler(old)
        old.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=keep)
    handler.setFormatter(logging.Formatter("%(message)s"))  # children stamp their own lines
    log.addHandler(handler)
    return log


def _pump(stream, log: logging.Logger) -> None:
    """Copy a child's output into its log, line by line, until every writer has closed it."""
    with contextlib.suppress(ValueError, OSError):
        for raw in iter(stream.readline, b""):
            log.info(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    with contextlib.suppress(OSError):
        stream.close()


def become_subreaper() -> None:
    """Linux: orphans of our children (a run worker whose daemon died) become ours, not
    init's, so a stop still finds and ends them."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and parent pid of `pid`, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def descendants(root: int) -> list[int]:
    """Every live process below `root` (Linux /proc; empty elsewhere)."""
    if not Path("/proc").is_dir():
        return []
    below: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(int(entry))) and info[0] not in ("Z", "X"):
            below.setdefault(info[1], []).append(int(entry))
    found, queue = [], [root]
    while queue:
        for pid in below.get(queue.pop(), []):
            found.append(pid)
            queue.append(pid)
    return found


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie does not); reaps it when it is our own child."""
    info = _stat(pid)
    if info is None and not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    if info is None:
        return False
    if info[0] in ("Z", "X"):
        if info[1] == os.getpid():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        return False
    return True


class Supervisor:
    """Starts each child, restarts one that dies (after BACKOFF_SECONDS), gives up after
    MAX_QUICK_FAILURES in a row within QUICK_SECONDS of starting, and stops them all."""

    def __init__(
        self,
        specs: Iterable[ChildSpec],
        log: logging.Logger,
        log_dir: Path,
        max_bytes: int,
        keep: int,
        env: dict[str, str] | None = None,
        quick_seconds: float = QUICK_SECONDS,
        max_quick_failures: int = MAX_QUICK_FAILURES,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
        stop_seconds: float = STOP_SECONDS,
    ) -> None:
        self.log = log
        self.env = env
        self.quick_seconds = quick_seconds
        self.max_quick_failures = max_quick_failures
        self.backoff = backoff
        self.stop_seconds = stop_seconds
        self.children = []
        for spec in specs:
            path = log_dir / f"{spec.name}.log"
            self.children.append(Child(spec, child_log(spec.name, path, max_bytes, keep), path))
        self.spare: set[int] = set()  # processes below us that are not ours to stop
        self.stop_reason: str | None = None  # set (by a signal handler) to stop the loop
        self.failure: str | None = None

    def start(self, child: Child) -> None:
        """Start one child in its own session (its own process group), output to its log."""
        child.process = subprocess.Popen(
            child.spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pump = threading.Thread(
            target=_pump, args=(child.process.stdout, child.log), daemon=True
        )
        child.pump.start()
        self.log.info(f"Started the {child.name} (pid {child.pid}); its log: {child.log_path}")

    def run(self, also_watch: Callable[[], str | None] = lambda: None) -> int:
        """Start every child and keep them running until `stop_reason` is set (0) or one
        keeps failing, or `also_watch` names a failure (EXIT_GAVE_UP); stops them all."""
        for child in self.children:
            self.start(child)
        while self.stop_reason is None and self.failure is None:
            time.sleep(POLL_SECONDS)
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at and self.stop_reason is None:
                        self.start(child)
                elif child.process is not None and child.process.poll() is not None:
                    self._died(child, now)
            self.failure = self.failure or also_watch()
            self._reap_orphans()
        self.stop()
        if self.failure:
            self.log.error(self.failure)
            return EXIT_GAVE_UP
        return 0

    def _died(self, child: Child, now: float) -> None:
        assert child.process is not None
        code, pid = child.process.returncode, child.pid
        lived = now - child.started_at
        child.quick_failures = child.quick_failures + 1 if lived < self.quick_seconds else 1
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        if child.quick_failures >= self.max_quick_failures:
            self.failure = (
                f"The {child.name} (pid {pid}) {how} after {lived:.0f} s: "
                f"{child.quick_failures} times in a row, each within {self.quick_seconds:.0f} s "
                f"of starting, so giving up. Its log says why: {child.log_path}"
            )
            return
        delay = self.backoff[min(child.quick_failures - 1, len(self.backoff) - 1)]
        self.log.warning(
            f"The {child.name} (pid {pid}) {how} after {lived:.0f} s; restarting it in "
            f"{delay:g} s (quick failure {child.quick_failures} of {self.max_quick_failures} "
            f"before giving up). Its log: {child.log_path}"
        )
        child.restart_at = now + delay

    def _reap_orphans(self) -> None:
        """Collect exited processes that became ours (we are their subreaper)."""
        ours = {c.pid for c in self.children if c.process is not None}
        if not Path("/proc").is_dir():
            return
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in ours:
                info = _stat(int(entry))
                if info and info[0] == "Z" and info[1] == os.getpid():
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(int(entry), os.WNOHANG)

    def stop(self) -> None:
        """SIGTERM to every child's process group and every process below us (but `spare`),
        wait up to stop_seconds for all of them to end, then SIGKILL the rest."""
        spared = set(self.spare)
        running = [c for c in self.children if c.process and c.process.poll() is None]
        groups = {c.pid for c in running}  # each child leads its own process group
        others = [
            p for p in descendants(os.getpid()) if p not in spared and _group(p) not in groups
        ]
        names = ", ".join(f"the {c.name} (pid {c.pid})" for c in running) or "no child"
        self.log.info(
            f"Stopping: SIGTERM to {names} and {len(others)} process(es) they started (code "
            f"servers, runs); waiting up to {self.stop_seconds:.0f} s for all of them to end."
        )
        for child in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        for pid in others:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_seconds
        while time.monotonic() < deadline:
            for child in running:
                child.process.poll()
            left = self._left(running, spared)
            if not left:
                break
            time.sleep(0.2)
        left = self._left(running, spared)
        if left:
            self.log.warning(
                f"Still running after {self.stop_seconds:.0f} s: pid(s) "
                f"{', '.join(map(str, sorted(left)))}; sending SIGKILL."
            )
            for child in running:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for child in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=10)
        self._reap_orphans()
        for child in self.children:
            if child.pump is not None:
                child.pump.join(timeout=2)
            for handler in child.log.handlers:
                handler.close()
        self.log.info("Every child has ended.")

    def _left(self, running: list[Child], spared: set[int]) -> set[int]:
        """What still runs of the children and everything below us (zombies reaped)."""
        left = {c.pid for c in running if c.process.poll() is None}
        left |= {p for p in descendants(os.getpid()) if p not in spared}
        return {p for p in left if alive(p)}
