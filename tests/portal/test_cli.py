"""`python -m portal invite` and `revoke` as the volunteer runs them (make invite/revoke)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from portal.store import Store
from tests.portal.conftest import TEAMS_YAML

ROOT = Path(__file__).resolve().parents[2]


def _portal(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PORTAL_DB": str(tmp_path / "portal.db"),
        "TEAMS_CONFIG": str(tmp_path / "teams.yaml"),
        "PORTAL_URL": "https://portal.example.org",
    }
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=tmp_path,  # no .env there, and nothing written into the project
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_invite_prints_a_link_and_refuses_what_it_should(tmp_path):
    (tmp_path / "teams.yaml").write_text(TEAMS_YAML)
    made = _portal(tmp_path, "invite", "ana@example.org")
    assert made.returncode == 0, made.stderr
    assert "https://portal.example.org/invite/" in made.stdout and "7 days" in made.stdout
    assert Store(tmp_path / "portal.db").audit_events() == []  # no person data logged

    nobody = _portal(tmp_path, "invite", "nobody@example.org")
    assert nobody.returncode == 1 and "leads no team in" in nobody.stderr
    assert "teams.yaml" in nobody.stderr and "/invite/" not in nobody.stdout


def test_revoke_and_bad_settings(tmp_path):
    (tmp_path / "teams.yaml").write_text(TEAMS_YAML)
    unknown = _portal(tmp_path, "revoke", "ana@example.org")
    assert unknown.returncode == 1 and "No account has that address" in unknown.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "portal", "invite", "ana@example.org"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PORTAL_IDLE_MINUTES": "forever"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "PORTAL_IDLE_MINUTES='forever'" in bad.stderr
