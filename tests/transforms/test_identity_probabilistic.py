"""Probabilistic scoring on a generated organisation: it links, it queues the unsure pairs
for review, the volunteer's decisions are honoured on the next run, and the same input
gives the same links."""

from datetime import timedelta

import pandas as pd
import pytest

from tests.support.raw import NOW
from tests.support.staged import staged_organisation
from transforms.identity import resolve
from transforms.identity_config import parse_identity_config


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    with staged_organisation(tmp_path_factory.mktemp("org")) as con:
        yield con


@pytest.fixture(scope="module")
def first(warehouse):
    """The first resolve with the default configuration (training is the slow part, so the
    tests share it): its counts, links and review queue, as they were then."""
    counts = resolve(warehouse, NOW)
    return {
        "counts": counts,
        "links": links(warehouse, "probabilistic"),
        "sure": sorted(
            warehouse.execute(
                "SELECT record_a, record_b FROM identity_links "
                "WHERE rule = 'probabilistic' AND match_probability >= 0.999"
            ).fetchall()
        ),
        "review": sorted(
            warehouse.execute("SELECT record_a, record_b FROM identity_review").fetchall()
        ),
    }


def decide(a: str, b: str, decision: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"record_a": [a], "record_b": [b], "decision": [decision], "line_number": [2]}
    )


def links(con, rule: str) -> set[tuple[str, str]]:
    return set(
        con.execute(
            "SELECT record_a, record_b FROM identity_links WHERE rule = ?", [rule]
        ).fetchall()
    )


def person(con, record_key: str) -> str:
    return con.execute(
        "SELECT person_id FROM person_sources WHERE source || ':' || source_record_id = ?",
        [record_key],
    ).fetchall()[0][0]


def test_scores_links_and_queues_review(warehouse, first):
    counts = first["counts"]
    assert counts["probabilistic"] == "scored"
    assert counts["links_probabilistic"] > 0
    # Seeded training: the same input gives the same links.
    resolve(warehouse, NOW + timedelta(hours=1))
    assert links(warehouse, "probabilistic") == first["links"]


def test_rejected_pair_is_not_linked_and_accepted_pair_is(warehouse, first):
    # Both decisions and the stricter threshold in one run (one training). The same input
    # gives the same scores (test above), so the first run says what each pair would be
    # without a decision: (a, b) linked even at 0.999, (c, d) unsure at any threshold.
    assert first["sure"] and first["review"], "a sure pair and an unsure one to decide"
    a, b = first["sure"][0]
    c, d = first["review"][0]
    # A stricter link threshold leaves a band of unsure pairs for a person to decide.
    strict = parse_identity_config({"probabilistic": {"link_threshold": 0.999}})
    decisions = pd.concat([decide(a, b, "reject"), decide(c, d, "accept")], ignore_index=True)
    decisions["line_number"] = [2, 3]
    counts = resolve(warehouse, NOW + timedelta(days=1), strict, decisions)
    assert counts["decisions_applied"] == 2
    assert (a, b) not in links(warehouse, "probabilistic")

    pending = warehouse.execute(
        "SELECT record_a, record_b FROM identity_review ORDER BY match_probability DESC"
    ).fetchall()
    assert counts["review_pending"] == len(pending)
    assert pending, "some pairs wait for a person's decision"
    assert person(warehouse, c) == person(warehouse, d)
    assert (c, d) in links(warehouse, "review")
    queued = warehouse.execute(
        "SELECT count(*) FROM identity_review WHERE record_a = ? AND record_b = ?", [c, d]
    ).fetchall()[0][0]
    assert queued == 0


def test_too_few_records_leaves_the_rules_to_decide(warehouse):
    config = parse_identity_config({"probabilistic": {"min_records": 10_000_000}})
    counts = resolve(warehouse, NOW, config)
    assert counts["probabilistic"].startswith("skipped")
    assert counts["links_probabilistic"] == 0


