"""The three layers every request passes, outermost first: security headers, the session
(who is signed in; anonymous requests go to the sign-in page), and CSRF (every POST carries
the token of its session)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.auth import Auth, Current

SESSION_COOKIE = "portal_session"
# A random id for a visitor not signed in, so the sign-in and invitation forms have a
# CSRF token too.
VISIT_COOKIE = "portal_visit"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
PUBLIC_PATHS = ("/sign-in", "/health")
PUBLIC_PREFIXES = ("/static/", "/invite/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_FORM_BYTES = 1_000_000
# An outcomes upload (portal/outcomes.py MAX_UPLOAD_BYTES) with its multipart framing: the
# upload page then answers a larger file itself, in words.
MAX_UPLOAD_BODY_BYTES = 5 * 1024 * 1024 + 64 * 1024


class Keys:
    """Signs cookies and derives CSRF tokens from the one secret key."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._sessions = URLSafeSerializer(secret, salt="portal-session")
        self._visits = URLSafeSerializer(secret, salt="portal-visit")

    def session_cookie(self, session_id: str) -> str:
        return self._sessions.dumps(session_id)

    def session_id(self, cookie: str | None) -> str | None:
        """The session id in a cookie, or None when it is missing or tampered with."""
        return _loaded(self._sessions, cookie)

    def visit_cookie(self, visit_id: str) -> str:
        return self._visits.dumps(visit_id)

    def visit_id(self, cookie: str | None) -> str | None:
        return _loaded(self._visits, cookie)

    def csrf_token(self, kind: str, ident: str) -> str:
        """The form token of a session ('s') or a visit ('v'): an HMAC of its id."""
        message = f"csrf|{kind}|{ident}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _loaded(serializer: URLSafeSerializer, cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        value = serializer.loads(cookie)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def cookie_header(name: str, value: str, *, max_age: int | None = None) -> str:
    """A Set-Cookie value; the headers layer adds HttpOnly, SameSite and Secure."""
    response = Response()
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax")
    return response.headers["set-cookie"]


def expired_cookie_header(name: str) -> str:
    return cookie_header(name, "", max_age=0)


class SecurityHeaders:
    """CSP, no referrer, no sniffing and no caching of pages on every response; every
    cookie HttpOnly and SameSite=Lax; over HTTPS (PORTAL_HTTPS, or the request's scheme as
    a proxy on this machine reports it) cookies Secure and HSTS."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.https or scope.get("scheme") == "https"
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                if not static:
                    headers["Cache-Control"] = "no-store"
                if secure:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                cookies = headers.getlist("set-cookie")
                if cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        headers.append("set-cookie", _hardened(cookie, secure))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hardened(cookie: str, secure: bool) -> str:
    """The cookie with HttpOnly, SameSite=Lax and (over HTTPS) Secure, whatever set it."""
    attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
    extra = []
    if "httponly" not in attributes:
        extra.append("HttpOnly")
    if "samesite" not in attributes:
        extra.append("SameSite=Lax")
    if secure and "secure" not in attributes:
        extra.append("Secure")
    return "; ".join([cookie.rstrip("; "), *extra]) if extra else cookie


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class Sessions:
    """Puts the signed-in user on request.state (user, session_id, csrf_token); sends an
    anonymous request for anything but the public paths to the sign-in page. A tampered,
    ended or expired session cookie counts as signed out (and is cleared)."""

    def __init__(self, app: ASGIApp, *, auth: Auth, keys: Keys) -> None:
        self.app = app
        self.auth = auth
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            # The stylesheet is the same for everyone: no session is looked up for it.
            scope.setdefault("state", {})["user"] = None
            await self.app(scope, receive, send)
            return
        cookies = Request(scope).cookies
        state = scope.setdefault("state", {})
        set_cookies: list[str] = []
        session_id = self.keys.session_id(cookies.get(SESSION_COOKIE))
        current = self.auth.current(session_id) if session_id else Current(None)
        if current.user is not None and session_id is not None:
            state["user"] = current.user
            state["session_id"] = session_id
            state["csrf_token"] = self.keys.csrf_token("s", session_id)
        else:
            state["user"] = None
            if SESSION_COOKIE in cookies:
                set_cookies.append(expired_cookie_header(SESSION_COOKIE))
            visit_id = self.keys.visit_id(cookies.get(VISIT_COOKIE))
            if visit_id is None:
                visit_id = secrets.token_urlsafe(24)
                set_cookies.append(cookie_header(VISIT_COOKIE, self.keys.visit_cookie(visit_id)))
            state["visit_id"] = visit_id
            state["csrf_token"] = self.keys.csrf_token("v", visit_id)
            if not is_public(scope["path"]):
                await self._to_sign_in(scope, current.why, set_cookies)(scope, receive, send)
                return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start" and set_cookies:
                headers = MutableHeaders(scope=message)
                for cookie in set_cookies:
                    headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _to_sign_in(self, scope: Scope, why: str, set_cookies: list[str]) -> Response:
        query = {}
        if scope["method"] == "GET" and scope["path"] != "/":
            query["next"] = scope["path"]
        if why:
            query["why"] = why
        target = "/sign-in" + (f"?{urlencode(query)}" if query else "")
        response = RedirectResponse(target, status_code=303)
        for cookie in set_cookies:
            response.headers.append("set-cookie", cookie)
        return response


class Csrf:
    """Refuses (403) any POST, PUT, PATCH or DELETE whose csrf_token (form field, or the
    X-CSRF-Token header) is not the one of its session or visit."""

    def __init__(self, app: ASGIApp, *, forbidden: Callable[[Request], Response]) -> None:
        self.app = app
        self.forbidden = forbidden

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        limit = MAX_UPLOAD_BODY_BYTES if scope["path"].endswith("/upload") else MAX_FORM_BYTES
        body = await _body(receive, limit)
        if body is None:
            await Response("Form too large.", status_code=413)(scope, receive, send)
            return
        request = Request(scope, _replay(body, receive))
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            field = form.get("csrf_token")
            sent = field if isinstance(field, str) else None
            await form.close()
        expected = scope.get("state", {}).get("csrf_token", "")
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            await self.forbidden(request)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is longer than `limit`."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then waits on the real one (for a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
