"""The warehouse connection is released even when the step using it fails."""

import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests
from dagster_duckdb import DuckDBResource

from pipelines.resources import PlatformResource, open_warehouse
from sandbox import start_sandbox
from tests.support.pipeline import configure, run_job
from warehouse.connection import connect


def test_connection_is_closed_when_the_body_raises(tmp_path):
    path = tmp_path / "w.duckdb"
    resource = DuckDBResource(database=str(path))
    with pytest.raises(RuntimeError), open_warehouse(resource) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("the step failed")
    # A read-only open fails while any read-write connection to the file is alive.
    reader = duckdb.connect(str(path), read_only=True)
    assert reader.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1
    reader.close()


def test_connection_is_migrated_and_in_utc(tmp_path):
    resource = DuckDBResource(database=str(tmp_path / "sub" / "w.duckdb"))
    with open_warehouse(resource) as con:
        assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
        assert con.execute("SELECT count(*) FROM people").fetchone()[0] == 0


def _damaged_in_the_middle(path: Path) -> bytes:
    """A warehouse whose catalog opens but whose table data is zeroed in the middle, so
    the damage shows only when a step reads the rows."""
    con = connect(path)
    con.execute(
        "CREATE TABLE kept AS SELECT range AS n, md5(range::VARCHAR) AS h FROM range(300000)"
    )
    con.close()
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = bytes(third)
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_warehouse_cut_in_half_fails_once_in_words_and_is_left_as_it_was(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    con.execute("CREATE TABLE kept AS SELECT range AS n FROM range(100000)")
    con.close()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    broken = path.read_bytes()
    started = time.monotonic()
    with pytest.raises(dg.Failure) as raised, open_warehouse(DuckDBResource(database=str(path))):
        pass
    assert time.monotonic() - started < 5, "not retried (dagster-duckdb waited ~100 s)"
    assert raised.value.allow_retries is False, "the source assets' RetryPolicy must not repeat it"
    assert "is damaged" in raised.value.description and str(path) in raised.value.description
    assert path.read_bytes() == broken


def test_damage_found_mid_step_fails_in_words_and_the_file_is_not_rewritten(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    broken = _damaged_in_the_middle(path)
    with (
        pytest.raises(dg.Failure) as raised,
        open_warehouse(DuckDBResource(database=str(path))) as con,
    ):
        con.execute("CREATE TABLE step_output AS SELECT 1 AS x")  # a write before the damage
        con.execute("SELECT sum(n), count(DISTINCT h) FROM kept").fetchall()
    assert raised.value.allow_retries is False
    assert "is damaged" in raised.value.description and "backup of it" in raised.value.description
    assert path.read_bytes() == broken, "closing did not checkpoint into the damaged file"


def test_a_bad_memory_limit_fails_the_step_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "banana")
    with (
        pytest.raises(dg.Failure) as raised,
        open_warehouse(DuckDBResource(database=str(tmp_path / "w.duckdb"))),
    ):
        pass
    assert raised.value.allow_retries is False
    assert "DUCKDB_MEMORY_LIMIT='banana'" in raised.value.description


def test_a_mailchimp_key_without_its_data_centre_is_not_retried():
    settings = {"MAILCHIMP_LIST_ID": "abc123"}
    resource = PlatformResource(platform="mailchimp", api_key="0123456789abcdef", settings=settings)
    with pytest.raises(dg.Failure) as raised:
        resource.client()
    assert raised.value.allow_retries is False
    assert "MAILCHIMP_API_KEY" in raised.value.description
    assert "0123456789abcdef" not in raised.value.description
    assert PlatformResource(
        platform="mailchimp",
        api_key="0123456789abcdef",
        settings={**settings, "MAILCHIMP_BASE_URL": "https://us6.api.mailchimp.com/3.0"},
    ).client()


def test_a_mailchimp_audience_without_its_list_id_is_not_retried():
    resource = PlatformResource(platform="mailchimp", api_key="0123456789abcdef-us6")
    with pytest.raises(dg.Failure) as raised:
        resource.client()
    assert raised.value.allow_retries is False
    assert "MAILCHIMP_LIST_ID is not set" in raised.value.description


@pytest.fixture
def platforms(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with start_sandbox(people=200, seed=8, an_rate=0, forms_dir=inbox) as running:
        yield running, inbox


def test_a_run_on_a_damaged_warehouse_stops_at_once_and_asks_nothing(
    platforms, tmp_path, monkeypatch
):
    running, inbox = platforms
    (tmp_path / "run").mkdir()
    warehouse = configure(monkeypatch, tmp_path / "run", running.env, inbox)
    con = connect(warehouse)
    con.execute("CREATE TABLE kept AS SELECT range AS n FROM range(100000)")
    con.close()
    warehouse.write_bytes(warehouse.read_bytes()[: warehouse.stat().st_size // 2])
    broken = warehouse.read_bytes()
    started = time.monotonic()
    result = run_job()
    assert time.monotonic() - started < 60
    assert not result.success
    failures = {
        e.step_key: e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    }
    assert failures and all("is damaged" in m for m in failures.values()), failures
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    stats = [
        requests.get(running.env[v].rsplit(s, 1)[0] + "/_sandbox/stats", timeout=5).json()
        for v, s in (("ACTION_NETWORK_BASE_URL", "/api/v2"), ("MAILCHIMP_BASE_URL", "/3.0"))
    ]
    assert sum(sum(s["requests"].values()) for s in stats) == 0, "no platform was asked"
    assert warehouse.read_bytes() == broken
