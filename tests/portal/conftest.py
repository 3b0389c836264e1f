"""Portal test fixtures: a real uvicorn server on loopback for any app (`portal_server`),
a portal on a temporary store with a teams file and a clock the test moves (`portal`), and
helpers to invite, set a password and sign in over HTTP with requests."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import uvicorn
from argon2 import PasswordHasher, profiles
from starlette.types import ASGIApp

from portal.access_log import log_config
from portal.app import MINIMAL_PAGES, create_app
from portal.settings import PortalSettings

TEAMS_YAML = """\
teams:
  - name: North Austin
    where: left(postal_code, 3) = '787'
    organisers: [ana@example.org]
  - name: East Austin
    where: left(postal_code, 3) = '786'
    organisers: [ben@example.org, Ana@Example.org]
  - name: Round Rock
    tags: [round rock]
    organisers: []
"""
PASSWORD = "violet tractor rainfall"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NO_CHROMIUM = (
    "Debian's chromium is not installed at /usr/bin/chromium (make test installs it when the "
    "machine allows: apt-get install chromium)"
)
# argon2-cffi's profile for tests: the same code, hashing in microseconds, not half a second.
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


class CapturedLog(logging.Handler):
    """Every access-log line the servers wrote, formatted as uvicorn formats them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_log() -> Iterator[CapturedLog]:
    """The access log of the servers started in this test (after the portal's filters)."""
    handler = CapturedLog()
    yield handler
    logging.getLogger("uvicorn.access").removeHandler(handler)


@contextmanager
def serving(app: ASGIApp, access_log: logging.Handler | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) in a thread, with the portal's
    logging, for the block; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=log_config(), server_header=False, lifespan="off", log_level="info"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start within 10 s")
            time.sleep(0.01)
        if access_log is not None:
            # uvicorn configured logging as it started: listen to its access log now.
            logging.getLogger("uvicorn.access").addHandler(access_log)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def portal_server(access_log: CapturedLog) -> Iterator[Callable[[ASGIApp], str]]:
    """start(app) -> base URL: serves `app` (`serving`) until the test ends."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serving(app, access_log))


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Portal:
    """A running portal: its URL, app, clock and teams file."""

    url: str
    app: object
    clock: Clock
    teams_file: Path

    @property
    def auth(self):
        return self.app.state.auth

    @property
    def store(self):
        return self.app.state.store

    def path_of(self, link: str) -> str:
        """An invitation link from `invite` as a URL on this test server."""
        return self.url + link[link.index("/invite/") :]


def data_portal(
    start: Callable[[ASGIApp], str],
    settings: PortalSettings,
    teams_file: Path,
    snapshot: Path,
) -> Portal:
    """The portal's pages over `snapshot` served by `start` (the `portal_server` fixture),
    with a hand-moved clock and the cheap hasher."""
    clock = Clock()
    app = create_app(
        settings, clock=clock, teams_file=teams_file, hasher=CHEAP_HASHER, snapshot=snapshot
    )
    return Portal(start(app), app, clock, Path(teams_file))


def accept_invitation(page, link_url: str, email: str, password: str = PASSWORD) -> None:
    """In a browser page: set the password from an invitation link, then sign in, as a
    person would."""
    page.goto(link_url)
    page.fill("#password", password)
    page.fill("#confirm", password)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/sign-in\?why=password_set$"))
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture
def portal_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PortalSettings:
    for name in list(PortalSettings.model_fields):
        monkeypatch.delenv(name, raising=False)
    # No snapshot unless a test publishes one: a developer's data/ must not leak in.
    monkeypatch.setenv("PORTAL_SNAPSHOT", str(tmp_path / "portal" / "snapshot.duckdb"))
    return PortalSettings(PORTAL_DB=str(tmp_path / "portal" / "portal.db"))


@pytest.fixture
def portal(
    portal_server: Callable[[ASGIApp], str], portal_settings: PortalSettings, tmp_path: Path
) -> Portal:
    """The portal on a fresh store, with TEAMS_YAML, a hand-moved clock, a cheap password
    hasher and a minimal home page (the data pages' tests build theirs with `create_app`
    and `portal_server`)."""
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(TEAMS_YAML)
    clock = Clock()
    app = create_app(
        portal_settings,
        clock=clock,
        teams_file=teams_file,
        pages=MINIMAL_PAGES,
        hasher=CHEAP_HASHER,
    )
    return Portal(portal_server(app), app, clock, teams_file)


def csrf_of(page: requests.Response) -> str:
    """The CSRF token in a page's form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no csrf_token in the page at {page.url}"
    return found.group(1)


def set_password(portal: Portal, browser: requests.Session, link: str, password: str):
    """Open an invitation and post a password to it; the response to the post."""
    url = portal.path_of(link)
    page = browser.get(url)
    assert page.status_code == 200, page.text
    return browser.post(
        url,
        data={"csrf_token": csrf_of(page), "password": password, "confirm": password},
        allow_redirects=False,
    )


def sign_in(portal: Portal, browser: requests.Session, email: str, password: str):
    """Open the sign-in page and post the email and password; the response to the post."""
    page = browser.get(portal.url + "/sign-in")
    return browser.post(
        portal.url + "/sign-in",
        data={"csrf_token": csrf_of(page), "email": email, "password": password, "next": "/"},
        allow_redirects=False,
    )


def signed_in_browser(portal: Portal, email: str, role: str = "organiser") -> requests.Session:
    """A requests session of an invited account with PASSWORD set, signed in."""
    browser = requests.Session()
    link = portal.auth.invite(email, role)
    assert set_password(portal, browser, link, PASSWORD).status_code == 303
    assert sign_in(portal, browser, email, PASSWORD).status_code == 303
    return browser


def is_signed_out(portal: Portal, browser: requests.Session) -> bool:
    """Whether the home page sends this browser to sign in."""
    answer = browser.get(portal.url + "/", allow_redirects=False)
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/sign-in")
        return True
    assert answer.status_code == 200, answer.text
    return False


@contextmanager
def chromium_page() -> Iterator:
    """A page in Debian's chromium, driven by Playwright (never a downloaded browser), for
    the block; `page.problems` collects CSP refusals and script errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        context = browser.new_context(
            viewport={"width": 1100, "height": 760}, accept_downloads=True
        )
        opened = context.new_page()
        opened.set_default_timeout(15_000)  # a page that does not answer fails, never hangs
        problems: list[str] = []
        # A CSP violation shows in the console as "Refused to ...": there must be none.
        opened.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
        opened.on("pageerror", lambda e: problems.append(str(e)))
        opened.problems = problems
        try:
            yield opened
        finally:
            context.close()
            browser.close()


@pytest.fixture
def page():
    """A page in Debian's chromium (`chromium_page`), skipped where it is not installed;
    `page.problems` must stay empty."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    with chromium_page() as opened:
        yield opened


def screenshot(page, folder: str, name: str, full_page: bool = True) -> None:
    """Keep the page (the whole of it, or what the window shows) as
    tests/artifacts/<folder>/<name>.png (not committed)."""
    (ARTIFACTS / folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / folder / f"{name}.png"), full_page=full_page)
