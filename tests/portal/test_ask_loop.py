"""The ask loop end to end on the sandbox (issue 15): a run builds and pushes the lists; an
organiser signs in to the portal in a real browser (Debian's chromium) and records one
person as said yes with a follow-up due today on the list's page, and another as do not
contact by filling the downloaded workbook and uploading it; the sandbox moves on a week,
in which a known share of the people it asked (those carrying a pushed list's tag) do what
was asked; the next run shows the outcomes as activities, drops the do-not-contact person
from every list, puts the follow-up on `follow_up`, and measures each pushed list's
conversion as the sandbox's truth says it happened. Screenshots: tests/artifacts/ask_loop/."""

from __future__ import annotations

import io
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import duckdb
import pytest
from openpyxl import load_workbook

from portal.app import create_app
from portal.settings import PortalSettings
from sandbox import start_sandbox
from tests.portal.conftest import (
    ARTIFACTS,
    CHEAP_HASHER,
    CHROMIUM,
    NO_CHROMIUM,
    accept_invitation,
    chromium_page,
    screenshot,
    serving,
)
from tests.support.pipeline import ROOT, configure, run_job
from transforms.summary import summarise

PEOPLE = 200
PUSHED = ("welcome_new", "first_action", "ready_to_host", "connectors")
FOLDER = "ask_loop"
TEAM, ORGANISER = "Washington DC", "dc.lead@groundswell.example"


