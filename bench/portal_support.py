"""A warehouse for the portal: the sandbox organisation landed raw (as bench/warehouse_build.py
does), built through every step up to the lists, teams from a generated `teams.yaml` (one
team per large region's first postal district, and a few by region), and the portal's
staged lists. Used by bench/portal.py and by the portal's tests at a small size."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LADDER = ROOT / "ladder.yaml"


@dataclass(frozen=True)
class Built:
    warehouse: Path
    teams_file: Path
    now: datetime
    people: int


def generate_teams(con, path: Path, teams: int = 50) -> Path:
    """A `teams.yaml` over the warehouse's people: up to `teams` teams, each the people of
    one region and postal sector (the first four characters of the postcode), the largest
    first, one organiser each; the last two teams are whole regions, overlapping those
    sectors (a person can be in several teams), and some people are in none."""
    rows = con.execute(
        "SELECT region, left(postal_code, 4) AS district, count(*) AS n FROM person_metrics "
        "WHERE region IS NOT NULL AND postal_code IS NOT NULL "
        "GROUP BY ALL ORDER BY n DESC, region, district LIMIT ?",
        [max(teams - 2, 1)],
    ).fetchall()
    declared = [
        {
            "name": f"{region} {district}",
            "description": f"Postal sector {district} in {region}",
            "where": f"region = '{region}' AND left(postal_code, 4) = '{district}'",
            "organisers": [f"organiser{i}@example.org"],
        }
        for i, (region, district, _) in enumerate(rows, start=1)
    ]
    regions = sorted({r for r, _, _ in rows})[:2]
    for region in regions:
        declared.append(
            {
                "name": f"All of {region}",
                "description": f"Every sector of {region}",
                "where": f"region = '{region}'",
                "organisers": [f"organiser{len(declared) + 1}@example.org"],
            }
        )
    path.write_text(yaml.safe_dump({"teams": declared}, sort_keys=False), encoding="utf-8")
    return path


def build_teams(con, teams_file: Path, now: datetime) -> int:
    """Tables `teams` and `team_members` from the teams file, by the warehouse's teams step;
    returns the number of teams."""
    from transforms.segments import build_list_input
    from transforms.teams import build_teams as build
    from transforms.teams_config import load_teams

    build_list_input(con, now)  # the columns the teams' rules read
    return build(con, load_teams(teams_file), now)["teams"]


def build_warehouse(
    people: int, workdir: Path, seed: int = 42, teams: int = 50, log=print
) -> Built:
    """Generate, land and build a warehouse of about `people` humans in `workdir`, with
    teams, ready for `warehouse.snapshot.publish`."""
    import time

    from bench.identity_support import DEFAULT_REGION, land_organisation
    from bench.warehouse_build import land_engagement
    from sandbox.generator import generate
    from transforms.engagement import build_activities, build_person_metrics
    from transforms.identity import resolve
    from transforms.ladder import build_ladder, build_movement
    from transforms.ladder_config import load
    from transforms.normalise import build_staging
    from transforms.portal_lists import build_portal_lists
    from transforms.segments import build_segments
    from warehouse.connection import connect

    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    org = generate(people, seed)
    warehouse = workdir / "warehouse.duckdb"
    land_organisation(org, warehouse, workdir)
    land_engagement(org, warehouse)
    now = org.now
    del org
    log(f"  generated and landed {people:,} people in {time.perf_counter() - started:.1f} s")
    ladder = load(LADDER)
    teams_file = workdir / "teams.yaml"
    started = time.perf_counter()
    con = connect(warehouse)
    try:
        build_staging(con, DEFAULT_REGION)
        resolve(con, now)
        build_activities(con, ladder.namespace)
        build_person_metrics(con, now)
        build_ladder(con, ladder, now)
        build_movement(con, ladder)
        generate_teams(con, teams_file, teams)
        build_teams(con, teams_file, now)
        build_segments(con, ladder, now)
        build_portal_lists(con, ladder, now)
        count = con.execute("SELECT count(*) FROM people").fetchone()[0]
    finally:
        con.close()
    log(f"  built the warehouse ({count:,} people) in {time.perf_counter() - started:.1f} s")
    return Built(warehouse, teams_file, now, count)


# Every table the portal's snapshot reads people from, copied when the warehouse is scaled.
PEOPLE_TABLES = (
    "person_metrics",
    "ladder",
    "ladder_history",
    "activities",
    "segment_members",
    "team_members",
)


def scale_people(con, target: int) -> int:
    """Copy every person under new ids (`<id>~<n>`) until there are about `target`: the same
    distributions, teams and lists, for timing the snapshot at a size the generator would
    take too long to make. Returns the people now in person_metrics."""
    have = con.execute("SELECT count(*) FROM person_metrics").fetchone()[0]
    copies = max(0, -(-target // max(have, 1)) - 1)
    for table in PEOPLE_TABLES:
        con.execute(
            f"INSERT INTO {table} SELECT t.* REPLACE (t.person_id || '~' || r.n AS person_id) "
            f"FROM {table} t, range(1, {copies + 1}) AS r(n)"
        )
    return con.execute("SELECT count(*) FROM person_metrics").fetchone()[0]
