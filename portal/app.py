"""The portal as an ASGI app: `create_app(settings)` wires the store, sign-in, the security
layers, the templates and every module's routes together."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from portal import account_pages
from portal.auth import Auth, Clock, utc_now
from portal.context import user
from portal.middleware import Csrf, Keys, SecurityHeaders, Sessions
from portal.render import Renderer
from portal.settings import PortalSettings
from portal.store import Store
from portal.teams import TeamsFile
from warehouse.env_settings import given

STATIC = Path(__file__).with_name("static")
log = logging.getLogger(__name__)


def teams_path() -> str:
    """The teams file the portal reads (TEAMS_CONFIG, default teams.yaml)."""
    return given("TEAMS_CONFIG") or "teams.yaml"


def build_auth(
    settings: PortalSettings,
    *,
    clock: Clock = utc_now,
    teams_file: str | Path | None = None,
    hasher: PasswordHasher | None = None,
) -> Auth:
    """Accounts and sessions over the store PORTAL_DB names (for the app and the CLI)."""
    return Auth(
        Store(settings.PORTAL_DB),
        TeamsFile(teams_file or teams_path()),
        settings.PORTAL_URL,
        idle_minutes=settings.PORTAL_IDLE_MINUTES,
        clock=clock,
        hasher=hasher,
    )


def create_app(
    settings: PortalSettings | None = None,
    *,
    clock: Clock = utc_now,
    teams_file: str | Path | None = None,
    pages: list[BaseRoute] | None = None,
    hasher: PasswordHasher | None = None,
) -> Starlette:
    """The portal. `clock`, `teams_file` and `hasher` (argon2-cffi's defaults unless given)
    are for tests; `pages` defaults to portal.pages.ROUTES (MINIMAL_PAGES while that module
    does not exist)."""
    settings = settings or PortalSettings()
    auth = build_auth(settings, clock=clock, teams_file=teams_file, hasher=hasher)
    store = auth.store
    # The key lives beside the store (data/portal/secret_key by default) unless it is set.
    keys = Keys(settings.secret_key(Path(settings.PORTAL_DB).parent / "secret_key"))
    render = Renderer()

    def forbidden(request: Request) -> Response:
        context = {
            "title": "This form cannot be accepted",
            "message": (
                "It has expired or did not come from this portal. Go back, reload the "
                "page and send the form again."
            ),
            "link": ("/", "Go to the portal's home page"),
        }
        return render(request, "message.html", context, 403)

    routes: list[BaseRoute] = [
        *account_pages.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *(pages if pages is not None else _pages()),
    ]
    app = _Portal(
        routes=routes,
        middleware=[
            # SecurityHeaders comes first, outside even Starlette's error page (_Portal).
            Middleware(Sessions, auth=auth, keys=keys),
            Middleware(Csrf, forbidden=forbidden),
        ],
        exception_handlers={404: _not_found(render), 405: _not_found(render)},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.auth = auth
    app.state.keys = keys
    app.state.render = render
    app.state.audit = _auditor(store, clock)
    app.state.refreshed_at = lambda: None  # the pages set this to the snapshot's time
    return app


async def _minimal_home(request: Request) -> Response:
    return request.app.state.render(request, "home_minimal.html", {}, 200)


# A home page that needs no snapshot: served while portal.pages is missing (and by the
# sign-in tests, so they test signing in alone).
MINIMAL_PAGES: list[BaseRoute] = [Route("/", _minimal_home, methods=["GET"])]


class _Portal(Starlette):
    """Starlette with the security headers outermost, so that even the error page of an
    unexpected exception (Starlette's own, outside every other middleware) carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), https=self.state.settings.https)


def _pages() -> list[BaseRoute]:
    """portal.pages.ROUTES, or MINIMAL_PAGES while that module does not exist."""
    try:
        module = importlib.import_module("portal.pages")
    except ModuleNotFoundError as exc:
        if exc.name != "portal.pages":
            raise
        return list(MINIMAL_PAGES)
    return list(module.ROUTES)


def _not_found(render: Renderer) -> Callable[[Request, Exception], Any]:
    def handler(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        context = {
            "title": "Not found" if status == 404 else "Not allowed here",
            "message": "There is no such page here, or it is not yours to see.",
            "link": ("/", "Go to the portal's home page"),
        }
        return render(request, "message.html", context, status)

    return handler


def _auditor(store: Store, clock: Clock) -> Callable[..., None]:
    def audit(
        request: Request,
        event: str,
        *,
        team: str | None = None,
        list_name: str | None = None,
        rows: int | None = None,
        person_id: str | None = None,
    ) -> None:
        """Record an event of the request's user (see portal.context.audit)."""
        signed_in = request.scope.get("state", {}).get("user")
        store.record(
            clock(),
            user(request).email if signed_in else None,
            event,
            team=team,
            list_name=list_name,
            rows=rows,
            person_id=person_id,
            ip=request.client.host if request.client else None,
        )

    return audit
