"""bench/warehouse_build.py end to end on two small sizes: every step's line at each, the
counts, Splink's default dedupe of the same records with the ratio line, and the curve."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_build_benchmark_prints_each_step_the_ratio_to_splink_and_the_curve(tmp_path):
    command = ["bench/warehouse_build.py", "--records", "500,900", "--workdir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for step in ("staging", "identity", "activities", "person_metrics", "ladder", "lists"):
        assert len(re.findall(rf"^{step} +\d+\.\d\d +\d+\.\d\d +[\d,]+$", out, re.M)) == 2, step
        assert re.search(rf"^{step} +( +\d+\.\d / +[\d,]+){{2}}$", out, re.M), step
    assert (
        len(re.findall(r"Splink default dedupe \(same records, own process\): [\d.]+ s", out)) == 2
    )
    ratios = re.findall(r"^whole build / Splink default dedupe: (\d+\.\d\d)$", out, re.M)
    assert len(ratios) == 2 and all(float(r) > 0 for r in ratios)
    assert re.search(r"^build / Splink( +\d+\.\d\d){2}$", out, re.M)
    assert re.search(
        r"^time ratio 0\.00M / 0\.00M: \d+\.\d\d for \d\.\d\d times the records$", out, re.M
    )
    assert not list(tmp_path.iterdir())  # the warehouse files are gone without --keep


def test_a_size_that_is_not_a_number_is_refused_naming_it():
    done = subprocess.run(
        [sys.executable, "bench/warehouse_build.py", "--records", "1000000,lots"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "not a number of records, or several: '1000000,lots'" in done.stderr
