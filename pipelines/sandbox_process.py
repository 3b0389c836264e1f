"""Starting the simulated platforms as a separate process. The product never imports
`sandbox`: it is the outside world, reached over HTTP like the real platforms."""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from pipelines import settings

READY = "# sandbox ready"
STARTUP_SECONDS = 180
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent() -> None:
    """Runs in the child before exec (Linux): the kernel sends it SIGTERM when the thread that
    started it dies, even by kill -9. Start the sandbox from the main thread for that reason."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class SandboxProcess:
    """`python -m sandbox serve` in a child process, with the settings it printed."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.process: subprocess.Popen[str] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        """Start it and read its settings; give up after STARTUP_SECONDS without the ready line.
        It dies with this process: by the kernel on Linux, elsewhere by watching its parent."""
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "serve",
                *self.args,
                "--parent-pid",
                str(os.getpid()),
            ],
            stdout=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            return self._read_settings()
        except BaseException:  # Ctrl-C while it starts: do not leave it running
            self.stop()
            raise

    def _read_settings(self) -> dict[str, str]:
        assert self.process is not None
        assert self.process.stdout is not None
        # Raw reads on the descriptor: a buffered reader could hold lines select() cannot see.
        fd = self.process.stdout.fileno()
        pending = b""
        deadline = time.monotonic() + STARTUP_SECONDS
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(timeout=remaining):
                    break
                chunk = os.read(fd, 65536)
                if not chunk:  # the process ended before it was ready
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8").strip()
                    if line.startswith(READY):
                        return self.env
                    if "=" in line and not line.startswith("#"):
                        name, value = line.split("=", 1)
                        self.env[name] = value
        self.stop()
        raise RuntimeError(
            "the sandbox platforms did not start; run `python -m sandbox serve` to see why"
        )

    def advance(self, days: float) -> dict:
        """POST /_sandbox/advance: new people, changes and actions for the next run to find."""
        base = self.env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0]
        response = requests.post(f"{base}/_sandbox/advance", params={"days": days}, timeout=600)
        response.raise_for_status()
        return response.json()

    def asks(self, detail: bool = False) -> dict:
        """GET /_sandbox/asks: the last advance's truth per pushed list (asked, said_yes,
        acted, share); `detail` adds the synthetic people's email addresses."""
        base = self.env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0]
        params = {"detail": "1"} if detail else {}
        response = requests.get(f"{base}/_sandbox/asks", params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def sandbox_args() -> list[str]:
    """The serve options from SANDBOX_* settings, forms dropped into the inbox."""
    args = [
        "--people",
        settings.get("SANDBOX_PEOPLE"),
        "--seed",
        settings.get("SANDBOX_SEED"),
        "--forms-dir",
        settings.get("FORMS_INBOX"),
        "--truth-dir",
        str(Path(settings.get("WAREHOUSE_PATH")).parent / "sandbox"),
    ]
    if settings.has("SANDBOX_AN_RATE"):
        args += ["--an-rate", settings.get("SANDBOX_AN_RATE")]
    if settings.has("SANDBOX_LATENCY_MS"):  # 0 for quick demos and tests
        latency = settings.get("SANDBOX_LATENCY_MS")
        args += ["--an-latency-ms", latency, "--mc-latency-ms", latency]
    return args
