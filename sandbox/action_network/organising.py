"""The simulated Action Network's organising writes and actions by id: events and
petitions made and changed, single attendances and signatures (and the other actions) by
id, recording and changing them, and each person's own action collections. These are the
routes Parsons' ActionNetwork connector calls beyond the people, tags and collections."""

from __future__ import annotations

import re
from typing import Any

from sandbox.action_network.guards import Guards, error
from sandbox.action_network.shapes import (
    action_json,
    api,
    background,
    collection,
    linked_person,
    object_json,
    page_args,
)
from sandbox.action_network.state import ActionNetworkState
from sandbox.action_network.writes import OrganisingWrites, WriteError
from sandbox.actions import Action, OrgObject
from sandbox.audit import note
from sandbox.httpserver import Handler, Request, Response
from sandbox.records import AnPerson

# Objects whose makers write through the API (Parsons: create_event, create_petition, ...).
WRITABLE = ("events", "petitions")
# Query parameters that steer a request rather than carry a field.
CONTROL_PARAMS = {"background_processing"}
_KEY = re.compile(r"\[([^\]]*)\]")


def query_body(params: dict[str, str]) -> dict[str, Any]:
    """A POST's fields from its query string, Rails-style (`a[b][c]=v`, `a[][b]=v`): the
    real API reads query parameters as body fields, which is how Parsons' create_signature
    and create_attendance send their payload. A nested dict Parsons puts in the query
    arrives flattened to its keys and carries no value, as it does on the real API."""
    body: dict[str, Any] = {}
    for key, value in params.items():
        name = key.split("[", 1)[0]
        if name in CONTROL_PARAMS or not name:
            continue
        path = [name, *_KEY.findall(key[len(name) :])]
        try:
            _assign(body, path, value)
        except (TypeError, AttributeError):
            continue  # `a=1&a[b]=2`: a shape Rails refuses too; the first one stays
    return body


def _assign(node: Any, path: list[str], value: str) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if head == "":
            node.append(value)
        else:
            node[head] = value
        return
    if head == "":  # a list of hashes: a repeated key starts the next hash
        if not node or not isinstance(node[-1], dict) or rest[0] in node[-1]:
            node.append({})
        _assign(node[-1], rest, value)
        return
    if head not in node:
        node[head] = [] if rest[0] == "" else {}
    _assign(node[head], rest, value)


def _has_contact(person: dict[str, Any]) -> bool:
    """The helpers find or make a person by email or phone: one of them must be sent."""
    for key, field in (("email_addresses", "address"), ("phone_numbers", "number")):
        entries = person.get(key)
        if isinstance(entries, list) and any(
            isinstance(e, dict) and str(e.get(field) or "").strip() for e in entries
        ):
            return True
    return False


