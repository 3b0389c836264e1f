"""Sessions and sign-in over HTTP: throttling, CSRF, tampered and ended cookies, revoke,
idle and absolute expiry, a new session id at sign-in, and teams re-read on each request."""

from __future__ import annotations

from datetime import timedelta

import requests

from portal.auth import ADDRESS_FAILURES, SIGN_IN_FAILED
from portal.middleware import SESSION_COOKIE
from tests.portal.conftest import (
    PASSWORD,
    TEAMS_YAML,
    csrf_of,
    is_signed_out,
    set_password,
    sign_in,
    signed_in_browser,
)


def test_ten_wrong_passwords_lock_the_email_even_against_the_right_one(portal):
    set_password(portal, requests.Session(), portal.auth.invite("ana@example.org"), PASSWORD)
    browser = requests.Session()
    for attempt in range(10):
        answer = sign_in(portal, browser, "ana@example.org", f"wrong guess number {attempt}")
        assert answer.status_code == 401 and SIGN_IN_FAILED in answer.text
    locked = sign_in(portal, browser, "ana@example.org", PASSWORD)
    assert locked.status_code == 401 and SIGN_IN_FAILED in locked.text
    assert SESSION_COOKIE not in browser.cookies
    events = [e.event for e in reversed(portal.store.audit_events())]
    assert events[1:] == ["sign_in_failed"] * 5 + ["sign_in_throttled"] * 6
    # From another address too, until the lock ends.
    portal.clock.advance(minutes=14)
    assert sign_in(portal, requests.Session(), "ana@example.org", PASSWORD).status_code == 401
    portal.clock.advance(minutes=2)
    assert sign_in(portal, browser, "ana@example.org", PASSWORD).status_code == 303


def test_many_failures_from_one_address_lock_that_address(portal):
    set_password(portal, requests.Session(), portal.auth.invite("ana@example.org"), PASSWORD)
    # Failures spread over many addresses, one short of the limit, then one more.
    subjects = tuple(f"email:guess{n}@example.org" for n in range(ADDRESS_FAILURES - 1))
    for subject in subjects:
        portal.store.add_failure((subject, "ip:127.0.0.1"), portal.clock())
    assert (
        sign_in(portal, requests.Session(), "ben@example.org", "a wrong password").status_code
        == 401
    )
    assert sign_in(portal, requests.Session(), "ana@example.org", PASSWORD).status_code == 401
    portal.clock.advance(minutes=16)
    assert sign_in(portal, requests.Session(), "ana@example.org", PASSWORD).status_code == 303


