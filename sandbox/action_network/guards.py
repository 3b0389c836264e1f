"""The checks the simulated Action Network's routes share, in one place: the person, tag,
tagging and organising object in the path, and the OData filter. Each raises an Answer;
the route wrapper (`answering`) turns it into the response, so a handler reads straight
through instead of testing and returning after every lookup."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sandbox.action_network.state import ActionNetworkState, FilterError
from sandbox.actions import OrgObject
from sandbox.httpserver import Handler, Request, Response
from sandbox.records import AnPerson


class Answer(Exception):
    """A response raised from inside a handler: a 404 page or a 400 error."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def answering(handler: Handler) -> Handler:
    """The handler, with a raised Answer returned as its response."""

    @functools.wraps(handler)
    def wrapped(request: Request) -> Response:
        try:
            return handler(request)
        except Answer as raised:
            return raised.response

    return wrapped


def error(message: str) -> Answer:
    """The API's 400: a JSON `error`."""
    return Answer(Response(400, {"error": message}))


class Guards:
    """Lookups over one Action Network's state. A miss raises the server's not-found
    answer, asked for at the time (a test may swap the server's page for JSON)."""

    def __init__(self, state: ActionNetworkState, not_found: Callable[[Request], Response]):
        self.state = state
        self._not_found = not_found

    def missing(self, request: Request) -> Answer:
        return Answer(self._not_found(request))

    def person(self, request: Request) -> AnPerson:
        person = self.state.by_uuid.get(request.args["person_id"])
        if person is None:
            raise self.missing(request)
        return person

    def tag(self, request: Request) -> dict[str, Any]:
        tag = self.state.tags.get(request.args["tag_id"])
        if tag is None:
            raise self.missing(request)
        return tag

    def tagging(self, request: Request) -> tuple[dict[str, Any], AnPerson]:
        """The path's tag and the person its tagging id stands for."""
        tag = self.state.tags.get(request.args["tag_id"])
        person = self.state.tagged(tag, request.args["tagging_id"]) if tag else None
        if tag is None or person is None:
            raise self.missing(request)
        return tag, person

    def object(self, request: Request, collection: str) -> OrgObject:
        """The path's organising object, which must belong to `collection`."""
        found = self.state.objects.get(request.args["object_id"])
        if found is None or found.collection != collection:
            raise self.missing(request)
        return found

    def filtered(self, request: Request, key: str, items: list[Any]) -> list[Any]:
        """`items` through the request's `filter`; a 400 when it does not parse."""
        try:
            return self.state.filtered_items(key, items, request.params.get("filter", ""))
        except FilterError as exc:
            raise error(str(exc)) from None
