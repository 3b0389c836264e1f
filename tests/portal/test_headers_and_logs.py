"""Security headers on every response, hardened cookies, and an access log that never
shows an email, a search or an invitation token."""

from __future__ import annotations

import requests

from portal.app import MINIMAL_PAGES, create_app
from portal.middleware import CONTENT_SECURITY_POLICY, SESSION_COOKIE, VISIT_COOKIE
from portal.settings import PortalSettings
from tests.portal.conftest import CHEAP_HASHER, PASSWORD, csrf_of, set_password, sign_in


def _responses(portal) -> list[requests.Response]:
    """One response of each kind the portal gives: pages, redirects, errors, static."""
    anonymous = requests.Session()
    link = portal.auth.invite("ana@example.org")
    found = [
        anonymous.get(portal.url + "/sign-in"),
        anonymous.get(portal.url + "/", allow_redirects=False),  # 303 to sign in
        anonymous.get(portal.url + "/health"),
        anonymous.get(portal.url + "/static/portal.css"),
        anonymous.get(portal.url + "/invite/unknown"),  # 404
        anonymous.post(portal.url + "/sign-in", data={}),  # 403, no token
        anonymous.get(portal.path_of(link)),
        set_password(portal, anonymous, link, "short"),  # 400
        set_password(portal, anonymous, link, PASSWORD),  # 303
        anonymous.get(portal.path_of(link)),  # 410
        sign_in(portal, anonymous, "ana@example.org", "a wrong password"),  # 401
        sign_in(portal, anonymous, "ana@example.org", PASSWORD),  # 303 with a session
    ]
    home = anonymous.get(portal.url + "/")
    return [
        *found,
        home,
        anonymous.get(portal.url + "/no/such/page"),  # 404 signed in
        anonymous.put(portal.url + "/", data={"csrf_token": csrf_of(home)}),  # 405
    ]


def test_every_response_carries_the_security_headers(portal):
    responses = _responses(portal)
    statuses = {r.status_code for r in responses}
    assert {200, 303, 400, 401, 403, 404, 405, 410} <= statuses
    for response in responses:
        headers = response.headers
        where = f"{response.request.method} {response.url} {response.status_code}"
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, where
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "no-referrer", where
        assert headers["X-Content-Type-Options"] == "nosniff", where
        if "/static/" not in response.url:
            assert headers["Cache-Control"] == "no-store", where
        assert "server" not in headers, where


def test_pages_have_no_inline_script_or_style(portal):
    for response in _responses(portal):
        if response.headers.get("content-type", "").startswith("text/html"):
            text = response.text.lower()
            assert "<script" not in text and "<style" not in text and " style=" not in text
            assert " on" + "click=" not in text


def test_cookies_are_http_only_same_site_and_secure_over_https(portal, portal_server, tmp_path):
    browser = requests.Session()
    visit = browser.get(portal.url + "/sign-in")
    set_password(portal, browser, portal.auth.invite("ana@example.org"), PASSWORD)
    session = sign_in(portal, browser, "ana@example.org", PASSWORD)
    for response, name in ((visit, VISIT_COOKIE), (session, SESSION_COOKIE)):
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{name}=") and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # plain http on loopback
    assert "Strict-Transport-Security" not in visit.headers
    # Behind a proxy on this machine that says the request came over HTTPS.
    proxied = requests.get(portal.url + "/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in proxied.headers["set-cookie"]
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"
    https = PortalSettings(PORTAL_DB=str(tmp_path / "other.db"), PORTAL_HTTPS="on")
    url = portal_server(create_app(https, pages=MINIMAL_PAGES, hasher=CHEAP_HASHER))
    answer = requests.get(url + "/sign-in")
    assert "Secure" in answer.headers["set-cookie"] and "HttpOnly" in answer.headers["set-cookie"]
    assert "Strict-Transport-Security" in answer.headers


def test_the_access_log_shows_paths_only(portal, access_log):
    browser = requests.Session()
    link = portal.auth.invite("ana@example.org")
    token = link.rsplit("/", 1)[1]
    set_password(portal, browser, link, PASSWORD)
    sign_in(portal, browser, "ana@example.org", PASSWORD)
    browser.get(portal.url + "/search?q=ana%40example.org+Jane+Doe+555-0100")
    browser.get(portal.url + "/invite/" + token + "?email=ana@example.org")
    lines = "\n".join(access_log.lines)
    assert '"POST /sign-in HTTP/1.1" 303' in lines
    assert '"GET /invite/[redacted] HTTP/1.1" 200' in lines
    assert '"GET /search HTTP/1.1"' in lines
    for secret in ("@", "example.org", "Jane", "555", token, "?"):
        assert secret not in lines, secret


def test_an_unexpected_error_page_carries_the_headers_too(portal_server, portal_settings, tmp_path):
    from starlette.routing import Route

    async def broken(request):
        raise RuntimeError("a bug")

    app = create_app(
        portal_settings,
        teams_file=tmp_path / "teams.yaml",
        pages=[*MINIMAL_PAGES, Route("/invite/x/broken", broken)],
        hasher=CHEAP_HASHER,
    )
    url = portal_server(app)
    answer = requests.get(url + "/invite/x/broken")
    assert answer.status_code == 500 and "a bug" not in answer.text
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
