"""The ladder and ladder_movement assets in Dagster: history per run, and movement shown as
a table of counts in the materialisation's metadata."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.assets.engagement import ladder, ladder_movement
from pipelines.resources import GroundswellSettings
from tests.support.metrics_rows import put_metrics
from warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[2]


def test_movement_metadata_is_a_table_of_counts(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    con = connect(database)
    try:
        put_metrics(
            con,
            {"a": {"actions_365d": 1, "email": "a@example.org"}, "b": {"email_reachable": True}},
        )
    finally:
        con.close()
    resources = {
        "warehouse": DuckDBResource(database=str(database)),
        "groundswell": GroundswellSettings(ladder_config=str(ROOT / "ladder.yaml")),
    }
    first = dg.materialize([ladder, ladder_movement], resources=resources)
    assert first.success
    con = connect(database)
    try:
        put_metrics(con, {"a": {"actions_90d": 3, "actions_365d": 3}, "c": {}})
    finally:
        con.close()
    second = dg.materialize([ladder, ladder_movement], resources=resources)
    assert second.success

    con = connect(database)
    try:
        runs = con.execute("SELECT count(DISTINCT computed_at) FROM ladder_history").fetchone()
    finally:
        con.close()
    assert runs == (2,)
    metadata = second.asset_materializations_for_node("ladder_movement")[0].metadata
    table = metadata["movement_last_run"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == [
        "rung",
        "was",
        "now",
        "stayed",
        "moved_up",
        "moved_down",
        "left",
        "arrived",
        "conversion",
    ]
    rows = {r.data["rung"]: r.data for r in table.records}
    assert rows["supporter"]["moved_up"] == 1 and rows["supporter"]["conversion"] == 1.0
    assert rows["subscriber"]["left"] == 1
    assert rows["lapsed"]["arrived"] == 1
    assert metadata["baseline_30d"].value == "no run yet"
    text = str(metadata)
    assert "example.org" not in text and "person_id" not in text


ADDRESS = "hidden.person@example.org"


def test_a_rule_failing_on_the_data_leaves_no_address_in_dagster_storage(tmp_path):
    """Issue 11, case 8: `CAST(email AS INTEGER)` passes the check on no rows, then fails on
    the data. The step fails naming the rung and its rule; the address is nowhere in the
    run's events, logs or anything Dagster stored on disk."""
    database = tmp_path / "warehouse.duckdb"
    con = connect(database)
    try:
        put_metrics(con, {"a": {"email": ADDRESS}, "b": {"email_reachable": True}})
    finally:
        con.close()
    ladder_file = tmp_path / "ladder.yaml"
    ladder_file.write_text(
        "namespace: 'gs:'\n"
        "rungs:\n"
        "  - name: casting\n"
        "    where: CAST(email AS INTEGER) > 0\n"
        "  - name: rest\n"
        "    where: 'true'\n"
    )
    resources = {
        "warehouse": DuckDBResource(database=str(database)),
        "groundswell": GroundswellSettings(ladder_config=str(ladder_file)),
    }
    home = tmp_path / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize(
            [ladder], resources=resources, instance=instance, raise_on_error=False
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.message
        assert "rung 'casting'" in message and "CAST(email AS INTEGER) > 0" in message
        assert "ConversionException" in message
        events = " ".join(repr(r) for r in instance.all_logs(result.run_id))
        assert ADDRESS not in events and ADDRESS not in repr(failure.step_failure_data)
    stored = [p for p in home.rglob("*") if p.is_file() and ADDRESS.encode() in p.read_bytes()]
    assert stored == [], "the address reached Dagster's storage"
