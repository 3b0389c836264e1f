"""The checks the simulated Mailchimp's routes share, in one place: the audience in the
path, the member, the campaign, paging and time arguments. Each raises a Problem; the
route wrapper (`answering`) turns it into Mailchimp's problem+json answer, so a handler
reads straight through instead of testing and returning after every lookup."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sandbox.campaigns import McCampaign
from sandbox.httpserver import Handler, Request, Response
from sandbox.mailchimp.shapes import page_args, parse_time, problem
from sandbox.mailchimp.state import MailchimpState
from sandbox.records import McMember


class Problem(Exception):
    """A problem+json answer raised from inside a handler."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.response = problem(status, title, detail)


def not_found() -> Problem:
    return Problem(404, "Resource Not Found", "The requested resource could not be found.")


def invalid(detail: str) -> Problem:
    return Problem(400, "Invalid Resource", detail)


def answering(handler: Handler) -> Handler:
    """The handler, with a raised Problem answered as its response."""

    @functools.wraps(handler)
    def wrapped(request: Request) -> Response:
        try:
            return handler(request)
        except Problem as raised:
            return raised.response

    return wrapped


def body_of(request: Request) -> dict[str, Any]:
    """The JSON body when it is an object, else empty."""
    return request.body if isinstance(request.body, dict) else {}


class Guards:
    """Lookups over one audience's state that raise the simulator's 404 or 400."""

    def __init__(self, state: MailchimpState) -> None:
        self.state = state

    def audience(self, request: Request) -> None:
        """The path's audience must be this one (the simulator serves a single audience)."""
        if request.args.get("list_id") != self.state.list_id:
            raise not_found()

    def member(self, request: Request, *, any_case: bool = False) -> McMember:
        """The path's audience and member. The core member routes match the subscriber hash
        as sent; the notes, events and segment routes also take it in upper case."""
        self.audience(request)
        key = request.args["subscriber_hash"]
        m = self.state.by_id.get(key.lower() if any_case else key)
        if m is None:
            raise not_found()
        return m

    def campaign(self, request: Request) -> McCampaign:
        c = self.state.campaign_by_id.get(request.args["campaign_id"])
        if c is None:
            raise not_found()
        return c

    @staticmethod
    def page(params: dict[str, str]) -> tuple[int, int]:
        """(count, offset): ten by default, at most 1000."""
        count, offset = Guards.page_or_all(params, default=10)
        assert count is not None
        return count, offset

    @staticmethod
    def page_or_all(params: dict[str, str], default: int | None = None) -> tuple[int | None, int]:
        """(count, offset) where no count means every item."""
        try:
            return page_args(params, default)
        except ValueError:
            raise invalid("count and offset must be integers.") from None

    @staticmethod
    def times(params: dict[str, str], *names: str) -> list[datetime | None]:
        """The named time filters, None where absent; a 400 names the unreadable one."""
        times: list[datetime | None] = []
        for name in names:
            text = params.get(name) or ""
            moment = parse_time(text) if text else None
            if text and moment is None:
                raise invalid(f"{name} must be an ISO 8601 time.")
            times.append(moment)
        return times
