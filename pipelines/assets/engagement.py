"""Engagement assets: activities, per-person metrics, the ladder and the segments."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.resources import GroundswellSettings, open_warehouse
from transforms.engagement import build_activities, build_person_metrics
from transforms.ladder import build_ladder, build_segments
from transforms.ladder_config import LadderConfigError
from warehouse.load import utcnow


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=["people", "person_sources"],
    description="One row per thing a person did, from every source.",
)
def activities(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with open_warehouse(warehouse) as con:
        counts = build_activities(con)
    return dg.MaterializeResult(
        metadata={"activities": sum(counts.values()), **{f"type_{k}": v for k, v in counts.items()}}
    )


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[activities],
    description="Per person: actions by window, recency, reachability and tags.",
)
def person_metrics(warehouse: DuckDBResource) -> dg.MaterializeResult:
    with open_warehouse(warehouse) as con:
        rows = build_person_metrics(con, utcnow())
    return dg.MaterializeResult(metadata={"people": rows})


def _ladder_or_fail(groundswell: GroundswellSettings):
    try:
        return groundswell.ladder()
    except LadderConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[person_metrics],
    description="Each person on the highest rung of ladder.yaml whose rule they meet.",
)
def ladder(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    config = _ladder_or_fail(groundswell)
    try:
        with open_warehouse(warehouse) as con:
            counts = build_ladder(con, config, utcnow())
    except LadderConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info("People per rung: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return dg.MaterializeResult(
        metadata={"people": sum(counts.values()), **{f"rung_{k}": v for k, v in counts.items()}}
    )


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[ladder],
    description="Every tier and activation list with the reason each person is on it.",
)
def segment_members(
    warehouse: DuckDBResource, groundswell: GroundswellSettings
) -> dg.MaterializeResult:
    config = _ladder_or_fail(groundswell)
    with open_warehouse(warehouse) as con:
        counts = build_segments(con, config, utcnow())
    return dg.MaterializeResult(metadata={k.replace(":", "_"): v for k, v in counts.items()})
