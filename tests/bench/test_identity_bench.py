"""The identity benchmark's scoring on a hand-built case, and the harness end to end on a
small sandbox organisation."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from bench.identity_support import Quality, pairwise_quality, run_quality

# Three humans: h1 has records a, b, c; h2 has d, e; h3 has f, g.
TRUTH = [
    ("an", "a", "h1"),
    ("an", "b", "h1"),
    ("mc", "c", "h1"),
    ("mc", "d", "h2"),
    ("forms", "e", "h2"),
    ("an", "f", "h3"),
    ("mc", "g", "h3"),
]
# Predicted: {a, b}, {c, d, e} (h1 split, and merged with h2), {f}; g was given no person.
PREDICTED = [
    ("an", "a", "P1"),
    ("an", "b", "P1"),
    ("mc", "c", "P2"),
    ("mc", "d", "P2"),
    ("forms", "e", "P2"),
    ("an", "f", "P3"),
    ("an", "not-in-truth", "P3"),
]


def _table(rows, third: str) -> pa.Table:
    source, record, value = zip(*rows, strict=True)
    return pa.table({"source": source, "source_record_id": record, third: value})


def test_pairwise_quality_on_a_hand_built_case():
    con = duckdb.connect()
    truth_rows, predicted_rows = _table(TRUTH, "human_id"), _table(PREDICTED, "cluster")  # noqa: F841
    con.execute("CREATE TABLE truth AS SELECT * FROM truth_rows")
    con.execute("CREATE TABLE predicted AS SELECT * FROM predicted_rows")
    q = pairwise_quality(con, "hand", "SELECT * FROM predicted")
    # Predicted pairs: ab; cd, ce, de = 4 (g alone, the extra record is not scored).
    # True pairs: ab, ac, bc; de; fg = 5. Both: ab, de = 2.
    assert (q.predicted_pairs, q.true_pairs, q.true_positive_pairs) == (4, 5, 2)
    assert q.precision == pytest.approx(0.5)
    assert q.recall == pytest.approx(0.4)
    assert q.f1 == pytest.approx(2 * 0.5 * 0.4 / 0.9)
    assert (q.records, q.people_found, q.true_humans) == (7, 4, 3)
    assert q.split_humans == 2  # h1 over P1 and P2, h3 over P3 and g alone
    assert q.merged_people == 1  # P2 holds h1 and h2
    assert q.unassigned == 1


def test_perfect_and_empty_clusterings():
    assert Quality("x", 3, 3, 3, 0, 0, 0, 0, 0, 0).precision == 1.0
    assert Quality("x", 3, 3, 3, 0, 0, 0, 0, 0, 0).recall == 1.0
    con = duckdb.connect()
    truth_rows = _table(TRUTH, "human_id")  # noqa: F841
    con.execute("CREATE TABLE truth AS SELECT * FROM truth_rows")
    same = pairwise_quality(
        con, "truth itself", "SELECT source, source_record_id, human_id AS cluster FROM truth"
    )
    assert (same.precision, same.recall, same.split_humans, same.merged_people) == (1, 1, 0, 0)


def test_harness_on_a_small_organisation(tmp_path):
    run = run_quality(300, 42, workdir=tmp_path, splink=False, log=lambda _m: None)
    groundswell, email = run.results
    assert groundswell.method == "Groundswell" and email.method == "Exact email only"
    assert run.landed.records == groundswell.records == email.records
    assert groundswell.true_humans == 300
    assert groundswell.unassigned == 0  # every source record landed and was resolved
    # Every human's addresses are their own: one email never joins two humans.
    assert email.precision == 1.0
    assert email.recall < 1.0  # some humans appear without a shared address
    assert groundswell.recall >= email.recall
    assert 0.9 <= groundswell.precision <= 1.0
    assert run.identical
    assert [s.name for s in run.measured.stages] == ["normalise", "resolve + golden record"]
    assert all(s.seconds > 0 and s.peak_mb > 0 for s in run.measured.stages)
