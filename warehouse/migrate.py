"""Versioned schema migrations: `migrations/NNN_name.sql`, each applied once, in order.

`migrate` checks a connection's warehouse every time it is called; `migrate_once` (what
warehouse.connection uses) checks each warehouse file once per process, so every later
connection to the same file opens without reading schema_migrations again."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import duckdb

MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

# How many times this process has read schema_migrations (called `migrate`): public so a
# test can see that a second connection does not check again.
checks = 0
# The warehouse files this process has migrated: (resolved path, device, inode).
_migrated: set[tuple[str, int, int]] = set()
_lock = threading.Lock()


def available() -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    return found


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply pending migrations, each in its own transaction; returns the versions applied."""
    global checks
    checks += 1
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, path in available():
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text())
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def file_key(path: str | Path) -> tuple[str, int, int] | None:
    """The warehouse file as this process knows it: its resolved path, device and inode (a
    file moved into place is another file); None when there is no file (in memory)."""
    try:
        resolved = Path(path).resolve()
        info = resolved.stat()
    except (OSError, ValueError):
        return None
    return (str(resolved), info.st_dev, info.st_ino)


def migrate_once(con: duckdb.DuckDBPyConnection, path: str | Path) -> list[int] | None:
    """`migrate`, once per process for the warehouse file at `path` (opened as `con`): the
    versions applied, or None if this process had already checked that file. No path, or
    no file there: every time."""
    key = file_key(path) if str(path) else None
    if key is None:
        return migrate(con)
    # One lock for the whole check: two threads opening the same new file migrate it once.
    with _lock:
        if key in _migrated:
            return None
        applied = migrate(con)
        _migrated.add(key)
    return applied


def mark_migrated(path: str | Path) -> None:
    """The file at `path` was migrated by this process under another name (a new warehouse
    is made beside it and linked into place): no need to check it again."""
    key = file_key(path)
    if key is not None:
        with _lock:
            _migrated.add(key)


def forget(path: str | Path) -> None:
    """Check the file at `path` again on its next connection: warehouse.connection calls
    this when it is about to create a new file there; a test that rewinds a warehouse's
    schema_migrations in place calls it too."""
    resolved = str(Path(path).resolve())
    with _lock:
        _migrated.difference_update({key for key in _migrated if key[0] == resolved})
