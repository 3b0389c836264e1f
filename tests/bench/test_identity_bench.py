"""The identity benchmark's scoring on a hand-built case, and the harness end to end on a
small sandbox organisation."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from bench.identity import address_targets, print_address_quality
from bench.identity_support import (
    NAME_AND_ADDRESS_DEFINITION,
    Quality,
    pairwise_quality,
    run_quality,
)

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


def test_pairwise_quality_restricted_to_pairs_with_a_focus_record():
    con = duckdb.connect()
    truth_rows, predicted_rows = _table(TRUTH, "human_id"), _table(PREDICTED, "cluster")  # noqa: F841
    con.execute("CREATE TABLE truth AS SELECT * FROM truth_rows")
    con.execute("CREATE TABLE predicted AS SELECT * FROM predicted_rows")
    # c and e are known by name and address only.
    focus = "SELECT * FROM (VALUES ('mc', 'c'), ('forms', 'e')) t(source, source_record_id)"
    q = pairwise_quality(con, "hand", "SELECT * FROM predicted", focus=focus)
    # Predicted pairs with c or e: cd, ce, de = 3. True pairs with c or e: ac, bc; de = 3.
    # Both: de = 1. Pairs without c or e (ab, fg) are not counted.
    assert (q.predicted_pairs, q.true_pairs, q.true_positive_pairs) == (3, 3, 1)
    assert q.precision == pytest.approx(1 / 3) and q.recall == pytest.approx(1 / 3)
    # Counted over what holds a focus record: c, e; P2; h1 and h2 (both split or merged).
    assert (q.records, q.people_found, q.true_humans) == (2, 1, 2)
    assert (q.split_humans, q.merged_people, q.unassigned) == (1, 1, 0)


def test_the_name_and_address_table_says_whether_each_target_is_met(capsys):
    ours = Quality("Groundswell", 200, 150, 150, 97, 98, 100, 3, 1, 0)
    splink = Quality("Splink alone, default settings", 200, 170, 150, 60, 70, 100, 40, 5, 0)
    overall = Quality("Groundswell", 8000, 5000, 5000, 9950, 10000, 10200, 60, 2, 0)
    lines = address_targets(overall, [ours, splink])
    assert lines == [
        "Target: name-and-address F1 >= 0.97: 0.9798, met",
        "Target: name-and-address F1 above Splink alone, default settings (0.7059): 0.9798, met",
        "Target: precision over every record >= 0.995: 0.9950, met",
    ]
    worse = Quality("Groundswell", 200, 150, 150, 90, 98, 100, 3, 1, 0)
    assert address_targets(overall, [worse])[0].endswith("NOT met")

    class Run:
        results, address_results = [overall], [ours, splink]

    print_address_quality(Run())
    printed = capsys.readouterr().out
    assert "Name-and-address-only records:" in printed
    assert NAME_AND_ADDRESS_DEFINITION in printed and "0.9898" in printed  # our precision


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
    # The organisation's 300 people and the 3 known only from the paper sign-in sheet.
    assert groundswell.true_humans == 303
    assert groundswell.unassigned == 0  # every source record landed and was resolved
    # Every human's addresses are their own: one email never joins two humans.
    assert email.precision == 1.0
    assert email.recall < 1.0  # some humans appear without a shared address
    assert groundswell.recall >= email.recall
    assert 0.9 <= groundswell.precision <= 1.0
    assert run.identical
    # The name-and-address table: the sheet's rows, scored on the same run.
    (address,) = run.address_results
    assert address.method == "Groundswell" and address.records > 0
    assert address.true_pairs > 0 and address.precision >= 0.9
    assert [s.name for s in run.measured.stages] == ["normalise", "resolve + golden record"]
    assert all(s.seconds > 0 and s.peak_mb > 0 for s in run.measured.stages)
