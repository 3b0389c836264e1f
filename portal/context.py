"""What every page handler may rely on, whichever module serves it: the signed-in user
(set on `request.state.user` by the sign-in middleware before any handler runs), the audit
trail and the template renderer (both put on `request.app.state` by `portal.app.create_app`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

HQ = "hq"
ORGANISER = "organiser"


@dataclass(frozen=True)
class User:
    """A signed-in account: HQ sees every team, an organiser only `teams`."""

    email: str
    role: str  # HQ or ORGANISER
    teams: tuple[str, ...]

    @property
    def is_hq(self) -> bool:
        return self.role == HQ

    def may_see(self, team: str) -> bool:
        """Whether this account may see `team` (HQ: every team)."""
        return self.is_hq or team in self.teams


def user(request: Request) -> User:
    """The signed-in user of this request (the middleware answers for anonymous requests to
    any page but sign-in, so a handler never sees None)."""
    found = getattr(request.state, "user", None)
    if found is None:
        raise RuntimeError("portal page served without a signed-in user: check the middleware")
    return found


def audit(
    request: Request,
    event: str,
    *,
    team: str | None = None,
    list_name: str | None = None,
    rows: int | None = None,
    person_id: str | None = None,
) -> None:
    """Record an event (sign_in, sign_in_failed, download, person_view, ...) for HQ's audit
    page: who (the request's user), what and when; never a name, email or phone of a person."""
    request.app.state.audit(
        request, event, team=team, list_name=list_name, rows=rows, person_id=person_id
    )


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page from portal/templates, with the CSRF token, the user and when the data was
    last refreshed filled in for the base layout."""
    return request.app.state.render(request, template, context, status)
