"""Which asks work: each run measures, per list and team, how many who entered a list did
what it asks, against people of the same rung who were not on it (transforms/ask_conversion.py)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.assets.engagement import ladder_and_warehouse
from pipelines.resources import GroundswellSettings
from transforms.ask_conversion import build_ask_conversion, conversion_rows
from warehouse.load import utcnow

# Rates and days as text ("25%", "4.5", "-" for none): a Dagster table cell has no null.
_TEXT = {"list_name", "team", "conversion_rate", "median_days_to_success", "baseline_rate"}


def _cell(name: str, value: object) -> object:
    if name not in _TEXT or name in ("list_name", "team"):
        return value
    if value is None:
        return "-"
    return f"{value:.0%}" if name.endswith("rate") else f"{value:.1f}"


def conversion_table(rows: list[dict]) -> dg.TableMetadataValue:
    """The organisation's conversion by list, as Dagster table metadata (counts only)."""
    columns = list(rows[0]) if rows else ["list_name"]
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, "string" if c in _TEXT else "int") for c in columns]
    )
    records = [dg.TableRecord({c: _cell(c, v) for c, v in r.items()}) for r in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=["segment_members", "activities"],
    description="Which asks work: per list and team, people who entered the list in the "
    "last 30 and 90 days, how many organisers reached, how many did what the list asks "
    "within its window, and the same rate for people of the same rung not on the list.",
)
def ask_conversion(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    with ladder_and_warehouse(warehouse, groundswell) as (config, con):
        counts = build_ask_conversion(con, config, utcnow())
        rows = conversion_rows(con, "90d")
        by_team = conversion_rows(con, "90d", by_team=True)
    context.log.info(
        f"Which asks work: {counts['entries']:,} list entries in 90 days, "
        f"{counts['controls']:,} people to compare them with, {len(rows)} list(s)"
    )
    return dg.MaterializeResult(
        metadata={
            **counts,
            "conversion_90d": conversion_table(rows),
            "conversion_90d_by_team": conversion_table(by_team),
        }
    )
