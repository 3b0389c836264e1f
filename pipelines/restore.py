"""`python -m pipelines.restore --from PATH` (`make restore FROM=...`): bring a warehouse
backup back. The backup is checked (its SHA-256, DuckDB can read every table, it is a
warehouse), copied beside WAREHOUSE_PATH, migrated, cleared again of everyone forgotten
since (the keeper beside the warehouse), and only then swapped in; the warehouse it
replaces is kept aside. Anything wrong and the current warehouse is left untouched."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import settings
from transforms.erasure import forget_kept
from warehouse import backup, forgotten
from warehouse.connection import LOCK_SIGN, WarehouseError, connect, is_damage
from warehouse.migrate import forget as forget_migrated

# Runs in these states may be between two steps, about to open the warehouse again.
LIVE = ("STARTING", "STARTED", "CANCELING")


class RestoreRefused(RuntimeError):
    """The restore did not happen and the warehouse is as it was; the message says why."""


@dataclass
class Restored:
    source: Path
    warehouse: Path
    aside: Path | None  # the warehouse it replaced, kept
    bytes: int
    checksum_checked: bool
    hashes_reapplied: int
    people_erased_again: int

    def lines(self) -> list[str]:
        """What was done, in counts and paths only."""
        checked = (
            "its SHA-256 matched"
            if self.checksum_checked
            else "it had no .sha256 beside it, so it was checked by reading every table"
        )
        lines = [
            f"Restored the warehouse {self.warehouse} from {self.source} "
            f"({self.bytes:,} bytes; {checked}).",
        ]
        if self.aside is not None:
            lines.append(
                f"The warehouse it replaced is kept at {self.aside}: delete it once the "
                "next run looks right."
            )
        lines.append(
            f"Forgotten people: {self.hashes_reapplied} kept hash(es) put back, "
            f"{self.people_erased_again} person(s) erased again from the restored copy."
        )
        lines.append("Run `make run` next to bring it up to date with the platforms.")
        return lines


def restore(source: Path, warehouse: Path, default_phone_region: str | None = None) -> Restored:
    """Put the backup `source` in place of `warehouse`; RestoreRefused (nothing changed)
    when the backup is missing or damaged or the warehouse is in use."""
    if not source.is_file():
        raise RestoreRefused(
            f"There is no backup file {source}; give one of the files in BACKUP_DIR "
            f"({settings.get('BACKUP_DIR')}) named {backup.PREFIX}<time>{backup.SUFFIX}, "
            "e.g. make restore FROM=latest for the newest."
        )
    if warehouse.exists() and _same_file(source, warehouse):
        raise RestoreRefused(
            f"{source} is the warehouse itself (WAREHOUSE_PATH); give a backup from BACKUP_DIR."
        )
    refuse_live_runs()
    keeper = forgotten.keeper_path(warehouse)
    scratch = warehouse.with_name(f".{warehouse.name}.restore-{uuid.uuid4().hex}")
    with _holding(warehouse) as current:
        if current is not None:
            # What the current warehouse suppresses survives the restore, even an erasure
            # older than the keeper.
            forgotten.remember_suppressions(current, keeper)
        try:
            size, checked = _copy_checked(source, scratch)
            backup.check_warehouse_file(scratch, shown=source)
            reapplied, erased = _erase_again(scratch, keeper, default_phone_region)
            aside = _swap_in(scratch, warehouse)
        except backup.BackupError as exc:
            raise RestoreRefused(str(exc)) from None
        finally:
            for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
                leftover.unlink(missing_ok=True)
    return Restored(source, warehouse, aside, size, checked, reapplied, erased)


def refuse_live_runs() -> None:
    """Refuse while a Dagster run is live (it opens the warehouse step by step, so DuckDB's
    lock alone cannot tell); runs whose process is gone are marked failed first."""
    if not os.environ.get("DAGSTER_HOME"):
        return  # no instance on disk: no run of ours can be recorded anywhere
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    from pipelines import runs

    instance = runs.open_instance()
    runs.clear_dead_runs(instance)
    statuses = [DagsterRunStatus[name] for name in LIVE]
    live = instance.get_run_records(filters=RunsFilter(statuses=statuses), limit=3)
    if live:
        holders = "; ".join(
            runs.describe_holder(instance, r.dagster_run.run_id, None) for r in live
        )
        raise RestoreRefused(
            f"A run is using the warehouse now ({holders}); nothing was restored. Wait for "
            "it to finish (make status, or the Dagster UI), or stop it, then run make "
            "restore again."
        )


@contextlib.contextmanager
def _holding(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The current warehouse, opened read-only for the whole restore: no writer can take it
    meanwhile, and one holding it now refuses the restore. None when there is no warehouse
    or it is too damaged to open (what a restore is for)."""
    if not warehouse.exists():
        yield None
        return
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        text = str(exc).lower()
        if LOCK_SIGN in text or "different configuration" in text:
            raise RestoreRefused(
                f"The warehouse file {warehouse} is in use by another program (a run, make "
                "forget, the UI's code server, a DuckDB shell or notebook); nothing was "
                "restored. Stop it or wait for the run to finish, then run make restore again."
            ) from None
        if is_damage(exc):
            yield None
            return
        raise RestoreRefused(
            f"The warehouse file {warehouse} cannot be opened ({str(exc).splitlines()[0]}); "
            "check WAREHOUSE_PATH and that this user may read and write it."
        ) from None
    try:
        usable = _has_suppressions(con)
        yield con if usable else None
    finally:
        con.close()


