"""The warehouse connection is released even when the step using it fails."""

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.resources import open_warehouse


def test_connection_is_closed_when_the_body_raises(tmp_path):
    path = tmp_path / "w.duckdb"
    resource = DuckDBResource(database=str(path))
    with pytest.raises(RuntimeError), open_warehouse(resource) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("the step failed")
    # A read-only open fails while any read-write connection to the file is alive.
    reader = duckdb.connect(str(path), read_only=True)
    assert reader.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1
    reader.close()


def test_connection_is_migrated_and_in_utc(tmp_path):
    resource = DuckDBResource(database=str(tmp_path / "sub" / "w.duckdb"))
    with open_warehouse(resource) as con:
        assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
        assert con.execute("SELECT count(*) FROM people").fetchone()[0] == 0
