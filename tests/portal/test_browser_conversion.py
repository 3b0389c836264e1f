"""Which asks work in a real browser (Playwright driving Debian's chromium): an organiser's
team page and HQ's overview draw the chart and the table, the period switch works, nothing
is refused by the CSP, and on a phone the panel fits the screen. Screenshots are kept in
tests/artifacts/portal_conversion/ (not committed)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.portal.conftest import (
    ARTIFACTS,
    CHROMIUM,
    NO_CHROMIUM,
    Portal,
    accept_invitation,
    data_portal,
    screenshot,
)
from tests.portal.organisation import EAST, NORTH
from tests.portal.test_ask_conversion import measured_organisation

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
FOLDER = "portal_conversion"
NORTH_URL = "/teams/North%20Austin"
PHONE = {"width": 390, "height": 800}


@pytest.fixture(scope="module", autouse=True)
def _fresh_artifacts():
    shutil.rmtree(ARTIFACTS / FOLDER, ignore_errors=True)


@pytest.fixture
def site(tmp_path_factory, portal_server, portal_settings) -> Portal:
    org, snapshot = measured_organisation(tmp_path_factory)
    return data_portal(portal_server, portal_settings, org.teams_file, snapshot)


def _invited(page, site: Portal, email: str, role: str = "organiser") -> None:
    """Invite `email`, set the password from the link and sign in, as a person would."""
    accept_invitation(page, site.path_of(site.auth.invite(email, role)), email)


def _bar_widths(page) -> list[float]:
    chart = page.locator("figure.asks-chart svg")
    assert chart.count() == 1
    return chart.locator("rect").evaluate_all("r => r.map(x => x.getBBox().width)")


def _fits(page) -> None:
    """Nothing wider than the window: no sideways scrolling on a phone."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    over = page.evaluate(
        """w => [...document.querySelectorAll('body *')].filter(e => {
            if (e.getBoundingClientRect().right <= w + 1) return false;
            for (let a = e.parentElement; a; a = a.parentElement) {
                if (getComputedStyle(a).overflowX !== 'visible') return false;
            }
            return true;
        }).slice(0, 8).map(e => e.tagName + '.' + e.className + ' '
            + Math.round(e.getBoundingClientRect().right))""",
        page.viewport_size["width"],
    )
    assert wide <= page.viewport_size["width"], (wide, over)


def test_an_organiser_sees_which_asks_work_and_switches_period(page, site):
    _invited(page, site, "north@example.org")
    page.wait_for_url(re.compile(re.escape(NORTH_URL) + "$"))
    panel = page.locator("#asks")
    assert "Which asks work" in panel.locator("h2").inner_text()
    # mail (nobody joined: no bars) then call: 25% beside 8%.
    widths = _bar_widths(page)
    assert widths[:2] == [0, 0] and widths[2] > widths[3] > 0
    rows = panel.locator("table.asks-table tbody tr")
    assert rows.count() == 2
    assert "Nobody joined this list" in rows.nth(0).inner_text()
    call = rows.nth(1).inner_text()
    assert "25%" in call and "8% of 200" in call and "rate may still rise" in call
    assert EAST not in page.content()
    panel.scroll_into_view_if_needed()
    screenshot(page, FOLDER, "1_team", full_page=True)
    page.goto(site.url + NORTH_URL + "#asks")
    screenshot(page, FOLDER, "2_team_panel", full_page=False)

    page.click("#asks a:text('30 days')")
    page.wait_for_url(re.compile(r"period=30d"))
    assert "last 30 days" in panel.inner_text() and "27%" in panel.inner_text()

    page.set_viewport_size(PHONE)
    page.goto(site.url + NORTH_URL + "#asks")
    _fits(page)
    box = page.locator("figure.asks-chart svg").bounding_box()
    assert box["width"] <= PHONE["width"] and box["height"] > 100
    screenshot(page, FOLDER, "3_team_phone", full_page=False)
    screenshot(page, FOLDER, "4_team_phone_whole", full_page=True)
    assert page.problems == []


def test_hq_sees_the_organisation_and_team_by_team(page, site):
    _invited(page, site, "hq@example.org", "hq")
    page.goto(site.url + "/")
    panel = page.locator("#asks")
    assert "across the whole organisation" in panel.inner_text()
    assert "59%" in panel.inner_text()
    widths = _bar_widths(page)
    assert len(widths) == 4 and min(widths) > 0
    by_team = page.locator("table.asks-by-team")
    assert NORTH in by_team.inner_text() and EAST in by_team.inner_text()
    screenshot(page, FOLDER, "5_hq", full_page=True)
    page.click("table.asks-by-team a[href='/teams/East%20Austin#asks']")
    page.wait_for_url(re.compile(r"/teams/East%20Austin#asks$"))
    assert "62%" in page.locator("#asks").inner_text()

    page.set_viewport_size(PHONE)
    page.goto(site.url + "/")
    _fits(page)
    screenshot(page, FOLDER, "6_hq_phone_whole", full_page=True)
    page.emulate_media(media="print")
    screenshot(page, FOLDER, "7_hq_print", full_page=True)
    assert page.problems == []
