"""Outcomes organisers record in the portal reach the warehouse (issue 15, part 4): the
`organiser_outcomes` asset lands the portal store's new outcomes once each, reached and
said yes become activities with the organiser as recorded_by, merged people are followed
and forgotten people are never brought back."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.assets.outcomes import organiser_outcomes
from pipelines.erasure import forget_everywhere
from pipelines.resources import GroundswellSettings
from portal.store import NewOutcome, Store
from tests.support.raw import NOW, an_person, land
from transforms.engagement import build_activities, build_person_metrics
from transforms.erasure import Target
from transforms.identity import resolve
from transforms.normalise import build_staging
from warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[2]
ORGANISER = "lead@example.org"
NOTE = "Call after six, prefers Spanish"
RECORDED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, migrated_warehouse, monkeypatch):
    """A warehouse with three people, a portal store beside it, and PORTAL_DB naming it."""
    database = tmp_path / "warehouse.duckdb"
    shutil.copyfile(migrated_warehouse, database)
    con = connect(database)
    try:
        land(
            con,
            an=[
                an_person("Ana", "Lima", "ana@example.org"),
                an_person("Bo", "Ng", "bo@example.org"),
                an_person("Cy", "Oh", "cy@example.org"),
            ],
        )
        build_staging(con, "US")
        resolve(con, NOW)
        ids = dict(con.execute("SELECT given_name, person_id FROM people").fetchall())
    finally:
        con.close()
    store_path = tmp_path / "portal" / "portal.db"
    monkeypatch.setenv("PORTAL_DB", str(store_path))
    monkeypatch.setenv("PORTAL_SNAPSHOT", str(tmp_path / "portal" / "snapshot.duckdb"))
    return database, store_path, ids


def _record(store_path: Path, items: list[NewOutcome], list_name: str = "ready_to_host") -> None:
    store = Store(store_path)
    try:
        store.record_outcomes(RECORDED, ORGANISER, "Texas", list_name, items, "page")
    finally:
        store.close()


def _materialise(database: Path) -> dict[str, object]:
    result = dg.materialize(
        [organiser_outcomes], resources={"warehouse": DuckDBResource(database=str(database))}
    )
    assert result.success
    metadata = result.asset_materializations_for_node("organiser_outcomes")[0].metadata
    return {k: v.value for k, v in metadata.items()}


def _query(database: Path, sql: str) -> list[tuple]:
    con = connect(database)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _activities(database: Path) -> list[tuple]:
    con = connect(database)
    try:
        # As a run does: the activities, then the person metrics built over them.
        build_activities(con)
        build_person_metrics(con, NOW)
        return con.execute(
            "SELECT person_id, source, source_record_id, activity_type, occurred_at, object, "
            "channel, recorded_by FROM activities WHERE source = 'portal' ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def test_no_portal_store_lands_nothing_and_says_so(world):
    database, store_path, _ = world
    assert not store_path.exists()
    assert _materialise(database) == {"new_outcomes": 0, "portal_store": "none yet"}
    assert not store_path.exists(), "the asset must not create the portal's store"
    assert _query(database, "SELECT count(*) FROM organiser_outcomes") == [(0,)]
    assert _activities(database) == []


def test_outcomes_land_once_and_become_activities(world):
    database, store_path, ids = world
    ana, bo, cy = ids["Ana"], ids["Bo"], ids["Cy"]
    _record(
        store_path,
        [
            NewOutcome(ana, "said_yes", follow_up=date(2026, 12, 10), note=NOTE),
            NewOutcome(bo, "reached"),
            NewOutcome(cy, "not_reached"),
        ],
    )
    metadata = _materialise(database)
    assert metadata == {
        "new_outcomes": 3,
        "outcome_not_reached": 1,
        "outcome_reached": 1,
        "outcome_said_yes": 1,
        "dropped_forgotten": 0,
    }
    assert not any(NOTE in str(v) or ORGANISER in str(v) for v in metadata.values())
    landed = _query(
        database,
        "SELECT outcome_id, recorded_at, organiser, team, list_name, person_id, outcome, "
        "follow_up, note, via FROM organiser_outcomes ORDER BY outcome_id",
    )
    at = RECORDED.replace(tzinfo=None)
    assert landed == [
        (
            1,
            at,
            ORGANISER,
            "Texas",
            "ready_to_host",
            ana,
            "said_yes",
            date(2026, 12, 10),
            NOTE,
            "page",
        ),
        (2, at, ORGANISER, "Texas", "ready_to_host", bo, "reached", None, None, "page"),
        (3, at, ORGANISER, "Texas", "ready_to_host", cy, "not_reached", None, None, "page"),
    ]

    # A re-run lands nothing new; a new outcome lands alone, after the others.
    assert _materialise(database)["new_outcomes"] == 0
    _record(store_path, [NewOutcome(cy, "reached")], list_name="phone_bank")
    assert _materialise(database) == {
        "new_outcomes": 1,
        "outcome_reached": 1,
        "dropped_forgotten": 0,
    }
    assert _query(database, "SELECT count(*), max(outcome_id) FROM organiser_outcomes") == [(4, 4)]

    assert _activities(database) == sorted(
        [
            (ana, "portal", "outcome:1", "conversation", at, "ready_to_host", None, ORGANISER),
            (
                ana,
                "portal",
                "outcome:1:commitment",
                "commitment",
                at,
                "ready_to_host",
                None,
                ORGANISER,
            ),
            (bo, "portal", "outcome:2", "conversation", at, "ready_to_host", None, ORGANISER),
            (cy, "portal", "outcome:4", "conversation", at, "phone_bank", None, ORGANISER),
        ]
    )
    # Every platform's activity has no recorded_by.
    assert _query(
        database,
        "SELECT count(*) FROM activities WHERE source <> 'portal' AND recorded_by IS NOT NULL",
    ) == [(0,)]
    assert _query(database, "SELECT count(*) FROM activities WHERE source <> 'portal'")[0][0] > 0

    # A conversation or commitment is no action: nobody's actions or last action change.
    con = connect(database)
    try:
        build_person_metrics(con, NOW)
        assert con.execute(
            "SELECT count(*), sum(actions_total), count(last_action_at) FROM person_metrics"
        ).fetchall() == [(3, 0, 0)]
    finally:
        con.close()


def test_unknown_people_are_dropped_and_merged_people_followed(world):
    database, store_path, ids = world
    ana = ids["Ana"]
    con = connect(database)
    try:
        # An id identity retired when it merged that person into Ana.
        con.execute(
            "INSERT INTO person_registry VALUES ('old-ana', $now, $now, $ana)",
            {"now": NOW, "ana": ana},
        )
    finally:
        con.close()
    _record(
        store_path,
        [NewOutcome("no-such-person", "said_yes"), NewOutcome("old-ana", "reached")],
    )
    assert _materialise(database) == {
        "new_outcomes": 1,
        "outcome_reached": 1,
        "dropped_forgotten": 1,
    }
    assert _query(database, "SELECT person_id FROM organiser_outcomes") == [("old-ana",)]
    at = RECORDED.replace(tzinfo=None)
    assert _activities(database) == [
        (ana, "portal", "outcome:2", "conversation", at, "ready_to_host", None, ORGANISER)
    ]
    # The unknown one stays out on every run.
    assert _materialise(database)["new_outcomes"] == 0


def test_forgetting_a_person_removes_their_outcomes_everywhere(world, tmp_path):
    database, store_path, ids = world
    ana, bo = ids["Ana"], ids["Bo"]
    _record(store_path, [NewOutcome(ana, "said_yes", note=NOTE), NewOutcome(bo, "reached")])
    _materialise(database)
    _activities(database)

    con = connect(database)
    try:
        ladder = GroundswellSettings(ladder_config=str(ROOT / "ladder.yaml")).ladder()
        report = forget_everywhere(
            con, Target(person_id=ana), ladder, tmp_path / "exports", None, {}, "run", print
        )
        assert report.people == 1
    finally:
        con.close()
    assert _query(database, "SELECT person_id FROM organiser_outcomes") == [(bo,)]
    store = Store(store_path)
    try:
        assert [o.person_id for o in store.outcomes()] == [bo]
    finally:
        store.close()

    # Recorded again for the forgotten person (a page open before the erasure): never
    # landed, never an activity.
    _record(store_path, [NewOutcome(ana, "reached")])
    assert _materialise(database) == {"new_outcomes": 0, "dropped_forgotten": 1}
    assert [row[0] for row in _activities(database)] == [bo]
    assert _query(database, f"SELECT count(*) FROM activities WHERE person_id = '{ana}'") == [(0,)]


def test_a_forget_stopped_before_the_portal_store_is_finished_by_the_next_run(
    world, tmp_path, monkeypatch
):
    database, store_path, ids = world
    ana, bo = ids["Ana"], ids["Bo"]
    _record(store_path, [NewOutcome(ana, "said_yes", note=NOTE), NewOutcome(bo, "reached")])
    _materialise(database)
    _activities(database)

    # The portal's store cannot be opened (PORTAL_DB names a folder) when the forget
    # reaches it, after the warehouse has forgotten Ana: as if killed at that point.
    blocked = tmp_path / "not-a-store"
    blocked.mkdir()
    monkeypatch.setenv("PORTAL_DB", str(blocked))
    con = connect(database)
    try:
        ladder = GroundswellSettings(ladder_config=str(ROOT / "ladder.yaml")).ladder()
        with pytest.raises(Exception, match="unable to open database"):
            forget_everywhere(
                con, Target(person_id=ana), ladder, tmp_path / "exports", None, {}, "run", print
            )
    finally:
        con.close()
    assert _query(database, f"SELECT count(*) FROM people WHERE person_id = '{ana}'") == [(0,)]
    assert _query(database, "SELECT person_id FROM portal_erasures") == [(ana,)]
    store = Store(store_path)
    try:
        assert sorted(o.person_id for o in store.outcomes()) == sorted([ana, bo])
    finally:
        store.close()

    # The next run finishes it before landing anything: Ana's outcome and note are gone.
    monkeypatch.setenv("PORTAL_DB", str(store_path))
    assert _materialise(database)["new_outcomes"] == 0
    store = Store(store_path)
    try:
        assert [o.person_id for o in store.outcomes()] == [bo]
    finally:
        store.close()
    assert _query(database, "SELECT count(*) FROM portal_erasures") == [(0,)]
