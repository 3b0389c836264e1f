"""bench/warehouse_build.py end to end on a small organisation: every step's line, the
counts, and Splink's default dedupe of the same records with the ratio line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_build_benchmark_prints_each_step_and_the_ratio_to_splink(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/warehouse_build.py", "--people", "300", "--workdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for step in ("staging", "identity", "activities", "person_metrics", "ladder", "lists"):
        assert re.search(rf"^{step} +\d+\.\d\d +\d+\.\d\d +[\d,]+$", out, re.M), step
    assert re.search(r"^total +\d+\.\d\d", out, re.M)
    assert re.search(r"Splink default dedupe \(same records, own process\): [\d.]+ s wall", out)
    ratio = re.search(r"^whole build / Splink default dedupe: (\d+\.\d\d)$", out, re.M)
    assert ratio and float(ratio.group(1)) > 0
    assert not list(tmp_path.iterdir())  # the warehouse files are gone without --keep
