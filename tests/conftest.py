"""Shared fixtures: a real DuckDB file per test, and after every test an audit of each
simulator it used: no member resubscribed, no tag outside Groundswell's namespace
touched, no contact created (unless the test is marked as making those writes itself)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

import connectors.registry  # noqa: F401  (registers each platform's staging SQL)
import sandbox
from warehouse.connection import connect

NAMESPACE = "groundswell:"


@pytest.fixture(autouse=True)
def simulators_untouched_outside_the_namespace(request) -> Iterator[None]:
    yield
    skip = request.node.get_closest_marker("writes_outside_namespace")
    allowed = request.node.get_closest_marker("creates_contacts")
    for running in list(sandbox.LIVE):
        if running.stopped or skip:  # checked now for the last time, or not auditable
            sandbox.LIVE.discard(running)
        if skip:
            continue
        problems = running.violations(NAMESPACE)
        if allowed:
            problems = [p for p in problems if "created" not in p]
        assert problems == [], f"a sync broke the platform rules: {problems[:5]}"


@pytest.fixture
def con(tmp_path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    try:
        yield connection
    finally:
        connection.close()
