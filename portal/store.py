"""The portal's own store: accounts, invitations, sessions, the audit trail, sign-in
throttling and the outcomes organisers record. A SQLite file by default, or a PostgreSQL
database (PORTAL_DB=postgresql://...): plain SQL throughout, written once, SQLite's way, over
the small connection layer in portal/store_db.py.

Times are ISO-8601 UTC text of fixed width, so they sort and compare as text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from portal.store_db import Connection, open_database

# Each entry brings the schema from version i to i + 1; append, never edit a shipped one.
# Statements are split on ";", so none may appear inside a statement or comment.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE accounts (
        email TEXT PRIMARY KEY,          -- lower-cased
        role TEXT NOT NULL,              -- hq | organiser
        teams TEXT NOT NULL,             -- JSON list, as invited (re-read from teams.yaml)
        password_hash TEXT,
        active INTEGER NOT NULL,
        created TEXT NOT NULL,
        revoked TEXT
    );
    CREATE TABLE invitations (
        token_hash TEXT PRIMARY KEY,     -- SHA-256 of the token (never the token)
        email TEXT NOT NULL,
        role TEXT NOT NULL,
        teams TEXT NOT NULL,
        created TEXT NOT NULL,
        expires TEXT NOT NULL,
        used_at TEXT
    );
    CREATE INDEX invitations_email ON invitations (email);
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,        -- SHA-256 of the session id (never the id)
        email TEXT NOT NULL,
        created TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        ended TEXT
    );
    CREATE INDEX sessions_email ON sessions (email);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT,                      -- the account's email, NULL when none matched
        event TEXT NOT NULL,
        team TEXT,
        list_name TEXT,
        rows INTEGER,
        person_id TEXT,
        ip TEXT
    );
    CREATE INDEX audit_at ON audit (at);
    CREATE TABLE sign_in_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject TEXT NOT NULL,           -- 'email:<address>' or 'ip:<address>'
        at TEXT NOT NULL
    );
    CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, at);
    CREATE TABLE sign_in_locks (
        subject TEXT PRIMARY KEY,
        until TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        organiser TEXT NOT NULL,         -- the account's email
        team TEXT NOT NULL,
        list_name TEXT NOT NULL,
        person_id TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('reached', 'not_reached', 'said_yes',
            'said_no', 'wrong_number', 'do_not_contact')),
        follow_up TEXT,                  -- a date, YYYY-MM-DD
        note TEXT CHECK (note IS NULL OR length(note) <= 500),
        via TEXT NOT NULL CHECK (via IN ('page', 'upload')),
        row_key TEXT NOT NULL UNIQUE     -- SHA-256 of what was recorded: see outcome_key
    );
    CREATE INDEX outcomes_list ON outcomes (team, list_name, person_id);
    CREATE INDEX outcomes_person ON outcomes (person_id);
    """,
)


def stamp(moment: datetime) -> str:
    """A time as the store keeps it: UTC, fixed width, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    """A stored time back as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    teams: tuple[str, ...]
    password_hash: str | None
    active: bool
    created: datetime
    revoked: datetime | None


@dataclass(frozen=True)
class Invitation:
    email: str
    role: str
    teams: tuple[str, ...]
    created: datetime
    expires: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class SessionRow:
    email: str
    created: datetime
    last_seen: datetime
    ended: datetime | None


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str | None
    event: str
    team: str | None
    list_name: str | None
    rows: int | None
    person_id: str | None
    ip: str | None


@dataclass(frozen=True)
class NewOutcome:
    """One outcome to record (checked already: portal/outcomes.py)."""

    person_id: str
    outcome: str
    follow_up: date | None = None
    note: str | None = None


@dataclass(frozen=True)
class OutcomeRow:
    id: int
    recorded_at: datetime
    organiser: str
    team: str
    list_name: str
    person_id: str
    outcome: str
    follow_up: date | None
    note: str | None
    via: str


