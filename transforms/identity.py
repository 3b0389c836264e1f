"""Identity resolution: deterministic rules first, probabilistic scoring behind them,
connected components with guard rails, stable person_ids, a review queue, and the golden
record in `people`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from transforms import nicknames, steps
from transforms.identity_config import IdentityConfig
from transforms.identity_scoring import score_pairs
from transforms.status_history import stage_status_history

MAX_ROUNDS = 64
# Each pass cuts one link per conflicting component; real conflicts settle in one or two.
MAX_CUTS = 10
DECISION_COLUMNS = ("record_a", "record_b", "decision", "line_number")


def resolve(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    config: IdentityConfig | None = None,
    decisions: pd.DataFrame | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, int | str]:
    """Rebuild person_sources, identity_links, identity_review, person_merges and people;
    returns counts (never personal data). `decisions` holds the volunteer's review
    decisions (record_a, record_b, decision, line_number)."""
    config = config or IdentityConfig()
    link = config.probabilistic.link_threshold
    step = _stopwatch(log)
    nicknames.ensure(con)  # a warehouse staged before it was kept, or since forgetting
    steps.run(con, "identity_edges")
    load_decisions(con, decisions)
    step("deterministic rules")
    scoring = score_pairs(con, config.probabilistic, log)
    step(f"probabilistic scoring ({scoring.status}, {scoring.pairs} pairs)")
    review = config.probabilistic.review_threshold
    steps.run(con, "identity_links", {"link": link, "review": review})
    rounds = _cluster_with_guard_rails(con)
    step(f"clustering ({rounds} rounds)")
    steps.run(con, "identity_review", {"link": link})
    merges_before = _count(con, "person_merges")
    steps.run(con, "identity_assign", {"now": now})
    links_written = _scalar(con, "SELECT rows_written FROM stage.id_sources_written")
    step(f"stable person ids ({links_written} record links written)")
    source_priority(con, config)
    stage_status_history(con)
    steps.run(con, "people")
    people = _count(con, "people")
    people_written = _scalar(con, "SELECT rows_written FROM stage.people_written")
    step(f"golden records ({people_written} written)")
    decided = dict(
        con.execute("SELECT status, count(*) FROM identity_decisions GROUP BY 1").fetchall()
    )
    return {
        "source_records": _count(con, "person_sources"),
        "empty_records": _scalar(con, "SELECT count(*) FROM stage.id_records WHERE is_empty"),
        "links": _count(con, "identity_links"),
        "links_probabilistic": _scalar(
            con, "SELECT count(*) FROM identity_links WHERE rule = 'probabilistic'"
        ),
        "people": people,
        "people_written": people_written,
        "source_links_written": links_written,
        "new_person_ids": _scalar(con, "SELECT count(*) FROM stage.id_assigned WHERE is_new"),
        "merges_recorded": _count(con, "person_merges") - merges_before,
        "review_pending": _count(con, "identity_review"),
        "decisions_applied": int(decided.get("applied", 0)),
        "decisions_unknown_record": int(decided.get("unknown record", 0)),
        "decisions_invalid": int(decided.get("invalid decision", 0)),
        "conflicts_split": _scalar(
            con, "SELECT count(*) FROM identity_conflicts WHERE action = 'split'"
        ),
        "conflicts_kept": _scalar(
            con, "SELECT count(*) FROM identity_conflicts WHERE action <> 'split'"
        ),
        "component_rounds": rounds,
        "probabilistic": scoring.status,
        "scored_pairs": scoring.pairs,
    }


def _stopwatch(log: Callable[[str], None]) -> Callable[[str], None]:
    """Log each step's seconds: resolving a large organisation takes a while."""
    last = [time.monotonic()]

    def step(name: str) -> None:
        now = time.monotonic()
        log(f"identity: {name} in {now - last[0]:.1f} s")
        last[0] = now

    return step


def load_decisions(con: duckdb.DuckDBPyConnection, decisions: pd.DataFrame | None) -> None:
    """Step identity_decisions_in: the volunteer's decisions as `stage.id_decisions_in`."""
    steps.require(con, "identity_decisions_in")
    frame = decisions if decisions is not None else pd.DataFrame(columns=DECISION_COLUMNS)
    decisions_in = frame.reindex(columns=DECISION_COLUMNS).astype(  # noqa: F841 - read by SQL
        {"record_a": "string", "record_b": "string", "decision": "string", "line_number": "Int64"}
    )
    con.execute("CREATE OR REPLACE TABLE stage.id_decisions_in AS SELECT * FROM decisions_in")


