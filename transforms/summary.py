"""The end-of-run summary `make run` prints: counts only, never personal data."""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.sync_plan import PLATFORM_NAMES


def summarise(
    warehouse_path: str, run_id: str, exports: list[Path], truth: dict | None = None
) -> str:
    """`truth`: the sandbox's record of who it asked and who acted (its last advance), shown
    beside each list's measured conversion."""
    if not Path(warehouse_path).exists():
        return "No warehouse yet: nothing was loaded."
    try:
        return _summary(warehouse_path, run_id, exports, truth or {})
    except duckdb.Error:
        # Damaged, locked, or from before the run's migrations: the run's own errors say why.
        return f"No summary: the warehouse {warehouse_path} could not be read."


def _summary(warehouse_path: str, run_id: str, exports: list[Path], truth: dict) -> str:
    con = duckdb.connect(warehouse_path, read_only=True)
    try:
        lines = ["", "Groundswell run summary", "======================="]
        lines.append("Records per source:")
        for source, n in con.execute(
            "SELECT source, count(*) FROM stg_source_records GROUP BY 1 ORDER BY 1"
        ).fetchall():
            lines.append(f"  {source:<16} {n:>9,}")
        people = con.execute("SELECT count(*) FROM people").fetchone()[0]
        lines.append(f"Unified people:      {people:>9,}")
        lines.append("People per tier:")
        for tier, n in con.execute(
            "SELECT tier, count(*) FROM ladder GROUP BY tier, tier_rank ORDER BY tier_rank"
        ).fetchall():
            lines.append(f"  {tier:<16} {n:>9,}")
        lines.extend(_movement(con))
        lines.extend(_teams(con))
        lines.extend(_asks(con, truth))
        lines.extend(_sync(con, run_id))
        lines.append("Exports:")
        for path in exports:
            lines.append(f"  {path}")
        return "\n".join(lines)
    finally:
        con.close()


def _movement(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Moves on the ladder since the last run (the `ladder_movement` report)."""
    rows = con.execute(
        """SELECT rung, was, now, moved_up, moved_down, arrived, "left", baseline_at
           FROM ladder_movement WHERE period = 'last_run'
           ORDER BY tier_rank NULLS LAST, rung"""
    ).fetchall()
    if not rows or rows[0][7] is None:
        return ["Ladder movement:     first run, nothing to compare with yet"]
    lines = [
        f"Ladder movement since {rows[0][7]:%Y-%m-%d %H:%M} (was, now, up, down, arrived, left):"
    ]
    for rung, *counts, _ in rows:
        lines.append(f"  {rung:<16} " + " ".join(f"{n:>7,}" for n in counts))
    return lines


def _teams(con: duckdb.DuckDBPyConnection) -> list[str]:
    """How many teams, and people in a team or in none (teams.yaml; counts only)."""
    try:
        teams, in_team, in_none = con.execute(
            """SELECT (SELECT count(*) FROM teams),
                      (SELECT count(DISTINCT person_id) FROM team_members),
                      (SELECT count(*) FROM people p WHERE NOT EXISTS (
                           SELECT 1 FROM team_members m WHERE m.person_id = p.person_id))"""
        ).fetchone()
    except duckdb.CatalogException:  # a warehouse from before teams
        return []
    if not teams:
        return ["Teams:               none (no teams in TEAMS_CONFIG)"]
    return [f"{'Teams:':<21}{teams:,}, people in a team {in_team:,}, in none {in_none:,}"]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _asks(con: duckdb.DuckDBPyConnection, truth: dict) -> list[str]:
    """Which asks work: each list's conversion over 90 days against the same rung's, and
    beside it the sandbox's truth when it moved on (counts only)."""
    try:
        rows = con.execute(
            """SELECT list_name, entered, reached, succeeded, conversion_rate, in_window,
                      baseline_rate
               FROM ask_conversion WHERE period = '90d' AND team IS NULL
               ORDER BY list_name"""
        ).fetchall()
    except duckdb.CatalogException:  # a warehouse from before the ask loop
        return []
    if not rows:
        return []
    lines = [
        "Which asks work, people who entered each list in 90 days "
        "(entered, reached, did what was asked, rate, same rung not listed):"
    ]
    for name, entered, reached, succeeded, rate, in_window, baseline in rows:
        line = (
            f"  {name:<16} {entered:>7,} {reached:>7,} {succeeded:>7,} "
            f"{_rate(rate):>5} {_rate(baseline):>5}"
        )
        if in_window:
            line += f"  ({in_window:,} still in their window)"
        known = truth.get(name)
        if known and known.get("asked"):
            line += (
                f"  sandbox truth: {known['acted']:,} of the {known['asked']:,} it asked acted "
                f"({known['acted'] / known['asked']:.0%}; {known['share']:.0%} said yes)"
            )
        lines.append(line)
    if truth:
        lines.append(
            "  (the sandbox asks only people carrying a pushed list's tag; lists never pushed "
            "are not asked)"
        )
    return lines


def _sync(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """The sync plan's status and what each push confirmed or had refused, this run."""
    names = PLATFORM_NAMES
    plans = con.execute(
        "SELECT destination, status, adds, removes, sets, creates, message, "
        "coalesce(drift_repaired, 0), coalesce(opt_outs_propagated, 0) FROM sync_runs "
        "WHERE run_id = ? AND step = 'plan' ORDER BY destination",
        [run_id],
    ).fetchall()
    if not plans:
        return ["Sync plan:           not made in this run"]
    status, message = plans[0][1], plans[0][6]
    lines = [f"Sync plan:           {status}"]
    for destination, _, adds, removes, sets, creates, _, drift, opt_outs in plans:
        lines.append(
            f"  {names.get(destination, destination):<16} {adds:>9,} to add, {removes:,} to "
            f"remove, {sets:,} fields to set, {creates:,} contacts to create, "
            f"{drift:,} drift_repaired, {opt_outs:,} opt_outs_propagated"
        )
    if status == "stopped":
        lines.append(f"  Stopped by the guard rails: {message}")
        lines.append("  If intended: make run CONFIRM=1 (opt-outs were sent all the same)")
    elif status == "dry_run":
        lines.append("  Dry run: nothing was sent (the plan is in the sync_plan table)")
    for destination, status, confirmed, rejected, requests, drift, opt_outs in con.execute(
        "SELECT destination, status, confirmed, rejected, requests, coalesce(drift_repaired, 0), "
        "coalesce(opt_outs_propagated, 0) FROM sync_runs "
        "WHERE run_id = ? AND step = 'push' ORDER BY destination",
        [run_id],
    ).fetchall():
        lines.append(
            f"Pushed to {names.get(destination, destination):<10} {confirmed:>9,} confirmed, "
            f"{rejected:,} refused ({status}), {requests:,} requests, {drift:,} drift_repaired, "
            f"{opt_outs:,} opt_outs_propagated"
        )
    return lines
