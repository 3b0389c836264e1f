"""Where Splink scores (identity.yaml's probabilistic.backend): DuckDB by default, Spark
past one machine, with the same model. The Spark run needs pyspark (the `spark` extra)
and Java 17; without them its test says skipped and why, and asking for Spark where it
cannot start fails naming the setting and what to do, leaving the warehouse as it was."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tests.support.raw import NOW
from tests.support.staged import staged_organisation
from transforms.identity import resolve
from transforms.identity_config import IdentityConfigError, parse_identity_config
from transforms.identity_scoring import IdentityScoringError

HAS_SPARK = importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None
NO_SPARK = "pyspark is not installed (pip install -e '.[spark]') or Java is missing"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    with staged_organisation(tmp_path_factory.mktemp("org")) as con:
        yield con


def config(backend: str):
    return parse_identity_config({"probabilistic": {"backend": backend}})


def test_the_backend_is_duckdb_unless_set_and_nothing_else_is_taken():
    assert parse_identity_config({}).probabilistic.backend == "duckdb"
    assert config("spark").probabilistic.spark_master == "local[*]"
    with pytest.raises(
        IdentityConfigError, match=r"probabilistic\.backend: must be duckdb or spark"
    ):
        config("postgres")


@pytest.mark.skipif(HAS_SPARK, reason="pyspark is installed here: Spark starts")
def test_spark_where_it_cannot_start_fails_naming_the_setting_and_keeps_the_warehouse(staged):
    resolve(staged, NOW)  # a first run on DuckDB
    people = staged.execute("SELECT count(*), min(person_id) FROM people").fetchone()
    with pytest.raises(IdentityScoringError) as failed:
        resolve(staged, NOW, config("spark"))
    said = str(failed.value)
    assert "probabilistic.backend: spark" in said and "pip install -e '.[spark]'" in said
    assert "backend: duckdb" in said
    assert staged.execute("SELECT count(*), min(person_id) FROM people").fetchone() == people


def pairs(con) -> set[tuple[str, str]]:
    return set(
        con.execute(
            "SELECT record_a, record_b FROM identity_links WHERE rule = 'probabilistic'"
        ).fetchall()
    )


@pytest.mark.skipif(not HAS_SPARK, reason=NO_SPARK)
def test_spark_scores_with_the_same_model_as_duckdb(staged):
    resolve(staged, NOW)
    on_duckdb = pairs(staged)
    people = staged.execute("SELECT count(*) FROM people").fetchone()[0]
    resolve(staged, NOW, config("spark"))
    on_spark = pairs(staged)
    assert on_duckdb and on_spark
    # The same settings, trained on the same records: u is sampled by each engine's own
    # random generator, so a pair near the threshold may fall either side.
    assert len(on_duckdb & on_spark) / len(on_duckdb | on_spark) >= 0.97
    assert abs(staged.execute("SELECT count(*) FROM people").fetchone()[0] - people) <= 3
