"""The ledger of confirmed pushes, the record of refused ones, and the intents: every write
recorded before it is sent and settled after. Only what a platform confirmed is written to
the ledger: the next plan is computed against it. None of these open a transaction: the
caller writes an outcome's ledger rows, refusals and intent states in one."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from warehouse.load import append

PLAN_COLUMNS = ["destination", "member_key", "person_id", "item", "kind", "segment", "op"]
INTENT_COLUMNS = [*PLAN_COLUMNS, "value", "remote_id", "request_key", "batch_key"]
UNSETTLED = ("intended", "sent")


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
    append(con, "sync_ledger", ledger_rows(ops, run_id, now), or_replace=True)
    return len(ops)


def claim_tags(
    con: duckdb.DuckDBPyConnection, destination: str, tags: set[str], now: datetime
) -> None:
    """Record tags as Groundswell's before the first request that may create them: a run
    killed mid-push, or an answer lost on the way, must not leave tags the next plan takes
    for someone else's. A tag once claimed stays Groundswell's, even after everyone
    carrying it is erased."""
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
    append(con, "sync_rejections", frame.assign(run_id=run_id, rejected_at=now))
    return len(frame)


def record_intents(
    con: duckdb.DuckDBPyConnection, ops: pd.DataFrame, run_id: str, now: datetime
) -> int:
    """Record operations as intended, before their request is sent. `ops` carries a
    `request_key` (and, for a Mailchimp batch, a `batch_key`)."""
    if ops.empty:
        return 0
    frame = ops.reindex(columns=INTENT_COLUMNS)
    append(con, "sync_intents", frame.assign(state="intended", run_id=run_id, intended_at=now))
    return len(frame)


def settle_intents(
    con: duckdb.DuckDBPyConnection, ops: pd.DataFrame, state: str, now: datetime
) -> None:
    """Move the intents of these operations (by request_key and item) to `state`:
    confirmed, failed (refused or found not done) or sent (answer lost). A remote id learnt
    from the answer is kept."""
    if ops.empty:
        return
    settled = ops.reindex(columns=["destination", "request_key", "item", "remote_id"])  # noqa: F841
    con.execute(
        """
        UPDATE sync_intents AS i
        SET state = $state,
            settled_at = CASE WHEN $state IN ('confirmed', 'failed') THEN $now END,
            remote_id = coalesce(s.remote_id, i.remote_id)
        FROM (SELECT DISTINCT ON (destination, request_key, item) * FROM settled) AS s
        WHERE i.destination = s.destination AND i.request_key = s.request_key
          AND i.item = s.item
        """,
        {"state": state, "now": now},
    )


def mark_batch_sent(
    con: duckdb.DuckDBPyConnection, destination: str, batch_key: str, batch_id: str
) -> None:
    """The platform accepted a batch: its operations now wait for its results."""
    con.execute(
        "UPDATE sync_intents SET batch_id = ?, state = 'sent' "
        "WHERE destination = ? AND batch_key = ? AND state IN ('intended', 'sent')",
        [batch_id, destination, batch_key],
    )


def unsettled_intents(con: duckdb.DuckDBPyConnection, destination: str) -> pd.DataFrame:
    """Writes an earlier run sent, or may have sent, without learning the outcome."""
    return con.execute(
        "SELECT * FROM sync_intents WHERE destination = ? AND state IN ('intended', 'sent') "
        "ORDER BY intended_at, request_key, item",
        [destination],
    ).fetchdf()


def forget_settled_intents(con: duckdb.DuckDBPyConnection, before: datetime) -> None:
    """Settled intents are history only; the ledger and sync_rejections keep the outcome."""
    con.execute(
        "DELETE FROM sync_intents WHERE state IN ('confirmed', 'failed') AND settled_at < ?",
        [before],
    )
