"""Each platform's activities SQL (connectors/<platform>/activities.sql, registered by
connectors/registry.py) runs as a step file of its own and is unioned by name into what
activities.sql reads; a platform without one contributes only the shared rules."""

from __future__ import annotations

import pytest

from tests.support.raw import NOW, an_person, land, mc_member
from transforms.engagement import STATS_KEYS, activity_stats, build_activities
from transforms.identity import resolve
from transforms.normalise import build_staging
from warehouse import platform_sql


def small_world(con) -> None:
    land(
        con,
        an=[an_person("Ana", "Lima", "ana@example.org", status="unsubscribed")],
        mc=[mc_member("Bo", "Ng", "bo@example.org")],
    )
    build_staging(con, "US")
    resolve(con, NOW)


def test_every_platform_registers_its_activities_file():
    files = platform_sql.activities_files()
    assert list(files) == ["action_network", "mailchimp", "forms"]
    for platform, path in files.items():
        assert path.parts[-2:] == (platform, "activities.sql")
        assert path.is_file()


def test_a_platform_without_activities_sql_keeps_only_the_shared_rules(con, monkeypatch):
    small_world(con)
    monkeypatch.delitem(platform_sql._FILES["activities"], "action_network")
    build_activities(con)
    # Action Network's joined row is its own rule; its unsubscribe is the shared one.
    found = con.execute(
        "SELECT source, activity_type, channel FROM activities ORDER BY ALL"
    ).fetchall()
    assert found == [
        ("action_network", "unsubscribe", "email"),
        ("mailchimp", "joined", "email"),
    ]
    # The run's metadata keeps its keys whichever platforms wrote them.
    stats = activity_stats(con)
    assert {key: stats[key] for key in STATS_KEYS} == dict.fromkeys(STATS_KEYS, 0)


def test_an_activities_file_must_write_its_platform_view(con, tmp_path, monkeypatch):
    small_world(con)
    wrong = tmp_path / "activities.sql"
    wrong.write_text(
        "-- step: activities_example\n-- reads: -\n-- writes: stage.other\n"
        "-- params: -\n-- udfs: -\nCREATE OR REPLACE TABLE stage.other AS SELECT 1 AS x;\n"
    )
    monkeypatch.setitem(platform_sql._FILES["activities"], "example", wrong)
    with pytest.raises(ValueError, match=r"writes stage\.activities_example"):
        build_activities(con)