def _cluster_with_guard_rails(con: duckdb.DuckDBPyConnection) -> int:
    """Components over every link; a component with conflicting strong identifiers loses
    its weakest probabilistic link until it has none left to lose. After the first pass
    only the components a pass cut are labelled and checked again (stage.id_open): the
    others cannot change."""
    con.execute(
        "CREATE OR REPLACE TABLE stage.id_cuts (a VARCHAR, b VARCHAR, match_probability DOUBLE,"
        " records BIGINT, emails BIGINT, phones BIGINT, names BIGINT)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE stage.id_conflicts (label VARCHAR, records BIGINT, "
        "emails BIGINT, phones BIGINT, names BIGINT)"
    )
    rounds = connected_components(con)
    steps.run(con, "identity_open")
    for _ in range(MAX_CUTS):
        steps.run(con, "identity_conflicts")
        if _count(con, "stage.id_cut") == 0:
            break
        rounds += connected_components(con, again=True)
    # The open components' keys were working state: nothing of anyone is kept beyond it.
    con.execute("DROP TABLE IF EXISTS stage.id_open")
    con.execute("DROP TABLE IF EXISTS stage.id_open_edges")
    return rounds


def connected_components(con: duckdb.DuckDBPyConnection, again: bool = False) -> int:
    """Step identity_components: label every record in `stage.id_labels` with the smallest
    record key of its component. Vectorised over integer arrays (min-label propagation
    with pointer jumping), so the loop is over rounds, never over records; returns the
    rounds taken. `again`: label anew only the open components (stage.id_open, over
    stage.id_open_edges: the ones the last guard-rail pass cut)."""
    steps.require(con, "identity_components")
    records, edges = (
        ("stage.id_open", "stage.id_open_edges")
        if again
        else ("stage.id_records", "stage.id_edges")
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _id_index AS "
        f"SELECT record_key, (row_number() OVER (ORDER BY record_key) - 1)::BIGINT AS i FROM {records}"
    )
    size = _count(con, "_id_index")
    ends = con.execute(
        f"SELECT ia.i AS a, ib.i AS b FROM {edges} e "
        "JOIN _id_index ia ON ia.record_key = e.a JOIN _id_index ib ON ib.record_key = e.b"
    ).fetchnumpy()
    a, b = np.asarray(ends["a"], dtype=np.int64), np.asarray(ends["b"], dtype=np.int64)
    label = np.arange(size, dtype=np.int64)
    rounds = 0
    while True:
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"identity clustering did not settle in {MAX_ROUNDS} rounds")
        smaller = np.minimum(label[a], label[b])
        np.minimum.at(label, a, smaller)
        np.minimum.at(label, b, smaller)
        while True:  # pointer jumping: follow each label to its own label
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        if np.array_equal(label[a], label[b]):
            break
    labels = pd.DataFrame({"i": np.arange(size, dtype=np.int64), "l": label})  # noqa: F841
    found = (
        "SELECT r.record_key, l.record_key AS label FROM labels x "
        "JOIN _id_index r ON r.i = x.i JOIN _id_index l ON l.i = x.l"
    )
    if not again:
        con.execute(f"CREATE OR REPLACE TABLE stage.id_labels AS {found}")
        return rounds
    con.execute(f"CREATE OR REPLACE TEMP TABLE _id_found AS {found}")
    for table in ("stage.id_open", "stage.id_labels"):
        con.execute(
            f"UPDATE {table} SET label = n.label FROM _id_found n "
            f"WHERE {table}.record_key = n.record_key"
        )
    return rounds


def source_priority(con: duckdb.DuckDBPyConnection, config: IdentityConfig) -> None:
    """Step source_priority: the configured order of sources, as `stage.source_priority`."""
    steps.require(con, "source_priority")
    priority = pd.DataFrame(  # noqa: F841 - read by SQL
        {
            "source": list(config.source_priority),
            "priority": [config.priority(s) for s in config.source_priority],
        }
    )
    con.execute("CREATE OR REPLACE TABLE stage.source_priority AS SELECT * FROM priority")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchall()
    return int(row[0][0]) if row and row[0][0] is not None else 0


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return _scalar(con, f"SELECT count(*) FROM {table}")
