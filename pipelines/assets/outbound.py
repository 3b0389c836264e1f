"""Outbound assets: the sync plan, the pushes to each platform that takes them, and the
activation lists organisers download."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from connectors.errors import PlatformError
from connectors.platform import Platform
from connectors.push import PushReport
from connectors.registry import PLATFORMS
from pipelines.assets.engagement import _ladder_or_fail
from pipelines.assets.sources import SOURCE_ASSETS
from pipelines.checks import run_started_at
from pipelines.resources import GroundswellSettings, PlatformResource, open_warehouse
from transforms.data_checks import harm_problems
from transforms.exports import ExportsFolderError, write_list_exports
from transforms.ladder_config import LadderConfigError
from transforms.sync_plan import (
    COUNTS,
    PLATFORM_NAMES,
    build_plan,
    check_merge_field,
    check_namespace,
    latest_plan_status,
    pending_operations,
    save_plan,
)
from warehouse.ledger import forget_settled_intents, unsettled_intents
from warehouse.load import append, utcnow


class SyncPlanConfig(dg.Config):
    """Run configuration of the sync plan (Launchpad, or `make run DRY_RUN=1`)."""

    dry_run: bool = False  # plan and report, send nothing
    confirm_large_changes: bool = False  # send a plan the guard rails stopped, this once


GUARD_RAILS = "within_guard_rails"
PUSHING = [p for p in PLATFORMS if p.push is not None]
INTENT_HISTORY_DAYS = 30  # settled intents kept this long, for inspection


@dg.asset(
    group_name="outbound",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[
        "segment_members",
        "ladder",
        "person_metrics",
        "person_sources",
        *SOURCE_ASSETS,  # what each platform holds now: its tags, fields and members
    ],
    check_specs=[
        dg.AssetCheckSpec(
            GUARD_RAILS,
            asset="sync_plan",
            blocking=True,
            description="The plan removes no more than sync.max_remove_share of any segment "
            "and touches no more than sync.max_people people, or was confirmed with "
            "confirm_large_changes. A failure stops the push.",
        )
    ],
    description="What each destination should change: desired tags and fields from the "
    "ladder and lists minus the ledger of confirmed pushes. A dry run stops here.",
    required_resource_keys={"warehouse", "groundswell", "checks", *(p.name for p in PUSHING)},
)
def sync_plan(context: dg.AssetExecutionContext, config: SyncPlanConfig) -> dg.MaterializeResult:
    ladder = _ladder_or_fail(context.resources.groundswell)
    now = utcnow()
    try:
        with open_warehouse(context.resources.warehouse) as con:
            # Writes an interrupted run left unsettled are checked on the platforms first,
            # so the plan neither repeats confirmed work nor drops lost work.
            reconcile(context, con)
            check_namespace(con, ladder)
            check_merge_field(con, ladder)
            plan = build_plan(con, ladder, context.run.run_id, now)
            # The data checks that mean harm stop the push like the guard rails do.
            plan.violations += harm_problems(
                con, run_started_at(context), context.resources.checks.limits()
            )
            stopped = bool(plan.violations) and not config.confirm_large_changes
            status = "stopped" if stopped else "dry_run" if config.dry_run else "planned"
            save_plan(con, plan, status, now, "; ".join(plan.violations))
    except LadderConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    for destination, counts in plan.counts.items():
        context.log.info(
            f"{PLATFORM_NAMES[destination]}: " + ", ".join(f"{n:,} {k}" for k, n in counts.items())
        )
    for problem in plan.violations:
        context.log.warning(f"Guard rail: {problem}")
    if stopped:
        context.log.error(
            "The plan was stopped before sending. If these changes are intended, run again "
            "with the run config  ops: {sync_plan: {config: {confirm_large_changes: true}}}  "
            "(make run CONFIRM=1)."
        )
    elif config.dry_run:
        context.log.info("Dry run: the plan is in the sync_plan table; nothing will be sent.")
    totals = {k: sum(c[k] for c in plan.counts.values()) for k in COUNTS}
    return dg.MaterializeResult(
        metadata={
            "status": status,
            "dry_run": config.dry_run,
            **totals,
            "people": plan.people,
            "operations": plan.operations,
            "guard_rail_problems": len(plan.violations),
            "per_destination": dg.MetadataValue.md(_counts_table(plan.counts)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=GUARD_RAILS,
                passed=not stopped,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(
                    f"The push was stopped before sending: {len(plan.violations)} "
                    "problem(s), listed in details. If the changes are intended, run again "
                    "with make run CONFIRM=1 (or the run config ops: {sync_plan: {config: "
                    "{confirm_large_changes: true}}})."
                    if stopped
                    else None
                ),
                metadata={
                    "problems": len(plan.violations),
                    "confirmed": bool(plan.violations) and config.confirm_large_changes,
                    "details": dg.MetadataValue.md(
                        "\n".join(f"- {p}" for p in plan.violations) or "none"
                    ),
                },
            )
        ],
    )


def reconcile(context: dg.AssetExecutionContext, con) -> None:
    """Settle the writes earlier runs left unsettled, on every configured platform (reads
    only). A platform that is not configured, or cannot be read now, keeps them held back
    from the plan's sending until a later run can check them."""
    run_id = context.run.run_id
    forget_settled_intents(con, utcnow() - timedelta(days=INTENT_HISTORY_DAYS))
    for declared in PUSHING:
        platform: PlatformResource = getattr(context.resources, declared.name)
        if not platform.configured:
            continue
        try:
            declared.push.settle(con, platform.client(), run_id, context.log.info)
        except PlatformError as exc:
            context.log.warning(
                f"{declared.title}: the writes an earlier run left unconfirmed could not be "
                f"checked now ({exc}); they are held back, neither sent again nor dropped, "
                "until a later run can read them"
            )


