"""Invitations over HTTP: setting a password under the policy, then signing in and out;
expired, reused and unknown links; who may be invited."""

from __future__ import annotations

import pytest
import requests

from portal.auth import InviteRefused
from tests.portal.conftest import PASSWORD, csrf_of, is_signed_out, set_password, sign_in


def test_an_invited_organiser_sets_a_password_signs_in_and_out(portal):
    browser = requests.Session()
    link = portal.auth.invite("Ana@Example.org ")
    assert link.startswith("http://127.0.0.1:8000/invite/")
    page = browser.get(portal.path_of(link))
    assert page.status_code == 200 and "ana@example.org" in page.text

    refused = {
        "short pass": "at least 12 characters",
        "password1234": "common passwords",
        "QWERTYUIOP12": "common passwords",
        "ana@example.org": "must not be your email",
    }
    for password, why in refused.items():
        answer = set_password(portal, browser, link, password)
        assert answer.status_code == 400 and why in answer.text, password
        assert portal.store.account("ana@example.org") is None  # nothing set yet
    url = portal.path_of(link)
    mismatch = browser.post(
        url,
        data={"csrf_token": csrf_of(browser.get(url)), "password": PASSWORD, "confirm": "other"},
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.text

    done = set_password(portal, browser, link, PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/sign-in?why=password_set"
    assert "Your password is set" in browser.get(portal.url + done.headers["location"]).text

    signed_in = sign_in(portal, browser, "ana@example.org", PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    home = browser.get(portal.url + "/")
    assert home.status_code == 200 and "ana@example.org" in home.text and "Organiser" in home.text
    assert "Data last refreshed:" in home.text

    out = browser.post(
        portal.url + "/sign-out", data={"csrf_token": csrf_of(home)}, allow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/sign-in?why=signed_out"
    assert is_signed_out(portal, browser)
    events = [e.event for e in reversed(portal.store.audit_events())]
    assert events == ["password_set", "sign_in", "sign_out"]
    assert {e.actor for e in portal.store.audit_events()} == {"ana@example.org"}


def test_an_expired_invitation_says_to_ask_for_a_new_one(portal):
    browser = requests.Session()
    link = portal.auth.invite("ana@example.org")
    page = browser.get(portal.path_of(link))
    portal.clock.advance(days=7, seconds=1)
    for answer in (
        browser.get(portal.path_of(link)),
        browser.post(
            portal.path_of(link),
            data={"csrf_token": csrf_of(page), "password": PASSWORD, "confirm": PASSWORD},
        ),
    ):
        assert answer.status_code == 410
        assert "has expired" in answer.text and "ask the volunteer" in answer.text.lower()
    assert portal.store.account("ana@example.org") is None


def test_a_used_invitation_cannot_set_a_second_password(portal):
    browser = requests.Session()
    link = portal.auth.invite("ana@example.org")
    page = browser.get(portal.path_of(link))
    assert set_password(portal, browser, link, PASSWORD).status_code == 303
    again = browser.post(
        portal.path_of(link),
        data={"csrf_token": csrf_of(page), "password": "another long one", "confirm": "x"},
    )
    assert again.status_code == 410 and "has been used" in again.text
    assert browser.get(portal.path_of(link)).status_code == 410
    # The password set first still works: nothing was lost.
    assert sign_in(portal, requests.Session(), "ana@example.org", PASSWORD).status_code == 303


def test_an_unknown_invitation_is_not_found(portal):
    answer = requests.get(portal.url + "/invite/not-a-token")
    assert answer.status_code == 404
    assert "not known" in answer.text and "new invitation" in answer.text


def test_a_newer_invitation_replaces_an_unused_one(portal):
    first = portal.auth.invite("ana@example.org")
    second = portal.auth.invite("ana@example.org")
    assert requests.get(portal.path_of(first)).status_code == 410
    assert requests.get(portal.path_of(second)).status_code == 200


def test_inviting_an_active_address_is_refused_unless_asked_again(portal):
    browser = requests.Session()
    assert set_password(portal, browser, portal.auth.invite("ana@example.org"), PASSWORD)
    with pytest.raises(InviteRefused, match=r"already has an active account.*--again"):
        portal.auth.invite("ANA@example.org")
    link = portal.auth.invite("ana@example.org", again=True)
    # The old password works until the new one is set.
    assert sign_in(portal, requests.Session(), "ana@example.org", PASSWORD).status_code == 303
    assert set_password(portal, browser, link, "a brand new passphrase").status_code == 303
    assert sign_in(portal, requests.Session(), "ana@example.org", PASSWORD).status_code == 401


def test_a_revoked_address_may_be_invited_again(portal):
    assert set_password(portal, requests.Session(), portal.auth.invite("ben@example.org"), PASSWORD)
    assert portal.auth.revoke("ben@example.org")
    link = portal.auth.invite("ben@example.org")
    assert (
        set_password(portal, requests.Session(), link, "ben's fresh passphrase").status_code == 303
    )
    assert sign_in(portal, requests.Session(), "ben@example.org", "ben's fresh passphrase")


def test_who_may_be_invited(portal):
    with pytest.raises(InviteRefused, match=r"leads no team in .*teams\.yaml"):
        portal.auth.invite("nobody@example.org")
    with pytest.raises(InviteRefused, match="not an email address"):
        portal.auth.invite("not an address")
    with pytest.raises(InviteRefused, match="is not hq or organiser"):
        portal.auth.invite("ana@example.org", role="admin")
    assert portal.auth.invite("chief@example.org", role="hq")  # HQ needs no team
