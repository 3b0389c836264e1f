"""Identity assets: typed staging, then one person per human."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.assets.sources import (
    action_network_actions,
    action_network_people,
    action_network_tags,
    form_exports,
    mailchimp_members,
)
from pipelines.resources import GroundswellSettings, open_warehouse
from transforms.identity import resolve
from transforms.normalise import build_staging
from warehouse.load import utcnow


@dg.asset(
    group_name="identity",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[
        action_network_people,
        action_network_actions,
        action_network_tags,
        mailchimp_members,
        form_exports,
    ],
    description="The latest version of every source record, typed and normalised.",
)
def stg_source_records(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    with open_warehouse(warehouse) as con:
        counts = build_staging(con, groundswell.default_phone_region)
    context.log.info(f"Staged {sum(counts.values())} source records")
    return dg.MaterializeResult(
        metadata={"records": sum(counts.values()), **{f"records_{k}": v for k, v in counts.items()}}
    )


@dg.multi_asset(
    group_name="identity",
    pool="warehouse",
    specs=[
        dg.AssetSpec(
            "person_sources",
            deps=[stg_source_records],
            kinds={"duckdb", "sql"},
            description="Which person each source record belongs to, and why.",
        ),
        dg.AssetSpec(
            "people",
            deps=[stg_source_records],
            kinds={"duckdb", "sql"},
            description="One golden record per human, with consent rolled up.",
        ),
    ],
)
def identity(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
    with open_warehouse(warehouse) as con:
        counts = resolve(con, utcnow())
    context.log.info(
        f"Resolved {counts['source_records']} records into {counts['people']} people "
        f"({counts['new_person_ids']} new ids, {counts['merges_recorded']} merges recorded)"
    )
    yield dg.MaterializeResult(
        asset_key="person_sources",
        metadata={"records": counts["source_records"], "links": counts["links"]},
    )
    yield dg.MaterializeResult(
        asset_key="people",
        metadata={
            "people": counts["people"],
            "new_person_ids": counts["new_person_ids"],
            "merges_recorded": counts["merges_recorded"],
        },
    )
