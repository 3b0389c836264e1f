"""The `teams` asset in Dagster: after the ladder, before the lists; counts only in its
metadata; a broken teams file fails the step by name with nothing written. (On the
generated sandbox organisation the shipped teams.yaml puts most people in a team and some
in none: tests/test_end_to_end.py checks it on its run.)"""

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_duckdb import DuckDBResource

from pipelines.assets.engagement import ladder, ladder_movement, teams
from pipelines.resources import GroundswellSettings
from tests.support.metrics_rows import put_metrics
from warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "hidden.person@example.org"
METADATA = {"teams", "members", "memberships", "people_in_no_team", "teams_without_organisers"}


def _teams_file(path: Path, teams: list[dict]) -> str:
    path.write_text(yaml.safe_dump({"teams": teams}, sort_keys=False))
    return str(path)


def test_teams_asset_reports_counts_and_a_broken_file_fails_with_nothing_written(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    con = connect(database)
    try:
        put_metrics(
            con,
            {
                "a": {"email": ADDRESS, "region": "TX", "actions_365d": 1},
                "b": {"email_reachable": True, "region": "TX"},
                "c": {"email_reachable": True, "region": "NY"},
            },
        )
    finally:
        con.close()
    good = [
        {"name": "Texas", "where": "region = 'TX'", "organisers": ["lead@example.org"]},
        {"name": "Forming", "where": "actions_365d >= 1"},
    ]
    config = _teams_file(tmp_path / "teams.yaml", good)
    resources = {
        "warehouse": DuckDBResource(database=str(database)),
        "groundswell": GroundswellSettings(
            ladder_config=str(ROOT / "ladder.yaml"), teams_config=config
        ),
    }
    first = dg.materialize([ladder, ladder_movement, teams], resources=resources)
    assert first.success
    metadata = first.asset_materializations_for_node("teams")[0].metadata
    assert {k: v.value for k, v in metadata.items()} == {
        "teams": 2,
        "members": 2,
        "memberships": 3,
        "people_in_no_team": 1,
        "teams_without_organisers": 1,
    }

    bad = [
        (
            {"name": "Bad", "where": "regin = 'TX'"},
            f"{config}: teams[3].where (team 'Bad'): unknown column 'regin'; did you mean "
            "'region'?",
        ),
        (
            {"name": "texas", "where": "true"},
            f"{config}: team 'texas' appears twice; team names must be unique",
        ),
        (
            {"name": "Bad", "where": "true", "organisers": ADDRESS},
            f"{config}: teams[3].organisers: must be a list, each an email address",
        ),
    ]
    for team, expected in bad:
        _teams_file(tmp_path / "teams.yaml", [*good, team])
        # The step itself, invoked directly: it fails once, not retried, naming the problem.
        with pytest.raises(dg.Failure) as failed:
            teams(dg.build_asset_context(), **resources)
        message = failed.value.description
        assert message.startswith(expected), message
        assert ADDRESS not in message and failed.value.allow_retries is False
        con = connect(database)
        try:
            kept = con.execute("SELECT team, person_id FROM team_members ORDER BY ALL").fetchall()
        finally:
            con.close()
        assert kept == [("Forming", "a"), ("Texas", "a"), ("Texas", "b")], "nothing written"
