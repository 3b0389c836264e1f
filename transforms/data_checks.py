"""The data checks' measures (issue 16): each source landing's records against its recent
median and its quarantined share, how long since each source last landed, and the sudden
changes that mean bad input rather than a movement (people lost, merged, or moved rung in
one run). Counts only: nothing here reads or returns a person's details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import median

import duckdb

HARM_SQL = (Path(__file__).parent / "data_checks.sql").read_text()
TREND_RUNS = 7  # landings the median is taken over
TREND_MINIMUM = 3  # fewer earlier landings than this: no trend yet


@dataclass(frozen=True)
class Landing:
    """One successful landing of a source asset."""

    run_id: str
    asset: str
    source: str
    mode: str
    records: int
    started_at: datetime
    landed_at: datetime


def record_landing(con: duckdb.DuckDBPyConnection, landing: Landing) -> int:
    """Record a landing with the rows its platform quarantined since it started; returns
    that count."""
    quarantined = con.execute(
        "SELECT count(*) FROM quarantine WHERE source = ? AND batch_id = ? AND recorded_at >= ?",
        [landing.source, landing.run_id, landing.started_at],
    ).fetchone()[0]
    con.execute(
        "INSERT INTO source_landings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            landing.run_id,
            landing.asset,
            landing.source,
            landing.mode,
            landing.records,
            quarantined,
            landing.started_at,
            landing.landed_at,
        ],
    )
    return int(quarantined)


@dataclass(frozen=True)
class Trend:
    records: int
    median: float | None  # of the earlier landings in the same mode; None: too few yet
    earlier: int

    def dropped(self, share: float) -> bool:
        """Whether this landing fetched less than `share` of the recent median."""
        return bool(self.median) and self.records < share * self.median


def fetch_trend(con: duckdb.DuckDBPyConnection, asset: str, run_id: str) -> Trend:
    """This run's landing of `asset` against the median of its last TREND_RUNS landings in
    the same mode (a full read is never compared with an incremental one)."""
    this = con.execute(
        "SELECT records, mode, landed_at FROM source_landings WHERE asset = ? AND run_id = ? "
        "ORDER BY landed_at DESC LIMIT 1",
        [asset, run_id],
    ).fetchone()
    if this is None:
        return Trend(0, None, 0)
    records, mode, landed_at = this
    earlier = [
        r
        for (r,) in con.execute(
            "SELECT records FROM source_landings WHERE asset = ? AND mode = ? "
            "AND landed_at < ? AND run_id <> ? ORDER BY landed_at DESC LIMIT ?",
            [asset, mode, landed_at, run_id, TREND_RUNS],
        ).fetchall()
    ]
    middle = float(median(earlier)) if len(earlier) >= TREND_MINIMUM else None
    return Trend(int(records), middle, len(earlier))


def quarantined_share(records: int, quarantined: int) -> float:
    """Quarantined rows as a share of the rows read (kept plus quarantined)."""
    read = records + quarantined
    return quarantined / read if read else 0.0


def last_landings(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """Each source asset's last successful landing (UTC)."""
    rows = con.execute("SELECT asset, max(landed_at) FROM source_landings GROUP BY asset")
    return dict(rows.fetchall())


@dataclass(frozen=True)
class Harm:
    """A run's sudden changes, against the last run before it started."""

    previous_run_at: datetime | None
    people_before: int
    people_now: int
    merged: int
    rung_changed: int
    ladder_built: bool

    @property
    def people_lost_share(self) -> float:
        if not self.people_before:
            return 0.0
        return max(0.0, (self.people_before - self.people_now) / self.people_before)

    @property
    def merged_share(self) -> float:
        return self.merged / self.people_before if self.people_before else 0.0

    @property
    def rung_changed_share(self) -> float:
        return self.rung_changed / self.people_before if self.people_before else 0.0


def harm_measures(con: duckdb.DuckDBPyConnection, started: datetime) -> Harm:
    """The run's harm measures; `started` is the run's start, in UTC without a zone."""
    row = con.execute(HARM_SQL, {"started": started}).fetchone()
    return Harm(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[5]), bool(row[4]))


@dataclass(frozen=True)
class HarmCheck:
    name: str  # the asset check's name
    asset: str
    setting: str
    description: str


HARM_CHECKS = (
    HarmCheck(
        "people_count_steady",
        "people",
        "CHECK_PEOPLE_DROP_SHARE",
        "The number of people fell by no more than CHECK_PEOPLE_DROP_SHARE since the last "
        "run. A larger fall means a source lost people (a revoked key scope, an export that "
        "stopped), and the pushes wait for confirmation.",
    ),
    HarmCheck(
        "merges_within_share",
        "people",
        "CHECK_MERGE_SHARE",
        "No more than CHECK_MERGE_SHARE of people were merged into another this run. A "
        "sudden wave of merges means bad input (a shared address, a broken export), and the "
        "pushes wait for confirmation.",
    ),
    HarmCheck(
        "rung_changes_within_share",
        "ladder",
        "CHECK_RUNG_CHANGE_SHARE",
        "No more than CHECK_RUNG_CHANGE_SHARE of the ladder changed rung this run. A sudden "
        "jump means bad input rather than a movement, and the pushes wait for confirmation.",
    ),
)


def harm_value(harm: Harm, check: HarmCheck) -> tuple[float, int]:
    """The check's share and the count behind it."""
    if check.name == "people_count_steady":
        return harm.people_lost_share, max(0, harm.people_before - harm.people_now)
    if check.name == "merges_within_share":
        return harm.merged_share, harm.merged
    return harm.rung_changed_share, harm.rung_changed


def harm_problem(harm: Harm, check: HarmCheck, limits: dict[str, float]) -> str | None:
    """What is wrong, in words, when the check trips (its limit from `limits`, by setting
    name); None when it passes."""
    limit = limits[check.setting]
    share, count = harm_value(harm, check)
    if share <= limit:
        return None
    what = {
        "people_count_steady": f"the number of people fell by {count:,} since the last run",
        "merges_within_share": f"{count:,} people were merged into another this run",
        "rung_changes_within_share": f"{count:,} people changed rung this run",
    }[check.name]
    return (
        f"Data check {check.name}: {what} ({share:.0%} of {harm.people_before:,}; the limit "
        f"is {limit:.0%}, {check.setting}). That usually means bad input, not a movement: "
        "look at the sources' landings and the quarantine before confirming."
    )


def harm_problems(
    con: duckdb.DuckDBPyConnection, started: datetime, limits: dict[str, float]
) -> list[str]:
    """Every harm check that trips for this run, in words (the sync plan stops on them)."""
    harm = harm_measures(con, started)
    return [p for check in HARM_CHECKS if (p := harm_problem(harm, check, limits))]
