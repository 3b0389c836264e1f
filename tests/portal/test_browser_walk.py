"""The organiser's whole walk in a real browser (Playwright driving Debian's chromium) on
the test organisation's published snapshot: invitation, password, sign-in, the team home
with both charts drawn, a list, its CSV and XLSX downloads checked row by row against the
exports, a person page, search and sign-out; then the attacks a browser can make. Each
page is kept as a screenshot in tests/artifacts/portal_walk/ (not committed)."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.portal.conftest import (
    ARTIFACTS,
    CHROMIUM,
    NO_CHROMIUM,
    PASSWORD,
    Portal,
    accept_invitation,
    data_portal,
    screenshot,
)
from tests.portal.organisation import EAST, NORTH, TEAM_OF, Organisation, built

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
FOLDER = "portal_walk"
NORTH_URL = "/teams/North%20Austin"
EAST_URL = "/teams/East%20Austin"


@pytest.fixture(scope="module", autouse=True)
def _fresh_artifacts():
    shutil.rmtree(ARTIFACTS / FOLDER, ignore_errors=True)


@pytest.fixture
def org(tmp_path_factory) -> Organisation:
    return built(tmp_path_factory)


@pytest.fixture
def site(org, portal_server, portal_settings) -> Portal:
    return data_portal(portal_server, portal_settings, org.teams_file, org.snapshot)


def _shot(page, name: str, full_page: bool = True) -> None:
    screenshot(page, FOLDER, name, full_page)


def _sign_in(page, site: Portal, email: str, password: str = PASSWORD) -> None:
    page.goto(site.url + "/sign-in")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")


def _invited(page, site: Portal, email: str) -> None:
    """Invite `email`, set the password from the link and sign in, as a person would."""
    accept_invitation(page, site.path_of(site.auth.invite(email)), email)


def _north_rows(org: Organisation, name: str) -> list[list[str]]:
    """The export's header and North Austin's rows of list `name` (its person_id column
    is the first: the call list), with the empty outcome columns a download appends."""
    with open(org.exports / name / "all.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    extra = ["outcome", "follow_up", "note"]
    north = [[*r, "", "", ""] for r in rows[1:] if TEAM_OF.get(r[0]) == NORTH]
    return [[*rows[0], *extra], *north]


def _download(page, selector: str) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path())


def test_an_organiser_walks_from_invitation_to_sign_out(page, site, org):
    _invited(page, site, "north@example.org")

    # A single team's organiser lands on their team's home: both charts drawn.
    page.wait_for_url(re.compile(re.escape(NORTH_URL) + "$"))
    assert page.locator("h1").inner_text() == NORTH
    charts = page.locator("figure.pages-chart svg")
    assert charts.count() == 2
    for i in range(2):
        chart = charts.nth(i)
        assert chart.bounding_box()["height"] > 50
        widths = [
            float(w)
            for w in chart.locator("rect").evaluate_all("r => r.map(x => x.getBBox().width)")
        ]
        assert widths and max(widths) > 0, "bars are drawn"
    assert "Movement on the ladder in North Austin" in charts.nth(1).locator("title").text_content()
    assert EAST not in page.content()
    _shot(page, "1_team_home")

    # A list: each person's name, rung, reason, next ask, channels and last action.
    page.click(f"a[href='{NORTH_URL}/lists/call']")
    page.wait_for_url(re.compile(re.escape(NORTH_URL) + "/lists/call$"))
    rows = page.locator("table.pages-members tbody tr")
    assert rows.count() == 3
    bo = page.locator("table.pages-members tbody tr", has_text="Bo Brown")
    assert "Host an event" in bo.inner_text() and "phone" in bo.inner_text()
    _shot(page, "2_list")

    # The downloads are the team's part of the export, row for row.
    csv_file = _download(page, "a[href$='/lists/call.csv']")
    with open(csv_file, newline="", encoding="utf-8") as handle:
        downloaded = list(csv.reader(handle))
    assert downloaded == _north_rows(org, "call")
    xlsx_file = _download(page, "a[href$='/lists/call.xlsx']")
    sheet = load_workbook(io.BytesIO(xlsx_file.read_bytes())).active  # saved without a suffix
    assert [[c.value or "" for c in row] for row in sheet.iter_rows()] == downloaded

    # A person: their timeline across platforms and their rung history.
    page.click("a[href='/people/p-ana']")
    page.wait_for_url(re.compile(r"/people/p-ana$"))
    assert page.locator("h1").inner_text().strip() == "Ana Alvarez"
    timeline = page.locator("table.pages-timeline")
    assert "petition signed" in timeline.inner_text()
    assert "email opened" in timeline.inner_text()
    assert "Rung history" in page.content()
    _shot(page, "3_person")
    _shot(page, "3_person_top", full_page=False)

    # Search within the team.
    page.goto(site.url + NORTH_URL)
    page.fill("#q", "alv")
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"/search\?q=alv$"))
    assert "Ana" in page.locator("table.pages-results").inner_text()
    _shot(page, "4_search")

    page.set_viewport_size({"width": 390, "height": 800})  # a phone
    page.goto(site.url + NORTH_URL + "/lists/call")
    _shot(page, "5_list_phone")
    page.emulate_media(media="print")
    _shot(page, "6_list_print")
    page.emulate_media(media="screen")

    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/sign-in\?why=signed_out$"))
    page.goto(site.url + NORTH_URL)
    assert "/sign-in" in page.url
    _shot(page, "7_signed_out")
    assert page.problems == []
    events = [e.event for e in site.store.audit_events()]
    assert events.count("download") == 2 and "person_view" in events and "sign_in" in events


def test_another_teams_pages_answer_404_in_the_browser(page, site):
    _invited(page, site, "north@example.org")
    for path in (
        EAST_URL,
        f"{EAST_URL}/lists/call",
        f"{EAST_URL}/lists/call.csv",
        f"{EAST_URL}/lists/mail.xlsx",
        "/people/p-dee",
        "/people/p-gus",
    ):
        answer = page.goto(site.url + path)
        assert answer.status == 404, path
        assert "not yours to see" in page.content()
    _shot(page, "8_not_found")


def test_a_post_without_its_csrf_token_is_refused(page, site):
    _invited(page, site, "north@example.org")
    # The browser's own cookies, a form without the token: refused, still signed in.
    answer = page.request.post(site.url + "/sign-out", form={"next": "/"})
    assert answer.status == 403
    assert "cannot be accepted" in answer.text()
    assert page.goto(site.url + NORTH_URL).status == 200


def test_ten_wrong_passwords_throttle_even_the_right_one(page, site):
    link = site.auth.invite("north@example.org")
    assert site.auth.accept(link.rsplit("/", 1)[1], PASSWORD) == ("ok", None)
    for _ in range(10):
        _sign_in(page, site, "north@example.org", "not the password at all")
        assert "/sign-in" in page.url
    _sign_in(page, site, "north@example.org")
    assert "/sign-in" in page.url, "throttled: the right password does not get in now"
    assert page.locator(".error").is_visible()
    _shot(page, "9_throttled")
    assert "sign_in_throttled" in [e.event for e in site.store.audit_events()]
    site.clock.advance(minutes=16)
    _sign_in(page, site, "north@example.org")
    page.wait_for_url(re.compile(re.escape(NORTH_URL) + "$"))


def test_an_expired_or_used_invitation_says_so(page, site):
    used = site.path_of(site.auth.invite("north@example.org"))
    page.goto(used)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/sign-in"))
    assert page.goto(used).status == 410
    assert page.locator("h1").inner_text() == "This invitation link has been used"
    _shot(page, "10_invitation_used")
    late = site.path_of(site.auth.invite("east@example.org"))
    site.clock.advance(days=8)
    assert page.goto(late).status == 410
    assert page.locator("h1").inner_text() == "This invitation link has expired"
    _shot(page, "11_invitation_expired")


def _session_cookie(page) -> dict:
    return next(c for c in page.context.cookies() if c["name"] == "portal_session")


def test_a_session_cookie_is_dead_after_logout_revoke_or_tampering(page, site):
    _invited(page, site, "north@example.org")
    kept = _session_cookie(page)
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/sign-in\?why=signed_out$"))
    page.context.add_cookies([kept])  # the old cookie, put back
    page.goto(site.url + NORTH_URL)
    assert "/sign-in" in page.url, "a signed-out session stays out"

    _sign_in(page, site, "north@example.org")
    page.wait_for_url(re.compile(re.escape(NORTH_URL) + "$"))
    good = _session_cookie(page)
    value = good["value"]
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    page.context.add_cookies([{**good, "value": flipped}])
    page.goto(site.url + NORTH_URL)
    assert "/sign-in" in page.url, "a tampered cookie signs nobody in"

    page.context.add_cookies([good])
    assert page.goto(site.url + NORTH_URL).status == 200
    assert site.auth.revoke("north@example.org")
    page.goto(site.url + NORTH_URL)
    assert "/sign-in" in page.url, "revoking ends the session at once"
    _shot(page, "12_revoked")
