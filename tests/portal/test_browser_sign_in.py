"""In a real browser (Playwright driving Debian's chromium): an invitation, setting a
password, signing in, the home page and signing out, with a screenshot of each page kept
in tests/artifacts/ (not committed)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.portal.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "portal_sign_in"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (make test installs it "
    "when the machine allows: apt-get install chromium)",
)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        opened = context.new_page()
        problems: list[str] = []
        # A CSP violation shows in the console as "Refused to ...": there must be none.
        opened.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
        opened.on("pageerror", lambda e: problems.append(str(e)))
        opened.problems = problems
        yield opened
        context.close()
        browser.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_invitation_to_sign_out_in_chromium(portal, page):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    link = portal.path_of(portal.auth.invite("ana@example.org"))

    page.goto(link)
    assert page.locator("h1").inner_text() == "Set your password"
    page.fill("#password", "too short")
    page.fill("#confirm", "too short")
    page.evaluate(
        "document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))"
    ) if False else None
    _shot(page, "1_set_password")
    page.fill("#password", "password1234")
    page.fill("#confirm", "password1234")
    page.click("button[type=submit]")
    assert "common passwords" in page.locator(".error").inner_text()
    _shot(page, "2_common_password_refused")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_url(re.compile(r"/sign-in\?why=password_set$"))
    assert "Your password is set" in page.locator(".notice").inner_text()
    _shot(page, "3_sign_in")
    page.fill("#email", "ana@example.org")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")

    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".account__email").inner_text() == "ana@example.org"
    assert "Data last refreshed:" in page.locator("footer").inner_text()
    # The stylesheet applied (the CSP lets it in): the header has its white background.
    background = page.evaluate(
        "getComputedStyle(document.querySelector('.site-header')).backgroundColor"
    )
    assert background == "rgb(255, 255, 255)"
    cookie = next(c for c in page.context.cookies() if c["name"] == "portal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    _shot(page, "4_home")
    page.set_viewport_size({"width": 390, "height": 760})  # a phone
    _shot(page, "5_home_phone")

    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/sign-in\?why=signed_out$"))
    assert "You are signed out" in page.locator(".notice").inner_text()
    _shot(page, "6_signed_out")
    page.goto(portal.url + "/")
    assert page.url.startswith(portal.url + "/sign-in")
    assert page.problems == []
