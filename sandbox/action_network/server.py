"""The simulated Action Network server: the API key, the rate limit, the HTML 404 page,
and the route table (method and path template -> handler) over the route groups."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.action_network.guards import Guards, answering
from sandbox.action_network.objects import Objects
from sandbox.action_network.organising import WRITABLE, Organising
from sandbox.action_network.people import People
from sandbox.action_network.shapes import PREFIX
from sandbox.action_network.state import ActionNetworkState
from sandbox.actions import ACTION_COLLECTIONS
from sandbox.audit import Refusal, add_controls, audited
from sandbox.clock import Clock
from sandbox.generator import Organisation
from sandbox.httpserver import Handler, PlatformServer, Request, Response, Route

NOT_FOUND_PAGE = "<!DOCTYPE html><html><head><title>Not Found</title></head><body><h1>Not Found</h1></body></html>"
Keys = Callable[[Request], list[str]]


class ActionNetworkServer(PlatformServer):
    def __init__(
        self,
        org: Organisation,
        api_key: str,
        *,
        rate: float = 4.0,
        latency: float = 0.0,
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.api_key = api_key
        self.state = ActionNetworkState(org, seed, clock or Clock(org.now))
        # Asked for at the time of each miss: a test may swap this server's not_found.
        guards = Guards(self.state, lambda request: self.not_found(request))
        super().__init__(
            PREFIX,
            self._routes(guards),
            authorise=self.authorise,
            throttled=self.too_many,
            rate=rate,
            latency=latency,
        )
        add_controls(self.controls, self.state.audit, self.state.aliases)

    def _routes(self, guards: Guards) -> list[Route]:
        """Every route, in matching order; writes are audited and refused for refused
        people, and every handler's raised Answer is returned as its response."""
        people = People(self.state, guards)
        objects = Objects(self.state, guards)
        organising = Organising(self.state, guards)
        read = self._read

        def write(method: str, template: str, handler: Handler) -> Route:
            return self._write(method, template, handler, people.keys)

        def act(method: str, template: str, handler: Handler) -> Route:
            return self._write(method, template, handler, organising.keys)

        routes = [
            read("GET", "/", people.entry_point),
            read("GET", "/people", people.list_people),
            write("POST", "/people", people.signup),
            read("GET", "/people/{person_id}", people.get_person),
            read("GET", "/people/{person_id}/taggings", people.person_taggings),
            write("PUT", "/people/{person_id}", people.put_person),
            read("GET", "/tags", people.list_tags),
            write("POST", "/tags", people.create_tag),
            read("GET", "/tags/{tag_id}", people.get_tag),
            read("GET", "/tags/{tag_id}/taggings", people.list_taggings),
            write("POST", "/tags/{tag_id}/taggings", people.add_tagging),
            write("DELETE", "/tags/{tag_id}/taggings/{tagging_id}", people.remove_tagging),
            read("GET", "/lists", objects.list_lists),
            read("GET", "/metadata/custom_fields", objects.custom_fields),
            read("GET", "/donations", objects.all_donations),
        ]
        for name, (actions, _) in ACTION_COLLECTIONS.items():
            routes += [
                read("GET", f"/{name}", objects.objects(name)),
                read("GET", f"/{name}/{{object_id}}", objects.one(name)),
                read("GET", f"/{name}/{{object_id}}/{actions}", objects.actions(name)),
            ]
        # The rest of what Parsons' ActionNetwork calls: events, petitions, their actions.
        routes.append(read("GET", "/tags/{tag_id}/taggings/{tagging_id}", people.get_tagging))
        for name, (actions, _) in ACTION_COLLECTIONS.items():
            one = f"/{name}/{{object_id}}/{actions}/{{action_id}}"
            routes += [
                read("GET", one, organising.get_action(name)),
                read("GET", f"/people/{{person_id}}/{actions}", organising.person_actions(actions)),
                read(
                    "GET",
                    f"/people/{{person_id}}/{actions}/{{action_id}}",
                    organising.person_action(actions),
                ),
            ]
            if name in WRITABLE:
                routes += [
                    act("POST", f"/{name}", organising.create_object(name)),
                    act("PUT", f"/{name}/{{object_id}}", organising.update_object(name)),
                    act("POST", f"/{name}/{{object_id}}/{actions}", organising.record(name)),
                    act("PUT", one, organising.update_action(name)),
                ]
        return routes

    @staticmethod
    def _read(method: str, template: str, handler: Handler) -> Route:
        return Route(method, template, answering(handler))

    def _write(self, method: str, template: str, handler: Handler, keys: Keys) -> Route:
        """A write route: logged in the audit, and refused for refused people."""
        route = f"{method} {template}"
        guarded = audited(self.state.audit, route, answering(handler), keys, self._refuse)
        return Route(method, template, guarded)

    @staticmethod
    def _refuse(refusal: Refusal) -> Response:
        return Response(refusal.status, {"error": refusal.detail})

    def authorise(self, request: Request) -> Response | None:
        if request.headers.get("osdi-api-token") != self.api_key:
            return Response(401, {"error": "API Key invalid or not present"})
        return None

    def too_many(self) -> Response:
        return Response(429, {"error": "Too many requests. Please slow down."})

    def not_found(self, request: Request) -> Response:
        return Response(404, NOT_FOUND_PAGE, "text/html; charset=utf-8")
