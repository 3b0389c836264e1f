"""The sources' freshness: at the start of every run, how long since each configured
source last landed successfully. A source that fails run after run (a revoked key, a
platform down) fails its check once CHECK_FRESHNESS_HOURS have passed, even though its own
step never gets as far as its checks."""

import dagster as dg

from connectors.registry import PLATFORMS
from pipelines.resources import DataCheckSettings, PlatformResource, open_warehouse
from transforms.data_checks import last_landings
from warehouse.load import utcnow

SOURCES = [(declared, source.asset) for declared in PLATFORMS for source in declared.sources]


def check_name(asset: str) -> str:
    """The freshness check of one source asset."""
    return f"{asset}_landed_recently"


@dg.asset(
    group_name="operations",
    kinds={"duckdb"},
    pool="warehouse",
    check_specs=[
        dg.AssetCheckSpec(
            check_name(asset),
            asset="source_freshness",
            description=f"{asset} landed successfully within the last CHECK_FRESHNESS_HOURS "
            "(skipped while its platform has no key).",
        )
        for _, asset in SOURCES
    ],
    description="Hours since each source last landed successfully, read when the run "
    "starts, before any source is read again.",
    required_resource_keys={"warehouse", "checks", *(p.name for p in PLATFORMS)},
)
def source_freshness(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    limits: DataCheckSettings = context.resources.checks
    with open_warehouse(context.resources.warehouse) as con:
        landed = last_landings(con)
    now = utcnow()
    hours: dict[str, float] = {}
    results = []
    for declared, asset in SOURCES:
        platform: PlatformResource = getattr(context.resources, declared.name)
        last = landed.get(asset)
        age = (now - last).total_seconds() / 3600 if last else None
        if age is not None:
            hours[asset] = round(age, 1)
        stale = platform.configured and age is not None and age > limits.freshness_hours
        if stale:
            context.log.warning(
                f"{asset} has not landed successfully for {age:.0f} hours (the limit is "
                f"{limits.freshness_hours:g}, CHECK_FRESHNESS_HOURS)."
            )
        results.append(
            dg.AssetCheckResult(
                check_name=check_name(asset),
                passed=not stale,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(
                    f"{asset} has not landed successfully for {age:.0f} hours (the limit is "
                    f"{limits.freshness_hours:g} hours, CHECK_FRESHNESS_HOURS). Look at the "
                    f"{declared.title} step of the last runs: its failure says what to fix "
                    f"({declared.named_in_failures})."
                    if stale
                    else None
                ),
                metadata={
                    "hours_since_landing": round(age, 1) if age is not None else -1,
                    "configured": platform.configured,
                },
            )
        )
    return dg.MaterializeResult(
        metadata={
            "sources_stale": sum(not r.passed for r in results),
            **{f"hours_{asset}": value for asset, value in hours.items()},
        },
        check_results=results,
    )
