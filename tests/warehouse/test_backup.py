"""Warehouse backups on real files: a consistent copy of an open warehouse with its SHA-256,
written whole or not at all (a full disk, a folder that cannot be made), retention by day
and ISO week that touches only backups, the checks a restore relies on, and the keeper of
forgotten hashes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse import backup, forgotten
from warehouse.connection import WarehouseError, connect

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    con.execute("CREATE TABLE marker AS SELECT 'p_0000000000000001' AS person_id")
    con.close()
    return path


def test_a_backup_is_a_consistent_copy_with_its_checksum(warehouse, tmp_path):
    folder = tmp_path / "backups"
    con = connect(warehouse)
    try:
        # Written after the last checkpoint: only in the WAL until the backup checkpoints.
        con.execute("CREATE TABLE late AS SELECT range AS n FROM range(5000)")
        written = backup.take(con, warehouse, folder)
    finally:
        con.close()
    assert backup.NAME.match(written.path.name)
    assert written.bytes == written.path.stat().st_size
    assert backup.recorded_checksum(written.path) == backup.sha256_of(written.path)
    assert backup.checksum_path(written.path).read_text().split() == [
        written.sha256,
        written.path.name,
    ]
    assert sorted(p.name for p in folder.iterdir()) == [
        written.path.name,
        written.path.name + ".sha256",
    ]
    assert oct(written.path.stat().st_mode & 0o777) == oct(0o600)
    copy = duckdb.connect(str(written.path), read_only=True)
    assert copy.execute("SELECT count(*) FROM late").fetchone()[0] == 5000
    assert copy.execute("SELECT count(*) FROM marker").fetchone()[0] == 1
    copy.close()
    backup.check_warehouse_file(written.path)


def test_a_folder_that_cannot_be_made_is_reported_not_raised_raw(warehouse, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    con = connect(warehouse)
    try:
        with pytest.raises(backup.BackupError) as caught:
            backup.take(con, warehouse, blocker / "backups")
    finally:
        con.close()
    assert f"BACKUP_DIR={blocker / 'backups'}" in str(caught.value)
    assert "free space" in str(caught.value)
    assert blocker.read_text() == "x"


def test_a_full_disk_leaves_no_half_written_backup(warehouse, tmp_path):
    """Writes past a size limit fail as on a full disk (RLIMIT_FSIZE, in a child process)."""
    folder = tmp_path / "backups"
    size = warehouse.stat().st_size
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from warehouse import backup
        from warehouse.connection import connect
        con = connect({str(warehouse)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({size // 2}, {size // 2}))
        try:
            backup.take(con, {str(warehouse)!r}, {str(folder)!r})
        except backup.BackupError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"BACKUP_DIR={folder}" in done.stdout
    assert list(folder.iterdir()) == [], "no partial file and no backup left behind"
    assert warehouse.stat().st_size == size


def _make(folder: Path, when: datetime) -> Path:
    path = folder / backup.backup_name(when)
    path.write_bytes(b"x")
    backup.checksum_path(path).write_text("0" * 64 + "  " + path.name + "\n")
    return path


def test_retention_keeps_the_newest_of_each_day_and_week(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday
    made = {}
    for days in range(60):
        for hour in (1, 2):  # two backups a day: only the later one counts for its day
            when = now - timedelta(days=days) + timedelta(hours=hour)
            made[when] = _make(folder, when)
    others = [folder / "notes.txt", folder / "warehouse-latest.duckdb", folder / "copy.duckdb"]
    for other in others:
        other.write_text("not a backup")

    result = backup.prune(folder, keep_daily=7, keep_weekly=4)

    kept = {backup.taken_at(p) for p in result.kept}
    days = [now + timedelta(hours=2) - timedelta(days=d) for d in range(7)]
    assert set(days) <= kept
    # The newest of each of the last 4 ISO weeks (this week's is today's).
    weeks = {}
    for when in sorted(made, reverse=True):
        weeks.setdefault(when.isocalendar()[:2], when)
    newest_weeks = [weeks[k] for k in sorted(weeks, reverse=True)[:4]]
    assert set(newest_weeks) <= kept
    assert kept == set(days) | set(newest_weeks)
    # This week's and last week's newest are among the days: 7 days and 2 older weeks.
    assert len(result.kept) == 9 and result.daily == 7 and result.weekly == 4
    assert len(result.deleted) == 120 - 9
    remaining = sorted(p.name for p in folder.iterdir())
    assert len(remaining) == 9 * 2 + len(others)  # each backup with its checksum
    for other in others:
        assert other.read_text() == "not a backup"
    for path in result.deleted:
        assert not backup.checksum_path(path).exists()


def test_retention_counts_days_that_have_a_backup(tmp_path):
    """A server off for three weeks still keeps its last 7 daily copies."""
    folder = tmp_path / "backups"
    folder.mkdir()
    old = datetime(2026, 11, 1, 2, tzinfo=UTC)
    for days in range(10):
        _make(folder, old + timedelta(days=days))
    newest = _make(folder, datetime(2026, 12, 1, 2, tzinfo=UTC))
    result = backup.prune(folder, keep_daily=7, keep_weekly=0)
    assert newest in result.kept
    assert len(result.kept) == 7
    assert backup.latest(folder) == newest


def test_restore_checks_refuse_what_is_not_a_whole_warehouse(warehouse, tmp_path):
    text = tmp_path / "text.duckdb"
    text.write_text("hello\n" * 50)
    with pytest.raises(backup.BackupError, match="is not a DuckDB database"):
        backup.check_warehouse_file(text)
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t AS SELECT 1")
    con.close()
    with pytest.raises(backup.BackupError, match="no schema_migrations, people, person_sources"):
        backup.check_warehouse_file(other)
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(warehouse.read_bytes()[: warehouse.stat().st_size // 4])
    with pytest.raises(backup.BackupError, match="damaged or cut short"):
        backup.check_warehouse_file(cut)
    sidecar = backup.checksum_path(warehouse)
    sidecar.write_text("not a hash\n")
    with pytest.raises(backup.BackupError, match="does not hold a SHA-256"):
        backup.recorded_checksum(warehouse)


def test_the_keeper_adds_each_hash_once_and_survives_a_torn_line(tmp_path):
    keeper = forgotten.keeper_path(tmp_path / "warehouse.duckdb")
    assert keeper == tmp_path / "warehouse.forgotten.jsonl"
    first = forgotten.Kept("email_key", "a" * 64, "2026-12-01T02:00:00")
    assert forgotten.append(keeper, [first, first]) == 1
    assert forgotten.append(keeper, [first]) == 0
    with open(keeper, "a") as handle:
        handle.write('{"kind": "phone_key", "key_ha')  # a crash in the middle of a line
    second = forgotten.Kept("phone_key", "b" * 64, "2026-12-01T03:00:00")
    assert forgotten.append(keeper, [second]) == 1
    assert forgotten.read(keeper) == [first, second]
    assert oct(keeper.stat().st_mode & 0o777) == oct(0o600)


def test_the_keeper_puts_back_missing_suppressions(warehouse):
    con = connect(warehouse)
    try:
        con.execute(
            "INSERT INTO erasure_suppressions (key_hash, kind, erased_at) "
            "VALUES (?, 'email_key', TIMESTAMP '2026-11-01')",
            ["c" * 64],
        )
        kept = [
            forgotten.Kept("email_key", "c" * 64, "2026-11-01T00:00:00"),
            forgotten.Kept("phone_key", "d" * 64, "2026-11-02T00:00:00"),
            forgotten.Kept("person_id", "e" * 64, "2026-11-02T00:00:00"),
        ]
        assert forgotten.reapply(con, kept) == 1
        assert forgotten.reapply(con, kept) == 0
        rows = con.execute(
            "SELECT kind, key_hash FROM erasure_suppressions ORDER BY key_hash"
        ).fetchall()
        assert rows == [("email_key", "c" * 64), ("phone_key", "d" * 64)]
        keeper = forgotten.keeper_path(warehouse)
        assert forgotten.remember_suppressions(con, keeper) == 2
        assert forgotten.remember_suppressions(con, keeper) == 0
    finally:
        con.close()
    assert os.path.dirname(keeper) == os.path.dirname(warehouse)


def test_a_warehouse_made_afresh_beside_a_keeper_suppresses_the_forgotten_from_the_start(
    tmp_path,
):
    """Deleting the warehouse to start again must not bring back anyone `make forget`
    erased: the new file holds the keeper's suppressions before its first run lands."""
    warehouse = tmp_path / "warehouse.duckdb"
    kept = [
        forgotten.Kept("email_key", "f" * 64, "2026-11-01T00:00:00"),
        forgotten.Kept("person_id", "e" * 64, "2026-11-01T00:00:00"),
    ]
    forgotten.append(forgotten.keeper_path(warehouse), kept)
    con = connect(warehouse)
    try:
        rows = con.execute("SELECT kind, key_hash FROM erasure_suppressions").fetchall()
    finally:
        con.close()
    assert rows == [("email_key", "f" * 64)]


def test_a_keeper_that_cannot_be_read_stops_a_new_warehouse_naming_it(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    keeper = forgotten.keeper_path(warehouse)
    keeper.mkdir()  # a folder where the file should be: unreadable as a keeper
    with pytest.raises(WarehouseError, match="forgotten people's keeper") as raised:
        connect(warehouse)
    assert str(keeper) in str(raised.value)
    assert not warehouse.exists(), "no warehouse without its suppressions"