def test_a_post_without_the_csrf_token_is_forbidden(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    home = browser.get(portal.url + "/")
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": ""}):
        answer = browser.post(portal.url + "/sign-out", data=data, allow_redirects=False)
        assert answer.status_code == 403 and "cannot be accepted" in answer.text
    assert not is_signed_out(portal, browser)  # the forged sign-out did nothing
    # Another session's token is no good either.
    other = signed_in_browser(portal, "ben@example.org")
    stolen = csrf_of(other.get(portal.url + "/"))
    answer = browser.post(portal.url + "/sign-out", data={"csrf_token": stolen})
    assert answer.status_code == 403
    # Nor is a sign-in posted from elsewhere (login CSRF).
    answer = requests.post(
        portal.url + "/sign-in", data={"email": "ana@example.org", "password": PASSWORD}
    )
    assert answer.status_code == 403
    assert (
        browser.post(
            portal.url + "/sign-out", data={"csrf_token": csrf_of(home)}, allow_redirects=False
        ).status_code
        == 303
    )


def test_a_tampered_cookie_is_signed_out(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    value = browser.cookies[SESSION_COOKIE]
    for forged in (value[:-2] + ("AA" if value[-2:] != "AA" else "BB"), "x" + value, "garbage"):
        browser.cookies.set(SESSION_COOKIE, forged)
        answer = browser.get(portal.url + "/", allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/sign-in"
        assert f"{SESSION_COOKIE}=" in answer.headers["set-cookie"]  # cleared
    browser.cookies.set(SESSION_COOKIE, value)
    assert not is_signed_out(portal, browser)


def test_a_cookie_kept_after_sign_out_is_signed_out(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    kept = browser.cookies[SESSION_COOKIE]
    home = browser.get(portal.url + "/")
    browser.post(portal.url + "/sign-out", data={"csrf_token": csrf_of(home)})
    thief = requests.Session()
    thief.cookies.set(SESSION_COOKIE, kept)
    assert is_signed_out(portal, thief)


def test_revoke_ends_every_session_at_once(portal):
    phone, laptop = signed_in_browser(portal, "ana@example.org"), requests.Session()
    assert sign_in(portal, laptop, "ana@example.org", PASSWORD).status_code == 303
    assert portal.store.live_sessions("ana@example.org") == 2
    assert portal.auth.revoke("ana@example.org")
    assert is_signed_out(portal, phone) and is_signed_out(portal, laptop)
    assert portal.store.live_sessions("ana@example.org") == 0
    answer = sign_in(portal, requests.Session(), "ana@example.org", PASSWORD)
    assert answer.status_code == 401 and SIGN_IN_FAILED in answer.text
    assert not portal.auth.revoke("nobody@example.org")


def test_an_idle_session_ends_and_says_why(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    for _ in range(3):  # active every 29 minutes: still signed in after 87
        portal.clock.advance(minutes=29)
        assert not is_signed_out(portal, browser)
    portal.clock.advance(minutes=31)
    answer = browser.get(portal.url + "/")
    assert answer.url.endswith("/sign-in?why=idle")
    assert "without activity" in answer.text


def test_a_session_ends_after_twelve_hours_however_active(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    for _ in range(12 * 3):
        portal.clock.advance(minutes=20)
        assert not is_signed_out(portal, browser)
    portal.clock.advance(minutes=1)
    assert browser.get(portal.url + "/").url.endswith("/sign-in?why=expired")


def test_signing_in_gives_a_new_session_id_and_ends_the_old_one(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    first = browser.cookies[SESSION_COOKIE]
    planted = requests.Session()  # a cookie set before sign-in is never kept
    planted.cookies.set(SESSION_COOKIE, first)
    home = browser.get(portal.url + "/")
    again = browser.post(
        portal.url + "/sign-in",
        data={"csrf_token": csrf_of(home), "email": "ana@example.org", "password": PASSWORD},
        allow_redirects=False,
    )
    assert again.status_code == 303
    second = browser.cookies[SESSION_COOKIE]
    keys = portal.app.state.keys
    assert keys.session_id(second) != keys.session_id(first)
    assert not is_signed_out(portal, browser)
    assert is_signed_out(portal, planted)
    assert portal.store.live_sessions("ana@example.org") == 1


def test_an_organiser_in_no_team_cannot_sign_in_and_is_told_why(portal):
    browser = signed_in_browser(portal, "ana@example.org")
    other = requests.Session()
    set_password(portal, other, portal.auth.invite("ben@example.org"), PASSWORD)
    # Ana leaves East Austin: she keeps North Austin, at once.
    portal.teams_file.write_text(TEAMS_YAML.replace(", Ana@Example.org", ""))
    session_id = portal.app.state.keys.session_id(browser.cookies[SESSION_COOKIE])
    assert portal.auth.current(session_id).user.teams == ("North Austin",)
    # Then Ben is taken off his only team: signed out on his next request, told why.
    assert sign_in(portal, other, "ben@example.org", PASSWORD).status_code == 303
    portal.teams_file.write_text(TEAMS_YAML.replace("ben@example.org, ", ""))
    answer = other.get(portal.url + "/")
    assert answer.url.endswith("/sign-in?why=no_team") and "leads no team" in answer.text
    refused = sign_in(portal, other, "ben@example.org", PASSWORD)
    assert refused.status_code == 403 and "leads no team" in refused.text
    assert SESSION_COOKIE not in other.cookies
    assert "sign_in_refused" in [e.event for e in portal.store.audit_events()]
    assert not is_signed_out(portal, browser)


def test_a_broken_teams_file_refuses_organisers_but_not_hq(portal):
    set_password(portal, requests.Session(), portal.auth.invite("ana@example.org"), PASSWORD)
    set_password(portal, requests.Session(), portal.auth.invite("hq@example.org", "hq"), PASSWORD)
    portal.teams_file.write_text("teams: [name: {")
    refused = sign_in(portal, requests.Session(), "ana@example.org", PASSWORD)
    assert refused.status_code == 403 and "cannot read its teams file" in refused.text
    assert sign_in(portal, requests.Session(), "hq@example.org", PASSWORD).status_code == 303


def test_the_session_store_keeps_no_session_id_or_token(portal):
    link = portal.auth.invite("ana@example.org")
    token = link.rsplit("/", 1)[1]
    browser = requests.Session()
    set_password(portal, browser, link, PASSWORD)
    sign_in(portal, browser, "ana@example.org", PASSWORD)
    session_id = portal.app.state.keys.session_id(browser.cookies[SESSION_COOKIE])
    portal.store.close()
    raw = b"".join(p.read_bytes() for p in portal.store.path.parent.glob("portal.db*"))
    assert token.encode() not in raw and session_id.encode() not in raw
    assert PASSWORD.encode() not in raw
    assert portal.store.session(_sha(session_id)).last_seen - portal.clock() == timedelta(0)


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_a_form_with_its_token_reaches_the_page_intact(portal_server, portal_settings, tmp_path):
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from portal.app import MINIMAL_PAGES, create_app
    from tests.portal.conftest import CHEAP_HASHER, Portal

    async def echo(request):
        form = await request.form()
        upload = form.get("file")
        body = (await upload.read()).decode() if upload is not None else ""
        return PlainTextResponse(f"{form.get('note')}|{body}")

    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(TEAMS_YAML)
    app = create_app(
        portal_settings,
        teams_file=teams_file,
        pages=[*MINIMAL_PAGES, Route("/echo", echo, methods=["POST"])],
        hasher=CHEAP_HASHER,
    )
    site = Portal(portal_server(app), app, None, teams_file)
    browser = signed_in_browser(site, "ana@example.org")
    token = csrf_of(browser.get(site.url + "/"))
    plain = browser.post(site.url + "/echo", data={"csrf_token": token, "note": "héllo & more"})
    assert plain.text == "héllo & more|"
    multipart = browser.post(
        site.url + "/echo",
        data={"csrf_token": token, "note": "n"},
        files={"file": ("a.txt", b"x" * 5000)},
    )
    assert multipart.text == "n|" + "x" * 5000
    header = browser.post(site.url + "/echo", data={"note": "h"}, headers={"X-CSRF-Token": token})
    assert header.text == "h|"
    too_big = browser.post(site.url + "/echo", data={"csrf_token": token, "note": "x" * 1_100_000})
    assert too_big.status_code == 413
