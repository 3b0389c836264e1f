"""Sync plans (desired state minus the ledger) and the ledger of confirmed pushes."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from transforms import sqlfiles
from transforms.ladder_config import Ladder
from warehouse.load import append, transaction


def mailchimp_tier_plan(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> pd.DataFrame:
    """Rows of (member_key, person_id, tag, active): one tag change each."""
    tiers = [rung.name for rung in ladder.rungs if "mailchimp" in rung.push]
    sqlfiles.run(con, "mailchimp_tier_plan", {"namespace": ladder.namespace, "tiers": tiers})
    return con.execute(
        "SELECT * FROM _mailchimp_tier_plan ORDER BY member_key, active, tag"
    ).fetchdf()


def record_confirmed(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    changes: pd.DataFrame,
    run_id: str,
    now: datetime,
) -> int:
    """Write the changes a platform confirmed into the ledger (never unconfirmed ones)."""
    if changes.empty:
        return 0
    frame = pd.DataFrame(
        {
            "destination": destination,
            "member_key": changes["member_key"],
            "tag": changes["tag"],
            "person_id": changes["person_id"],
            "state": changes["active"].map({True: "active", False: "inactive"}),
            "pushed_at": now,
            "run_id": run_id,
        }
    )
    with transaction(con):
        append(con, "sync_ledger", frame, or_replace=True)
    return len(frame)


def record_rejections(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    rejections: list[dict[str, object]],
    run_id: str,
    now: datetime,
) -> int:
    """Keep every refused operation with the platform's reason."""
    if not rejections:
        return 0
    frame = pd.DataFrame(rejections).assign(destination=destination, run_id=run_id, rejected_at=now)
    with transaction(con):
        append(con, "sync_rejections", frame)
    return len(frame)
