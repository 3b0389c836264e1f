"""Issue 16: the pipelines read the portal's store in PostgreSQL (PORTAL_DB=postgresql://...)
as they read its SQLite file: the organiser_outcomes asset lands what was recorded there, an
erasure deletes it there, and `make invite` names a store that is down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.erasure import forget_everywhere
from pipelines.resources import GroundswellSettings
from portal.store import NewOutcome, Store
from portal.store_db import StoreUnavailable
from tests.pipelines.test_organiser_outcomes import (
    NOTE,
    ORGANISER,
    RECORDED,
    ROOT,
    _materialise,
    _query,
    world,  # noqa: F401
)
from tests.portal.conftest import TEAMS_YAML
from tests.support.postgres import PASSWORD, postgres_server, unused_port  # noqa: F401
from transforms.erasure import Target
from warehouse.connection import connect


@pytest.fixture
def on_postgres(world, postgres_server, request, monkeypatch):  # noqa: F811
    """The `world` of test_organiser_outcomes.py with PORTAL_DB a fresh PostgreSQL database."""
    database, _, ids = world
    url = postgres_server.create_database(request.node.name.removeprefix("test_")[:40])
    monkeypatch.setenv("PORTAL_DB", url)
    return database, url, ids


def test_outcomes_recorded_in_postgres_land_and_an_erasure_deletes_them(
    on_postgres, tmp_path, monkeypatch
):
    database, url, ids = on_postgres
    ana, bo = ids["Ana"], ids["Bo"]
    monkeypatch.chdir(tmp_path)
    assert _materialise(database) == {"new_outcomes": 0, "portal_store": "none yet"}
    store = Store(url)
    store.record_outcomes(
        RECORDED,
        ORGANISER,
        "Texas",
        "ready_to_host",
        [NewOutcome(ana, "said_yes", note=NOTE), NewOutcome(bo, "reached")],
        "page",
    )
    assert _materialise(database)["new_outcomes"] == 2
    assert _materialise(database)["new_outcomes"] == 0  # once each
    con = connect(database)
    try:
        ladder = GroundswellSettings(ladder_config=str(ROOT / "ladder.yaml")).ladder()
        forget_everywhere(
            con, Target(person_id=ana), ladder, tmp_path / "exports", None, {}, "run", print
        )
    finally:
        con.close()
    assert [o.person_id for o in store.outcomes()] == [bo]
    assert _query(database, "SELECT person_id FROM organiser_outcomes") == [(bo,)]
    store.close()


def test_a_portal_store_that_is_down_stops_the_asset_with_its_name(world, monkeypatch):  # noqa: F811
    database, _, _ = world
    port = unused_port()
    monkeypatch.setenv("PORTAL_DB", f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/gs")
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from pipelines.assets.outcomes import organiser_outcomes

    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}/gs") as down:
        dg.materialize(
            [organiser_outcomes], resources={"warehouse": DuckDBResource(database=str(database))}
        )
    assert PASSWORD not in str(down.value)


def test_make_invite_names_a_store_that_is_down(tmp_path):
    (tmp_path / "teams.yaml").write_text(TEAMS_YAML)
    port = unused_port()
    done = subprocess.run(
        [sys.executable, "-m", "portal", "invite", "ana@example.org"],
        cwd=tmp_path,
        env={
            **os.environ,
            "PORTAL_DB": f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/groundswell_portal",
            "TEAMS_CONFIG": str(tmp_path / "teams.yaml"),
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"PORTAL_DB (PostgreSQL at 127.0.0.1:{port}/groundswell_portal)" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    assert [p.name for p in Path(tmp_path).iterdir()] == ["teams.yaml"]
