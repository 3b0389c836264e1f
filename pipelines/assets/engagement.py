"""Engagement assets: activities, per-person metrics, the ladder, the teams and the
segments."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipelines.assets.identity import stg_source_records
from pipelines.assets.sources import SOURCE_ASSETS
from pipelines.resources import GroundswellSettings, open_warehouse
from transforms.engagement import (
    DEFAULT_NAMESPACE,
    activity_stats,
    build_activities,
    build_person_metrics,
)
from transforms.ladder import MOVEMENT_COLUMNS, build_ladder, build_movement
from transforms.ladder_config import UNPLACED, Ladder, LadderConfigError
from transforms.segments import build_segments
from transforms.teams import build_teams
from transforms.teams_config import TeamsConfigError
from warehouse.load import utcnow


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=["people", "person_sources", stg_source_records, *SOURCE_ASSETS, "organiser_outcomes"],
    description="One row per thing a person did, from every source: signatures, RSVPs, "
    "attendance, hosting, form submissions, volunteer sign-ups, donations, outreaches, email "
    "opens, clicks and bounces, unsubscribes, platform tags and referrals.",
)
def activities(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    try:
        namespace = groundswell.ladder().namespace
    except LadderConfigError:
        namespace = DEFAULT_NAMESPACE  # the ladder step reports a broken config itself
    with open_warehouse(warehouse) as con:
        counts = build_activities(con, namespace)
        stats = activity_stats(con)
        people = con.execute("SELECT count(DISTINCT person_id) FROM activities").fetchone()[0]
    context.log.info("Activities per type: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return dg.MaterializeResult(
        metadata={
            "activities": sum(counts.values()),
            "people_with_activity": int(people),
            **{f"type_{k}": v for k, v in counts.items()},
            **stats,
        }
    )


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[activities],
    description="Per person: actions and each kind of activity by 30/90/180/365-day window, "
    "recency, donations, email engagement, recruits and second-degree reach, reachable "
    "channels, and the address canvass and mailing lists need (post and door).",
)
def person_metrics(warehouse: DuckDBResource) -> dg.MaterializeResult:
    with open_warehouse(warehouse) as con:
        rows = build_person_metrics(con, utcnow())
        summary = con.execute(
            """
            SELECT count(*) FILTER (WHERE actions_365d > 0),
                   count(*) FILTER (WHERE hosted_ever),
                   count(*) FILTER (WHERE recruits > 0),
                   count(*) FILTER (WHERE recruits_who_acted > 0),
                   count(*) FILTER (WHERE len(channels) > 0),
                   count(*) FILTER (WHERE post_reachable),
                   count(*) FILTER (WHERE door_reachable),
                   count(*) FILTER (WHERE post_reachable AND email IS NULL AND phone IS NULL)
            FROM person_metrics
            """
        ).fetchone()
    names = (
        "acted_365d",
        "hosted_ever",
        "recruiters",
        "recruiters_whose_recruits_acted",
        "reachable",
        "reachable_by_post",
        "reachable_at_door",
        "known_by_address_only",
    )
    return dg.MaterializeResult(
        metadata={"people": rows, **{k: int(v) for k, v in zip(names, summary, strict=True)}}
    )


def _ladder_or_fail(groundswell: GroundswellSettings):
    try:
        return groundswell.ladder()
    except LadderConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


@contextmanager
def ladder_and_warehouse(
    warehouse: DuckDBResource, groundswell: GroundswellSettings
) -> Iterator[tuple[Ladder, duckdb.DuckDBPyConnection]]:
    """ladder.yaml and the open warehouse. A broken ladder.yaml, found on reading it or by a
    rule failing on the data, fails the step once with its message: a retry cannot mend it."""
    try:
        config = groundswell.ladder()
        with open_warehouse(warehouse) as con:
            yield config, con
    except LadderConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[person_metrics],
    description="Each person on the highest rung of ladder.yaml whose rule they meet; each "
    "run's rungs are appended to ladder_history.",
)
def ladder(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    with ladder_and_warehouse(warehouse, groundswell) as (config, con):
        counts = build_ladder(con, config, utcnow())
    context.log.info("People per rung: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if counts.get(UNPLACED):
        context.log.warning(
            f"{counts[UNPLACED]} people meet no rung's rule in {config.source}: they are on "
            f"the '{UNPLACED}' rung (never pushed). Add a last rung with where: \"true\" to "
            "place them on a rung of your own."
        )
    return dg.MaterializeResult(
        metadata={"people": sum(counts.values()), **{f"rung_{k}": v for k, v in counts.items()}}
    )


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[ladder],
    description="Per rung: how many moved up, moved down, arrived, left and stayed since the "
    "last run and over 30 and 90 days, and the conversion of each rung's next ask (the share "
    "of the rung now on a higher one). Counts only.",
)
def ladder_movement(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    config = _ladder_or_fail(groundswell)
    with open_warehouse(warehouse) as con:
        rows = build_movement(con, config)
    metadata: dict = {}
    for period in ("last_run", "30d", "90d"):
        part = [r for r in rows if r["period"] == period]
        baseline = part[0]["baseline_at"] if part else None
        metadata[f"baseline_{period}"] = (
            baseline.isoformat(sep=" ", timespec="seconds") if baseline else "no run yet"
        )
        metadata[f"movement_{period}"] = _movement_table(part)
        metadata[f"moved_up_{period}"] = sum(r["moved_up"] for r in part)
        metadata[f"moved_down_{period}"] = sum(r["moved_down"] for r in part)
    if rows:
        last = [r for r in rows if r["period"] == "last_run"]
        context.log.info(
            "Since the last run: "
            + ", ".join(
                f"{r['rung']} up {r['moved_up']} down {r['moved_down']} "
                f"arrived {r['arrived']} left {r['left']}"
                for r in last
            )
        )
    return dg.MaterializeResult(metadata=metadata)


_MOVEMENT_TYPES = {"period": "string", "rung": "string", "conversion": "float"}


def _movement_table(rows: list[dict]) -> dg.TableMetadataValue:
    columns = [c for c in MOVEMENT_COLUMNS if c != "period"]
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, _MOVEMENT_TYPES.get(c, "int")) for c in columns]
    )
    records = [dg.TableRecord({c: r[c] for c in columns}) for r in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[ladder, ladder_movement],
    description="The local teams of teams.yaml and who is in each (every team whose rule a "
    "person meets, with why), and per team: people per rung, movement since the last run "
    "and over 30 and 90 days. Counts only in the metadata.",
)
def teams(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    try:
        config = groundswell.teams()
        with open_warehouse(warehouse) as con:
            counts = build_teams(con, config, utcnow())
    except TeamsConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    if not config.teams:
        missing = not Path(config.source).is_file()
        context.log.info(
            f"No teams: {config.source} "
            + (
                "does not exist (set TEAMS_CONFIG or copy teams.yaml)."
                if missing
                else "lists none."
            )
        )
    if counts["teams_without_organisers"]:
        context.log.warning(
            f"{counts['teams_without_organisers']} team(s) have no organiser in "
            f"{config.source}: add their emails under 'organisers' so someone leads them."
        )
    return dg.MaterializeResult(
        metadata={
            "teams": counts["teams"],
            "members": counts["members"],
            "memberships": counts["memberships"],
            "people_in_no_team": counts["no_team"],
            "teams_without_organisers": counts["teams_without_organisers"],
        }
    )


@dg.asset(
    group_name="engagement",
    kinds={"duckdb", "sql"},
    pool="warehouse",
    deps=[ladder, teams],
    description="Every tier and activation list with the reason each person is on it.",
)
def segment_members(
    warehouse: DuckDBResource, groundswell: GroundswellSettings
) -> dg.MaterializeResult:
    with ladder_and_warehouse(warehouse, groundswell) as (config, con):
        counts = build_segments(con, config, utcnow())
    return dg.MaterializeResult(metadata={k.replace(":", "_"): v for k, v in counts.items()})