class Organising:
    """Event, petition and action routes over one Action Network's state."""

    def __init__(self, state: ActionNetworkState, guards: Guards) -> None:
        self.state = state
        self.guards = guards
        self.writes = OrganisingWrites(
            state.organising, state.objects, state.lock, state.clock, self._changed
        )

    def _changed(self) -> None:
        self.state.version += 1  # called under the state's lock

    # -- helpers -------------------------------------------------------------------------

    def keys(self, request: Request) -> list[str]:
        """Who a write touches: the person behind an action id, or the one a new action's
        body links to or names by email."""
        if request.args.get("action_id"):
            action = self.writes.action(
                request.args.get("object_id", ""), request.args["action_id"]
            )
            return [action.person_uuid] if action else []
        body = self._body(request)
        if linked_person(body):
            return [linked_person(body)]
        data = body.get("person") if isinstance(body.get("person"), dict) else {}
        emails = data.get("email_addresses") or []
        email = emails[0].get("address") if emails and isinstance(emails[0], dict) else ""
        person = self.state.by_email(str(email or ""))
        return [person.uuid if person else "", str(email or "")] if email else []

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        """The JSON body, or (when there is none) the fields sent in the query string."""
        if isinstance(request.body, dict):
            return request.body
        return query_body(request.params) if request.method == "POST" else {}

    def _action(self, request: Request, name: str) -> Action:
        """The path's action on the path's object of collection `name`."""
        found = self.guards.object(request, name)
        action = self.writes.action(found.uuid, request.args["action_id"])
        if action is None:
            raise self.guards.missing(request)
        return action

    def _render_object(self, found: OrgObject, base: str) -> dict[str, Any]:
        with self.state.lock:
            actions = list(self.state.organising.by_object.get(found.uuid, []))
        return object_json(found, base, actions)

    def _render_action(self, action: Action, base: str) -> dict[str, Any]:
        return action_json(action, base, self.state.objects)

    # -- actions read --------------------------------------------------------------------

    def get_action(self, name: str) -> Handler:
        def handler(request: Request) -> Response:
            action = self._action(request, name)
            return Response(200, self._render_action(action, api(request)))

        return handler

    def person_actions(self, actions: str) -> Handler:
        def handler(request: Request) -> Response:
            person = self.guards.person(request)
            key = f"people/{person.uuid}/{actions}"
            mine = self.writes.person_actions(person.uuid, actions)
            items = self.guards.filtered(request, key, mine)
            base = api(request)
            page, per_page = page_args(request)
            render = lambda a: self._render_action(a, base)  # noqa: E731
            return Response(200, collection(base, key, items, page, per_page, render))

        return handler

    def person_action(self, actions: str) -> Handler:
        def handler(request: Request) -> Response:
            person = self.guards.person(request)
            mine = self.writes.person_actions(person.uuid, actions)
            action = next((a for a in mine if a.uuid == request.args["action_id"]), None)
            if action is None:
                raise self.guards.missing(request)
            return Response(200, self._render_action(action, api(request)))

        return handler

    # -- objects written -----------------------------------------------------------------

    def create_object(self, name: str) -> Handler:
        def handler(request: Request) -> Response:
            if not isinstance(request.body, dict):
                raise error(f"Request must contain a {name[:-1]}")
            try:
                found = self.writes.create_object(name, request.body)
            except WriteError as exc:
                raise error(str(exc)) from None
            note(request).detail.update({"object": f"{name}/{found.uuid}", "created": True})
            if background(request):
                return Response(200, {})
            return Response(200, self._render_object(found, api(request)))

        return handler

    def update_object(self, name: str) -> Handler:
        def handler(request: Request) -> Response:
            found = self.guards.object(request, name)
            if not isinstance(request.body, dict):
                raise error(f"Request must contain a {name[:-1]}")
            try:
                self.writes.update_object(found, request.body)
            except WriteError as exc:
                raise error(str(exc)) from None
            note(request).detail["object"] = f"{name}/{found.uuid}"
            if background(request):
                return Response(200, {})
            return Response(200, self._render_object(found, api(request)))

        return handler

    # -- actions written -----------------------------------------------------------------

    def _who(self, request: Request, body: dict[str, Any]) -> AnPerson:
        """The person a new action is for: a linked person, or one the record helper finds
        or makes from `person` (by email, then phone) with `add_tags`."""
        linked = linked_person(body)
        if linked:
            person = self.state.by_uuid.get(linked)
            if person is None:
                raise error("Linked person not found")
            return person
        data = body.get("person")
        if isinstance(data, dict) and _has_contact(data):
            helper = {"person": data, "add_tags": body.get("add_tags") or []}
            return self.state.upsert(helper, note(request))
        raise error(
            "An action needs a person: a `person` with an email address or phone number, "
            "or an `osdi:person` link"
        )

    def record(self, name: str) -> Handler:
        """Record an attendance or signature (the record helpers): one per person."""

        def handler(request: Request) -> Response:
            found = self.guards.object(request, name)
            body = self._body(request)
            person = self._who(request, body)
            try:
                action, created = self.writes.record_action(found, person.uuid, body)
            except WriteError as exc:
                raise error(str(exc)) from None
            write = note(request)
            write.member, write.email = person.uuid, person.email or ""
            write.detail.update({"action": f"{action.collection}/{action.uuid}", "new": created})
            if background(request):
                return Response(200, {})
            return Response(200, self._render_action(action, api(request)))

        return handler

    def update_action(self, name: str) -> Handler:
        def handler(request: Request) -> Response:
            action = self._action(request, name)
            if not isinstance(request.body, dict):
                raise error(f"Request must contain a {action.collection[:-1]}")
            try:
                self.writes.update_action(action, request.body)
            except WriteError as exc:
                raise error(str(exc)) from None
            note(request).detail["action"] = f"{action.collection}/{action.uuid}"
            return Response(200, self._render_action(action, api(request)))

        return handler
