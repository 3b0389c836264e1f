"""`make run` starts the sandbox as a separate process and reads the settings it prints."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import sandbox_process
from pipelines.sandbox_process import SandboxProcess
from tests.support.pipeline import command_env

ROOT = Path(__file__).resolve().parents[2]


def test_reads_the_printed_settings_then_stops():
    process = SandboxProcess(["--people", "100", "--an-latency-ms", "0", "--mc-latency-ms", "0"])
    try:
        env = process.start()
        assert sorted(env) == sorted(
            [
                "ACTION_NETWORK_BASE_URL",
                "ACTION_NETWORK_API_KEY",
                "MAILCHIMP_BASE_URL",
                "MAILCHIMP_API_KEY",
                "MAILCHIMP_LIST_ID",
            ]
        )
    finally:
        process.stop()
    assert process.process is None


def test_gives_up_when_it_is_not_ready_in_time(monkeypatch):
    monkeypatch.setattr(sandbox_process, "STARTUP_SECONDS", 0.3)
    process = SandboxProcess(["--people", "300000"])  # takes far longer than 0.3 s to generate
    with pytest.raises(RuntimeError, match="did not start"):
        process.start()
    assert process.process is None, "the half-started process was stopped"


def test_a_process_that_dies_is_reported():
    with pytest.raises(RuntimeError, match="did not start"):
        SandboxProcess(["--no-such-option"]).start()


def test_advance_days_without_the_sandbox_is_refused_clearly(monkeypatch, capsys):
    from pipelines.__main__ import main

    monkeypatch.setenv("SANDBOX", "off")
    for name in ("ACTION_NETWORK_API_KEY", "MAILCHIMP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run", "--advance-days", "7"]) == 2
    assert "ADVANCE_DAYS moves the sandbox's clock" in capsys.readouterr().err


# Issue 11, case 12: the built-in sandbox dies with the run that started it, even on kill -9.


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.1)
    return False


def _wait_for_text(path: Path, text: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        assert process.poll() is None, path.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared:\n{path.read_text()[-3000:]}")


@pytest.fixture
def cleanup():
    """Process groups a test started, killed at the end whatever happened."""
    groups: list[int] = []
    yield groups.append
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.slow
def test_kill_9_of_a_run_takes_its_sandbox_with_it(tmp_path, cleanup):
    data = tmp_path / "data"  # not the working directory: a `sandbox` folder there would
    (data / "dagster").mkdir(parents=True)  # shadow the package for `python -m`
    shutil.copy(ROOT / "dagster.yaml", data / "dagster" / "dagster.yaml")
    env = command_env(data)
    err = tmp_path / "run.err"
    with open(err, "w") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    cleanup(run.pid)
    _wait_for_text(err, "RUN_START", run, seconds=120)  # the sandbox is up and serving
    sandboxes = [
        pid for pid in _children(run.pid) if b"sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(sandboxes) == 1

    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    # It stops within about 4 s (its parent check each second, then at most 3 s for
    # request threads); a whole suite on 2 cores once stretched that past 10.
    assert _gone_within(sandboxes[0], 30), "the sandbox outlived the run that started it"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_sandbox_watches_its_parent_where_the_kernel_does_not(tmp_path, cleanup):
    """The portable backstop: started without PR_SET_PDEATHSIG, `--parent-pid` still ends it."""
    starter = tmp_path / "starter.py"
    starter.write_text(
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-m', 'sandbox', 'serve', '--people', '100',\n"
        "    '--an-latency-ms', '0', '--mc-latency-ms', '0', '--parent-pid', str(os.getpid())],\n"
        "    stdout=subprocess.PIPE, text=True)\n"
        "for line in child.stdout:\n"
        "    if line.startswith('# sandbox ready'):\n"
        "        print(child.pid, flush=True)\n"
        "        break\n"
        "time.sleep(300)\n"
    )
    out = tmp_path / "starter.out"
    with open(out, "w") as stdout:
        parent = subprocess.Popen(
            [sys.executable, str(starter)], cwd=tmp_path, stdout=stdout, start_new_session=True
        )
    cleanup(parent.pid)
    deadline = time.monotonic() + 60
    while not out.read_text().strip() and time.monotonic() < deadline:
        assert parent.poll() is None
        time.sleep(0.2)
    sandbox_pid = int(out.read_text())
    assert _running(sandbox_pid)

    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    assert _gone_within(sandbox_pid, 5), "the orphaned sandbox kept running"
