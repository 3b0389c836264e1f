"""Outbound assets: the sync plan, the pushes to Mailchimp and Action Network, and the
activation lists organisers download."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from connectors.errors import PlatformError
from pipelines.assets.engagement import _ladder_or_fail
from pipelines.push import PushReport
from pipelines.push.action_network import push_action_network
from pipelines.push.mailchimp import push_mailchimp
from pipelines.push.reconcile import reconcile_action_network, reconcile_mailchimp
from pipelines.resources import (
    ActionNetworkResource,
    GroundswellSettings,
    MailchimpResource,
    open_warehouse,
)
from transforms.exports import ExportsFolderError, write_list_exports
from transforms.ladder_config import LadderConfigError
from transforms.outbound import forget_settled_intents, unsettled_intents
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
from warehouse.load import append, utcnow


class SyncPlanConfig(dg.Config):
    """Run configuration of the sync plan (Launchpad, or `make run DRY_RUN=1`)."""

    dry_run: bool = False  # plan and report, send nothing
    confirm_large_changes: bool = False  # send a plan the guard rails stopped, this once


GUARD_RAILS = "within_guard_rails"
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
        "action_network_tags",
        "mailchimp_audience",
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
)
def sync_plan(
    context: dg.AssetExecutionContext,
    config: SyncPlanConfig,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
    mailchimp: MailchimpResource,
    action_network: ActionNetworkResource,
) -> dg.MaterializeResult:
    ladder = _ladder_or_fail(groundswell)
    now = utcnow()
    try:
        with open_warehouse(warehouse) as con:
            # Writes an interrupted run left unsettled are checked on the platforms first,
            # so the plan neither repeats confirmed work nor drops lost work.
            reconcile(context, con, mailchimp, action_network)
            check_namespace(con, ladder)
            check_merge_field(con, ladder)
            plan = build_plan(con, ladder, context.run.run_id, now)
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


def reconcile(
    context: dg.AssetExecutionContext,
    con,
    mailchimp: MailchimpResource,
    action_network: ActionNetworkResource,
) -> None:
    """Settle the writes earlier runs left unsettled, on every configured platform (reads
    only). A platform that is not configured, or cannot be read now, keeps them held back
    from the plan's sending until a later run can check them."""
    run_id = context.run.run_id
    forget_settled_intents(con, utcnow() - timedelta(days=INTENT_HISTORY_DAYS))
    steps = []
    if mailchimp.configured:
        steps.append(
            (
                "mailchimp",
                lambda: reconcile_mailchimp(con, mailchimp.client(), run_id, context.log.info),
            )
        )
    if action_network.configured:
        steps.append(
            (
                "action_network",
                lambda: reconcile_action_network(
                    con, action_network.client(), run_id, context.log.info
                ),
            )
        )
    for destination, step in steps:
        try:
            step()
        except PlatformError as exc:
            context.log.warning(
                f"{PLATFORM_NAMES[destination]}: the writes an earlier run left unconfirmed "
                f"could not be checked now ({exc}); they are held back, neither sent again "
                "nor dropped, until a later run can read them"
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


@dg.asset(
    group_name="outbound",
    kinds={"python", "mailchimp"},
    pool="warehouse",
    deps=[sync_plan],
    output_required=False,
    description="Sends the plan's Mailchimp changes (namespaced tags, the tier merge field, "
    "new members where configured); only what changed since the last confirmed push.",
)
def mailchimp_sync(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    mailchimp: MailchimpResource,
    groundswell: GroundswellSettings,
):
    if not mailchimp.configured:
        context.log.info("Mailchimp: MAILCHIMP_API_KEY is not set, so nothing is pushed.")
        return
    ladder = _ladder_or_fail(groundswell)
    client = mailchimp.client()

    def send(con, ops: pd.DataFrame) -> PushReport:
        return push_mailchimp(
            con, client, ops, ladder.sync.mailchimp, context.run.run_id, context.log.info
        )

    def settle(con) -> PushReport:
        return reconcile_mailchimp(con, client, context.run.run_id, context.log.info)

    result = _push(context, warehouse, "mailchimp", send, settle)
    if result is not None:
        yield result


@dg.asset(
    group_name="outbound",
    kinds={"python", "actionnetwork"},
    pool="warehouse",
    deps=[sync_plan],
    output_required=False,
    description="Sends the plan's Action Network changes (namespaced tags, created when "
    "missing; the referral code field); only what changed since the last confirmed push.",
)
def action_network_sync(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    action_network: ActionNetworkResource,
):
    if not action_network.configured:
        context.log.info("Action Network: ACTION_NETWORK_API_KEY is not set; nothing is pushed.")
        return
    client = action_network.client()

    def send(con, ops: pd.DataFrame) -> PushReport:
        return push_action_network(con, client, ops, context.run.run_id, context.log.info)

    def settle(con) -> PushReport:
        return reconcile_action_network(con, client, context.run.run_id, context.log.info)

    result = _push(context, warehouse, "action_network", send, settle)
    if result is not None:
        yield result


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
