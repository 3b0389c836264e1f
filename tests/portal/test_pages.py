"""The portal's data pages over HTTP on a real uvicorn server, reading a real snapshot of a
small organisation: each organiser sees only their own team, anything else answers 404,
HQ sees every team, search takes SQL and HTML as plain text, downloads are the team's part
of the exports (neutralised and consent-filtered alike) and are audited, as are person
views."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from openpyxl import load_workbook

from portal.app import create_app
from tests.portal.conftest import Clock, Portal, signed_in_browser
from tests.portal.organisation import HTML_NAME, NASTY_NAME, NORTH, TEAM_OF, Organisation, built

NORTH_URL = "/teams/North%20Austin"
EAST_URL = "/teams/East%20Austin"


@pytest.fixture
def org(tmp_path_factory) -> Organisation:
    return built(tmp_path_factory)


def serve(portal_server, portal_settings, teams_file: Path, snapshot: Path) -> Portal:
    """The portal with the data pages on `snapshot`."""
    app = create_app(portal_settings, clock=Clock(), teams_file=teams_file, snapshot=snapshot)
    return Portal(portal_server(app), app, app.state.auth.clock, teams_file)


@pytest.fixture
def site(org, portal_server: Callable, portal_settings) -> Portal:
    return serve(portal_server, portal_settings, org.teams_file, org.snapshot)


def audit_of(site: Portal, event: str) -> list:
    return site.store.audit_events(event=event)


def read_csv_text(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_an_organisers_home_is_their_team_with_both_charts_and_the_lists(site):
    browser = signed_in_browser(site, "north@example.org")
    home = browser.get(site.url + "/")
    assert home.status_code == 200
    assert home.url.endswith(NORTH_URL)
    page = home.text
    assert page.count("<svg") == 2
    assert 'id="ladder-chart-title">People per rung in North Austin</title>' in page
    assert "Movement on the ladder in North Austin" in page
    assert "<desc" in page and "chart-table" in page  # text alternatives beside the charts
    # top 1, middle 1, bottom 1; ana moved up, cy is new since last week.
    assert "1 moved up, 0 moved down, 1 new" in page
    assert f'href="{NORTH_URL}/lists/mail"' in page and f'href="{NORTH_URL}/lists/call.csv"' in page
    assert 'Data last refreshed: <span class="refreshed">2026-11-24 12:00 UTC' in page
    assert 'href="/static/pages.css"' in page
    assert "<style" not in page and "<script" not in page and "style=" not in page
    assert "East Austin" not in page


HIDDEN = [
    EAST_URL,
    f"{EAST_URL}/lists/call",
    f"{EAST_URL}/lists/call.csv",
    f"{EAST_URL}/lists/mail.xlsx",
    "/people/p-dee",  # East Austin's
    "/people/p-gus",  # in no team
    "/teams/Nowhere",
    f"{NORTH_URL}/lists/no_such_list",
    f"{NORTH_URL}/lists/no_such_list.csv",
    f"{NORTH_URL}/lists/no_such_list.xlsx",
    "/people/no-such-person",
    "/people/p-ana'%20OR%20'1'='1",
    "/audit",  # HQ only
]


def test_what_an_organiser_may_not_see_answers_404(site):
    browser = signed_in_browser(site, "north@example.org")
    for path in HIDDEN:
        answer = browser.get(site.url + path, allow_redirects=False)
        assert answer.status_code == 404, path
        assert "Dee" not in answer.text and HTML_NAME not in answer.text
    assert audit_of(site, "download") == [] and audit_of(site, "person_view") == []


def test_hq_sees_every_team_but_no_one_outside_the_teams(site):
    browser = signed_in_browser(site, "hq@example.org", "hq")
    home = browser.get(site.url + "/")
    assert home.status_code == 200 and home.url == site.url + "/"
    assert f'href="{NORTH_URL}"' in home.text and f'href="{EAST_URL}"' in home.text
    assert browser.get(site.url + EAST_URL).status_code == 200
    assert browser.get(site.url + f"{NORTH_URL}/lists/call.csv").status_code == 200
    assert browser.get(site.url + "/people/p-dee").status_code == 200
    assert browser.get(site.url + "/people/p-gus").status_code == 404
    audit = browser.get(site.url + "/audit")
    assert audit.status_code == 200
    assert "download" in audit.text and "person view" in audit.text and "p-dee" in audit.text


def test_search_is_within_the_team_and_takes_sql_and_html_as_text(site):
    browser = signed_in_browser(site, "north@example.org")
    found = browser.get(site.url + "/search", params={"q": "a"}).text
    assert "Alvarez" in found and "Cole" in found
    assert "O&#39;Dea" not in found and "O'Dea" not in found  # East Austin's
    for text in ("'; DROP TABLE people; --", "%", "_", "\\", "' OR '1'='1"):
        answer = browser.get(site.url + "/search", params={"q": text})
        assert answer.status_code == 200
        assert "No one in your teams has a name containing" in answer.text
    assert browser.get(site.url + NORTH_URL).status_code == 200  # nothing was dropped
    east = signed_in_browser(site, "east@example.org")
    page = east.get(site.url + "/search", params={"q": HTML_NAME}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HTML_NAME not in page
    assert "O&#39;Dea" in page


def test_the_list_page_shows_rung_reason_next_ask_channels_and_last_action(site):
    browser = signed_in_browser(site, "north@example.org")
    page = browser.get(site.url + f"{NORTH_URL}/lists/call").text
    assert "3 people in North Austin" in page
    row = page[page.index("/people/p-bo") :]
    row = row[: row.index("</tr>")]
    assert "Bo Brown</a>" in row
    assert ">middle<" in row and "Host an event" in row and ">phone<" in row
    assert "2026-11-21" in row
    assert "&#34;click&#34;" in page or "&quot;click&quot;" in page  # the name, escaped
    assert browser.get(site.url + f"{NORTH_URL}/lists/call?page=abc").status_code == 200
    past = browser.get(site.url + f"{NORTH_URL}/lists/call?page=99").text
    assert "No one in North Austin is on this list past page 1" in past


def _export_rows(org: Organisation, name: str) -> tuple[list[str], list[list[str]]]:
    with open(org.exports / name / "all.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


# After the export's own columns, a download has the columns outcomes are filled in.
OUTCOME_COLUMNS = ["outcome", "follow_up", "note"]


def test_downloads_are_the_teams_part_of_the_exports_and_are_audited(site, org):
    browser = signed_in_browser(site, "north@example.org")
    header, everyone = _export_rows(org, "call")
    answer = browser.get(site.url + f"{NORTH_URL}/lists/call.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = read_csv_text(answer.content.decode("utf-8"))
    north = [[*r, "", "", ""] for r in everyone if TEAM_OF.get(r[0]) == NORTH]
    assert rows == [[*header, *OUTCOME_COLUMNS], *north] and len(north) == 3
    # Bo opted out of email: the export and the download blank it alike.
    assert next(r for r in rows if r[0] == "p-bo")[2] == ""
    # The mail list has no person_id column (the download appends it); its rows are the
    # North Austin people's.
    header, everyone = _export_rows(org, "mail")
    mail = read_csv_text(browser.get(site.url + f"{NORTH_URL}/lists/mail.csv").text)
    ids = {"Alvarez": "p-ana", "Cole": "p-cy"}
    assert mail == [
        [*header, "person_id", *OUTCOME_COLUMNS],
        *[[*r, ids[r[1]], "", "", ""] for r in everyone if r[1] in ids],
    ]
    assert mail[2][:2] == ["'" + NASTY_NAME, "Cole"]  # neutralised as in the export
    assert all(r[1] != "Brown" for r in mail)  # Bo opted out of email
    xlsx = browser.get(site.url + f"{NORTH_URL}/lists/mail.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = [[c for c in row] for row in sheet.iter_rows()]
    assert [[c.value or "" for c in row] for row in cells] == mail
    # Text, never a formula: every cell holding something is a string.
    assert all(c.data_type == "s" for row in cells for c in row if c.value is not None)
    events = audit_of(site, "download")
    assert [(e.actor, e.team, e.list_name, e.rows) for e in reversed(events)] == [
        ("north@example.org", NORTH, "call.csv", 3),
        ("north@example.org", NORTH, "mail.csv", 2),
        ("north@example.org", NORTH, "mail.xlsx", 2),
    ]


def test_a_person_page_shows_the_timeline_and_rung_history_and_is_audited(site):
    browser = signed_in_browser(site, "north@example.org")
    page = browser.get(site.url + "/people/p-ana")
    assert page.status_code == 200
    timeline = page.text[page.text.index("pages-timeline") :]
    assert timeline.count("<tr>") == 1 + 200  # the header and the latest 200 of 250
    assert "petition signed" in timeline and "email opened" in timeline
    assert "action network" in timeline and "mailchimp" in timeline
    history = page.text[page.text.index("Rung history") : page.text.index("pages-timeline")]
    assert all(h in history for h in ("2026-10-15", "bottom", "2026-11-16", "middle", "top"))
    assert "Lead a team" in page.text  # the next ask of her rung
    assert "p-ana@example.org" not in page.text  # channels by name, never the address
    events = audit_of(site, "person_view")
    assert [(e.actor, e.team, e.person_id) for e in events] == [
        ("north@example.org", NORTH, "p-ana")
    ]


def test_a_portal_with_no_snapshot_yet_says_so(org, portal_server, portal_settings, tmp_path):
    site = serve(portal_server, portal_settings, org.teams_file, tmp_path / "none.duckdb")
    browser = signed_in_browser(site, "north@example.org")
    answer = browser.get(site.url + NORTH_URL)
    assert answer.status_code == 503
    assert "has not been published yet" in answer.text
    assert "never: no snapshot has been published yet" in answer.text


def test_pages_carry_the_security_headers(site):
    browser = signed_in_browser(site, "north@example.org")
    answer = browser.get(site.url + NORTH_URL)
    assert "script-src" in answer.headers.get("content-security-policy", "")
    assert requests.get(site.url + NORTH_URL, allow_redirects=False).status_code == 303
