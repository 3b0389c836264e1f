"""Opening the warehouse: session settings from the environment."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from warehouse import connection, migrate
from warehouse.connection import WarehouseBusyError, WarehouseError, connect


def test_memory_limit_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "1500MB")
    con = connect(tmp_path / "w.duckdb")
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()
    # The budget is the process's: DuckDB gets four fifths, 1,200 MB as DuckDB shows it.
    assert limit == "1.1 GiB"


@pytest.mark.parametrize(
    ("budget", "share"),
    [
        ("3GB", "2400000000B"),
        ("8 gb", "6400000000B"),
        ("2500MB", "2000000000B"),
        ("3GiB", "2576980377B"),
        ("1GB", "800000000B"),
        ("50%", "40%"),
        ("none", "none"),
    ],
)
def test_duckdb_gets_four_fifths_of_the_budget(budget, share):
    assert connection.duckdb_share(budget) == share


def test_a_memory_limit_duckdb_cannot_read_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="DUCKDB_MEMORY_LIMIT='lots'"):
        connect(tmp_path / "w.duckdb")


def test_a_budget_too_small_for_the_process_is_refused_by_name(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    con = connect(path)
    con.execute("CREATE TABLE kept AS SELECT range AS n FROM range(1000)")
    con.close()
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "900MB")
    with pytest.raises(ValueError, match=r"DUCKDB_MEMORY_LIMIT='900MB' is less than .*1GB"):
        connect(path)
    monkeypatch.delenv("DUCKDB_MEMORY_LIMIT")  # fixed: the warehouse is as it was
    con = connect(path)
    try:
        assert con.execute("SELECT count(*) FROM kept").fetchone()[0] == 1000
    finally:
        con.close()


def _warehouse_bytes(path) -> bytes:
    """A migrated warehouse holding some rows, as its file's bytes."""
    con = connect(path)
    con.execute(
        "CREATE TABLE kept AS SELECT range AS n, md5(range::VARCHAR) AS h FROM range(200000)"
    )
    con.close()
    return path.read_bytes()


# Cut short: its headers and first block only (a disk that filled up while it was copied).
CUT_SHORT = 3 * 4096 + 256 * 1024


@pytest.mark.parametrize("damage", ["cut short", "not a database"])
def test_a_damaged_warehouse_is_named_with_what_to_do_and_left_as_it_was(tmp_path, damage):
    path = tmp_path / "warehouse.duckdb"
    good = _warehouse_bytes(path)
    broken = good[:CUT_SHORT] if damage == "cut short" else b"PK\x03\x04" + good[4:4096]
    path.write_bytes(broken)
    copy = tmp_path / "copy" / "warehouse.duckdb"
    copy.parent.mkdir()
    copy.write_bytes(broken)
    with pytest.raises(duckdb.Error):  # DuckDB itself cannot read it: the case is real
        duckdb.connect(str(copy)).execute("SELECT * FROM schema_migrations").fetchall()
    shutil.rmtree(copy.parent)
    checks = migrate.checks
    with pytest.raises(WarehouseError) as raised:
        connect(path)
    # Named at once although this process checked the file's migrations before: the cheap
    # damage probe, not a second migration check, found it.
    assert migrate.checks == checks
    message = str(raised.value)
    assert str(path) in message and "is damaged" in message
    assert "make restore FROM=latest" in message and "move it aside" in message
    assert "Traceback" not in message and "IO Error" not in message
    assert path.read_bytes() == broken, "nothing was written to it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.duckdb"], "no .wal either"


def test_a_warehouse_in_a_folder_that_cannot_be_written_is_named(tmp_path):
    folder = tmp_path / "warehouse.duckdb"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(WarehouseError, match=r"warehouse\.duckdb cannot be opened.*WAREHOUSE_PATH"):
        connect(folder)


def test_a_warehouse_another_program_holds_is_waited_for_then_named(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setattr(connection, "LOCK_WAITS", (0.05, 0.05))  # not the real 100 s
        with pytest.raises(WarehouseBusyError, match="in use by another program"):
            connect(path)
    finally:
        holder.kill()
        holder.wait()
    connect(path).close()  # free again: opens as usual


HOLD_THE_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


# A new warehouse is made under a scratch name and linked into place once migrated: a first
# run killed while making it (kill -9 during the migrations) leaves nothing half-made.
_SLOW_CREATION = """
import sys, time
from warehouse import migrate
real = migrate.migrate

def slow(con):
    print("migrating", flush=True)
    time.sleep(30)  # killed here, inside the creation
    return real(con)

migrate.migrate = slow
from warehouse.connection import connect
connect(sys.argv[1]).close()
"""


def test_a_process_killed_while_making_the_warehouse_leaves_no_half_made_file(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    script = tmp_path / "make.py"
    script.write_text(_SLOW_CREATION)
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, str(script), str(path)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "migrating"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    assert not path.exists(), "nothing at the warehouse's path until it is whole"
    [scratch] = tmp_path.glob(".warehouse.duckdb.new-*")
    # The next connection makes it whole; an hour later, the killed one's scratch goes too.
    os.utime(scratch, (time.time() - 7200, time.time() - 7200))
    con = connect(path)
    try:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 10
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["make.py", "warehouse.duckdb"]
