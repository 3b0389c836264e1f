"""Shared fixtures: a real DuckDB file per test."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from warehouse.connection import connect


@pytest.fixture
def con(tmp_path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    try:
        yield connection
    finally:
        connection.close()
