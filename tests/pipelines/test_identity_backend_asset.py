"""identity.yaml asking for Spark where Spark cannot start: the identity step fails once
(not retried), in words naming the setting and what to do, and the people already in the
warehouse stay as they were."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_duckdb import DuckDBResource

from pipelines.assets.identity import identity
from pipelines.resources import GroundswellSettings
from tests.support.staged import staged_organisation
from transforms.identity import resolve
from warehouse.connection import connect
from warehouse.load import utcnow

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is not None,
    reason="pyspark is installed here, so Spark can start: the refusal cannot be shown",
)
def test_spark_that_cannot_start_fails_the_identity_step_in_words(tmp_path):
    with staged_organisation(tmp_path, people=300) as con:
        resolve(con, utcnow())  # the people a first run made
        before = con.execute("SELECT count(*), min(person_id) FROM people").fetchone()
    config = tmp_path / "identity.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "probabilistic": {"backend": "spark", "min_records": 1},
                "review": {
                    "review_file": str(tmp_path / "review.csv"),
                    "decisions_file": str(tmp_path / "decisions.csv"),
                },
            }
        )
    )
    result = dg.materialize(
        [identity],
        resources={
            "warehouse": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
            "groundswell": GroundswellSettings(
                identity_config=str(config), ladder_config=str(ROOT / "ladder.yaml")
            ),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    said = failure.step_failure_data.user_failure_data.description
    assert "probabilistic.backend: spark" in said and "backend: duckdb" in said
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        assert con.execute("SELECT count(*), min(person_id) FROM people").fetchone() == before
    finally:
        con.close()