def _has_suppressions(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.execute("SELECT count(*) FROM erasure_suppressions").fetchall()
    except duckdb.Error:
        return False
    return True


def _copy_checked(source: Path, scratch: Path) -> tuple[int, bool]:
    """Copy the backup beside the warehouse and check the copy against its SHA-256 (when
    it has one): what is checked is what is put in place. (bytes, whether checked)."""
    expected = backup.recorded_checksum(source)
    try:
        digest, size = backup.copy_hashed(source, scratch)
    except OSError as exc:
        raise backup.BackupError(
            f"The backup {source} could not be copied beside the warehouse ({exc.strerror}); "
            "free space on the warehouse's disk (a restore needs room for one more copy) "
            "and run make restore again."
        ) from None
    if expected is not None and digest != expected:
        raise backup.BackupError(
            f"The backup {source} does not match its checksum ({backup.checksum_path(source).name}): "
            "it was changed or damaged after it was written. Restore another backup "
            "(make restore FROM=...); the others are in BACKUP_DIR."
        )
    return size, expected is not None


def _erase_again(scratch: Path, keeper: Path, region: str | None) -> tuple[int, int]:
    """Migrate the copy and erase from it everyone the keeper holds; (hashes put back,
    people erased again)."""
    kept = forgotten.read(keeper)
    try:
        con = connect(scratch)
    except WarehouseError as exc:
        raise backup.BackupError(str(exc).replace(str(scratch), "the backup's copy")) from None
    try:
        before = con.execute("SELECT count(*) FROM erasure_suppressions").fetchall()[0][0]
        erased = forget_kept(con, kept, _now(), region, keeper)
        after = con.execute("SELECT count(*) FROM erasure_suppressions").fetchall()[0][0]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return max(int(after) - int(before), 0), erased


def _swap_in(scratch: Path, warehouse: Path) -> Path | None:
    """Keep the current warehouse (and any .wal) aside, then put the copy in its place in
    one rename; the aside name, or None when there was no warehouse."""
    aside = None
    if warehouse.exists():
        stamp = _now().strftime(backup.STAMP)
        aside = warehouse.with_name(f"{warehouse.name}.before-restore-{stamp}")
        n = 1
        while aside.exists():  # two restores in one second: keep both
            n += 1
            aside = warehouse.with_name(f"{warehouse.name}.before-restore-{stamp}-{n}")
        try:
            os.link(warehouse, aside)  # instant, and takes no room
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            shutil.copy2(warehouse, aside)
    wal = warehouse.with_name(warehouse.name + ".wal")
    if wal.exists():
        # Replayed onto the restored file it would undo the restore.
        target = aside.with_name(aside.name + ".wal") if aside else wal.with_suffix(".wal.old")
        os.replace(wal, target)
    os.replace(scratch, warehouse)
    forget_migrated(warehouse)
    return aside


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def resolve_source(given: str) -> Path:
    """The backup FROM names: a path, a file name in BACKUP_DIR, or `latest`."""
    folder = Path(settings.get("BACKUP_DIR")).expanduser()
    if not given.strip():
        raise RestoreRefused(
            "Say which backup to restore: make restore FROM=latest for the newest in "
            f"BACKUP_DIR={folder}, or FROM=<its file name there, or its path>."
        )
    if given.strip().lower() == "latest":
        newest = backup.latest(folder)
        if newest is None:
            raise RestoreRefused(
                f"There is no backup in BACKUP_DIR={folder} yet; each successful run writes "
                "one. Give the backup's path instead: make restore FROM=/path/to/backup.duckdb"
            )
        return newest
    path = Path(given).expanduser()
    if not path.exists() and not path.is_absolute() and (folder / path.name).is_file():
        return folder / path.name
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.restore", description=__doc__)
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the backup: its path, its file name in BACKUP_DIR, or `latest`",
    )
    args = parser.parse_args(argv)
    settings.load_env()
    try:
        settings.validate()
        source = resolve_source(args.source)
        report = restore(
            source, Path(settings.get("WAREHOUSE_PATH")), settings.get("DEFAULT_PHONE_REGION")
        )
    except (RestoreRefused, ValueError, forgotten.KeeperError) as exc:
        print(f"{exc}".strip(), file=sys.stderr)
        print("Nothing was restored; the warehouse is as it was.", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
