"""Identity assets: typed staging, then one person per human."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.assets.sources import SOURCE_ASSETS
from pipelines.resources import GroundswellSettings, open_warehouse
from transforms.identity import resolve
from transforms.identity_review_files import read_decisions, write_review_file
from transforms.identity_scoring import IdentityScoringError
from transforms.normalise import build_staging
from warehouse.load import utcnow


@dg.asset(
    group_name="identity",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=SOURCE_ASSETS,
    description="The latest version of every source record, typed and normalised.",
)
def stg_source_records(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    try:
        placeholders = groundswell.identity().placeholders
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    with open_warehouse(warehouse) as con:
        staged = build_staging(con, groundswell.default_phone_region, placeholders)
    counts = {k: v for k, v in staged.items() if not k.startswith("dropped_forgotten_")}
    dropped = {
        k.removeprefix("dropped_forgotten_"): v for k, v in staged.items() if k not in counts
    }
    context.log.info(f"Staged {sum(counts.values())} source records")
    if dropped:
        context.log.info(
            f"Dropped {sum(dropped.values())} re-landed record(s) of forgotten people ("
            + ", ".join(f"{source} {n}" for source, n in sorted(dropped.items()))
            + ")"
        )
    return dg.MaterializeResult(
        metadata={
            "records": sum(counts.values()),
            **{f"records_{k}": v for k, v in counts.items()},
            "dropped_forgotten": sum(dropped.values()),
        }
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
        dg.AssetSpec(
            "identity_review",
            deps=[stg_source_records],
            kinds={"duckdb", "csv"},
            description="Pairs the model was unsure of, waiting for a person's decision; "
            "written side by side to the review file (see docs/identity.md).",
        ),
    ],
)
def identity(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
):
    try:
        config = groundswell.identity()
        decisions = read_decisions(config.decisions_file)
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    with open_warehouse(warehouse) as con:
        try:
            counts = resolve(con, utcnow(), config, decisions, context.log.info)
        except IdentityScoringError as exc:  # Spark asked for where it cannot start
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        review_rows = write_review_file(con, config.review_file)
    context.log.info(
        f"Resolved {counts['source_records']} records into {counts['people']} people "
        f"({counts['new_person_ids']} new ids, {counts['merges_recorded']} merges recorded; "
        f"probabilistic: {counts['probabilistic']})"
    )
    for problem in ("decisions_unknown_record", "decisions_invalid"):
        if counts[problem]:
            context.log.warning(
                f"{config.decisions_file}: {counts[problem]} decision(s) not applied "
                f"({problem.removeprefix('decisions_').replace('_', ' ')}); see the "
                "identity_decisions table for their line numbers"
            )
    yield dg.MaterializeResult(
        asset_key="person_sources",
        metadata={
            "records": counts["source_records"],
            "empty_records": counts["empty_records"],
            "links": counts["links"],
            "links_probabilistic": counts["links_probabilistic"],
            "probabilistic": counts["probabilistic"],
            "rows_written": counts["source_links_written"],
        },
    )
    yield dg.MaterializeResult(
        asset_key="people",
        metadata={
            "people": counts["people"],
            "rows_written": counts["people_written"],
            "new_person_ids": counts["new_person_ids"],
            "merges_recorded": counts["merges_recorded"],
            "conflicts_split": counts["conflicts_split"],
            "conflicts_kept": counts["conflicts_kept"],
        },
    )
    yield dg.MaterializeResult(
        asset_key="identity_review",
        metadata={
            "pending": counts["review_pending"],
            "review_file_rows": review_rows,
            "decisions_applied": counts["decisions_applied"],
            "decisions_unknown_record": counts["decisions_unknown_record"],
            "decisions_invalid": counts["decisions_invalid"],
        },
    )
