"""The keeper of forgotten people: the hashes `make forget` suppresses, kept also in a file
beside the warehouse (never inside it or its backups), so a restored backup is erased again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

SUFFIX = ".forgotten.jsonl"
# Not a kind of erasure_suppressions: the SHA-256 of a forgotten person id, so a restored
# backup holding that person under the same id finds them at once.
PERSON_ID = "person_id"
HEX64 = frozenset("0123456789abcdef")


class KeeperError(RuntimeError):
    """The keeper file cannot be read or written; the message names it and what to do."""


@dataclass(frozen=True)
class Kept:
    kind: str  # email, email_key, phone_key, record_key, name_address (or person_id)
    key_hash: str  # SHA-256 hex: never an address, phone or name
    erased_at: str  # ISO time, UTC


def keeper_path(warehouse: str | Path) -> Path:
    """Where the warehouse's forgotten hashes are kept: beside it, `<name>.forgotten.jsonl`."""
    path = Path(warehouse)
    return path.with_name(path.stem + SUFFIX)


def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file a connection's database lives in; None in memory."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(row[0]) if row and row[0] else None


def read(path: str | Path) -> list[Kept]:
    """Every hash kept, in the order written; a line cut short by a crash (its forget never
    went on to the warehouse) is passed over. A missing file keeps nothing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise KeeperError(_unusable(path, exc)) from None
    kept = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
            item = Kept(str(row["kind"]), str(row["key_hash"]), str(row.get("erased_at", "")))
        except (ValueError, KeyError, TypeError):
            continue
        if len(item.key_hash) == 64 and set(item.key_hash) <= HEX64:
            kept.append(item)
    return kept


def append(path: str | Path, rows: Iterable[Kept]) -> int:
    """Add the hashes not kept yet, written through to disk before returning (a forget
    records them here first); returns how many were added."""
    path = Path(path)
    known = {(k.kind, k.key_hash) for k in read(path)}
    new: list[Kept] = []
    for row in rows:
        if (row.kind, row.key_hash) not in known:
            known.add((row.kind, row.key_hash))
            new.append(row)
    if not new:
        return 0
    lines = "".join(
        json.dumps({"kind": r.kind, "key_hash": r.key_hash, "erased_at": r.erased_at}) + "\n"
        for r in new
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        with open(path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a line cut short by a crash: start afresh
                    handle.write(b"\n")
            handle.write(lines.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            os.chmod(path, 0o600)
            _sync_folder(path.parent)
    except OSError as exc:
        raise KeeperError(_unusable(path, exc)) from None
    return len(new)


def remember_forget(con: duckdb.DuckDBPyConnection, path: str | Path, now: datetime) -> int:
    """Keep the hashes an erasure is about to suppress (stage.forget_match_keys) and the
    SHA-256 of the person ids it reaches (stage.forget_person_ids); returns how many were new."""
    rows = con.execute(
        "SELECT kind, key_hash FROM stage.forget_match_keys WHERE key_hash IS NOT NULL "
        f"UNION SELECT '{PERSON_ID}', sha256(person_id) FROM stage.forget_person_ids "
        "ORDER BY ALL"
    ).fetchall()
    stamp = _iso(now)
    return append(path, (Kept(kind, key_hash, stamp) for kind, key_hash in rows))


def remember_suppressions(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """Keep every suppression the warehouse holds that the keeper lacks (one a run added,
    or one older than the keeper); returns how many were new."""
    rows = con.execute(
        "SELECT kind, key_hash, erased_at FROM erasure_suppressions ORDER BY erased_at, key_hash"
    ).fetchall()
    return append(path, (Kept(kind, key_hash, _iso(at)) for kind, key_hash, at in rows))


def reapply(con: duckdb.DuckDBPyConnection, kept: list[Kept]) -> int:
    """Put back into erasure_suppressions every kept hash it lacks (a restored backup
    older than an erasure); returns how many went back."""
    rows = [(k.kind, k.key_hash, k.erased_at or None) for k in kept if k.kind != PERSON_ID]
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=["kind", "key_hash", "erased_at"], dtype="object")
    con.register("_kept_frame", frame)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _kept AS SELECT kind::VARCHAR AS kind, "
        "key_hash::VARCHAR AS key_hash, erased_at::VARCHAR AS erased_at FROM _kept_frame"
    )
    con.unregister("_kept_frame")
    # key_hash is the table's key: a hash kept under another kind is there already.
    missing = con.execute(
        "SELECT count(DISTINCT key_hash) FROM _kept "
        "WHERE key_hash NOT IN (SELECT key_hash FROM erasure_suppressions)"
    ).fetchall()[0][0]
    con.execute(
        """INSERT INTO erasure_suppressions (key_hash, kind, erased_at)
        SELECT key_hash, min(kind),
               coalesce(max(try_cast(erased_at AS TIMESTAMP)), current_timestamp::TIMESTAMP)
        FROM _kept
        WHERE key_hash NOT IN (SELECT key_hash FROM erasure_suppressions)
        GROUP BY key_hash"""
    )
    con.execute("DROP TABLE _kept")
    return int(missing)


def _iso(at: datetime | str | None) -> str:
    if at is None:
        return ""
    return at if isinstance(at, str) else at.replace(tzinfo=None).isoformat(timespec="seconds")


def _sync_folder(folder: Path) -> None:
    """A new file's name is on disk only once its folder is written through."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unusable(path: Path, exc: OSError) -> str:
    return (
        f"The forgotten people's keeper {path} cannot be used ({exc.strerror or exc}): it "
        "holds the hashes that keep erased people out of a restored backup. Make its folder "
        "writable by this user (it sits beside WAREHOUSE_PATH) and run again."
    )
