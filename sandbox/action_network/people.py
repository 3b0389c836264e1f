"""The simulated Action Network's people and tags: the entry point, the people collection
(no totals, a `next` link even past the end), signup and update, tags, and taggings."""

from __future__ import annotations

from typing import Any

from sandbox.action_network.guards import Guards, error
from sandbox.action_network.shapes import (
    CURIES,
    MAX_PER_PAGE,
    api,
    background,
    collection,
    linked_person,
    page_args,
    person_json,
    tag_json,
    tagging_json,
)
from sandbox.action_network.state import ActionNetworkState, FilterError
from sandbox.action_network.writes import set_contact_details
from sandbox.audit import note
from sandbox.httpserver import Request, Response
from sandbox.records import AnPerson


class People:
    """People, tag and tagging routes over one Action Network's state."""

    def __init__(self, state: ActionNetworkState, guards: Guards) -> None:
        self.state = state
        self.guards = guards

    def entry_point(self, request: Request) -> Response:
        base = api(request)
        return Response(
            200,
            {
                "motd": "Welcome to the Action Network OSDI API v2 (sandbox)",
                "max_page_size": MAX_PER_PAGE,
                "_links": {
                    "self": {"href": base},
                    "osdi:people": {"href": f"{base}/people"},
                    "osdi:tags": {"href": f"{base}/tags"},
                    "curies": CURIES,
                },
            },
        )

    def list_people(self, request: Request) -> Response:
        base = api(request)
        page, per_page = page_args(request)
        try:
            people = self.state.filtered(request.params.get("filter", ""))
        except FilterError as exc:
            raise error(str(exc)) from None
        chunk = people[(page - 1) * per_page : page * per_page]
        rendered = [person_json(p, base) for p in chunk]
        query = f"&filter={request.params['filter']}" if request.params.get("filter") else ""
        return Response(
            200,
            {
                "per_page": per_page,
                "page": page,
                "_links": {
                    # The real collection always links a next page, even past the end.
                    "next": {"href": f"{base}/people?page={page + 1}{query}"},
                    "osdi:people": [{"href": r["_links"]["self"]["href"]} for r in rendered],
                    "curies": CURIES,
                    "self": {"href": f"{base}/people"},
                },
                "_embedded": {"osdi:people": rendered},
            },
        )

    def get_person(self, request: Request) -> Response:
        return Response(200, person_json(self.guards.person(request), api(request)))

    def signup(self, request: Request) -> Response:
        if not isinstance(request.body, dict) or not isinstance(request.body.get("person"), dict):
            raise error("Request must contain a person")
        person = self.state.upsert(request.body, note(request))
        if background(request):
            return Response(200, {})
        return Response(200, person_json(person, api(request)))

    def put_person(self, request: Request) -> Response:
        """Update names and custom fields; the email status only when the body sends one."""
        person = self.guards.person(request)
        if not isinstance(request.body, dict):
            raise error("Request must contain a person")
        write = note(request)
        write.email = person.email or ""
        with self.state.lock:
            set_contact_details(person, request.body, write)
        self.state.update(person, request.body, write)
        if background(request):
            return Response(200, {})
        return Response(200, person_json(person, api(request)))

    def person_taggings(self, request: Request) -> Response:
        """One person's taggings (the person's `osdi:taggings` link)."""
        person = self.guards.person(request)
        base = api(request)
        with self.state.lock:
            tags = [t for t in self.state.tags.values() if t["name"] in person.tags]

        def render(tag: dict[str, Any]) -> dict[str, Any]:
            return tagging_json(tag, person, base)

        page, per_page = page_args(request)
        name = f"people/{person.uuid}/taggings"
        return Response(200, collection(base, name, tags, page, per_page, render))

    # -- tags ----------------------------------------------------------------------------

    def list_tags(self, request: Request) -> Response:
        base = api(request)
        page, per_page = page_args(request)
        tags = sorted(self.state.tags.values(), key=lambda t: (t["created"], t["name"]))
        return Response(
            200, collection(base, "tags", tags, page, per_page, lambda t: tag_json(t, base))
        )

    def get_tag(self, request: Request) -> Response:
        return Response(200, tag_json(self.guards.tag(request), api(request)))

    def create_tag(self, request: Request) -> Response:
        name = str((request.body or {}).get("name") or "").strip()
        if not name:
            raise error("A tag needs a name")
        note(request).detail["tag"] = name
        with self.state.lock:
            tag = self.state.tag_by_name(name) or self.state.create_tag(
                name, self.state.clock.now()
            )
        return Response(200, tag_json(tag, api(request)))

    # -- taggings ------------------------------------------------------------------------

    def list_taggings(self, request: Request) -> Response:
        tag = self.guards.tag(request)
        base = api(request)
        with self.state.lock:
            people = [p for p in self.state.people if tag["name"] in p.tags]

        def render(person: AnPerson) -> dict[str, Any]:
            return tagging_json(tag, person, base)

        page, per_page = page_args(request)
        body = collection(base, f"tags/{tag['uuid']}/taggings", people, page, per_page, render)
        return Response(200, body)

    def get_tagging(self, request: Request) -> Response:
        tag, person = self.guards.tagging(request)
        return Response(200, tagging_json(tag, person, api(request)))

    def add_tagging(self, request: Request) -> Response:
        tag = self.guards.tag(request)
        body = request.body if isinstance(request.body, dict) else {}
        person = self.state.by_uuid.get(linked_person(body))
        if person is None:
            raise error("A tagging needs an osdi:person link to a person")
        write = note(request)
        write.email = person.email or ""
        write.tags_added.append(tag["name"])
        self.state.set_tag(person, tag["name"], True)
        if background(request):
            return Response(200, {})
        return Response(200, tagging_json(tag, person, api(request)))

    def remove_tagging(self, request: Request) -> Response:
        tag, person = self.guards.tagging(request)
        write = note(request)
        write.email = person.email or ""
        write.tags_removed.append(tag["name"])
        self.state.set_tag(person, tag["name"], False)
        return Response(200, {"notice": "This tagging was successfully deleted."})

    def keys(self, request: Request) -> list[str]:
        """Who a write touches: the person in the path, in a tagging's link, behind a
        tagging id, or (signup) the person the email belongs to, and that email."""
        if request.args.get("person_id"):
            return [request.args["person_id"]]
        if request.args.get("tagging_id"):
            tag = self.state.tags.get(request.args.get("tag_id", ""))
            person = self.state.tagged(tag, request.args["tagging_id"]) if tag else None
            return [person.uuid] if person else []
        body = request.body if isinstance(request.body, dict) else {}
        if request.args.get("tag_id"):
            return [linked_person(body)]
        data = body.get("person") if isinstance(body.get("person"), dict) else {}
        emails = data.get("email_addresses") or []
        email = (
            str(emails[0].get("address") or "") if emails and isinstance(emails[0], dict) else ""
        )
        person = self.state.by_email(email)
        return [person.uuid if person else "", email]
