"""Shared fixtures: a real DuckDB file per test, and after every test an audit of each
simulator it used: no member resubscribed, no tag outside Groundswell's namespace
touched, no contact created (unless the test is marked as making those writes itself)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import connectors.registry  # noqa: F401  (registers each platform's staging SQL)
import sandbox
from transforms import steps
from transforms.normalise import stage_platforms
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


@pytest.fixture(scope="session")
def migrated_warehouse(tmp_path_factory) -> Path:
    """An empty warehouse with every migration applied, made once per test process, holding
    the definitions a first staging run makes (the value macros, each platform's staging
    view and their union), as every warehouse after its first run does: made again only
    when their files change (transforms/steps.py), they cost every test ~0.4 s otherwise."""
    path = tmp_path_factory.mktemp("migrated") / "warehouse.duckdb"
    con = connect(path)
    try:
        steps.run(con, "macros")
        stage_platforms(con)
    finally:
        con.close()
    return path


@pytest.fixture
def con(tmp_path, migrated_warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new, migrated warehouse file of the test's own (a copy of `migrated_warehouse`:
    migrations are tested on their own, and applying them costs ~0.3 s a test)."""
    target = tmp_path / "warehouse.duckdb"
    shutil.copyfile(migrated_warehouse, target)
    connection = connect(target)
    try:
        yield connection
    finally:
        connection.close()


# Folders whose modules run whole Dagster jobs, servers or benchmarks: scheduled first, so
# that with `-n` (xdist, a file per worker at a time) no long module starts last and keeps
# one worker busy after the others are done.
LONG_FIRST = (
    # Mostly waiting (a schedule a minute away, a daemon's sensors): best started first,
    # while the other workers keep both cores busy.
    "tests/pipelines/test_serve.py",
    # Several whole runs each.
    "tests/pipelines/test_backup_restore.py",
    "tests/pipelines/test_sigterm_push.py",
    "tests/pipelines/test_forget.py",
    "tests/pipelines/test_data_checks.py",
    "tests/pipelines/",
    "tests/test_end_to_end.py",
    "tests/bench/",
    "tests/portal/",
)


def pytest_collection_modifyitems(config, items) -> None:
    def rank(item) -> int:
        path = item.nodeid
        return next((i for i, p in enumerate(LONG_FIRST) if path.startswith(p)), len(LONG_FIRST))

    items.sort(key=rank)  # stable: each module keeps its own order
