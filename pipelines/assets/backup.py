"""The warehouse backup: the last step of every successful run, a consistent copy of the
warehouse in BACKUP_DIR taken while the run still holds the `warehouse` pool, then the
retention of daily and weekly copies. A backup that cannot be written never fails the run:
the check `backup_written` fails instead (and alerts)."""

import importlib
import pkgutil
from pathlib import Path

import dagster as dg

import pipelines.assets as assets_package
from pipelines import settings
from pipelines.resources import open_warehouse
from warehouse import backup, forgotten

KEY = dg.AssetKey("warehouse_backup")
CHECK = "backup_written"
# How a graph-backed asset names the output of its check.
CHECK_OUTPUT = f"{KEY.to_python_identifier()}_{CHECK}"


def terminal_assets() -> list[dg.AssetKey]:
    """The assets nothing else in the job depends on (the pushes, the portal snapshot, the
    identity review...): the backup waits for all of them. Derived from every other asset
    module of this package, so a new final asset is waited for without a change here."""
    modules = [
        importlib.import_module(f"{assets_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(assets_package.__path__)
        if info.name != __name__.rsplit(".", 1)[1]
    ]
    keys: set[dg.AssetKey] = set()
    upstream: set[dg.AssetKey] = set()
    for definition in dg.load_assets_from_modules(modules):
        if isinstance(definition, dg.AssetsDefinition):
            keys |= definition.keys
            for deps in definition.asset_deps.values():
                upstream |= deps
    # An asset that waits for the backup itself cannot be waited for.
    return sorted(keys - upstream - {KEY}, key=lambda k: k.to_user_string())


@dg.op(
    ins={"ready": dg.In(dg.Nothing)},
    out={"result": dg.Out(dg.Nothing), "written": dg.Out(dg.Nothing)},
    pool="warehouse",
    required_resource_keys={"warehouse"},
    description="Copies the warehouse to BACKUP_DIR while holding the warehouse pool.",
)
def back_up_warehouse(context: dg.OpExecutionContext):
    warehouse_path = Path(context.resources.warehouse.database)
    folder = Path(settings.get("BACKUP_DIR")).expanduser()
    keep = settings.current().warehouse
    written, retention, problem = None, None, ""
    with open_warehouse(context.resources.warehouse) as con:
        try:
            # Suppressions a run added (or older than the keeper) join it before the copy.
            forgotten.remember_suppressions(con, forgotten.keeper_path(warehouse_path))
            written = backup.take(con, warehouse_path, folder)
        except (backup.BackupError, forgotten.KeeperError) as exc:
            problem = str(exc)
    if written is not None:
        try:
            retention = backup.prune(folder, keep.BACKUP_KEEP_DAILY, keep.BACKUP_KEEP_WEEKLY)
        except OSError as exc:
            problem = (
                f"The backup {written.path.name} was written, but older backups in "
                f"BACKUP_DIR={folder} could not be pruned ({exc.strerror}); check that "
                "folder's permissions, or it will fill its disk."
            )
    metadata = {
        "backup": written.path.name if written else "",
        "bytes": written.bytes if written else 0,
        "seconds": round(written.seconds, 2) if written else 0.0,
        "backups_kept": len(retention.kept) if retention else len(backup.backups(folder)),
        "backups_deleted": len(retention.deleted) if retention else 0,
        "kept_daily": retention.daily if retention else 0,
        "kept_weekly": retention.weekly if retention else 0,
    }
    if written is not None:
        context.log.info(
            f"Warehouse backup {written.path.name}: {written.bytes:,} bytes in "
            f"{written.seconds:.1f} s to {folder}; {metadata['backups_kept']} kept, "
            f"{metadata['backups_deleted']} older deleted"
        )
    if problem:
        context.log.error(problem)
    yield dg.Output(None, "result", metadata=metadata)
    yield dg.AssetCheckResult(
        asset_key=KEY,
        check_name=CHECK,
        passed=not problem,
        severity=dg.AssetCheckSeverity.ERROR,
        description=problem or None,
        metadata={**metadata, "backup_dir": str(folder)},
    )


def _build() -> dg.AssetsDefinition:
    upstream = terminal_assets()
    ins = {
        key.to_python_identifier(): dg.AssetIn(key=key, dagster_type=dg.Nothing) for key in upstream
    }

    @dg.graph_asset(
        name=KEY.path[-1],
        ins=ins,
        group_name="operations",
        kinds={"duckdb"},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK,
                asset=KEY,
                description="The run's warehouse backup was written to BACKUP_DIR (with its "
                "SHA-256) and the retention applied; failing means no new backup.",
            )
        ],
        description="A consistent copy of the warehouse in BACKUP_DIR after every "
        "successful run (written whole under a hidden name, then renamed, with a .sha256 "
        "beside it), keeping the newest of each of BACKUP_KEEP_DAILY days and "
        "BACKUP_KEEP_WEEKLY weeks. `make restore FROM=...` brings one back.",
    )
    def warehouse_backup(**finished):
        # Fan-in: a push that sends nothing (no key, a dry run) yields no output, and a
        # fan-in input is skipped only when every upstream is, so the backup still runs;
        # an upstream that failed stops it, so only successful runs are backed up.
        result, written = back_up_warehouse(ready=list(finished.values()))
        return {"result": result, CHECK_OUTPUT: written}

    return warehouse_backup


warehouse_backup = _build()
