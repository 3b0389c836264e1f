"""The layer rules of DESIGN.md are import-linter contracts (pyproject.toml): they hold on
this tree, and each kind of break is caught, named by its contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("connectors", "pipelines", "transforms", "warehouse", "sandbox", "portal")
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the product folders and the contracts, to break on purpose."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layer_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("transforms/ladder.py", "import dagster", "Only pipelines/ imports Dagster"),
        ("transforms/ladder.py", "import requests", "transforms/ knows no platform"),
        ("transforms/ladder.py", "import connectors.mailchimp.client", "knows no platform"),
        ("connectors/http.py", "import transforms.ladder", "Connectors use only the warehouse"),
        ("warehouse/load.py", "import transforms.ladder", "The warehouse imports nothing"),
        ("pipelines/runs.py", "import sandbox", "Nothing but tests and benchmarks imports"),
        ("sandbox/clock.py", "import warehouse.load", "The sandbox imports nothing of ours"),
        ("connectors/mailchimp/push.py", "import connectors.forms.reader", "stands alone"),
        ("portal/auth.py", "import dagster", "portal imports no dagster"),
        ("portal/auth.py", "import connectors.http", "portal imports no dagster, connectors"),
    ],
)
def test_a_broken_layer_rule_fails_lint_naming_its_contract(tree, module, line, contract):
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