def _counts_table(counts: dict[str, dict[str, int]]) -> str:
    """The plan's counts as a markdown table, one row per destination."""
    head = "| destination | " + " | ".join(COUNTS) + " |"
    rule = "|---" * (len(COUNTS) + 1) + "|"
    rows = [
        f"| {PLATFORM_NAMES[d]} | " + " | ".join(f"{c[k]:,}" for k in COUNTS) + " |"
        for d, c in counts.items()
    ]
    return "\n".join([head, rule, *rows])


def _plan_ready(context: dg.AssetExecutionContext, con, platform: str) -> str | None:
    """What of the current plan may be sent: `all`, `opt_outs` or None; says why when not
    all of it. The guard rails' blocking check skips the pushes of a stopped plan in its
    own run; a push materialised on its own later still carries that plan's opt-outs,
    which count toward no guard rail, and nothing else."""
    latest = latest_plan_status(con)
    if latest is None:
        context.log.info(f"{platform}: no sync plan yet; materialise sync_plan first.")
        return None
    if latest[1] == "dry_run":
        context.log.info(f"{platform}: dry run, nothing sent (the plan is in sync_plan).")
        return None
    if latest[1] == "stopped":
        context.log.warning(
            f"{platform}: the plan was stopped by the guard rails; only opt-outs are sent."
        )
        return "opt_outs"
    return "all"


def _finish(
    context: dg.AssetExecutionContext, con, report: PushReport, platform: str
) -> dg.MaterializeResult:
    """Record the push in sync_runs and say clearly how it went."""
    finished = utcnow()
    row = {
        "run_id": context.run.run_id,
        "destination": report.destination,
        "step": "push",
        "status": report.status,
        "started_at": finished - timedelta(seconds=report.seconds),
        "finished_at": finished,
        "seconds": report.seconds,
        "adds": report.by_op.get("add", 0),
        "removes": report.by_op.get("remove", 0),
        "sets": report.by_op.get("set", 0),
        "creates": report.by_op.get("create", 0),
        "drift_repaired": report.drift_repaired,
        "opt_outs_propagated": report.by_op.get("unsubscribe", 0),
        "requests": report.requests,
        "confirmed": report.confirmed,
        "rejected": report.rejected,
        "message": ", ".join(
            [f"{t} x{n}" for t, n in report.rejection_titles.items()]
            + ([f"unconfirmed x{report.unconfirmed}"] if report.unconfirmed else [])
        ),
    }
    append(con, "sync_runs", pd.DataFrame([row]), or_replace=True)
    context.log.info(
        f"{platform}: {report.confirmed:,} of {report.operations:,} operations confirmed in "
        f"{report.requests:,} write requests, {report.seconds:.1f} s ("
        f"{report.drift_repaired:,} drift repaired, "
        f"{report.by_op.get('unsubscribe', 0):,} opt-outs propagated)"
    )
    if report.rejected:
        context.log.warning(
            f"{platform}: partial success, {report.rejected:,} operations refused: "
            + ", ".join(f"{t} x{n}" for t, n in report.rejection_titles.items())
            + " (each kept in sync_rejections with the platform's reason; not retried for "
            "sync.retry_rejected_after_days)"
        )
    if report.unconfirmed:
        context.log.warning(
            f"{platform}: {report.unconfirmed:,} operations are not settled yet (an answer "
            "lost, or a batch unfinished or unreadable); they are held back, never sent "
            f"twice, and the next run checks them on {platform}"
        )
    return dg.MaterializeResult(metadata=report.metadata())


