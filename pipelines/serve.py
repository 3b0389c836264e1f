"""`python -m pipelines.serve` (`make serve`): the production mode. One supervisor runs the
Dagster webserver, the Dagster daemon (the nightly schedule, sensors, the run queue) and the
organiser portal, logs each to LOG_DIR with rotation, restarts one that dies, and on
SIGTERM or Ctrl-C stops them all and marks a run it interrupted failed (the next run resumes
from the checkpoints: sync cursors and the push ledger)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from pipelines import runs, settings
from pipelines.sandbox_process import SandboxProcess, sandbox_args
from pipelines.service_settings import ServiceSettings
from pipelines.supervisor import ChildSpec, Supervisor, become_subreaper
from portal.settings import PortalSettings

ROOT = Path(__file__).resolve().parents[1]
PID_FILE = "serve.pid"
EXIT_SETTINGS = 2
EXIT_REFUSED = 1
READY_SECONDS = 300
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
STOPPED_MESSAGE = (
    "Stopped before it finished: `make serve` was stopped (SIGTERM or Ctrl-C). The next run "
    "resumes from the checkpoints (sync cursors, push ledger). Marked failed by Groundswell."
)


class Refused(Exception):
    """`make serve` cannot start; the message says why and what to do, `code` is the exit."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


# --- one serve per data folder ------------------------------------------------------------


