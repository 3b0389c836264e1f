"""The ledger of confirmed pushes and the record of refused ones. Only what a platform
confirmed is written to the ledger: the next plan is computed against it."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from warehouse.load import append, transaction

PLAN_COLUMNS = ["destination", "member_key", "person_id", "item", "kind", "segment", "op"]


def ledger_rows(ops: pd.DataFrame, run_id: str, now: datetime) -> pd.DataFrame:
    """Ledger rows for confirmed plan operations: a tag's state, a field's value, a new
    contact's status_if_new."""
    state = ops["value"].where(ops["op"].isin(["set", "create"]), None)
    state = state.mask(ops["op"] == "add", "active").mask(ops["op"] == "remove", "inactive")
    remote = ops.get("remote_id", None)
    return pd.DataFrame(
        {
            "destination": ops["destination"],
            "member_key": ops["member_key"],
            "item": ops["item"],
            "kind": ops["kind"],
            "segment": ops["segment"],
            "person_id": ops["person_id"],
            "state": state.fillna(""),
            "remote_id": remote,
            "pushed_at": now,
            "run_id": run_id,
        }
    )


def record_confirmed(
    con: duckdb.DuckDBPyConnection, ops: pd.DataFrame, run_id: str, now: datetime
) -> int:
    """Write the operations a platform confirmed into the ledger (never unconfirmed ones)."""
    if ops.empty:
        return 0
    with transaction(con):
        append(con, "sync_ledger", ledger_rows(ops, run_id, now), or_replace=True)
    return len(ops)


def claim_tags(
    con: duckdb.DuckDBPyConnection, destination: str, tags: set[str], now: datetime
) -> None:
    """Record tags as Groundswell's before the first request that may create them: a run
    killed mid-push must not leave tags the next plan takes for someone else's. A tag once
    claimed stays Groundswell's, even after everyone carrying it is erased."""
    if tags:
        con.execute(
            "INSERT OR IGNORE INTO sync_managed_tags (destination, tag, created_at) "
            "SELECT ?, unnest(?::VARCHAR[]), ?",
            [destination, sorted(tags), now],
        )


def record_rejections(
    con: duckdb.DuckDBPyConnection, rejected: pd.DataFrame, run_id: str, now: datetime
) -> int:
    """Keep every refused operation with the platform's status, title and detail."""
    if rejected.empty:
        return 0
    frame = rejected[[*PLAN_COLUMNS, "status", "title", "detail"]].rename(
        columns={"op": "operation"}
    )
    frame = frame.assign(run_id=run_id, rejected_at=now)
    with transaction(con):
        append(con, "sync_rejections", frame)
    return len(frame)
