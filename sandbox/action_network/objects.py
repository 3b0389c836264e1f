"""The simulated Action Network's organising collections read: events, petitions, forms
and the other objects, one object, its actions, all donations, lists, custom fields."""

from __future__ import annotations

from typing import Any

from sandbox.action_network.guards import Guards
from sandbox.action_network.shapes import action_json, api, collection, iso, object_json, page_args
from sandbox.action_network.state import ActionNetworkState
from sandbox.actions import ACTION_COLLECTIONS, OrgObject
from sandbox.httpserver import Handler, Request, Response


class Objects:
    """Organising-collection routes over one Action Network's state."""

    def __init__(self, state: ActionNetworkState, guards: Guards) -> None:
        self.state = state
        self.guards = guards

    def render(self, found: OrgObject, base: str) -> dict[str, Any]:
        """An organising object with its totals (signatures, accepted attendances)."""
        with self.state.lock:
            actions = list(self.state.organising.by_object.get(found.uuid, []))
        return object_json(found, base, actions)

    def objects(self, name: str) -> Handler:
        def handler(request: Request) -> Response:
            base = api(request)
            items = self.guards.filtered(request, name, self.state.organising.objects[name])
            page, per_page = page_args(request)
            render = lambda o: self.render(o, base)  # noqa: E731
            return Response(200, collection(base, name, items, page, per_page, render))

        return handler

    def one(self, name: str) -> Handler:
        def handler(request: Request) -> Response:
            return Response(200, self.render(self.guards.object(request, name), api(request)))

        return handler

    def actions(self, name: str) -> Handler:
        actions_name = ACTION_COLLECTIONS[name][0]

        def handler(request: Request) -> Response:
            found = self.guards.object(request, name)
            base = api(request)
            items = self.guards.filtered(
                request, found.uuid, self.state.organising.by_object.get(found.uuid, [])
            )
            page, per_page = page_args(request)
            body = collection(
                base,
                f"{name}/{found.uuid}/{actions_name}",
                items,
                page,
                per_page,
                lambda a: action_json(a, base, self.state.objects),
            )
            return Response(200, body)

        return handler

    def all_donations(self, request: Request) -> Response:
        base = api(request)
        items = self.guards.filtered(
            request, "donations", self.state.organising.actions.get("donations", [])
        )
        page, per_page = page_args(request)
        render = lambda a: action_json(a, base, self.state.objects)  # noqa: E731
        return Response(200, collection(base, "donations", items, page, per_page, render))

    def list_lists(self, request: Request) -> Response:
        base = api(request)
        page, per_page = page_args(request)
        lists = self.state.organising.lists
        render = lambda o: object_json(o, base)  # noqa: E731
        return Response(200, collection(base, "lists", lists, page, per_page, render))

    def custom_fields(self, request: Request) -> Response:
        return Response(
            200,
            {
                "action_network:custom_fields": [
                    {
                        "name": name,
                        "created_date": iso(self.state.clock.now()),
                        "modified_date": iso(self.state.clock.now()),
                    }
                    for name in self.state.organising.custom_fields
                ],
                "_links": {"self": {"href": f"{api(request)}/metadata/custom_fields"}},
            },
        )