def _push(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    destination: str,
    send: Callable[[object, pd.DataFrame], PushReport],
    settle: Callable[[object], PushReport],
) -> dg.MaterializeResult | None:
    """Send the plan's pending operations for one destination; None when there is no plan
    to send (none yet, a dry run, or stopped by the guard rails with no opt-outs to carry:
    a stopped plan sends only those). Writes left unsettled
    (by an earlier run, or by lost answers in this one) are settled from the platform's
    state first and last."""
    platform = PLATFORM_NAMES[destination]
    with open_warehouse(warehouse) as con:
        settle(con)
        ready = _plan_ready(context, con, platform)
        if ready is None:
            return None
        ops = pending_operations(con, destination)
        if ready == "opt_outs":
            ops = ops[ops["op"] == "unsubscribe"]
            if ops.empty:
                return None
        report = send(con, ops)
        if report.unconfirmed:
            settled = settle(con)
            report.confirmed += settled.confirmed
            for op, n in settled.by_op.items():
                report.by_op[op] = report.by_op.get(op, 0) + n
            report.unconfirmed = len(unsettled_intents(con, destination))
        result = _finish(context, con, report, platform)
    return result


def _push_asset(declared: Platform) -> dg.AssetsDefinition:
    """The push of one platform that declares one: only what changed since its last
    confirmed push; nothing when it has no key."""
    push = declared.push
    assert push is not None

    @dg.asset(
        name=f"{declared.name}_sync",
        group_name="outbound",
        kinds={"python", declared.name.replace("_", "")},
        pool="warehouse",
        deps=[sync_plan],
        output_required=False,
        description=push.description,
        required_resource_keys={"warehouse", "groundswell", declared.name},
    )
    def _asset(context: dg.AssetExecutionContext):
        platform: PlatformResource = getattr(context.resources, declared.name)
        if not platform.configured:
            context.log.info(f"{declared.title}: {declared.secret} is not set; nothing is pushed.")
            return
        ladder = _ladder_or_fail(context.resources.groundswell)
        client = platform.client()
        run_id = context.run.run_id

        def send(con, ops: pd.DataFrame) -> PushReport:
            return push.send(con, client, ops, ladder.sync, run_id, context.log.info)

        def settle(con) -> PushReport:
            return push.settle(con, client, run_id, context.log.info)

        result = _push(context, context.resources.warehouse, declared.name, send, settle)
        if result is not None:
            yield result

    return _asset


PUSH_ASSETS = [_push_asset(declared) for declared in PUSHING]


@dg.asset(
    group_name="outbound",
    kinds={"csv", "excel"},
    pool="warehouse",
    deps=["segment_members"],
    description="For every activation list, a CSV and an XLSX per group in EXPORTS_DIR, with "
    "an index.html; only the list's columns and people its channel may reach.",
)
def activation_exports(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    config = _ladder_or_fail(groundswell)
    try:
        with open_warehouse(warehouse) as con:
            report = write_list_exports(con, config, Path(groundswell.exports_dir), utcnow())
    except (LadderConfigError, ExportsFolderError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    rows = report.rows_per_list()
    groups = report.groups_per_list()
    for name, n in rows.items():
        context.log.info(f"List {name}: {n} rows in {groups[name]} group(s)")
    # Counts and file names only: never a person's data.
    return dg.MaterializeResult(
        metadata={
            **{f"rows_{name}": n for name, n in rows.items()},
            **{f"groups_{name}": n for name, n in groups.items()},
            "files_written": len(report.paths()) + 1,
            "folder": dg.MetadataValue.path(str(report.folder)),
            "index": dg.MetadataValue.path(str(report.folder / "index.html")),
            "files": dg.MetadataValue.json(report.paths()),
        }
    )
