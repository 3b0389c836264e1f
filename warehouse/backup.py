"""Warehouse backups: a consistent copy of the open warehouse in BACKUP_DIR, named by time
with its SHA-256 beside it, the retention of daily and weekly copies, and checking a copy
before it is restored."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

PREFIX = "warehouse-"
SUFFIX = ".duckdb"
CHECKSUM = ".sha256"
STAMP = "%Y%m%dT%H%M%SZ"
# Only files named like this are backups: retention never touches anything else.
NAME = re.compile(r"^warehouse-(\d{8}T\d{6}Z)\.duckdb$")
PARTIAL = re.compile(r"^\.warehouse-\d{8}T\d{6}Z\.duckdb\.partial-[0-9a-f]{32}$")
CHUNK = 4 * 1024 * 1024
STALE_PARTIAL_SECONDS = 6 * 3600  # a copy a killed run left half-written
# A DuckDB file starts with a checksum, then this magic at byte 8.
DUCKDB_MAGIC = b"DUCK"
# Tables every warehouse has since its first migration.
REQUIRED_TABLES = ("schema_migrations", "people", "person_sources")


class BackupError(RuntimeError):
    """A backup could not be written or cannot be restored; the message says what to do."""


@dataclass
class Written:
    path: Path
    bytes: int
    seconds: float
    sha256: str


@dataclass
class Retention:
    kept: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    daily: int = 0  # of the kept, how many count as the day's copy
    weekly: int = 0  # how many count as the week's copy


def backup_name(when: datetime) -> str:
    """The file name of a backup taken at `when` (UTC): sorts by time."""
    return f"{PREFIX}{when.astimezone(UTC).strftime(STAMP)}{SUFFIX}"


def taken_at(path: str | Path) -> datetime | None:
    """When a backup was taken, from its name; None for a file that is not a backup."""
    match = NAME.match(Path(path).name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def checksum_path(path: str | Path) -> Path:
    """The sidecar holding a backup's SHA-256 (`sha256sum -c` reads it)."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM)


def backups(folder: str | Path) -> list[Path]:
    """The backups in `folder`, oldest first; only files named as backups."""
    try:
        found = [p for p in Path(folder).iterdir() if taken_at(p) and p.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found, key=lambda p: p.name)


def latest(folder: str | Path) -> Path | None:
    """The newest backup in `folder`, or None."""
    found = backups(folder)
    return found[-1] if found else None


