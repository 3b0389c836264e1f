"""Asset checks: the invariants downstream steps and other tools rely on."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from connectors.platform import Platform
from connectors.registry import PLATFORMS
from pipelines.resources import open_warehouse
from transforms.segment_keys import TIER_LIKE


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


CHECKS = [
    person_sources_resolve,
    review_decisions_apply,
    everyone_on_the_ladder,
    *(_one_tier_tag_per_member(p) for p in PLATFORMS if p.push is not None),
]
