"""bench/warehouse_build.py end to end on two small sizes: every step's line at each, the
counts, Splink's default dedupe of the same records with the ratio line, and the curve."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb

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
    for measure in ("precision", "recall"):
        assert re.search(rf"^{measure}( +0\.9\d{{3}}| +1\.0000){{2}}$", out, re.M), measure
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


def test_a_larger_organisation_is_made_in_parts_that_share_nobody(tmp_path):
    """More people than --part-people: generated and landed part by part into one
    warehouse, every record id distinct, every record scored on the truth; the --workdir
    named, which does not exist yet, is made."""
    command = ["bench/warehouse_build.py", "--records", "3000", "--part-people", "700"]
    command += ["--skip-splink", "--keep", "--workdir", str(tmp_path / "runs" / "new")]
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert len(re.findall(r"^  part \d of 3: 5\d\d people generated in", out, re.M)) == 3
    quality = re.search(
        r"^Identity on the generator's truth: precision (\S+), recall (\S+), F1 \S+ "
        r"\(([\d,]+) records of",
        out,
        re.M,
    )
    assert quality and float(quality[1]) > 0.95 and float(quality[2]) > 0.9
    (workdir,) = (tmp_path / "runs" / "new").iterdir()
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    try:
        for table in ("raw_action_network", "raw_mailchimp"):
            shared = con.execute(
                f"SELECT count(*) - count(DISTINCT (resource, record_id)) FROM {table}"
            ).fetchone()[0]
            assert shared == 0, table
        staged = con.execute("SELECT count(*) FROM stg_source_records").fetchone()[0]
        truth = (workdir / "truth-*.parquet").as_posix()
        scored = con.execute(
            f"SELECT count(DISTINCT (source, source_record_id)) FROM read_parquet('{truth}') "
            "JOIN stg_source_records USING (source, source_record_id)"
        ).fetchone()[0]
    finally:
        con.close()
    assert scored == staged == int(quality[3].replace(",", ""))


def test_people_are_split_into_parts_sized_alike():
    from bench.warehouse_build import split_people

    assert split_people(5, 10) == [5]
    assert split_people(5_920_000, 2_000_000) == [1_973_334, 1_973_333, 1_973_333]
    assert sum(split_people(1_000_001, 1000)) == 1_000_001


def test_each_size_of_the_curve_runs_on_the_curves_options():
    """--keep and the rest reach every size's run: the curve's warehouses are kept."""
    from argparse import Namespace

    from bench.warehouse_build import size_command

    args = Namespace(
        seed=7,
        threads=2,
        ladder=Path("ladder.yaml"),
        workdir=Path("/scratch"),
        keep=True,
        skip_splink=False,
        splink_up_to=5_000_000,
        part_people=1000,
    )
    command = size_command(args, 3000)
    assert command[2:] == [
        "--records", "3000", "--summary-json", "--seed", "7", "--threads", "2",
        "--ladder", "ladder.yaml", "--workdir", "/scratch", "--keep",
        "--splink-up-to", "5000000", "--part-people", "1000",
    ]  # fmt: skip
    args.keep, args.skip_splink, args.splink_up_to = False, True, None
    command = size_command(args, 3000)
    assert "--keep" not in command and "--skip-splink" in command
    assert "--splink-up-to" not in command
