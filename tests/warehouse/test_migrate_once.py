"""Migrations run once per process for each warehouse file: a second connection does not
check them again; a new file at the same path, or another file moved there, is checked."""

import os
import threading

import duckdb
import pytest

from warehouse import migrate
from warehouse.connection import connect

LATEST = migrate.available()[-1][0]


def version(con) -> int:
    return con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]


def test_a_second_connection_does_not_check_the_migrations_again(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    before = migrate.checks
    con = connect(path)
    assert version(con) == LATEST
    con.execute("CREATE TABLE written AS SELECT 1 AS n")  # the file changes between opens
    con.close()
    assert migrate.checks == before + 1
    for _ in range(3):
        con = connect(path)
        assert version(con) == LATEST
        con.close()
    assert migrate.checks == before + 1, "later connections did not read schema_migrations"
    connect(tmp_path / "other.duckdb").close()
    assert migrate.checks == before + 2, "another file is checked once too"


@pytest.mark.parametrize("gone", ["moved aside", "deleted"])
def test_a_new_file_at_the_same_path_is_migrated(tmp_path, gone):
    path = tmp_path / "warehouse.duckdb"
    connect(path).close()
    before = migrate.checks
    # As the damaged-file message suggests: the next run starts a new one. A deleted
    # file's inode number may be given to the new one: the path's emptiness says it is new.
    if gone == "deleted":
        path.unlink()
    else:
        path.rename(tmp_path / "aside.duckdb")
    con = connect(path)
    try:
        assert migrate.checks == before + 1
        assert version(con) == LATEST
    finally:
        con.close()


def test_another_warehouse_moved_into_place_is_migrated(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    connect(path).close()
    # An older warehouse (a backup, say) made by another program, moved over the file.
    older = tmp_path / "older.duckdb"
    raw = duckdb.connect(str(older))
    raw.execute("CREATE TABLE kept AS SELECT 1 AS n")
    raw.close()
    os.replace(older, path)
    before = migrate.checks
    con = connect(path)
    try:
        assert migrate.checks == before + 1
        assert version(con) == LATEST
        assert con.execute("SELECT n FROM kept").fetchall() == [(1,)]
    finally:
        con.close()


def test_forget_checks_a_file_again_and_migrate_always_checks(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    con.execute("DROP TABLE missing_records")
    con.execute("DELETE FROM schema_migrations WHERE version = 9")
    con.close()
    migrate.forget(path)  # a schema rewound in place, as an upgrade test does
    con = connect(path)
    try:
        assert con.execute("SELECT count(*) FROM missing_records").fetchone() == (0,)
        before = migrate.checks
        assert migrate.migrate(con) == []
        assert migrate.checks == before + 1
    finally:
        con.close()


def test_threads_opening_one_new_file_migrate_it_once(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    connect(path).close()
    migrate.forget(path)
    before = migrate.checks
    versions, errors = [], []

    def open_one() -> None:
        try:
            con = connect(path)
            versions.append(version(con))
            con.close()
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and versions == [LATEST] * 4
    assert migrate.checks == before + 1