def outcome_key(organiser: str, team: str, list_name: str, item: NewOutcome) -> str:
    """The row_key: a SHA-256 of organiser|team|list|person|outcome|follow_up|note, so
    recording the same thing twice records nothing new."""
    parts = (
        organiser,
        team,
        list_name,
        item.person_id,
        item.outcome,
        item.follow_up.isoformat() if item.follow_up else "",
        item.note or "",
    )
    # Each part length-prefixed: a '|' inside a note cannot make two outcomes one key.
    text = "|".join(f"{len(p)}:{p}" for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_OUTCOME_COLUMNS = (
    "id, recorded_at, organiser, team, list_name, person_id, outcome, follow_up, note, via"
)


def _outcome_row(row: tuple) -> OutcomeRow:
    return OutcomeRow(
        id=row[0],
        recorded_at=parse(row[1]),
        organiser=row[2],
        team=row[3],
        list_name=row[4],
        person_id=row[5],
        outcome=row[6],
        follow_up=date.fromisoformat(row[7]) if row[7] else None,
        note=row[8],
        via=row[9],
    )


class Store:
    """The portal's tables in the database PORTAL_DB names (a SQLite file by default, or a
    postgresql:// address: portal/store_db.py), created (and migrated) when opened."""

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self._db = open_database(location)
        # A SQLite store's file (tests read it whole); None in PostgreSQL.
        self.path: Path | None = getattr(self._db, "path", None)
        self._migrate()

    # -- connection -------------------------------------------------------------------

    def _connection(self) -> Connection:
        return self._db.connection()

    def _transaction(self) -> AbstractContextManager[Connection]:
        return self._db.transaction()

    def _migrate(self) -> None:
        with self._transaction() as con:
            con.execute("CREATE TABLE IF NOT EXISTS portal_schema (version INTEGER NOT NULL)")
            row = con.execute("SELECT version FROM portal_schema").fetchone()
            if row is None:
                con.execute("INSERT INTO portal_schema (version) VALUES (0)")
            version = row[0] if row else 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in self._db.migration(script):
                    con.execute(statement)
                con.execute("UPDATE portal_schema SET version = ?", (number,))

    def version(self) -> int:
        """The schema version this store is at."""
        return self._connection().execute("SELECT version FROM portal_schema").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._db.close()

    # -- accounts ---------------------------------------------------------------------

    def account(self, email: str) -> Account | None:
        row = (
            self._connection()
            .execute(
                "SELECT email, role, teams, password_hash, active, created, revoked "
                "FROM accounts WHERE email = ?",
                (email,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Account(
            email=row[0],
            role=row[1],
            teams=tuple(json.loads(row[2])),
            password_hash=row[3],
            active=bool(row[4]),
            created=parse(row[5]),
            revoked=parse(row[6]) if row[6] else None,
        )

    def deactivate(self, email: str, now: datetime) -> bool:
        """Mark the account revoked and end all its sessions at once; False if unknown."""
        at = stamp(now)
        with self._transaction() as con:
            changed = con.execute(
                "UPDATE accounts SET active = 0, revoked = ? WHERE email = ?", (at, email)
            ).rowcount
            con.execute(
                "UPDATE sessions SET ended = ? WHERE email = ? AND ended IS NULL", (at, email)
            )
            # An invitation not yet used must not bring a revoked account back.
            con.execute(
                "UPDATE invitations SET used_at = ? WHERE email = ? AND used_at IS NULL",
                (at, email),
            )
        return changed > 0

    # -- invitations ------------------------------------------------------------------

    def add_invitation(
        self,
        token_hash: str,
        email: str,
        role: str,
        teams: tuple[str, ...],
        now: datetime,
        expires: datetime,
    ) -> None:
        """A new invitation; earlier unused ones for the same address stop working."""
        with self._transaction() as con:
            con.execute(
                "UPDATE invitations SET used_at = ? WHERE email = ? AND used_at IS NULL",
                (stamp(now), email),
            )
            con.execute(
                "INSERT INTO invitations (token_hash, email, role, teams, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, email, role, json.dumps(list(teams)), stamp(now), stamp(expires)),
            )

    def invitation(self, token_hash: str) -> Invitation | None:
        row = (
            self._connection()
            .execute(
                "SELECT email, role, teams, created, expires, used_at FROM invitations "
                "WHERE token_hash = ?",
                (token_hash,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Invitation(
            email=row[0],
            role=row[1],
            teams=tuple(json.loads(row[2])),
            created=parse(row[3]),
            expires=parse(row[4]),
            used_at=parse(row[5]) if row[5] else None,
        )

    def accept_invitation(self, token_hash: str, password_hash: str, now: datetime) -> bool:
        """Use the invitation once: the account is (re)created active with this password
        and every earlier session of it ends. False when it was used (or expired) already."""
        at = stamp(now)
        with self._transaction() as con:
            row = con.execute(
                "SELECT email, role, teams FROM invitations "
                "WHERE token_hash = ? AND used_at IS NULL AND expires > ?",
                (token_hash, at),
            ).fetchone()
            if row is None:
                return False
            email, role, teams = row
            con.execute("UPDATE invitations SET used_at = ? WHERE token_hash = ?", (at, token_hash))
            exists = con.execute("SELECT 1 FROM accounts WHERE email = ?", (email,)).fetchone()
            if exists:
                con.execute(
                    "UPDATE accounts SET role = ?, teams = ?, password_hash = ?, active = 1, "
                    "revoked = NULL WHERE email = ?",
                    (role, teams, password_hash, email),
                )
            else:
                con.execute(
                    "INSERT INTO accounts (email, role, teams, password_hash, active, created) "
                    "VALUES (?, ?, ?, ?, 1, ?)",
                    (email, role, teams, password_hash, at),
                )
            con.execute(
                "UPDATE sessions SET ended = ? WHERE email = ? AND ended IS NULL", (at, email)
            )
        return True

    # -- sessions ---------------------------------------------------------------------

    def add_session(self, id_hash: str, email: str, now: datetime) -> None:
        at = stamp(now)
        with self._transaction() as con:
            con.execute(
                "INSERT INTO sessions (id_hash, email, created, last_seen) VALUES (?, ?, ?, ?)",
                (id_hash, email, at, at),
            )

    def session(self, id_hash: str) -> SessionRow | None:
        row = (
            self._connection()
            .execute(
                "SELECT email, created, last_seen, ended FROM sessions WHERE id_hash = ?",
                (id_hash,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return SessionRow(
            email=row[0],
            created=parse(row[1]),
            last_seen=parse(row[2]),
            ended=parse(row[3]) if row[3] else None,
        )

    def touch_session(self, id_hash: str, now: datetime) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE sessions SET last_seen = ? WHERE id_hash = ? AND ended IS NULL",
                (stamp(now), id_hash),
            )

    def end_session(self, id_hash: str, now: datetime) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE sessions SET ended = ? WHERE id_hash = ? AND ended IS NULL",
                (stamp(now), id_hash),
            )

    def live_sessions(self, email: str) -> int:
        """How many sessions of this account have not ended (for tests and the CLI)."""
        row = (
            self._connection()
            .execute("SELECT count(*) FROM sessions WHERE email = ? AND ended IS NULL", (email,))
            .fetchone()
        )
        return row[0]

    # -- audit ------------------------------------------------------------------------

    def record(
        self,
        at: datetime,
        actor: str | None,
        event: str,
        *,
        team: str | None = None,
        list_name: str | None = None,
        rows: int | None = None,
        person_id: str | None = None,
        ip: str | None = None,
    ) -> None:
        """One audit event."""
        with self._transaction() as con:
            con.execute(
                "INSERT INTO audit (at, actor, event, team, list_name, rows, person_id, ip) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (stamp(at), actor, event, team, list_name, rows, person_id, ip),
            )

    def audit_events(
        self,
        *,
        limit: int = 200,
        offset: int = 0,
        event: str | None = None,
        team: str | None = None,
        actor: str | None = None,
    ) -> list[AuditEvent]:
        """The newest audit events first, optionally of one event kind, team or actor."""
        where, params = [], []
        for column, value in (("event", event), ("team", team), ("actor", actor)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            "SELECT at, actor, event, team, list_name, rows, person_id, ip FROM audit"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = self._connection().execute(sql, (*params, limit, offset)).fetchall()
        return [AuditEvent(parse(r[0]), *r[1:]) for r in rows]

    # -- outcomes ---------------------------------------------------------------------

    def record_outcomes(
        self,
        now: datetime,
        organiser: str,
        team: str,
        list_name: str,
        items: Sequence[NewOutcome],
        via: str,
    ) -> list[NewOutcome]:
        """Record outcomes in one transaction; the ones new (an outcome recorded already,
        same row_key, records nothing)."""
        at, recorded = stamp(now), []
        with self._transaction() as con:
            for item in items:
                changed = con.execute(
                    "INSERT INTO outcomes (recorded_at, organiser, team, list_name, person_id, "
                    "outcome, follow_up, note, via, row_key) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (row_key) DO NOTHING",
                    (
                        at,
                        organiser,
                        team,
                        list_name,
                        item.person_id,
                        item.outcome,
                        item.follow_up.isoformat() if item.follow_up else None,
                        item.note,
                        via,
                        outcome_key(organiser, team, list_name, item),
                    ),
                ).rowcount
                if changed:
                    recorded.append(item)
        return recorded

    def outcomes(
        self,
        *,
        after_id: int = 0,
        team: str | None = None,
        list_name: str | None = None,
        person_id: str | None = None,
        limit: int | None = None,
    ) -> list[OutcomeRow]:
        """Recorded outcomes in the order recorded (oldest first), those after `after_id`,
        optionally of one team, list or person."""
        where, params = ["id > ?"], [after_id]
        for column, value in (("team", team), ("list_name", list_name), ("person_id", person_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {_OUTCOME_COLUMNS} FROM outcomes WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_outcome_row(r) for r in self._connection().execute(sql, params).fetchall()]

    def latest_outcomes(
        self, team: str, list_name: str, person_ids: Sequence[str]
    ) -> dict[str, OutcomeRow]:
        """Each of these people's latest outcome on the team's part of the list."""
        if not person_ids:
            return {}
        marks = ", ".join("?" for _ in person_ids)
        rows = (
            self._connection()
            .execute(
                f"SELECT {_OUTCOME_COLUMNS} FROM outcomes WHERE id IN (SELECT max(id) "
                f"FROM outcomes WHERE team = ? AND list_name = ? AND person_id IN ({marks}) "
                "GROUP BY person_id)",
                (team, list_name, *person_ids),
            )
            .fetchall()
        )
        return {r[5]: _outcome_row(r) for r in rows}

    def forget_outcomes(self, person_ids: Sequence[str]) -> int:
        """Delete every outcome (and note) of these people, for erasure; how many."""
        with self._transaction() as con:
            return sum(
                con.execute("DELETE FROM outcomes WHERE person_id = ?", (pid,)).rowcount
                for pid in person_ids
            )

    # -- sign-in throttling -----------------------------------------------------------

    def add_failure(self, subjects: tuple[str, ...], now: datetime) -> None:
        with self._transaction() as con:
            con.executemany(
                "INSERT INTO sign_in_failures (subject, at) VALUES (?, ?)",
                [(subject, stamp(now)) for subject in subjects],
            )

    def failures_since(self, subject: str, since: datetime) -> int:
        row = (
            self._connection()
            .execute(
                "SELECT count(*) FROM sign_in_failures WHERE subject = ? AND at > ?",
                (subject, stamp(since)),
            )
            .fetchone()
        )
        return row[0]

    def lock(self, subject: str, until: datetime) -> None:
        with self._transaction() as con:
            con.execute("DELETE FROM sign_in_locks WHERE subject = ?", (subject,))
            con.execute(
                "INSERT INTO sign_in_locks (subject, until) VALUES (?, ?)", (subject, stamp(until))
            )

    def locked(self, subject: str, now: datetime) -> bool:
        row = (
            self._connection()
            .execute(
                "SELECT 1 FROM sign_in_locks WHERE subject = ? AND until > ?",
                (subject, stamp(now)),
            )
            .fetchone()
        )
        return row is not None

    def forget_failures(self, subject: str) -> None:
        """A successful sign-in clears the count for its email."""
        with self._transaction() as con:
            con.execute("DELETE FROM sign_in_failures WHERE subject = ?", (subject,))

    def prune(self, before: datetime) -> None:
        """Drop failures and locks older than `before` (they no longer count)."""
        with self._transaction() as con:
            con.execute("DELETE FROM sign_in_failures WHERE at < ?", (stamp(before),))
            con.execute("DELETE FROM sign_in_locks WHERE until < ?", (stamp(before),))
