"""The organiser portal's snapshot: at the end of each run, after the exports, a read-only
copy of what the portal shows, swapped in whole (warehouse/snapshot.py)."""

from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines import settings
from pipelines.assets.engagement import ladder_and_warehouse
from pipelines.resources import GroundswellSettings
from transforms import steps
from transforms.ladder_config import Ladder
from transforms.portal_lists import build_portal_lists
from warehouse.load import utcnow
from warehouse.snapshot import publish


def snapshot_path() -> Path:
    """Where the portal's snapshot is published (PORTAL_SNAPSHOT)."""
    return Path(settings.get("PORTAL_SNAPSHOT")).expanduser()


def publish_portal(con, ladder: Ladder, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Stage the portal's lists and publish the snapshot to PORTAL_SNAPSHOT: (rows per
    list over all teams, rows per snapshot table and `bytes`). Also for `make forget`, so an
    erased person leaves the portal at once rather than at the next run."""
    list_rows = build_portal_lists(con, ladder, now)
    steps.require(con, "portal_snapshot")
    return list_rows, publish(con, snapshot_path(), now)


@dg.asset(
    group_name="outbound",
    kinds={"duckdb"},
    pool="warehouse",
    deps=["activation_exports", "segment_members", "ladder_movement", "teams", "ask_conversion"],
    description="The organiser portal's read-only copy (PORTAL_SNAPSHOT): each team's "
    "people, ladder, movement and lists, and each list's download rows per team, written "
    "beside the old copy and swapped in at once, so the portal never waits for a run.",
)
def portal_snapshot(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    with ladder_and_warehouse(warehouse, groundswell) as (config, con):
        list_rows, counts = publish_portal(con, config, utcnow())
    context.log.info(
        f"Portal snapshot: {counts['teams']} team(s), {counts['people']:,} people, "
        f"{counts['list_rows']:,} list rows, {counts['bytes']:,} bytes"
    )
    # Counts and bytes only: never a person's data.
    return dg.MaterializeResult(
        metadata={
            **{f"rows_{name}": n for name, n in counts.items() if name != "bytes"},
            "bytes": counts["bytes"],
            "list_rows_all_teams": sum(list_rows.values()),
        }
    )
