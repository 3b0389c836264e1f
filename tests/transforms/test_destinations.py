"""What the sync plan reads of each destination comes from the platform's own
`destination.sql` (transforms/destinations.py): a platform without one is no destination of
any plan row, a file that does not write its view is refused naming the file, and message
titles come from the platforms' declarations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from connectors.registry import PLATFORMS
from tests.support.raw import NOW, an_person, land, land_an_tags, mc_member
from transforms.engagement import build_activities, build_person_metrics
from transforms.identity import resolve
from transforms.ladder import build_ladder
from transforms.ladder_config import parse
from transforms.normalise import build_staging
from transforms.segments import build_segments
from transforms.sync_plan import PLATFORM_NAMES, build_plan
from warehouse import platform_sql
from warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[2]
PLAN = "SELECT * FROM stage.sync_plan ORDER BY ALL"


def _ladder():
    """ladder.yaml, creating Mailchimp members for people it lacks (so a destination that
    is not one would show as creates)."""
    data = yaml.safe_load((ROOT / "ladder.yaml").read_text())
    data["sync"] = {"mailchimp": {"add_new_people": True}}
    return parse(data, "ladder.yaml")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Two Action Network people (one carrying a Groundswell tag it should not) and two
    Mailchimp subscribers (one carrying a tag by hand), built up to the lists once."""
    path = tmp_path_factory.mktemp("destinations") / "built.duckdb"
    with connect(path) as con:
        land(
            con,
            an=[
                an_person("Ana", "Lima", "ana.lima@example.org", uuid="u-ana"),
                an_person("Tom", "Keeper", "tom.keeper@example.org", uuid="u-tom"),
            ],
            mc=[
                mc_member("Ana", "Lima", "ana.lima@example.org"),
                mc_member("Bo", "Reed", "bo.reed@example.org", tags=("volunteer",)),
            ],
        )
        land_an_tags(con, {"groundswell:activist": ["u-ana"], "volunteer": ["u-tom"]})
        ladder = _ladder()
        build_staging(con, "US")
        resolve(con, NOW)
        build_activities(con)
        build_person_metrics(con, NOW)
        build_ladder(con, ladder, NOW)
        build_segments(con, ladder, NOW)
    return path


@pytest.fixture
def con(built, tmp_path):
    copy = tmp_path / "w.duckdb"
    shutil.copy(built, copy)
    with connect(copy) as connection:
        yield connection


def test_each_destination_plans_from_its_own_file(con):
    ladder = _ladder()
    build_plan(con, ladder, "run-1", NOW)
    assert con.execute("SELECT destination FROM stage.destinations").fetchall() == [
        ("action_network",),
        ("mailchimp",),
    ]
    ops = con.execute(
        "SELECT destination, op, item, remote_id FROM stage.sync_plan ORDER BY ALL"
    ).fetchall()
    # Action Network: the tag nobody should carry comes off by the id its taggings read gave.
    assert ("action_network", "remove", "groundswell:activist", "g1-u-ana") in ops
    assert {(d, op) for d, op, _, _ in ops} >= {("mailchimp", "add"), ("mailchimp", "create")}
    counts = con.execute("SELECT destination FROM stage.sync_plan_counts ORDER BY 1").fetchall()
    assert counts == [("action_network",), ("mailchimp",)]


def test_a_platform_without_destination_sql_is_no_destination(con, monkeypatch):
    ladder = _ladder()
    build_plan(con, ladder, "run-1", NOW)
    before = con.execute(PLAN).fetchall()
    assert {r[0] for r in before} == {"action_network", "mailchimp"}
    # Forms exports have no destination.sql: never a destination.
    assert "forms" not in platform_sql.files("destination")
    monkeypatch.delitem(platform_sql._FILES["destination"], "mailchimp")
    build_plan(con, ladder, "run-2", NOW)
    after = con.execute(PLAN).fetchall()
    assert {r[0] for r in after} == {"action_network"}
    assert [r[:-1] for r in after] == [r[:-1] for r in before if r[0] == "action_network"]
    counts = con.execute("SELECT destination FROM stage.sync_plan_counts").fetchall()
    assert counts == [("action_network",)]


def test_a_destination_file_that_does_not_write_its_view_is_refused(con, monkeypatch, tmp_path):
    ladder = _ladder()
    build_plan(con, ladder, "run-1", NOW)
    good = con.execute(PLAN).fetchall()
    bad = tmp_path / "example" / "destination.sql"
    bad.parent.mkdir()
    bad.write_text(
        "-- step: destination_example\n-- reads: -\n"
        "-- writes: stage.destination_tags_example\n-- params: -\n-- udfs: -\n\n"
        "CREATE OR REPLACE VIEW stage.destination_tags_example AS "
        "SELECT 'example' AS destination, 'x' AS tag;\n"
    )
    monkeypatch.setitem(platform_sql._FILES["destination"], "example", bad)
    with pytest.raises(ValueError) as refused:
        build_plan(con, ladder, "run-2", NOW)
    assert str(bad) in str(refused.value)
    assert "stage.destination_seen_example" in str(refused.value)
    assert con.execute(PLAN).fetchall() == good, "the last good plan is kept"


def test_message_titles_are_the_platforms_own():
    assert PLATFORM_NAMES is platform_sql.TITLES
    assert {p.name: p.title for p in PLATFORMS}.items() <= PLATFORM_NAMES.items()
    assert PLATFORM_NAMES["action_network"] == "Action Network"
    assert PLATFORM_NAMES["mailchimp"] == "Mailchimp"
