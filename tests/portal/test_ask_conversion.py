"""Which asks work (issue 15 part 5) on the portal: the snapshot copies ask_conversion
(counts only, the newest computation, teams it holds), the data functions read a team's own
rows only, the team page and HQ's overview show the figures as a chart and a table, and an
empty table, a warehouse without it or a snapshot published before it say so in words."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from portal import charts, data
from tests.portal.conftest import signed_in_browser
from tests.portal.organisation import EAST, NORTH, Organisation, built
from tests.portal.test_pages import EAST_URL, NORTH_URL, serve
from tests.support.raw import NOW
from warehouse.connection import connect
from warehouse.snapshot import publish

# (period, list, team, entered, reached, succeeded, rate, median days, in window,
#  same-rung people, same-rung succeeded, same-rung rate); figures chosen to be findable.
ROWS = [
    ("90d", "call", NORTH, 40, 25, 10, 0.25, 4.5, 6, 200, 16, 0.08),
    ("90d", "mail", NORTH, 0, 0, 0, None, None, 0, 0, 0, None),
    ("90d", "call", EAST, 613, 401, 377, 377 / 613, 2.0, 0, 4321, 432, 0.1),
    ("90d", "mail", EAST, 52, 3, 1, 1 / 52, 11.0, 0, 880, 9, 9 / 880),
    ("90d", "call", None, 653, 426, 387, 387 / 653, 2.5, 6, 4521, 448, 448 / 4521),
    ("90d", "mail", None, 52, 3, 1, 1 / 52, 11.0, 0, 880, 9, 9 / 880),
    ("30d", "call", NORTH, 11, 9, 3, 3 / 11, 1.0, 11, 70, 2, 2 / 70),
    ("30d", "call", None, 111, 19, 13, 13 / 111, 1.0, 50, 700, 20, 20 / 700),
    # A team the snapshot does not hold: left out of it.
    ("90d", "call", "Gone Team", 999, 998, 997, 0.998, 1.0, 0, 10, 1, 0.1),
]
# An earlier computation left in the table: only the newest is copied.
OLD = ("90d", "call", NORTH, 7777, 0, 0, 0.0, None, 0, 0, 0, None)


_MEASURED: dict[str, tuple[Organisation, Path]] = {}


def measured_organisation(factory) -> tuple[Organisation, Path]:
    """The test organisation's warehouse, copied, with ask_conversion filled, and its
    snapshot; built once per test process (`factory`: tmp_path_factory)."""
    if "measured" in _MEASURED:
        return _MEASURED["measured"]
    org = built(factory)
    folder = factory.mktemp("conversion")
    warehouse = folder / "warehouse.duckdb"
    shutil.copyfile(org.warehouse, warehouse)
    snapshot = folder / "portal" / "snapshot.duckdb"
    with connect(warehouse) as con:
        con.execute("DELETE FROM ask_conversion")
        for row, at in [*((r, NOW) for r in ROWS), (OLD, NOW - timedelta(days=1))]:
            con.execute(
                "INSERT INTO ask_conversion VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [at, *row],
            )
        publish(con, snapshot, NOW)
    _MEASURED["measured"] = (org, snapshot)
    return org, snapshot


@pytest.fixture
def measured(tmp_path_factory) -> tuple[Organisation, Path]:
    return measured_organisation(tmp_path_factory)


@pytest.fixture
def site(measured, portal_server, portal_settings):
    org, snapshot = measured
    return serve(portal_server, portal_settings, org.teams_file, snapshot)


def _without_table(org: Organisation, folder: Path) -> Path:
    """A snapshot published from a copy of the warehouse that has no ask_conversion."""
    warehouse = folder / "old.duckdb"
    shutil.copyfile(org.warehouse, warehouse)
    snapshot = folder / "old-portal" / "snapshot.duckdb"
    with connect(warehouse) as con:
        con.execute("DROP TABLE ask_conversion")
        counts = publish(con, snapshot, NOW)
    assert counts["ask_conversion"] == 0
    return snapshot


# ------------------------------------------------------------------------ the snapshot


def test_the_snapshot_copies_the_newest_counts_of_the_teams_it_holds(measured):
    _, snapshot = measured
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        columns = [r[0] for r in con.execute("DESCRIBE ask_conversion").fetchall()]
        assert "person_id" not in columns and "baseline_rate" in columns
        rows = con.execute("SELECT period, list_name, team, entered FROM ask_conversion").fetchall()
    finally:
        con.close()
    assert len(rows) == len(ROWS) - 1
    assert ("90d", "call", "Gone Team", 999) not in rows
    assert ("90d", "call", NORTH, 7777) not in rows and ("90d", "call", NORTH, 40) in rows
    assert ("90d", "call", None, 653) in rows


def test_a_warehouse_without_the_table_gives_an_empty_snapshot_table(measured, tmp_path):
    org, _ = measured
    snapshot = _without_table(org, tmp_path)
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'ask_conversion'"
            ).fetchall()
        )
        assert con.execute("SELECT count(*) FROM ask_conversion").fetchone()[0] == 0
    finally:
        con.close()
    assert types["entered"] == "INTEGER" and types["conversion_rate"] == "DOUBLE"
    assert data.conversion(data.snapshot(snapshot), None, NORTH) == {
        "measured_at": None,
        "lists": [],
    }


# ------------------------------------------------------------------- the data functions


def test_a_team_reads_its_own_rows_and_every_list(measured):
    _, snapshot = measured
    snap = data.snapshot(snapshot)
    north = data.conversion(snap, (NORTH,), NORTH)
    assert north["measured_at"] == NOW
    # In the configuration's order (mail, then call); mail: nobody joined.
    assert [(r["list_name"], r["entered"], r["succeeded"]) for r in north["lists"]] == [
        ("mail", 0, 0),
        ("call", 40, 10),
    ]
    assert north["lists"][1]["baseline_rate"] == 0.08 and north["lists"][1]["in_window"] == 6
    assert data.conversion(snap, (NORTH,), EAST) is None  # not theirs: not read at all
    assert data.conversion(snap, (NORTH,), "Gone Team") is None
    month = data.conversion(snap, (NORTH,), NORTH, "30d")["lists"]
    assert [(r["list_name"], r["entered"]) for r in month] == [("mail", 0), ("call", 11)]


def test_the_organisation_figures_are_hq_only(measured):
    _, snapshot = measured
    snap = data.snapshot(snapshot)
    assert data.organisation_conversion(snap, (NORTH, EAST)) is None
    whole = data.organisation_conversion(snap, None)["lists"]
    assert [(r["list_name"], r["entered"]) for r in whole] == [("mail", 52), ("call", 653)]


def test_team_by_team_holds_only_the_teams_the_user_sees(measured):
    _, snapshot = measured
    snap = data.snapshot(snapshot)
    every = data.conversion_by_team(snap, None)
    assert [(i["list_name"], [r["team"] for r in i["teams"]]) for i in every] == [
        ("mail", [EAST, NORTH]),
        ("call", [EAST, NORTH]),
    ]
    north = data.conversion_by_team(snap, (NORTH,))
    assert {r["team"] for i in north for r in i["teams"]} == {NORTH}


@pytest.mark.parametrize("period", ["7d", "", "90d'; DROP TABLE lists; --"])
def test_an_unknown_period_reads_nothing(measured, period):
    _, snapshot = measured
    snap = data.snapshot(snapshot)
    assert data.conversion(snap, None, NORTH, period) is None
    assert data.organisation_conversion(snap, None, period) is None
    assert data.conversion_by_team(snap, None, period) == []


def test_a_snapshot_published_before_the_table_existed_reads_as_not_measured(measured, tmp_path):
    _, snapshot = measured
    older = tmp_path / "older.duckdb"
    shutil.copyfile(snapshot, older)
    con = duckdb.connect(str(older))
    con.execute("DROP TABLE ask_conversion")
    con.close()
    snap = data.snapshot(older)
    assert data.conversion(snap, None, NORTH) == {"measured_at": None, "lists": []}
    assert data.conversion_by_team(snap, None) == []


# --------------------------------------------------------------------------- the chart


def test_the_chart_draws_rates_on_one_scale_and_says_nobody_in_words():
    rows = charts.conversion_rows(
        [
            {
                "list_name": "call",
                "entered": 40,
                "conversion_rate": 0.25,
                "in_window": 6,
                "baseline_people": 200,
                "baseline_rate": 0.08,
                "median_days_to_success": 4.5,
            },
            {
                "list_name": "mail",
                "entered": 0,
                "conversion_rate": None,
                "in_window": 0,
                "baseline_people": 0,
                "baseline_rate": None,
                "median_days_to_success": None,
            },
        ],
        "90d",
    )
    chart = charts.conversion_chart("c", NORTH, rows, "90d")
    call, mail = chart.groups
    span = charts.PAIR_WIDTH - charts.PAIR_LABEL_WIDTH - charts.PAIR_VALUE_WIDTH
    # The scale ends at the next quarter above the highest rate: here 25%.
    assert [b.width for b in call.bars] == [span, round(span * 0.08 / 0.25)]
    assert [b.text for b in call.bars] == ["25% so far", "8%"]
    assert [b.width for b in mail.bars] == [0, 0]
    assert [b.text for b in mail.bars] == ["nobody joined", "nobody to compare"]
    assert rows[0]["median_text"] == "4.5 days" and rows[0]["baseline_text"] == "8% of 200"
    assert "may still rise" in rows[0]["note"]
    assert rows[1]["note"] == "Nobody joined this list in the last 90 days."
    assert "call: 25% of the 40 who joined did it" in chart.description
    higher = charts.conversion_chart("c", NORTH, [{**rows[0], "conversion_rate": 0.59}], "90d")
    assert [b.width for b in higher.groups[0].bars] == [
        round(span * 0.59 / 0.75),
        round(span * 0.08 / 0.75),
    ]
    # A list without a success rule: people joined, but nothing is measured.
    (unruled,) = charts.conversion_rows(
        [
            {
                "list_name": "follow_up",
                "entered": 5,
                "conversion_rate": None,
                "in_window": 2,
                "baseline_people": 30,
                "baseline_rate": None,
                "median_days_to_success": None,
            }
        ],
        "30d",
    )
    assert (unruled["rate_short"], unruled["baseline_text"]) == ("not measured", "not measured")
    assert unruled["note"].startswith("Not measured: this list has no success rule")
    assert unruled["median_text"] == ""
    drawn = charts.conversion_chart("c", NORTH, [unruled], "30d")
    assert [(b.width, b.text) for b in drawn.groups[0].bars] == [(0, "not measured")] * 2
    assert drawn.description == "follow_up: not measured (no success rule)."
    assert charts.percent(0.001) == "<1%" and charts.percent(0.0) == "0%"
    assert charts.percent(1.0) == "100%"


# --------------------------------------------------------------------------- the pages


def test_an_organisers_team_page_shows_their_figures_and_no_one_elses(site):
    browser = signed_in_browser(site, "north@example.org")
    answer = browser.get(site.url + NORTH_URL)
    assert answer.status_code == 200
    page = answer.text
    assert "Which asks work" in page
    assert "how many did what we asked within the list's window" in page
    assert page.count("<svg") == 3  # the ladder, movement, and which asks work
    assert 'id="asks-chart-title">Which asks work in North Austin' in page
    for shown in (
        "25%",
        "8% of 200",
        "4.5 days",
        "6 of them joined too recently",
        "Nobody joined this list in the last 90 days.",
        "25% so far",
    ):
        assert shown in page, shown
    # East Austin's and the organisation's figures are nowhere.
    for hidden in (">613<", "4,321", "62%", ">653<", "4,521", "Gone Team", "7,777", EAST):
        assert hidden not in page, hidden
    assert "<style" not in page and "style=" not in page and "<script" not in page
    assert browser.get(site.url + EAST_URL + "?period=30d").status_code == 404


def test_the_period_switch_and_an_unknown_period(site):
    browser = signed_in_browser(site, "north@example.org")
    month = browser.get(site.url + NORTH_URL, params={"period": "30d"}).text
    assert "joined each list in the last 30 days" in month
    assert "27%" in month and "3% of 70" in month
    assert f'href="{NORTH_URL}?period=90d#asks"' in month
    for odd in ("7d", "<script>", "90d' OR 1=1"):
        answer = browser.get(site.url + NORTH_URL, params={"period": odd})
        assert answer.status_code == 200
        assert "joined each list in the last 90 days" in answer.text and "25%" in answer.text
        assert "<script>" not in answer.text


def test_hq_sees_the_organisation_and_each_team(site):
    browser = signed_in_browser(site, "hq@example.org", "hq")
    answer = browser.get(site.url + "/")
    assert answer.status_code == 200
    page = answer.text
    assert "across the whole organisation" in page
    assert "Which asks work in the whole organisation" in page
    assert "59%" in page and "10% of 4,521" in page  # call: 387 of 653, 448 of 4,521
    assert "Which asks work, team by team" in page
    assert f'href="{EAST_URL}#asks"' in page and f'href="{NORTH_URL}#asks"' in page
    assert "62%" in page and "10% of 4,321" in page  # East Austin's call
    assert "Gone Team" not in page and "7,777" not in page
    month = browser.get(site.url + "/", params={"period": "30d"}).text
    assert "12% so far" in month and ">111<" in month
    assert browser.get(site.url + EAST_URL).status_code == 200


def test_an_organiser_of_several_teams_gets_no_organisation_figures(
    measured, portal_server, portal_settings, tmp_path
):
    org, snapshot = measured
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(
        org.teams_file.read_text()
        .replace("[north@example.org]", "[both@example.org]")
        .replace("[east@example.org]", "[both@example.org]"),
        encoding="utf-8",
    )
    site = serve(portal_server, portal_settings, teams_file, snapshot)
    browser = signed_in_browser(site, "both@example.org")
    home = browser.get(site.url + "/")
    assert home.status_code == 200 and home.url == site.url + "/"  # their two teams
    assert "Which asks work" not in home.text and ">653<" not in home.text
    east = browser.get(site.url + EAST_URL).text
    assert "62%" in east and "25%" not in east


def test_before_any_measurement_the_pages_say_so(measured, portal_server, portal_settings):
    org, _ = measured  # the organisation's own snapshot: ask_conversion is empty
    site = serve(portal_server, portal_settings, org.teams_file, org.snapshot)
    organiser = signed_in_browser(site, "north@example.org")
    north = organiser.get(site.url + NORTH_URL)
    assert north.status_code == 200
    assert "No figures yet: they appear after a pipeline run" in north.text
    assert north.text.count("<svg") == 2
    assert "?period=30d" not in north.text  # no switch to another empty period
    month = organiser.get(site.url + NORTH_URL, params={"period": "30d"})
    assert "No figures yet" in month.text
    assert f'href="{NORTH_URL}?period=90d#asks"' in month.text  # the way back
    hq = signed_in_browser(site, "hq@example.org", "hq").get(site.url + "/").text
    assert "No figures yet" in hq and "team by team" not in hq


def test_a_warehouse_without_the_table_gives_pages_that_say_so(
    measured, portal_server, portal_settings, tmp_path
):
    org, _ = measured
    snapshot = _without_table(org, tmp_path)
    site = serve(portal_server, portal_settings, org.teams_file, snapshot)
    north = signed_in_browser(site, "north@example.org").get(site.url + NORTH_URL)
    assert north.status_code == 200 and "No figures yet" in north.text
