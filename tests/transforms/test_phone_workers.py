"""The phone_parts UDF: the same parts as libphonenumber's one-number parse, whether it
parses in this process or, past POOL_AFTER numbers, in worker processes; a worker that dies
leaves the parsing to this process, and workers go when their process is killed."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.support.raw import an_person, land
from transforms import phones
from transforms.normalise import build_staging

ROOT = Path(__file__).resolve().parents[2]

needs_two_cores = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="worker processes are used only with two cores or more"
)

# Valid, invalid, impossible, placeholder, prefixed and foreign numbers, and NULL.
MIXED = [
    "2025550143",
    "+12025550143",
    "12025550143",
    "p:+12025550143",
    "0000000000",
    "555",
    "n/a",
    "+447400123456",
    "+61412345678",
    "1234567890",
    "+999123456789",
    None,
]


def many_numbers(n: int) -> list[str]:
    """Distinct texts, most of them valid US numbers, some impossible."""
    return [f"20255{i:05d}" if i % 7 else f"99{i:05d}" for i in range(n)]


def parsed_by_udf(con: duckdb.DuckDBPyConnection, texts: list[str | None]) -> dict:
    rows = con.execute(
        "SELECT t, phone_parts(t) FROM unnest(?::VARCHAR[]) AS u(t)", [texts]
    ).fetchall()
    return {
        t: (None if p is None else phones.PhoneParts(p["e164"], p["valid"], p["kind"]))
        for t, p in rows
    }


def expected(texts: list[str | None]) -> dict:
    return {t: (None if t is None else phones.parts(t, "US")) for t in texts}


def test_the_udf_gives_the_parts_of_each_number_and_null_for_null():
    con = duckdb.connect()
    with phones.register(con, "US") as parser:
        assert parsed_by_udf(con, MIXED) == expected(MIXED)
        assert parser.parsed_in_workers == 0


@needs_two_cores
def test_many_numbers_are_parsed_in_workers_with_the_same_parts(monkeypatch):
    monkeypatch.setattr(phones, "POOL_AFTER", 1_000)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    texts = [*MIXED, *many_numbers(12_000)]
    with phones.register(con, "US") as parser:
        assert parsed_by_udf(con, texts) == expected(texts)
        assert parser.parsed_in_workers > 8_000  # all but the first chunk or so
        assert len(multiprocessing.active_children()) == 2
    assert multiprocessing.active_children() == []


@needs_two_cores
def test_staging_is_the_same_with_workers(tmp_path, monkeypatch, migrated_warehouse, caplog):
    """Staging 5,000 people (three of DuckDB's chunks of numbers) with and without workers
    gives the same table."""
    from warehouse.connection import connect

    people = [
        an_person(f"G{i}", f"F{i}", f"p{i}@example.org", phone=number, uuid=f"u-{i}")
        for i, number in enumerate([*many_numbers(5_000), "(202) 555-0143", "n/a"])
    ]
    tables = []
    caplog.set_level(logging.INFO, logger="transforms.phones")
    for pool_after in (10**9, 200):
        monkeypatch.setattr(phones, "POOL_AFTER", pool_after)
        target = tmp_path / f"w{pool_after}.duckdb"
        target.write_bytes(Path(migrated_warehouse).read_bytes())
        con = connect(target)
        con.execute("SET threads = 2")
        land(con, an=people)
        build_staging(con, "US")
        tables.append(
            con.execute(
                "SELECT * EXCLUDE (created_at, modified_at) FROM stg_source_records "
                "ORDER BY source, source_record_id"
            ).fetchall()
        )
        parses = con.execute("SELECT count(*) FROM phone_parses").fetchone()[0]
        con.close()
        assert parses >= 5_000
        assert ("worker processes" in caplog.text) == (pool_after == 200)
    assert len(tables[0]) == 5_002
    assert tables[0] == tables[1]
    assert multiprocessing.active_children() == []


@needs_two_cores
def test_a_worker_that_dies_leaves_the_parsing_to_this_process(monkeypatch, caplog):
    monkeypatch.setattr(phones, "POOL_AFTER", 1_000)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    first, rest = many_numbers(6_000)[:3_000], many_numbers(6_000)[3_000:]
    with phones.register(con, "US") as parser:
        assert parsed_by_udf(con, first) == expected(first)
        assert parser.parsed_in_workers > 0
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="transforms.phones"):
            assert parsed_by_udf(con, rest) == expected(rest)
        assert "phone-parsing worker failed" in caplog.text
        assert parser.workers == 1
    assert multiprocessing.active_children() == []


CHILD = """
import sys, time, multiprocessing
import duckdb
from transforms import phones
phones.POOL_AFTER = 0
con = duckdb.connect()
con.execute("SET threads = 2")
parser = phones.register(con, "US")
con.execute("SELECT count(phone_parts(t)) FROM (SELECT '20255' || lpad(i::VARCHAR, 5, '0') t FROM range(5000) r(i))").fetchall()
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(120)
"""


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has stopped; only its parent may reap it


@needs_two_cores
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_workers_stop_when_the_staging_process_is_killed():
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline()  # the workers' pids, once they have parsed
        workers = [int(pid) for pid in line.split()]
        assert len(workers) == 2, line
        child.kill()
        child.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_running(pid) for pid in workers), "workers outlived their process"
    finally:
        child.kill()
        child.stdout.close()
