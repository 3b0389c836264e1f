"""The portal as an ASGI app: `create_app(settings)` wires the store, sign-in, the security
layers, the templates and every module's routes together."""

from __future__ import annotations

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

from portal import account_pages, data
from portal import pages as data_pages
from portal.auth import Auth, Clock, utc_now
from portal.context import user
from portal.middleware import Csrf, Keys, SecurityHeaders, Sessions
from portal.render import Renderer
from portal.settings import PortalSettings
from portal.store import Store
from portal.store_db import key_folder
from portal.teams import TeamsFile
from warehouse.env_settings import given
from warehouse.settings import WarehouseSettings

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
    snapshot: str | Path | None = None,
) -> Starlette:
    """The portal over the snapshot at `snapshot` (PORTAL_SNAPSHOT unless given). `clock`,
    `teams_file` and `hasher` (argon2-cffi's defaults unless given) are for tests; `pages`
    defaults to portal.pages.ROUTES."""
    settings = settings or PortalSettings()
    auth = build_auth(settings, clock=clock, teams_file=teams_file, hasher=hasher)
    store = auth.store
    # The key lives beside the store (data/portal/secret_key by default) unless it is set.
    keys = Keys(settings.secret_key(key_folder(settings.PORTAL_DB) / "secret_key"))
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
        *(pages if pages is not None else data_pages.ROUTES),
    ]
    app = _Portal(
        routes=routes,
        middleware=[
            # SecurityHeaders comes first, outside even Starlette's error page (_Portal).
            Middleware(Sessions, auth=auth, keys=keys),
            Middleware(Csrf, forbidden=forbidden),
        ],
        exception_handlers={
            404: _not_found(render),
            405: _not_found(render),
            data.SnapshotMissing: data_pages.no_data,
        },
    )
    app.state.settings = settings
    app.state.store = store
    app.state.auth = auth
    app.state.keys = keys
    app.state.render = render
    app.state.audit = _auditor(store, clock)
    app.state.snapshot = data.snapshot(snapshot or WarehouseSettings().PORTAL_SNAPSHOT)
    app.state.refreshed_at = app.state.snapshot.refreshed_at
    return app


async def _minimal_home(request: Request) -> Response:
    return request.app.state.render(request, "home_minimal.html", {}, 200)


# A home page that needs no snapshot, for the sign-in tests: they test signing in alone.
MINIMAL_PAGES: list[BaseRoute] = [Route("/", _minimal_home, methods=["GET"])]


class _Portal(Starlette):
    """Starlette with the security headers outermost, so that even the error page of an
    unexpected exception (Starlette's own, outside every other middleware) carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), https=self.state.settings.https)


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
    def audit(request: Request, event: str, **fields: object) -> None:
        """Record an event of the request's user (the fields: portal.context.audit)."""
        signed_in = request.scope.get("state", {}).get("user")
        store.record(
            clock(),
            user(request).email if signed_in else None,
            event,
            ip=request.client.host if request.client else None,
            **fields,
        )

    return audit
