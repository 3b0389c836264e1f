"""The end-of-run summary `make run` prints: counts only, never personal data."""

from __future__ import annotations

from pathlib import Path

import duckdb


def summarise(warehouse_path: str, run_id: str, exports: list[Path]) -> str:
    if not Path(warehouse_path).exists():
        return "No warehouse yet: nothing was loaded."
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
        added, removed = con.execute(
            "SELECT count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'inactive') "
            "FROM sync_ledger WHERE run_id = ?",
            [run_id],
        ).fetchone()
        rejected = con.execute(
            "SELECT count(*) FROM sync_rejections WHERE run_id = ?", [run_id]
        ).fetchone()[0]
        lines.append(
            f"Tags pushed:         {added:>9,} added, {removed:,} removed, {rejected:,} refused"
        )
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
