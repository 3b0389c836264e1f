"""The portal benchmark's harness end to end on the small test organisation: accounts made
through portal.auth, the portal served by uvicorn in a process of its own, organisers
signed in over HTTP, a second of concurrent browsing and downloads, and the report."""

from __future__ import annotations

import time

import pytest

from bench import portal as bench
from tests.portal.organisation import built


@pytest.fixture
def org(tmp_path_factory):
    return built(tmp_path_factory)


def test_the_portal_benchmark_measures_every_page_kind_without_errors(org, tmp_path, capsys):
    lists_s, publish_s, counts = bench.publish_timed(
        org.warehouse, tmp_path / "snapshot.duckdb", time_now(), org.ladder_file
    )
    assert counts["people"] == 5 and lists_s > 0 and publish_s > 0
    store = tmp_path / "portal.db"
    accounts = bench.organisers(org.teams_file, 50)
    assert [team for _, team in accounts] == ["North Austin", "East Austin"]
    bench.make_accounts(store, org.teams_file, accounts)
    child, url = bench.start_server(store, org.teams_file, tmp_path / "snapshot.duckdb")
    try:
        sessions = {team: bench.sign_in(url, email) for email, team in accounts}
        plans = bench.plans(tmp_path / "snapshot.duckdb", list(sessions))
        results = bench.Results()
        until = time.monotonic() + 1.5
        for i, team in enumerate(sessions):
            bench.client(url, sessions[team], plans[team], until, 0, results, i)
        xlsx = bench.xlsx_timing(tmp_path / "snapshot.duckdb", url, sessions)
    finally:
        child.terminate()
        child.wait(timeout=30)
    assert results.errors == {}
    assert xlsx["rows"] == bench.XLSX_ROWS and xlsx["http"]["status"] == 200

    class Args:
        clients, think = 2, 0.0

    figures = bench.report(Args, 6, counts, lists_s, publish_s, results, 3.0, xlsx)
    assert sum(p["requests"] for p in figures["pages"].values()) > 5
    printed = capsys.readouterr().out
    assert "team_home" in printed and "p95 ms" in printed and "XLSX of 10,000 rows" in printed


def time_now():
    from tests.support.raw import NOW

    return NOW
