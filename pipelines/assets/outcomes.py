"""What organisers recorded in the portal, landed in the warehouse: each run takes the
portal store's outcomes newer than the last landed (portal/store.py) into
`organiser_outcomes`, before the activities are rebuilt from them."""

from collections import Counter
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines import settings
from pipelines.resources import open_warehouse
from portal import store_db
from portal.store import OutcomeRow, Store
from warehouse.load import utcnow

TABLE = "organiser_outcomes"
PENDING = "portal_erasures"  # people erasure has still to remove from the portal's store
COLUMNS = (
    "outcome_id, recorded_at, organiser, team, list_name, person_id, outcome, follow_up, "
    "note, via, landed_at"
)
# An outcome is landed only when its person (followed through merges) is still in the
# warehouse: one forgotten since the organiser recorded it is never brought back. A wrong
# number is about the phone the person has now (the one on the list the organiser used):
# its SHA-256 is kept, so that number stops being used for them even if a source still has it.
_LIVING = """
WITH RECURSIVE chain(person_id, current, depth) AS (
    SELECT DISTINCT person_id, person_id, 0 FROM _incoming
    UNION ALL
    SELECT c.person_id, r.merged_into, c.depth + 1
    FROM chain c JOIN person_registry r ON r.person_id = c.current
    WHERE r.merged_into IS NOT NULL AND c.depth < 32
)
SELECT c.person_id, any_value(sha256(p.phone)) AS phone_sha256
FROM chain c JOIN people p ON p.person_id = c.current
GROUP BY c.person_id
"""


def portal_db() -> str | Path:
    """The portal's own store (PORTAL_DB): a SQLite file, or a postgresql:// address."""
    location = settings.get("PORTAL_DB")
    return location if store_db.is_postgres(location) else Path(location).expanduser()


def land_outcomes(
    con: duckdb.DuckDBPyConnection, store_path: str | Path, now: datetime
) -> dict[str, int] | None:
    """Land the store's outcomes after the highest landed, in one transaction; counts per
    outcome word of those landed and `dropped_forgotten`. None when the store does not
    exist (nobody has used the portal)."""
    if not store_db.exists(store_path):
        return None
    # A forget stopped before the portal's store is finished first, so an outcome of a
    # forgotten person is never read again.
    finish_portal_erasures(con, store_path)
    ((highest,),) = con.execute(f"SELECT coalesce(max(outcome_id), 0) FROM {TABLE}").fetchall()
    store = Store(store_path)
    try:
        new = store.outcomes(after_id=int(highest))
    finally:
        store.close()
    frame = _frame(new, now)
    con.register("_incoming", frame)
    try:
        living = dict(con.execute(_LIVING).fetchall()) if new else {}
        kept = frame[frame["person_id"].isin(living)].copy()
        wrong = kept["outcome"] == "wrong_number"
        kept["phone_sha256"] = kept["person_id"].map(living).where(wrong, None)
        con.register("_kept", kept)
        # One transaction: a run stopped here lands all of these or none, never some twice.
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"INSERT INTO {TABLE} ({COLUMNS}, phone_sha256) "
                f"SELECT {COLUMNS}, phone_sha256::VARCHAR FROM _kept"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("_incoming")
        con.unregister("_kept")
    counts = Counter(str(o) for o in kept["outcome"])
    return {**dict(sorted(counts.items())), "dropped_forgotten": len(frame) - len(kept)}


def _frame(rows: list[OutcomeRow], now: datetime) -> pd.DataFrame:
    """The outcomes as the warehouse table's columns (times naive UTC, as the warehouse's)."""
    return pd.DataFrame(
        {
            "outcome_id": pd.Series([r.id for r in rows], dtype="int64"),
            "recorded_at": pd.Series(
                [r.recorded_at.replace(tzinfo=None) for r in rows], dtype="datetime64[us]"
            ),
            "organiser": pd.Series([r.organiser for r in rows], dtype="object"),
            "team": pd.Series([r.team for r in rows], dtype="object"),
            "list_name": pd.Series([r.list_name for r in rows], dtype="object"),
            "person_id": pd.Series([r.person_id for r in rows], dtype="object"),
            "outcome": pd.Series([r.outcome for r in rows], dtype="object"),
            "follow_up": pd.Series([r.follow_up for r in rows], dtype="object"),
            "note": pd.Series([r.note for r in rows], dtype="object"),
            "via": pd.Series([r.via for r in rows], dtype="object"),
            "landed_at": pd.Series([now] * len(rows), dtype="datetime64[us]"),
        }
    )


@dg.asset(
    group_name="sources",
    kinds={"duckdb", "sqlite"},
    pool="warehouse",
    deps=["people"],
    description="What organisers recorded in the portal (PORTAL_DB): each run lands the "
    "outcomes recorded since the last, once each; reached and said yes become activities.",
)
def organiser_outcomes(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    path = portal_db()
    with open_warehouse(warehouse) as con:
        counts = land_outcomes(con, path, utcnow())
    if counts is None:
        context.log.info(
            "No portal store (PORTAL_DB) yet: nobody has used the portal, so no "
            "outcomes were landed."
        )
        return dg.MaterializeResult(metadata={"new_outcomes": 0, "portal_store": "none yet"})
    landed = sum(v for k, v in counts.items() if k != "dropped_forgotten")
    context.log.info(
        f"Organiser outcomes: {landed} new, {counts['dropped_forgotten']} of "
        "people no longer in the warehouse dropped"
    )
    # Counts only: never a name, an address or a note.
    return dg.MaterializeResult(
        metadata={
            "new_outcomes": landed,
            **{f"outcome_{k}": v for k, v in counts.items() if k != "dropped_forgotten"},
            "dropped_forgotten": counts["dropped_forgotten"],
        }
    )


def forgotten_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The person ids the erasure reaches, ids merged into theirs included (erasure_find's
    stage.forget_person_ids, read before the erasure deletes the registry that links them)."""
    return [
        pid
        for (pid,) in con.execute(
            "SELECT person_id FROM stage.forget_person_ids ORDER BY person_id"
        ).fetchall()
    ]


def forget_portal_outcomes(
    person_ids: list[str], store_path: str | Path | None = None
) -> int | None:
    """Delete these people's outcomes and notes from the portal's store; how many, or None
    when there is no store (PORTAL_DB) yet."""
    path = store_path or portal_db()
    if not store_db.exists(path):
        return None
    if not person_ids:
        return 0
    store = Store(path)
    try:
        return store.forget_outcomes(person_ids)
    finally:
        store.close()


def intend_portal_erasure(
    con: duckdb.DuckDBPyConnection, person_ids: list[str], now: datetime
) -> None:
    """Record, before the warehouse forgets them, whose outcomes the portal's store must
    lose: a forget stopped after the warehouse is finished by the next run."""
    if person_ids:
        con.executemany(f"INSERT INTO {PENDING} VALUES (?, ?)", [(pid, now) for pid in person_ids])


def finish_portal_erasures(
    con: duckdb.DuckDBPyConnection, store_path: str | Path | None = None
) -> int:
    """Delete from the portal's store the outcomes of everyone erasure left pending, then
    the pending rows; how many people. Nothing to do without a store: none was kept."""
    pending = [
        pid for (pid,) in con.execute(f"SELECT DISTINCT person_id FROM {PENDING}").fetchall()
    ]
    if not pending:
        return 0
    forget_portal_outcomes(pending, store_path)
    con.execute(f"DELETE FROM {PENDING} WHERE person_id IN (SELECT unnest(?))", [pending])
    return len(pending)
