"""warehouse.load.replace_rows: a keyed table brought to exactly the new rows in place."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.load import replace_rows, transaction


@pytest.fixture()
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute(
        "CREATE TABLE members (list VARCHAR, person VARCHAR, reason VARCHAR NOT NULL, "
        "PRIMARY KEY (list, person))"
    )
    con.execute(
        "INSERT INTO members VALUES ('a', 'p1', 'old'), ('a', 'p2', 'old'), ('b', 'p1', 'old')"
    )
    yield con
    con.close()


def rows(con, table: str = "members") -> list[tuple]:
    return sorted(con.execute(f"SELECT * FROM {table}").fetchall())


def test_the_table_holds_exactly_the_new_rows(con):
    """Kept rows updated, gone rows deleted, new rows inserted; the key still holds."""
    con.execute(
        "CREATE TEMP TABLE incoming AS SELECT * FROM (VALUES "
        "('p1', 'new', 'a'), ('p3', 'new', 'a'), ('p1', 'new', 'c')) t(person, reason, list)"
    )
    with transaction(con):
        replace_rows(con, "members", "incoming", ("list", "person"))
    assert rows(con) == [("a", "p1", "new"), ("a", "p3", "new"), ("c", "p1", "new")]
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO members VALUES ('a', 'p1', 'again')")


def test_an_empty_source_empties_the_table_and_a_failure_keeps_it(con):
    """Replacing with no rows leaves none; a replacement that breaks a rule (a NULL reason)
    is refused whole and the rows before it stay."""
    con.execute("CREATE TEMP TABLE broken AS SELECT 'a' AS list, 'p9' AS person, NULL AS reason")
    with pytest.raises(duckdb.ConstraintException), transaction(con):
        replace_rows(con, "members", "broken", ("list", "person"))
    assert rows(con) == [("a", "p1", "old"), ("a", "p2", "old"), ("b", "p1", "old")]
    con.execute("CREATE TEMP TABLE nothing AS SELECT * FROM members LIMIT 0")
    with transaction(con):
        replace_rows(con, "members", "nothing", ("list", "person"))
    assert rows(con) == []


def test_a_table_of_keys_only_is_replaced_too(con):
    con.execute("CREATE TABLE keys (k INTEGER PRIMARY KEY)")
    con.execute("INSERT INTO keys VALUES (1), (2)")
    con.execute("CREATE TEMP TABLE fresh AS SELECT * FROM (VALUES (2), (3)) t(k)")
    with transaction(con):
        replace_rows(con, "keys", "fresh", ("k",))
    assert rows(con, "keys") == [(2,), (3,)]
