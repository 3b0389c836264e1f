"""Opening the warehouse: session settings from the environment."""

import pytest

from warehouse.connection import connect


def test_memory_limit_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "1500MB")
    con = connect(tmp_path / "w.duckdb")
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()
    assert limit == "1.3 GiB"  # 1,500 MB as DuckDB shows it


def test_a_memory_limit_duckdb_cannot_read_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="DUCKDB_MEMORY_LIMIT='lots'"):
        connect(tmp_path / "w.duckdb")