def _query(database: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _lists_of(warehouse: Path) -> dict[str, set[str]]:
    rows = _query(
        warehouse,
        "SELECT person_id, list(substr(segment, 6)) FROM segment_members "
        "WHERE starts_with(segment, 'list:') GROUP BY person_id",
    )
    return {pid: set(lists) for pid, lists in rows}


def _choose(snapshot: Path) -> tuple[str, str, str]:
    """A list of the team with room for two outcomes on its first page: (list, the person
    to say yes, the person not to contact: the one of the first page on the most lists)."""
    rows = _query(
        snapshot,
        """
        WITH first_page AS (
            SELECT list_name, person_id, position FROM list_rows
            WHERE team = ? AND position <= 100
              AND list_name IN (SELECT list_name FROM lists WHERE channel IN ('both', 'email'))
        ), reach AS (
            SELECT person_id, count(DISTINCT list_name) AS lists FROM person_lists GROUP BY 1
        )
        SELECT f.list_name, f.person_id FROM first_page f JOIN reach r USING (person_id)
        ORDER BY (SELECT count(*) FROM first_page g WHERE g.list_name = f.list_name) DESC,
                 f.list_name, r.lists DESC, f.position
        """,
        [TEAM],
    )
    assert len(rows) >= 2, f"the sandbox gave {TEAM} too few list rows"
    list_name, dnc = rows[0]
    yes = next(pid for name, pid in rows if name == list_name and pid != dnc)
    return list_name, yes, dnc


def _record_in_browser(snapshot: Path, tmp: Path) -> dict:
    """Sign in as the team's organiser; one outcome by the page, one by upload."""
    list_name, yes, dnc = _choose(snapshot)
    app = create_app(
        PortalSettings(), teams_file=ROOT / "teams.yaml", hasher=CHEAP_HASHER, snapshot=snapshot
    )
    today = datetime.now(UTC).date()
    with serving(app) as url, chromium_page() as page:
        link = app.state.auth.invite(ORGANISER)
        accept_invitation(page, url + link[link.index("/invite/") :], ORGANISER)
        list_path = f"/teams/{quote(TEAM, safe='')}/lists/{quote(list_name, safe='')}"
        page.goto(url + list_path)
        row = page.locator(
            "table.pages-members tbody tr", has=page.locator(f"a[href='/people/{yes}']")
        )
        row.locator("summary").click()
        row.locator("select[name=outcome]").select_option("said_yes")
        row.locator("input[name=follow_up]").fill(today.isoformat())
        row.locator("textarea[name=note]").fill("Will host after the holidays")
        row.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"recorded=1$"))
        screenshot(page, FOLDER, "1_said_yes_recorded")

        with page.expect_download() as info:
            page.click(f"a[href='{list_path}.xlsx']")
        book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
        sheet = book.active
        header = [c.value for c in sheet[1]]
        column = header.index("outcome") + 1
        for r in range(2, sheet.max_row + 1):
            if sheet.cell(row=r, column=header.index("person_id") + 1).value == dnc:
                sheet.cell(row=r, column=column, value="do_not_contact")
        filled = tmp / "filled.xlsx"
        book.save(filled)
        page.goto(url + list_path)
        page.set_input_files("#outcome-file", str(filled))
        page.click("form.outcome-upload button[type=submit]")
        page.wait_for_url(re.compile(r"/upload$"))
        assert page.locator(".upload-recorded").inner_text() == "1"
        screenshot(page, FOLDER, "2_do_not_contact_uploaded")
        assert page.problems == []
    return {"list": list_name, "yes": yes, "dnc": dnc, "today": today}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    shutil.rmtree(ARTIFACTS / FOLDER, ignore_errors=True)
    inbox = tmp_path_factory.mktemp("inbox")
    workdir = tmp_path_factory.mktemp("run")
    with (
        start_sandbox(people=PEOPLE, seed=5, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, workdir, sandbox.env, inbox)
        instance = dg.DagsterInstance.ephemeral()
        assert run_job(instance).success
        before = _lists_of(warehouse)
        recorded = None
        if CHROMIUM.exists():
            snapshot = workdir / "portal" / "snapshot.duckdb"
            recorded = _record_in_browser(snapshot, tmp_path_factory.mktemp("browser"))
        sandbox.advance(7)
        truth = sandbox.asks(detail=True)["asks"]
        # A week in a small organisation moves more tags than the guard rails let through
        # unconfirmed: confirmed here, as `make run CONFIRM=1` would.
        confirm = {"ops": {"sync_plan": {"config": {"confirm_large_changes": True}}}}
        second = run_job(instance, confirm)
        assert second.success
        summary = summarise(str(warehouse), second.run_id, [], truth)
        metadata = second.asset_materializations_for_node("ask_conversion")[0].metadata
    return {
        "metadata": {k: v.value for k, v in metadata.items()},
        "warehouse": warehouse,
        "truth": truth,
        "summary": summary,
        "before": before,
        "after": _lists_of(warehouse),
        "recorded": recorded,
    }


def test_outcomes_recorded_in_the_browser_change_the_next_run(loop):
    recorded = loop["recorded"]
    if recorded is None:
        pytest.skip(NO_CHROMIUM)
    warehouse, yes, dnc = loop["warehouse"], recorded["yes"], recorded["dnc"]
    # Said yes: a conversation and a commitment, recorded by the organiser, and on
    # follow_up (the date set is today) with the reason.
    assert _query(
        warehouse,
        "SELECT activity_type, object, recorded_by FROM activities "
        "WHERE person_id = ? AND source = 'portal' ORDER BY activity_type",
        [yes],
    ) == [
        ("commitment", recorded["list"], ORGANISER),
        ("conversation", recorded["list"], ORGANISER),
    ]
    assert "follow_up" in loop["after"][yes]
    [(reason,)] = _query(
        warehouse,
        "SELECT reason FROM segment_members WHERE segment = 'list:follow_up' AND person_id = ?",
        [yes],
    )
    assert reason == f"follow-up due on {recorded['today']}; last outcome: said_yes"
    # Do not contact: on lists before, on none now, and no tag wanted anywhere.
    assert recorded["list"] in loop["before"][dnc]
    assert dnc not in loop["after"]
    assert _query(
        warehouse, "SELECT do_not_contact FROM person_metrics WHERE person_id = ?", [dnc]
    ) == [(True,)]
    assert _query(
        warehouse,
        "SELECT count(*) FROM stage.sync_plan WHERE person_id = ? AND op = 'add'",
        [dnc],
    ) == [(0,)]


def _cohort_acted(warehouse: Path, list_name: str, emails: list[str]) -> tuple[int, int]:
    """Of the people the sandbox asked (by their address), how many the warehouse has as
    entering the list at the first run, and how many of those met its success rule."""
    return _query(
        warehouse,
        """
        WITH asked AS (
            SELECT DISTINCT ps.person_id
            FROM stg_source_records s
            JOIN person_sources ps USING (source, source_record_id)
            WHERE lower(s.email) IN (SELECT unnest(?::VARCHAR[]))
        ), cohort AS (
            SELECT e.person_id, e.entered_at, r.window_days
            FROM stage.list_entries e
            JOIN stage.ask_rules r USING (list_name)
            WHERE e.list_name = ?
              AND e.entered_at = (SELECT min(entered_at) FROM stage.list_entries)
              AND e.person_id IN (SELECT person_id FROM asked)
        )
        SELECT count(*),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM stage.ask_successes s
                   WHERE s.list_name = ? AND s.person_id = c.person_id
                     AND s.occurred_at > c.entered_at
                     AND s.occurred_at <= c.entered_at + c.window_days * INTERVAL 1 DAY))
        FROM cohort c
        """,
        [emails, list_name, list_name],
    )[0]


@pytest.mark.parametrize("list_name", PUSHED)
def test_measured_conversion_matches_the_sandboxs_truth(loop, list_name):
    known = loop["truth"][list_name]
    if known["asked"] == 0:
        pytest.skip(f"the sandbox asked nobody on {list_name} at this size")
    people, acted = _cohort_acted(loop["warehouse"], list_name, known["asked_emails"])
    # Identity may join two of the sandbox's humans or keep one apart: a little slack.
    assert abs(people - known["asked"]) <= max(2, known["asked"] // 10)
    assert abs(acted - known["acted"]) <= max(2, known["acted"] // 10), (list_name, known)
    assert known["said_yes"] <= known["acted"]


def test_the_conversion_table_shows_every_list_and_the_truth_beside_it(loop):
    truth, summary = loop["truth"], loop["summary"]
    rows = _query(
        loop["warehouse"],
        "SELECT list_name, entered, succeeded, conversion_rate FROM ask_conversion "
        "WHERE period = '90d' AND team IS NULL ORDER BY list_name",
    )
    names = [r[0] for r in rows]
    assert set(PUSHED) <= set(names) and "follow_up" in names
    asked = {n for n in PUSHED if truth[n]["asked"]}
    assert asked, "the first run must push some list's tags"
    for name, entered, succeeded, rate in rows:
        assert succeeded <= entered
        if name in asked and truth[name]["acted"]:
            assert succeeded > 0 and rate > 0, name
    assert "Which asks work" in summary
    for name in asked:
        assert f"of the {truth[name]['asked']:,} it asked acted" in summary


def test_the_dagster_metadata_holds_the_table_by_list_and_by_team(loop):
    metadata = loop["metadata"]
    rows = _query(
        loop["warehouse"],
        "SELECT list_name, entered, conversion_rate FROM ask_conversion "
        "WHERE period = '90d' AND team IS NULL ORDER BY list_name",
    )
    records = [r.data for r in metadata["conversion_90d"].records]
    assert [(r["list_name"], r["entered"]) for r in records] == [(n, e) for n, e, _ in rows]
    for record, (_, _, rate) in zip(records, rows, strict=True):
        assert record["conversion_rate"] == ("-" if rate is None else f"{rate:.0%}")
    teams = {r.data["team"] for r in metadata["conversion_90d_by_team"].records}
    assert TEAM in teams
    assert metadata["entries"] > 0 and metadata["controls"] > 0
    # Counts and rates only: no address, name or person id anywhere in it.
    text = repr(metadata)
    assert "@" not in text and not re.search(r"p_[0-9a-f]{16}", text)
