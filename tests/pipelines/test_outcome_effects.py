"""What organisers record changes who Groundswell asks next (issue 15, part 4): do not
contact closes every channel (no list, no export, no tag), a wrong number closes that phone
for that person only, a follow-up date puts the person on `follow_up` once it has come, and
conversations and commitments are counted in person_metrics for rung rules."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.assets.outcomes import organiser_outcomes
from pipelines.resources import GroundswellSettings
from portal.store import NewOutcome, Store
from tests.support.raw import an_person, land
from transforms.engagement import build_activities, build_person_metrics
from transforms.identity import resolve
from transforms.ladder import build_ladder
from transforms.normalise import build_staging
from transforms.segments import build_segments
from warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[2]
JOINED = "2026-11-27T10:00:00Z"
BEFORE = datetime(2026, 11, 28, 12, 0)  # a run before anyone was called
RECORDED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
DUE = date(2026, 12, 2)


def _person(given: str, email: str, phone: str, street: str) -> dict:
    return an_person(
        given,
        "Lima",
        email,
        phone=phone,
        address=street,
        postal_code="78701",
        created=JOINED,
        modified=JOINED,
    )


@pytest.fixture
def world(tmp_path, migrated_warehouse, monkeypatch):
    """Four newcomers with an address line, email and phone (Dee shares Bo's phone)."""
    database = tmp_path / "warehouse.duckdb"
    shutil.copyfile(migrated_warehouse, database)
    con = connect(database)
    try:
        land(
            con,
            an=[
                _person("Ana", "ana@example.org", "+15125550101", "12 Main St"),
                _person("Bo", "bo@example.org", "+15125550102", "14 Main St"),
                _person("Cy", "cy@example.org", "+15125550103", "16 Main St"),
                _person("Dee", "dee@example.org", "+15125550102", "18 Oak St"),
            ],
        )
        build_staging(con, "US")
        resolve(con, BEFORE)
        ids = dict(con.execute("SELECT given_name, person_id FROM people").fetchall())
    finally:
        con.close()
    store_path = tmp_path / "portal" / "portal.db"
    monkeypatch.setenv("PORTAL_DB", str(store_path))
    monkeypatch.setenv("PORTAL_SNAPSHOT", str(tmp_path / "portal" / "snapshot.duckdb"))
    return database, store_path, ids


def _record(store_path: Path, items: list[NewOutcome], at: datetime = RECORDED) -> None:
    store = Store(store_path)
    try:
        store.record_outcomes(at, "lead@example.org", "Texas", "welcome_new", items, "page")
    finally:
        store.close()


def _run(database: Path, as_of: datetime) -> dict[str, set[str]]:
    """Land the outcomes, then what a run builds from them; each person's lists."""
    result = dg.materialize(
        [organiser_outcomes], resources={"warehouse": DuckDBResource(database=str(database))}
    )
    assert result.success
    ladder = GroundswellSettings(ladder_config=str(ROOT / "ladder.yaml")).ladder()
    con = connect(database)
    try:
        build_activities(con)
        build_person_metrics(con, as_of)
        build_ladder(con, ladder, as_of)
        build_segments(con, ladder, as_of)
        rows = con.execute(
            "SELECT person_id, list(substr(segment, 6) ORDER BY segment) FROM segment_members "
            "WHERE starts_with(segment, 'list:') GROUP BY person_id"
        ).fetchall()
    finally:
        con.close()
    return {pid: set(lists) for pid, lists in rows}


def _metrics(database: Path, person_id: str, columns: str) -> tuple:
    con = connect(database)
    try:
        return con.execute(
            f"SELECT {columns} FROM person_metrics WHERE person_id = ?", [person_id]
        ).fetchone()
    finally:
        con.close()


def test_do_not_contact_and_wrong_number_close_their_channels(world):
    database, store_path, ids = world
    ana, bo, dee = ids["Ana"], ids["Bo"], ids["Dee"]
    before = _run(database, BEFORE)
    assert {"welcome_new", "door_knock"} <= before[ana], "Ana must start on lists"
    assert "welcome_new" in before[bo]

    _record(store_path, [NewOutcome(ana, "do_not_contact"), NewOutcome(bo, "wrong_number")])
    after = _run(database, datetime(2026, 12, 1, 12, 0))

    # Do not contact: every channel closed, so every list drops them, the address ones too.
    assert ana not in after
    assert _metrics(
        database,
        ana,
        "do_not_contact, email_suppressed, phone_suppressed, email_reachable, "
        "phone_reachable, post_reachable, door_reachable, channels",
    ) == (True, True, True, False, False, False, False, [])
    # A wrong number closes Bo's phone only, not his email, and not the same number for Dee
    # (households share phones).
    assert _metrics(database, bo, "wrong_number, phone_suppressed, email_suppressed") == (
        True,
        True,
        False,
    )
    assert "welcome_new" in after[bo]
    assert _metrics(database, dee, "wrong_number, phone_suppressed") == (False, False)
    con = connect(database)
    try:
        landed = con.execute(
            "SELECT outcome, phone_sha256 IS NOT NULL FROM organiser_outcomes ORDER BY outcome"
        ).fetchall()
        # Pushes: the sync plan's consent reads person_metrics' do_not_contact.
        assert con.execute(
            "SELECT do_not_contact FROM person_metrics WHERE person_id = ?", [ana]
        ).fetchone() == (True,)
    finally:
        con.close()
    assert landed == [("do_not_contact", False), ("wrong_number", True)]


def test_a_follow_up_date_puts_the_person_on_follow_up_once_it_has_come(world):
    database, store_path, ids = world
    cy = ids["Cy"]
    _record(store_path, [NewOutcome(cy, "said_yes", follow_up=DUE)])

    early = _run(database, datetime(2026, 12, 1, 12, 0))
    assert "follow_up" not in early.get(cy, set())
    assert _metrics(
        database,
        cy,
        "follow_up_on, follow_up_due, last_outcome, conversations_30d, commitments_30d, "
        "open_commitments, actions_total",
    ) == (DUE, False, "said_yes", 1, 1, 1, 0)

    due = _run(database, datetime(2026, 12, 3, 12, 0))
    assert "follow_up" in due[cy]
    con = connect(database)
    try:
        reason, ask = con.execute(
            "SELECT reason, ask FROM segment_members WHERE segment = 'list:follow_up' "
            "AND person_id = ?",
            [cy],
        ).fetchone()
    finally:
        con.close()
    assert reason == "follow-up due on 2026-12-02; last outcome: said_yes"
    assert ask.startswith("Following up as promised")

    # The organiser calls again and sets no new date: the follow-up is done.
    _record(store_path, [NewOutcome(cy, "reached")], at=datetime(2026, 12, 3, 15, 0, tzinfo=UTC))
    done = _run(database, datetime(2026, 12, 4, 12, 0))
    assert "follow_up" not in done.get(cy, set())
    assert _metrics(database, cy, "follow_up_on, last_outcome, conversations_30d") == (
        None,
        "reached",
        2,
    )
