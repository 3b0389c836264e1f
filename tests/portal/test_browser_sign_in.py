"""In a real browser (Playwright driving Debian's chromium): an invitation, setting a
password, signing in, the home page and signing out, with a screenshot of each page kept
in tests/artifacts/ (not committed)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.portal.conftest import ARTIFACTS as ARTIFACTS_ROOT
from tests.portal.conftest import CHROMIUM, NO_CHROMIUM, PASSWORD, screenshot

ARTIFACTS = ARTIFACTS_ROOT / "portal_sign_in"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)


def _shot(page, name: str) -> None:
    screenshot(page, "portal_sign_in", name)


def test_invitation_to_sign_out_in_chromium(portal, page):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    link = portal.path_of(portal.auth.invite("ana@example.org"))

    page.goto(link)
    assert page.locator("h1").inner_text() == "Set your password"
    page.fill("#password", "too short")
    page.fill("#confirm", "too short")
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
