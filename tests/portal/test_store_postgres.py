"""Issue 16: the portal's own store in PostgreSQL (PORTAL_DB=postgresql://...), on a real
throwaway server (tests/support/postgres.py). The store's behaviours run on both backends;
the sign-in, invitation and session tests of test_invitations.py and test_sessions.py run
again here over HTTP with the store in PostgreSQL; a server that is down is named, without
its password."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from pipelines import settings as pipeline_settings
from portal import store_db
from portal.app import MINIMAL_PAGES, create_app
from portal.settings import PortalSettings
from portal.store import MIGRATIONS, NewOutcome, Store
from tests.portal.conftest import TEAMS_YAML, Clock, signed_in_browser
from tests.portal.test_invitations import (  # noqa: F401  (run again on PostgreSQL)
    test_a_revoked_address_may_be_invited_again,
    test_a_used_invitation_cannot_set_a_second_password,
    test_an_expired_invitation_says_to_ask_for_a_new_one,
    test_an_invited_organiser_sets_a_password_signs_in_and_out,
)
from tests.portal.test_sessions import (  # noqa: F401  (run again on PostgreSQL)
    test_many_failures_from_one_address_lock_that_address,
    test_revoke_ends_every_session_at_once,
    test_signing_in_gives_a_new_session_id_and_ends_the_old_one,
    test_ten_wrong_passwords_lock_the_email_even_against_the_right_one,
)
from tests.support.postgres import PASSWORD as SERVER_PASSWORD
from tests.support.postgres import PostgresServer, postgres_server, unused_port  # noqa: F401

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def _database(server: PostgresServer) -> str:
    """A fresh, empty database on the server; its address (with the password)."""
    return server.create_database(f"portal_{next(_numbers)}")


def _rows(server: PostgresServer, url: str, sql: str) -> list[tuple]:
    with server.connect(url.rsplit("/", 1)[1]) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _drop_connections(server: PostgresServer, url: str) -> None:
    """End every connection to the store's database, as a server restart does."""
    with server.connect() as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (url.rsplit("/", 1)[1],),
        )