@contextlib.contextmanager
def serve_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for our life, our pid written in it; Refused naming
    the holder's pid when another serve holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held open for the lock's life)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            raise Refused(
                f"Another `make serve` or `make ui` ({holder}) is already serving this data: "
                f"it holds {path}. Stop that one first (`sudo systemctl stop groundswell`, "
                "or Ctrl-C where it runs), or give this one its own WAREHOUSE_PATH and "
                "DAGSTER_HOME."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # kept, not removed: a waiting opener would lock a stale inode
    finally:
        handle.close()


def _holder(path: Path) -> str:
    """'pid N' from the lock file (the holder writes it just after locking: wait a moment)."""
    for _ in range(20):
        text = path.read_text().strip()
        if text.isdigit():
            return f"pid {text}"
        time.sleep(0.1)
    return "pid unknown"


@contextlib.contextmanager
def service_locks(home: Path) -> Iterator[None]:
    """Every lock of one service on this data (`make serve`, `make ui`): two daemons on one
    DAGSTER_HOME would both fire the schedule."""
    with contextlib.ExitStack() as held:
        for path in _lock_paths(home):
            held.enter_context(serve_lock(path))
        yield


def _lock_paths(home: Path) -> list[Path]:
    """The data folder (the warehouse's) and DAGSTER_HOME: either shared means one serve."""
    data = Path(settings.get("WAREHOUSE_PATH")).expanduser().resolve().parent
    return list(dict.fromkeys([data / PID_FILE, home / PID_FILE]))


# --- before anything starts ---------------------------------------------------------------


def _settings() -> tuple[ServiceSettings, PortalSettings, Path]:
    """Read `.env` (the shell's settings winning, here and in Dagster's processes), default
    DAGSTER_HOME to data/dagster, check every setting."""
    settings.pin_shell()
    settings.load_env()
    if not settings.has("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(Path("data/dagster").resolve())
    try:
        settings.validate()
    except ValueError as exc:
        raise Refused(str(exc).strip(), EXIT_SETTINGS) from None
    service, portal = ServiceSettings(), PortalSettings()
    if (service.DAGSTER_HOST, service.DAGSTER_PORT) == (portal.PORTAL_HOST, portal.PORTAL_PORT):
        raise Refused(
            f"DAGSTER_PORT and PORTAL_PORT are both {service.DAGSTER_PORT} on the same "
            "address: give each its own port (defaults 3000 and 8000).",
            EXIT_SETTINGS,
        )
    return service, portal, Path(os.environ["DAGSTER_HOME"]).expanduser().resolve()


def _port_free(name: str, host: str, port: int) -> None:
    """Refused when something already listens where a child must."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise Refused(
                f"{name}={port}: {host}:{port} cannot be used ({exc.strerror}); another "
                f"program listens there (`make ui` or `make portal`?). Stop it, or set {name} "
                "to a free port."
            ) from None


def _logger(log_dir: Path, service: ServiceSettings) -> logging.Logger:
    """The supervisor's own log: LOG_DIR/serve.log (rotated) and stderr."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_dir / "serve.log",
            maxBytes=service.LOG_MAX_MB * 1024 * 1024,
            backupCount=service.LOG_KEEP,
        )
    except OSError as exc:
        raise Refused(
            f"LOG_DIR={service.LOG_DIR}: cannot write logs there ({exc.strerror}); give a "
            "folder this user can write (default data/logs).",
            EXIT_SETTINGS,
        ) from None
    log = logging.getLogger("groundswell.serve")
    log.setLevel(logging.INFO)
    log.propagate = False
    for old in list(log.handlers):
        log.removeHandler(old)
        old.close()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    shown = logging.StreamHandler(sys.stderr)
    shown.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(shown)
    return log


def _executable(name: str) -> str:
    """A console script of this environment (beside its python)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def children(service: ServiceSettings, portal: PortalSettings) -> list[ChildSpec]:
    """The webserver, the daemon and the portal, as `make serve` runs them."""
    workspace = str(ROOT / "workspace.yaml")
    return [
        ChildSpec(
            "webserver",
            [
                _executable("dagster-webserver"),
                *("-w", workspace, "-h", service.DAGSTER_HOST, "-p", str(service.DAGSTER_PORT)),
            ],
        ),
        ChildSpec("daemon", [_executable("dagster-daemon"), "run", "-w", workspace]),
        ChildSpec(
            "portal",
            [
                sys.executable,
                *("-m", "portal", "serve", "--host", portal.PORTAL_HOST),
                *("--port", str(portal.PORTAL_PORT)),
            ],
        ),
    ]


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


def _announce_when_ready(log: logging.Logger, checks: list[tuple[str, str]]) -> None:
    """Log once each address answers (or that it did not, within READY_SECONDS)."""
    deadline = time.monotonic() + READY_SECONDS
    pending = list(checks)
    while pending and time.monotonic() < deadline:
        for what, url in list(pending):
            with contextlib.suppress(OSError), DIRECT.open(url, timeout=2):
                log.info(f"The {what} answers on {url.rsplit('/', 1)[0]}")
                pending.remove((what, url))
        time.sleep(1)
    for what, url in pending:
        log.warning(f"The {what} did not answer on {url} within {READY_SECONDS} s; see its log.")


# --- after the children have ended ---------------------------------------------------------


def finish_interrupted_runs(instance, log: logging.Logger) -> int:
    """Mark failed every run our stopped daemon or webserver left in progress (its process
    is gone, or it never got one), free its pool slots; then the usual dead-run sweep."""
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    in_progress = [
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
    ]
    finished = 0
    for record in instance.get_run_records(filters=RunsFilter(statuses=in_progress)):
        run = record.dagster_run
        if runs.PID_TAG in run.tags:  # a `make run` or `make forget`: it looks after its own
            continue
        if run.status == DagsterRunStatus.STARTED and not runs.untagged_run_gone(instance, record):
            continue  # its process still runs (another Dagster on this instance)
        runs.finish_unfinished(instance, run.run_id, STOPPED_MESSAGE)
        log.info(
            f"Run {run.run_id[:8]} ({run.job_name}) was in progress: marked failed and its "
            "pool slots freed; the next run resumes from the checkpoints."
        )
        finished += 1
    queued = instance.get_runs_count(filters=RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
    if queued:
        log.info(
            f"{queued} queued run(s) stay queued: the daemon launches them when `make serve` "
            "starts again."
        )
    return finished + runs.clear_dead_runs(instance, log=log.info)


# --- the service ---------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_sandbox(log: logging.Logger, held: contextlib.ExitStack) -> SandboxProcess | None:
    """The sandbox platforms, as `make ui` starts them, when no platform key is set (SANDBOX=
    auto) or SANDBOX=on; their settings go into our environment, so the children's."""
    if not settings.wants_sandbox():
        return None
    if settings.get("SANDBOX").lower() == "on":
        why = "SANDBOX=on"
    else:
        why = "No platform keys configured (SANDBOX=auto)"
    log.info(
        f"{why}: starting the sandbox platforms on loopback, so this service syncs a "
        "simulated organisation. Put your accounts' keys in .env to sync the real ones."
    )
    sandbox = SandboxProcess(sandbox_args())
    held.callback(sandbox.stop)
    settings.pin(sandbox.start())
    return sandbox


def _ready_checks(service: ServiceSettings, portal: PortalSettings) -> list[tuple[str, str]]:
    return [
        ("Dagster UI", f"{_url(service.DAGSTER_HOST, service.DAGSTER_PORT)}/server_info"),
        ("portal", f"{_url(portal.PORTAL_HOST, portal.PORTAL_PORT)}/health"),
    ]


def serve() -> int:
    """Start everything, supervise until SIGTERM/SIGINT, stop cleanly; the exit code."""
    service, portal, home = _settings()
    with contextlib.ExitStack() as held:
        for path in _lock_paths(home):
            held.enter_context(serve_lock(path))
        _port_free("DAGSTER_PORT", service.DAGSTER_HOST, service.DAGSTER_PORT)
        _port_free("PORTAL_PORT", portal.PORTAL_HOST, portal.PORTAL_PORT)
        log_dir = Path(service.LOG_DIR).expanduser().resolve()
        log = _logger(log_dir, service)
        log.info(f"Groundswell `make serve` starting (pid {os.getpid()}), DAGSTER_HOME={home}")
        try:  # prepares DAGSTER_HOME (its dagster.yaml) before any child reads it
            instance = runs.open_instance()
        except ValueError as exc:  # PostgreSQL storage that does not answer, named by setting
            raise Refused(str(exc).strip()) from None
        runs.clear_dead_runs(instance, log=log.info)
        become_subreaper()
        sandbox = _start_sandbox(log, held)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        supervisor = Supervisor(
            children(service, portal),
            log,
            log_dir,
            max_bytes=service.LOG_MAX_MB * 1024 * 1024,
            keep=service.LOG_KEEP,
            env=env,
        )
        if sandbox is not None and sandbox.process is not None:
            supervisor.spare = {sandbox.process.pid}

        def _stop(signum: int, frame: object) -> None:
            supervisor.stop_reason = supervisor.stop_reason or signal.Signals(signum).name

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        _banner(log, service, portal, log_dir)
        threading.Thread(
            target=_announce_when_ready, args=(log, _ready_checks(service, portal)), daemon=True
        ).start()

        def sandbox_gone() -> str | None:
            if sandbox is None or sandbox.process is None or sandbox.process.poll() is None:
                return None
            return (
                f"The sandbox platforms stopped (exit code {sandbox.process.returncode}): "
                "stopping everything (systemd restarts the service)."
            )

        code = supervisor.run(also_watch=sandbox_gone)
        if supervisor.stop_reason:
            log.info(f"Stopped by {supervisor.stop_reason}.")
        try:
            finish_interrupted_runs(instance, log)
        except Exception as exc:  # e.g. PostgreSQL gone: the next start's sweep does it
            log.error(
                f"Could not mark the interrupted runs failed ({type(exc).__name__}); the next "
                "`make serve` does it when it starts."
            )
        log.info("Groundswell `make serve` stopped." if code == 0 else "Groundswell gave up.")
        return code


def _banner(
    log: logging.Logger, service: ServiceSettings, portal: PortalSettings, log_dir: Path
) -> None:
    run = settings.current().run
    if service.DAGSTER_HOST not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            f"DAGSTER_HOST={service.DAGSTER_HOST}: the Dagster UI has no sign-in of its own; "
            "keep it behind the HTTPS proxy with authentication (docs/operator-guide.md)."
        )
    schedule = "on" if run.nightly else "off (switch it on in the UI, or NIGHTLY_SCHEDULE=on)"
    log.info(
        "\n".join(
            [
                "Groundswell is serving:",
                f"  Dagster UI   {_url(service.DAGSTER_HOST, service.DAGSTER_PORT)}",
                f"  portal       {_url(portal.PORTAL_HOST, portal.PORTAL_PORT)}",
                f"  nightly run  {settings.get('NIGHTLY_CRON')} ({run.SCHEDULE_TIMEZONE}), "
                f"schedule {schedule}",
                f"  logs         {log_dir}/ serve.log, webserver.log, daemon.log, portal.log "
                f"(rotated at {service.LOG_MAX_MB} MB, {service.LOG_KEEP} kept)",
                "SIGTERM or Ctrl-C stops it all.",
            ]
        )
    )


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m pipelines.serve", description=__doc__).parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # while starting: stop at once
    try:
        return serve()
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("Stopped while starting; nothing was left running.", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
