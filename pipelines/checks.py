"""Asset checks: the invariants downstream steps and other tools rely on, and the data
checks that stop harm (issue 16): people lost, merged or moved rung in one run."""

from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from connectors.platform import Platform
from connectors.registry import PLATFORMS
from pipelines.resources import DataCheckSettings, open_warehouse
from transforms.data_checks import (
    HARM_CHECKS,
    Harm,
    HarmCheck,
    harm_measures,
    harm_problem,
    harm_value,
)
from transforms.segment_keys import TIER_LIKE


def run_started_at(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> datetime:
    """When this run started, in UTC without a zone (as the warehouse keeps time)."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    stamp = (record.start_time or record.create_timestamp.timestamp()) if record else None
    moment = datetime.fromtimestamp(stamp, UTC) if stamp else datetime.now(UTC)
    return moment.replace(tzinfo=None)


def _count(warehouse: DuckDBResource, sql: str) -> int:
    with open_warehouse(warehouse) as con:
        row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


@dg.asset_check(asset="people", description="Every person_source points at an existing person.")
def person_sources_resolve(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    orphans = _count(
        warehouse,
        "SELECT count(*) FROM person_sources ps ANTI JOIN people p USING (person_id)",
    )
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"orphaned_records": orphans})


@dg.asset_check(asset="ladder", description="Everyone in people is on exactly one rung.")
def everyone_on_the_ladder(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    missing = _count(warehouse, "SELECT count(*) FROM people ANTI JOIN ladder USING (person_id)")
    return dg.AssetCheckResult(
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"people_off_the_ladder": missing},
    )


def _one_tier_tag_per_member(declared: Platform) -> dg.AssetChecksDefinition:
    """On a platform's push: no contact carries two tier tags in the ledger."""

    @dg.asset_check(
        asset=f"{declared.name}_sync",
        name="one_tier_tag_per_member",
        description="No member carries two tier tags in the ledger.",
        required_resource_keys={"warehouse"},
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        doubled = _count(
            context.resources.warehouse,
            "SELECT count(*) FROM (SELECT member_key FROM sync_ledger "
            f"WHERE destination = '{declared.name}' AND kind = 'tag' AND state = 'active' "
            f"AND segment LIKE '{TIER_LIKE}' GROUP BY member_key HAVING count(*) > 1)",
        )
        return dg.AssetCheckResult(
            passed=doubled == 0, metadata={"members_with_two_tiers": doubled}
        )

    return _check


@dg.asset_check(
    asset="identity_review",
    description="Every line of the review decisions file was applied (an id that no longer "
    "exists, or a decision other than accept or reject, is listed in identity_decisions).",
)
def review_decisions_apply(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    not_applied = _count(
        warehouse, "SELECT count(*) FROM identity_decisions WHERE status <> 'applied'"
    )
    return dg.AssetCheckResult(
        passed=not_applied == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"decisions_not_applied": not_applied},
    )


@dg.multi_asset_check(
    name="sudden_changes",
    specs=[
        dg.AssetCheckSpec(check.name, asset=check.asset, description=check.description)
        for check in HARM_CHECKS
    ],
    can_subset=True,
    description="The sudden changes that mean bad input, measured once against the last run: "
    "people lost, people merged, people moved rung. The sync plan stops on the same measures.",
    required_resource_keys={"warehouse", "checks"},
)
def sudden_changes(context: dg.AssetCheckExecutionContext):
    limits: DataCheckSettings = context.resources.checks
    with open_warehouse(context.resources.warehouse) as con:
        harm = harm_measures(con, run_started_at(context))
    for check in HARM_CHECKS:
        if dg.AssetCheckKey(dg.AssetKey(check.asset), check.name) not in (
            context.selected_asset_check_keys
        ):
            continue
        yield _harm_result(context, harm, check, limits)


def _harm_result(
    context: dg.AssetCheckExecutionContext,
    harm: Harm,
    check: HarmCheck,
    limits: DataCheckSettings,
) -> dg.AssetCheckResult:
    problem = harm_problem(harm, check, limits.limits())
    share, count = harm_value(harm, check)
    if problem:
        context.log.warning(problem)
    return dg.AssetCheckResult(
        asset_key=check.asset,
        check_name=check.name,
        passed=problem is None,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{problem} The pushes wait: confirm with make run CONFIRM=1 if it is right."
            if problem
            else None
        ),
        metadata={
            "count": count,
            "share": round(share, 4),
            "limit": limits.limits()[check.setting],
            "people_at_last_run": harm.people_before,
        },
    )


CHECKS = [
    person_sources_resolve,
    review_decisions_apply,
    everyone_on_the_ladder,
    *(_one_tier_tag_per_member(p) for p in PLATFORMS if p.push is not None),
    sudden_changes,
]