def take(con: duckdb.DuckDBPyConnection, source: str | Path, folder: str | Path) -> Written:
    """Write a consistent copy of the warehouse open as `con` (the file `source`) into
    `folder`. The caller holds the only connection (DuckDB's lock, and the `warehouse` pool
    in a run), so after CHECKPOINT the file is complete and nothing writes it while it is
    copied. The copy goes to a hidden name and is renamed when whole, with its SHA-256."""
    started = time.monotonic()
    con.execute("CHECKPOINT")  # everything in the WAL written into the file itself
    folder = Path(folder)
    now = datetime.now(UTC)
    target = folder / backup_name(now)
    partial = folder / f".{target.name}.partial-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _drop_stale_partials(folder)
        digest, size = copy_hashed(Path(source), partial)
        os.replace(partial, target)
        _write_checksum(target, digest)
        _sync_folder(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise BackupError(unwritable_message(folder, exc)) from None
    return Written(target, size, time.monotonic() - started, digest)


def unwritable_message(folder: Path, exc: OSError) -> str:
    """Why a backup could not be written to BACKUP_DIR and what to do (no personal data)."""
    reason = exc.strerror or type(exc).__name__
    return (
        f"The warehouse backup could not be written to BACKUP_DIR={folder} ({reason}). The "
        "run itself finished and the warehouse is unharmed, but it has no new backup: free "
        "space on that disk or point BACKUP_DIR at a writable folder with room for another "
        "copy of WAREHOUSE_PATH, then run again (or materialise warehouse_backup alone)."
    )


def copy_hashed(source: Path, target: Path) -> tuple[str, int]:
    """Copy `source` to a new file `target`, written through to disk; its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as reader, open(target, "xb") as writer:
        os.chmod(target, 0o600)  # it holds everyone's data, as the warehouse does
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_checksum(path: str | Path) -> str | None:
    """The SHA-256 recorded beside a backup, or None when it has no sidecar."""
    sidecar = checksum_path(path)
    try:
        text = sidecar.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackupError(
            f"The checksum file {sidecar} cannot be read ({exc.strerror}); fix its "
            "permissions, or restore another backup."
        ) from None
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0]):
        raise BackupError(
            f"The checksum file {sidecar} does not hold a SHA-256; the backup cannot be "
            "checked. Restore another backup, or delete that .sha256 file if you know the "
            "backup is whole (it is then checked by opening it)."
        )
    return text[0]


def check_warehouse_file(path: str | Path, shown: str | Path | None = None) -> None:
    """Refuse a file that is not a whole Groundswell warehouse: not a DuckDB file, one
    DuckDB cannot read, or one without the warehouse's tables. Reads only (`shown` is the
    name messages use: the backup, when `path` is a copy of it)."""
    path = Path(path)
    name = shown or path
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[8:12] != DUCKDB_MAGIC:
        raise BackupError(
            f"{name} is not a DuckDB database, so not a warehouse backup; give a file "
            f"from BACKUP_DIR named {PREFIX}<time>{SUFFIX}."
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise BackupError(_damaged(name, exc)) from None
    try:
        tables = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
            ).fetchall()
        }
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise BackupError(
                f"{name} is a DuckDB database but not a Groundswell warehouse (it has no "
                f"{', '.join(missing)} table); give a backup from BACKUP_DIR."
            )
        # Reading every table finds a block that cannot be read (a file cut short).
        for table in sorted(tables):
            con.execute(f'SELECT sum(hash(t)) FROM main."{table}" t').fetchall()
    except duckdb.Error as exc:
        raise BackupError(_damaged(name, exc)) from None
    finally:
        con.close()


def _damaged(name: str | Path, exc: duckdb.Error) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"{name} cannot be read as a warehouse ({reason[:200]}): it is damaged or cut "
        "short. Restore another backup (make restore FROM=...); the newest ones are listed "
        "in BACKUP_DIR."
    )


def prune(folder: str | Path, keep_daily: int, keep_weekly: int) -> Retention:
    """Keep the newest backup of each of the last `keep_daily` days that have one and of
    each of the last `keep_weekly` ISO weeks that have one (UTC); delete the other backups
    and their checksums. Files not named as backups are never touched."""
    found = backups(folder)
    newest_first = sorted(found, key=lambda p: p.name, reverse=True)
    daily = _newest_per(newest_first, lambda t: t.date(), keep_daily)
    weekly = _newest_per(newest_first, lambda t: t.isocalendar()[:2], keep_weekly)
    keep = daily | weekly
    result = Retention(daily=len(daily), weekly=len(weekly))
    for path in found:
        if path in keep:
            result.kept.append(path)
            continue
        path.unlink(missing_ok=True)
        checksum_path(path).unlink(missing_ok=True)
        result.deleted.append(path)
    return result


def _newest_per(newest_first: Iterable[Path], period, count: int) -> set[Path]:
    """The newest backup of each of the `count` most recent periods that have one."""
    chosen: dict[object, Path] = {}
    for path in newest_first:
        key = period(taken_at(path))
        if key not in chosen:
            if len(chosen) == count:
                break
            chosen[key] = path
    return set(chosen.values())


def _write_checksum(target: Path, digest: str) -> None:
    sidecar = checksum_path(target)
    partial = sidecar.with_name(f".{sidecar.name}.partial-{uuid.uuid4().hex}")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(f"{digest}  {target.name}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, sidecar)


def _drop_stale_partials(folder: Path) -> None:
    """Remove half-written copies a killed run left (only our own hidden names)."""
    for path in folder.iterdir():
        if PARTIAL.match(path.name):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > STALE_PARTIAL_SECONDS:
                    path.unlink()


def _sync_folder(folder: Path) -> None:
    """A renamed file's new name is on disk only once its folder is written through."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