def test_a_large_organisation_trains_on_a_repeatable_sample(warehouse):
    config = parse_identity_config({"probabilistic": {"train_records": 1200}})
    said: list[str] = []
    counts = resolve(warehouse, NOW, config, log=said.append)
    assert counts["probabilistic"] == "scored" and counts["links_probabilistic"] > 0
    trained = next(line for line in said if line.startswith("Probabilistic model trained"))
    records = warehouse.execute(
        "SELECT count(*) FROM stg_source_records WHERE NOT is_empty"
    ).fetchone()[0]
    assert records > 2000  # the organisation, its paper sign-in sheet among them
    assert f" of {records} records" in trained and not trained.startswith(
        f"Probabilistic model trained on {records}"
    )
    first = links(warehouse, "probabilistic")
    resolve(warehouse, NOW, config)
    assert links(warehouse, "probabilistic") == first


def test_a_rare_level_no_random_pair_fell_in_gets_three_in_the_pairs_sampled():
    """Splink leaves such a level on a generic default (about 1 in 1,000, far too common
    for a shared phone or street address); the sample says at most 3 in its pairs. A fuzzy
    level keeps Splink's default: namesakes' emails are one letter apart far more often
    than random pairs'."""
    from transforms.identity_scoring import unseen_u

    def level(label: str, **values) -> dict:
        return {"label_for_charts": label, **values}

    def model() -> dict:
        return {
            "comparisons": [
                {
                    "output_column_name": "street",
                    "comparison_levels": [
                        level("street missing", is_null_level=True),
                        level("Same number and street", m_probability=1.0),  # never sampled
                        level("Same number, street missing", m_probability=0.01),
                        level("All other comparisons", u_probability=0.99),
                    ],
                },
                {
                    "output_column_name": "phone_key",
                    "comparison_levels": [level("Exact match on phone_key", u_probability=4e-6)],
                },
                {
                    "output_column_name": "email",
                    "comparison_levels": [level("Levenshtein distance of email_key <= 1")],
                },
            ]
        }

    street, phone, email = unseen_u(model(), 1_000_000)["comparisons"]
    assert [lv.get("u_probability") for lv in street["comparison_levels"]] == [
        None,
        3e-6,
        None,
        0.99,
    ]
    assert phone["comparison_levels"][0]["u_probability"] == 4e-6  # sampled: kept
    assert "u_probability" not in email["comparison_levels"][0]
    # A sample of under 3,000 pairs bounds nothing Splink's default does not.
    few = unseen_u(model(), 2_000)["comparisons"][0]
    assert "u_probability" not in few["comparison_levels"][1]


def test_a_rare_level_the_sample_missed_gets_the_bound_in_the_trained_model(warehouse, first):
    """Trained as a run trains it, on the organisation with every street name made unique
    (a hash of the record), so no random pair can share a street: that level's u is the
    sample's bound, not Splink's default, and every other rare level has its own u too."""
    from splink import DuckDBAPI, Linker

    from transforms.identity_scoring import (
        INPUT_VIEW,
        RARE_LEVELS,
        U_MAX_PAIRS,
        _input_table,
        _train,
    )

    settings = parse_identity_config({}).probabilistic
    _input_table(warehouse, INPUT_VIEW, "TRUE")
    try:
        warehouse.execute(
            "CREATE OR REPLACE TEMP TABLE _unique_streets AS "
            f"SELECT * REPLACE (md5(record_key) AS street_name) FROM {INPUT_VIEW}"
        )
        records = warehouse.execute("SELECT count(*) FROM _unique_streets").fetchall()[0][0]
        table = DuckDBAPI(connection=warehouse).register("_unique_streets")
        model = _train(lambda m: Linker(table, m), settings, records)
    finally:
        warehouse.execute(f"DROP TABLE IF EXISTS {INPUT_VIEW}")
        warehouse.execute("DROP TABLE IF EXISTS _unique_streets")
    u = {
        (c["output_column_name"], lv.get("label_for_charts")): lv.get("u_probability")
        for c in model["comparisons"]
        for lv in c["comparison_levels"]
    }
    assert u.keys() >= RARE_LEVELS  # the names still match the comparisons' levels
    assert u[("street", "Same number and street")] == 3 / U_MAX_PAIRS
    assert all(u[rare] is not None and 0 < u[rare] < 0.001 for rare in RARE_LEVELS)