@pytest.fixture
def portal_settings(postgres_server, tmp_path, monkeypatch) -> PortalSettings:  # noqa: F811
    """The `portal` fixture's settings (tests/portal/conftest.py) with the store in a fresh
    PostgreSQL database: the imported HTTP tests run on it."""
    for name in list(PortalSettings.model_fields):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_SNAPSHOT", str(tmp_path / "portal" / "snapshot.duckdb"))
    return PortalSettings(
        PORTAL_DB=_database(postgres_server), PORTAL_SECRET_KEY="a test key, not a secret"
    )


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path) -> str:
    """Where a store goes: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "portal" / "portal.db")
    return _database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(location) -> Iterator[Store]:
    opened = Store(location)
    yield opened
    opened.close()


# -- the store's behaviours, on both backends ------------------------------------------


def test_the_schema_is_created_once_and_kept_on_reopening(location):
    first = Store(location)
    assert first.version() == len(MIGRATIONS) and store_db.exists(location)
    first.record(NOW, "ana@example.org", "sign_in", ip="127.0.0.1")
    first.close()
    again = Store(location)  # migrates nothing and keeps the rows
    assert again.version() == len(MIGRATIONS)
    assert [e.event for e in again.audit_events()] == ["sign_in"]
    again.close()


def test_no_store_until_one_is_opened(location):
    if store_db.is_postgres(location):
        assert not store_db.exists(location)  # an empty database holds no store yet
    else:
        assert not Path(location).exists()


def test_an_invitation_is_used_once_even_by_two_at_the_same_moment(store):
    store.add_invitation("t1", "ana@example.org", "organiser", ("North",), NOW, NOW + timedelta(7))
    results: list[bool] = []

    def accept() -> None:
        results.append(store.accept_invitation("t1", "hash", NOW))
        store.close()

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    account = store.account("ana@example.org")
    assert account.active and account.teams == ("North",) and account.password_hash == "hash"
    assert store.invitation("t1").used_at == NOW


def test_a_newer_invitation_replaces_an_unused_one_and_revoke_ends_everything(store):
    later = NOW + timedelta(days=7)
    store.add_invitation("old", "ana@example.org", "organiser", ("North",), NOW, later)
    store.add_invitation("new", "ana@example.org", "hq", (), NOW, later)
    assert not store.accept_invitation("old", "hash", NOW)
    assert store.accept_invitation("new", "hash", NOW)
    store.add_session("s1", "ana@example.org", NOW)
    store.add_session("s2", "ana@example.org", NOW)
    store.touch_session("s1", NOW + timedelta(minutes=5))
    assert store.session("s1").last_seen == NOW + timedelta(minutes=5)
    store.end_session("s2", NOW)
    assert store.live_sessions("ana@example.org") == 1
    store.add_invitation("pending", "ana@example.org", "hq", (), NOW, later)
    assert store.deactivate("ana@example.org", NOW) and not store.deactivate("x@example.org", NOW)
    assert store.live_sessions("ana@example.org") == 0
    assert not store.accept_invitation("pending", "hash", NOW)  # revoked stays revoked
    account = store.account("ana@example.org")
    assert not account.active and account.revoked == NOW and account.role == "hq"


def test_sign_in_throttling_counts_locks_and_prunes(store):
    for minute in range(3):
        store.add_failure(("email:ana@example.org", "ip:10.0.0.1"), NOW + timedelta(minutes=minute))
    assert store.failures_since("email:ana@example.org", NOW) == 2  # after, not at
    store.lock("ip:10.0.0.1", NOW + timedelta(minutes=5))
    store.lock("ip:10.0.0.1", NOW + timedelta(minutes=15))  # a second lock replaces the first
    assert store.locked("ip:10.0.0.1", NOW + timedelta(minutes=10))
    store.forget_failures("email:ana@example.org")
    assert store.failures_since("email:ana@example.org", NOW - timedelta(1)) == 0
    assert store.failures_since("ip:10.0.0.1", NOW - timedelta(1)) == 3
    store.prune(NOW + timedelta(hours=1))
    assert store.failures_since("ip:10.0.0.1", NOW - timedelta(1)) == 0
    assert not store.locked("ip:10.0.0.1", NOW)


def test_the_audit_trail_reads_newest_first_and_filters(store):
    store.record(NOW, "ana@example.org", "download", team="North", list_name="a.csv", rows=3)
    store.record(NOW + timedelta(seconds=1), "hq@example.org", "person_view", person_id="p1")
    store.record(NOW + timedelta(seconds=1), None, "sign_in_failed", ip="10.0.0.1")
    events = store.audit_events()
    assert [e.event for e in events] == ["sign_in_failed", "person_view", "download"]
    assert events[2].rows == 3 and events[2].team == "North" and events[2].at == NOW
    assert [e.actor for e in store.audit_events(team="North")] == ["ana@example.org"]
    assert store.audit_events(limit=1, offset=2)[0].event == "download"


def test_outcomes_are_recorded_once_read_in_order_and_erased(store):
    items = [
        NewOutcome("p-1", "reached", date(2026, 12, 3), "50% keen? call back"),
        NewOutcome("p-2", "said_yes"),
        NewOutcome("p-2", "wrong_number"),
    ]
    assert store.record_outcomes(NOW, "a@example.org", "T", "l", items, "upload") == items
    assert store.record_outcomes(NOW, "a@example.org", "T", "l", items, "upload") == []
    assert len(store.record_outcomes(NOW, "b@example.org", "T", "l", items[1:2], "page")) == 1
    rows = store.outcomes()
    assert [r.id for r in rows] == sorted(r.id for r in rows) and len(rows) == 4
    assert rows[0].note == "50% keen? call back" and rows[0].follow_up == date(2026, 12, 3)
    assert [r.person_id for r in store.outcomes(after_id=rows[1].id)] == ["p-2", "p-2"]
    assert [r.id for r in store.outcomes(limit=1)] == [rows[0].id]
    latest = store.latest_outcomes("T", "l", ["p-1", "p-2", "p-9"])
    assert latest["p-2"].organiser == "b@example.org" and "p-9" not in latest
    # The erasure the pipelines do (pipelines/assets/outcomes.py: forget_portal_outcomes).
    assert store.forget_outcomes(["p-1", "p-9"]) == 1
    assert [r.person_id for r in store.outcomes()] == ["p-2", "p-2", "p-2"]
    # Ids keep rising after an erasure: the warehouse lands those after the highest landed.
    store.record_outcomes(NOW, "a@example.org", "T", "l", [NewOutcome("p-3", "reached")], "page")
    assert store.outcomes(after_id=rows[-1].id)[0].person_id == "p-3"


def test_a_bad_outcome_is_refused_whole_by_the_table(store):
    good = NewOutcome("p-1", "reached")
    with pytest.raises((sqlite3.IntegrityError, psycopg2.IntegrityError), match=r"(?i)check"):
        store.record_outcomes(NOW, "a", "T", "l", [good, NewOutcome("p-2", "maybe")], "page")
    assert store.outcomes() == []  # the good one went with it: one transaction
    assert store.record_outcomes(NOW, "a", "T", "l", [good], "page") == [good]


# -- PostgreSQL itself --------------------------------------------------------------------


def test_the_tables_are_in_postgres_and_no_file_is_made(postgres_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    url = _database(postgres_server)
    Store(url).record(NOW, "ana@example.org", "sign_in")
    tables = {
        name
        for (name,) in _rows(
            postgres_server, url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    }
    assert {"accounts", "invitations", "sessions", "audit", "outcomes", "portal_schema"} <= tables
    assert _rows(postgres_server, url, "SELECT event FROM audit") == [("sign_in",)]
    assert list(tmp_path.iterdir()) == []  # no folder named after the address
    assert store_db.key_folder(url) == Path("data/portal")
    assert SERVER_PASSWORD not in str(store_db.key_folder(url))


def test_a_sign_in_over_http_lands_in_postgres(portal, portal_settings, postgres_server):  # noqa: F811
    browser = signed_in_browser(portal, "ana@example.org")
    home = browser.get(portal.url + "/")
    assert home.status_code == 200 and "ana@example.org" in home.text
    url = portal_settings.PORTAL_DB
    assert _rows(postgres_server, url, "SELECT email, active FROM accounts") == [
        ("ana@example.org", 1)
    ]
    assert _rows(postgres_server, url, "SELECT count(*) FROM sessions WHERE ended IS NULL") == [
        (1,)
    ]
    events = _rows(postgres_server, url, "SELECT event FROM audit ORDER BY id")
    assert events == [("password_set",), ("sign_in",)]


def test_a_store_that_is_down_is_named_without_its_password(tmp_path):
    port = unused_port()
    url = f"postgresql://postgres:{SERVER_PASSWORD}@127.0.0.1:{port}/groundswell_portal"
    with pytest.raises(store_db.StoreUnavailable) as down:
        Store(url)
    message = str(down.value)
    assert f"PORTAL_DB (PostgreSQL at 127.0.0.1:{port}/groundswell_portal)" in message
    assert "within 5 s" in message and "server is running" in message
    assert SERVER_PASSWORD not in message and "postgres:" not in message
    settings = PortalSettings(PORTAL_DB=url, PORTAL_SECRET_KEY="a test key, not a secret")
    teams = tmp_path / "teams.yaml"
    teams.write_text(TEAMS_YAML)
    with pytest.raises(store_db.StoreUnavailable, match="PORTAL_DB"):
        create_app(settings, clock=Clock(), teams_file=teams, pages=MINIMAL_PAGES)


def test_a_wrong_password_is_named_without_repeating_it(postgres_server):  # noqa: F811
    wrong = "not-the-Password-77"
    url = postgres_server.url("postgres").replace(SERVER_PASSWORD, wrong)
    with pytest.raises(store_db.StoreUnavailable) as refused:
        Store(url)
    message = str(refused.value)
    where = f"{postgres_server.host}:{postgres_server.port}/postgres"
    assert f"PORTAL_DB (PostgreSQL at {where})" in message and "password" in message
    assert wrong not in message and SERVER_PASSWORD not in message


def test_a_store_that_went_down_says_so_on_the_next_write(postgres_server):  # noqa: F811
    url = _database(postgres_server)
    store = Store(url)
    _drop_connections(postgres_server, url)
    with pytest.raises(store_db.StoreUnavailable, match="PORTAL_DB") as down:
        store.record(NOW, "ana@example.org", "sign_in")
    assert SERVER_PASSWORD not in str(down.value)
    store.record(NOW, "ana@example.org", "sign_in")  # the next one reconnects
    _drop_connections(postgres_server, url)
    with pytest.raises(store_db.StoreUnavailable, match="PORTAL_DB"):
        store.audit_events()  # a read says so too
    assert [e.event for e in store.audit_events()] == ["sign_in"]


def test_the_settings_check_takes_a_postgres_store_for_no_file(
    postgres_server,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.chdir(tmp_path)
    for name in (*pipeline_settings.FILES, *pipeline_settings.FOLDERS, "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    url = postgres_server.url("groundswell_portal")
    monkeypatch.setenv("PORTAL_DB", url)
    # Read as a path, the address would sit inside a folder named "postgresql:".
    monkeypatch.setenv("EXPORTS_DIR", "postgresql:")
    problems = list(pipeline_settings._path_problems())
    assert problems == []
    assert "PORTAL_DB" not in pipeline_settings._places()
    # A file path is still checked.
    monkeypatch.setenv("PORTAL_DB", str(tmp_path))
    assert any("PORTAL_DB" in p and "is a folder" in p for p in pipeline_settings._path_problems())
