"""`python -m sandbox serve` prints the .env lines a user pastes, then serves."""

import subprocess
import sys

import requests

NAMES = [
    "ACTION_NETWORK_BASE_URL",
    "ACTION_NETWORK_API_KEY",
    "MAILCHIMP_BASE_URL",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_LIST_ID",
]


def test_serve_prints_env_lines_and_serves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--people", "100", "--forms-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [process.stdout.readline().strip() for _ in range(6)]
        env = dict(line.split("=", 1) for line in lines[:5])
        assert list(env) == NAMES
        assert lines[5].startswith("# sandbox ready: 100 people")
        assert env["MAILCHIMP_API_KEY"].rsplit("-", 1)[1] == "us21"
        response = requests.get(
            env["ACTION_NETWORK_BASE_URL"] + "/",
            headers={"OSDI-API-Token": env["ACTION_NETWORK_API_KEY"]},
            timeout=5,
        )
        assert "osdi:people" in response.json()["_links"]
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "google_forms_volunteer_signup.csv",
            "paper_signin_sheet_typed.csv",
            "typeform_event_rsvp.csv",
        ]
        assert (tmp_path / "typeform_event_rsvp.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
