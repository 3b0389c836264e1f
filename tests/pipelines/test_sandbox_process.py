"""`make run` starts the sandbox as a separate process and reads the settings it prints."""

import pytest

from pipelines import sandbox_process
from pipelines.sandbox_process import SandboxProcess


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
