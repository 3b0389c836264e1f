"""The portal's snapshot (warehouse/snapshot.py): only team members' data, what the pages
need, swapped in whole: requests while it is published again and again are served from the
old or the new file and never fail, and a publish that fails leaves the old one."""

from __future__ import annotations

import threading
from datetime import timedelta

import dagster as dg
import duckdb
import pytest
import requests

from portal import data
from tests.portal.conftest import signed_in_browser
from tests.portal.organisation import NORTH, TEAM_OF, Organisation, built
from tests.portal.test_pages import NORTH_URL, serve
from tests.support.raw import NOW
from transforms import steps
from warehouse.connection import connect
from warehouse.snapshot import TABLES, publish


@pytest.fixture
def org(tmp_path_factory) -> Organisation:
    return built(tmp_path_factory)


def tables_of(path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def test_the_snapshot_holds_only_team_members_and_no_contact_details_outside_lists(org):
    counts = tables_of(org.snapshot)
    assert set(counts) == {name for name, _ in TABLES} | {"meta"}
    con = duckdb.connect(str(org.snapshot), read_only=True)
    try:
        people = {r[0] for r in con.execute("SELECT person_id FROM people").fetchall()}
        assert people == set(TEAM_OF)  # p-gus is in no team
        columns = {r[0] for r in con.execute("DESCRIBE people").fetchall()}
        assert not columns & {"email", "phone", "address_line"}
        assert con.execute("SELECT count(*) FROM activities").fetchone()[0] == 200
        teams = con.execute("SELECT team, people FROM teams ORDER BY team").fetchall()
        assert teams == [("East Austin", 2), ("North Austin", 3)]
    finally:
        con.close()


def test_requests_while_the_snapshot_is_published_again_and_again_never_fail(
    org: Organisation, portal_server, portal_settings, tmp_path
):
    target = tmp_path / "live" / "snapshot.duckdb"
    with connect(org.warehouse) as con:
        publish(con, target, NOW)
    site = serve(portal_server, portal_settings, org.teams_file, target)
    browser = signed_in_browser(site, "north@example.org")
    cookies = browser.cookies
    paths = [NORTH_URL, f"{NORTH_URL}/lists/call", "/people/p-ana", f"{NORTH_URL}/lists/mail.csv"]
    statuses: list[int] = []
    problems: list[str] = []
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        i = 0
        while not stop.is_set():
            try:
                answer = session.get(site.url + paths[i % len(paths)], timeout=30)
                statuses.append(answer.status_code)
            except requests.RequestException as exc:  # pragma: no cover - reported below
                problems.append(type(exc).__name__)
            i += 1

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    refreshed = []
    try:
        with connect(org.warehouse) as con:
            for n in range(4):
                publish(con, target, NOW + timedelta(minutes=n + 1))
                refreshed.append(data.refreshed_at(target))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert problems == []
    assert len(statuses) > 20 and set(statuses) == {200}
    assert refreshed[-1] == "2026-11-24 12:04 UTC"
    page = browser.get(site.url + NORTH_URL).text
    assert "2026-11-24 12:04 UTC" in page  # the newest snapshot is served
    assert [p.name for p in target.parent.iterdir()] == ["snapshot.duckdb"]


def test_a_publish_that_fails_leaves_the_old_snapshot(org: Organisation, tmp_path):
    target = tmp_path / "snapshot.duckdb"
    with connect(org.warehouse) as con:
        publish(con, target, NOW)
        before = tables_of(target)
        con.execute("ALTER TABLE stage.portal_list_rows RENAME TO portal_list_rows_away")
        try:
            with pytest.raises(duckdb.CatalogException):
                publish(con, target, NOW + timedelta(hours=1))
            with pytest.raises(steps.MissingInput, match=r"stage\.portal_list_rows"):
                steps.require(con, "portal_snapshot")
        finally:
            con.execute("ALTER TABLE stage.portal_list_rows_away RENAME TO portal_list_rows")
    assert tables_of(target) == before
    assert data.refreshed_at(target) == "2026-11-24 12:00 UTC"
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.duckdb"]  # nothing half-made
    assert NORTH in [t["team"] for t in data.teams(data.snapshot(target), None)]


def test_the_portal_snapshot_asset_publishes_with_counts_only(
    org: Organisation, tmp_path, monkeypatch
):
    from dagster_duckdb import DuckDBResource

    from pipelines.assets.portal import portal_snapshot
    from pipelines.resources import GroundswellSettings

    target = tmp_path / "published" / "snapshot.duckdb"
    monkeypatch.setenv("PORTAL_SNAPSHOT", str(target))
    result = dg.materialize(
        [portal_snapshot],
        resources={
            "warehouse": DuckDBResource(database=str(org.warehouse)),
            "groundswell": GroundswellSettings(ladder_config=str(org.ladder_file)),
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("portal_snapshot")[0].metadata
    assert metadata["rows_people"].value == len(TEAM_OF)
    assert metadata["bytes"].value == target.stat().st_size > 0
    shown = " ".join(str(v.value) for v in metadata.values())
    assert "Ana" not in shown and "@example.org" not in shown and "p-ana" not in shown
    assert data.teams(data.snapshot(target), None)[1]["team"] == NORTH
