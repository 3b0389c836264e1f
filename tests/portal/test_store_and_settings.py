"""The portal's store (versioned schema, migrated once), its settings and its key file."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta

from portal.settings import PortalSettings
from portal.store import MIGRATIONS, Store


def test_the_schema_is_created_once_and_versioned(tmp_path):
    path = tmp_path / "portal" / "portal.db"
    store = Store(path)
    assert store.version() == len(MIGRATIONS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    now = datetime(2026, 11, 30, tzinfo=UTC)
    store.record(now, "ana@example.org", "sign_in", ip="127.0.0.1")
    store.close()
    again = Store(path)  # opening again migrates nothing and keeps the rows
    assert again.version() == len(MIGRATIONS)
    assert [e.event for e in again.audit_events()] == ["sign_in"]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"accounts", "invitations", "sessions", "audit", "sign_in_failures"} <= tables


def test_the_audit_trail_reads_newest_first_and_filters(tmp_path):
    store = Store(tmp_path / "portal.db")
    start = datetime(2026, 11, 30, tzinfo=UTC)
    store.record(start, "ana@example.org", "download", team="North", list_name="a.csv", rows=3)
    store.record(start + timedelta(seconds=1), "hq@example.org", "person_view", person_id="p1")
    events = store.audit_events()
    assert [e.event for e in events] == ["person_view", "download"]
    assert events[1].rows == 3 and events[1].team == "North" and events[1].at == start
    assert [e.actor for e in store.audit_events(team="North")] == ["ana@example.org"]
    assert store.audit_events(limit=1, offset=1)[0].event == "download"


def test_settings_are_checked_and_named(monkeypatch):
    for name in PortalSettings.model_fields:
        monkeypatch.delenv(name, raising=False)
    assert [p for _, p in PortalSettings.problems()] == []
    monkeypatch.setenv("PORTAL_PORT", "eighty")
    monkeypatch.setenv("PORTAL_IDLE_MINUTES", "0")
    monkeypatch.setenv("PORTAL_URL", "portal.example.org")
    monkeypatch.setenv("PORTAL_HTTPS", "maybe")
    problems = "\n".join(p for _, p in PortalSettings.problems())
    assert "PORTAL_PORT='eighty' is not a whole number" in problems
    assert "PORTAL_IDLE_MINUTES=0 is out of range" in problems
    assert "PORTAL_URL='portal.example.org' is not a web address" in problems
    assert "PORTAL_HTTPS='maybe' is not on or off" in problems


def test_the_secret_key_is_made_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    key_file = tmp_path / "portal" / "secret_key"
    first = PortalSettings().secret_key(key_file)
    assert len(first) >= 48 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert PortalSettings().secret_key(key_file) == first
    given = PortalSettings(PORTAL_SECRET_KEY="a key from the environment")
    assert given.secret_key(key_file) == "a key from the environment"
    assert "a key from the environment" not in repr(given)
