"""A simulated Action Network (OSDI v2, HAL+JSON) with the real API's quirks: the people
collection has no totals, is not ordered by modified date, and links a `next` page even
past the end; unknown ids answer with an HTML page."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.action_network_routes import OrganisingRoutes
from sandbox.action_network_shapes import (
    CURIES,
    MAX_PER_PAGE,
    action_json,
    iso,
    object_json,
    tag_json,
    tagging_json,
    tagging_uuid,
)
from sandbox.action_network_shapes import background as _background
from sandbox.action_network_shapes import collection as _collection
from sandbox.action_network_shapes import linked_person as _person_uuid
from sandbox.action_network_shapes import page_args as _page_args
from sandbox.action_network_writes import set_contact_details
from sandbox.actions import ACTION_COLLECTIONS, OrgObject
from sandbox.audit import Audit, Refusal, Write, add_controls, audited, note
from sandbox.clock import Clock
from sandbox.generator import AnPerson, Organisation
from sandbox.httpserver import Handler, PlatformServer, Request, Response, Route

PREFIX = "/api/v2"
NOT_FOUND_PAGE = "<!DOCTYPE html><html><head><title>Not Found</title></head><body><h1>Not Found</h1></body></html>"
_CLAUSE = re.compile(
    r"^\s*(modified_date|created_date)\s+(gt|lt|ge|le)\s+'([^']+)'\s*$|^\s*(email_address)\s+eq\s+'((?:[^']|'')*)'\s*$",
    re.IGNORECASE,
)


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


class FilterError(ValueError):
    pass


def parse_filter(text: str) -> list[tuple[str, str, Any]]:
    """OData clauses joined by `and`: modified_date gt '...', email_address eq '...'."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if not match:
            raise FilterError(f"Invalid filter: {part!r}")
        if match.group(4):
            # OData doubles a quote inside a literal: o''neil@ is o'neil@.
            clauses.append(
                ("email_address", "eq", match.group(5).replace("''", "'").strip().lower())
            )
            continue
        value = match.group(3).strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FilterError(f"Invalid date in filter: {match.group(3)!r}") from None
        if moment.tzinfo:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        clauses.append((match.group(1).lower(), match.group(2).lower(), moment))
    return clauses


def _matches(item: Any, clauses: list[tuple[str, str, Any]]) -> bool:
    """People, objects and actions alike: by modified_date, created_date or email."""
    for field, op, value in clauses:
        if field == "email_address":
            if (getattr(item, "email", None) or "").strip().lower() != value:
                return False
            continue
        actual = item.modified if field == "modified_date" else item.created
        if op == "gt" and not actual > value:
            return False
        if op == "lt" and not actual < value:
            return False
        if op == "ge" and not actual >= value:
            return False
        if op == "le" and not actual <= value:
            return False
    return True


class ActionNetworkState:
    """People and tags in memory, for the life of the process."""

    def __init__(self, org: Organisation, seed: int, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.people: list[AnPerson] = list(org.an_people)
        self.by_uuid = {p.uuid: p for p in self.people}
        self.tags: dict[str, dict[str, Any]] = {}  # uuid -> {name, created}
        self.organising = org.organising
        self.objects = {o.uuid: o for objs in org.organising.objects.values() for o in objs}
        self.version = 0
        self._cache: dict[str, tuple[int, list[AnPerson]]] = {}
        self._seed = seed
        names = sorted(
            {t for p in self.people for t in p.tags}
            | {"Core Team", "Volunteer", "Donor", "Event Host"}
        )
        for name in names:
            self._create_tag(name, org.now)
        self.audit = Audit("action_network")

    def violations(self, namespace: str) -> list[str]:
        """What a sync must never have done here (see sandbox.audit.violations)."""
        return self.audit.violations(namespace)

    def by_email(self, email: str) -> AnPerson | None:
        wanted = email.strip().lower()
        if not wanted:
            return None
        with self.lock:
            return next((p for p in self.people if (p.email or "").strip().lower() == wanted), None)

    def aliases(self, key: str) -> list[str]:
        """Every name a refused person goes by: an email's uuid, a uuid's email."""
        if "@" in key:
            person = self.by_email(key)
            return [person.uuid] if person else []
        person = self.by_uuid.get(key.strip().lower())
        return [person.email] if person and person.email else []

    def tagged(self, tag: dict[str, Any], tagging_id: str) -> AnPerson | None:
        """The person a tagging id stands for, if they still carry the tag."""
        with self.lock:
            return next(
                (
                    p
                    for p in self.people
                    if tag["name"] in p.tags and tagging_uuid(tag, p) == tagging_id
                ),
                None,
            )

    def set_tag(self, person: AnPerson, name: str, on: bool) -> None:
        with self.lock:
            if on:
                person.tags.add(name)
            else:
                person.tags.discard(name)
            person.modified = self.clock.now()
            self.version += 1

    def update(self, person: AnPerson, data: dict[str, Any], write: Write) -> None:
        """Names, custom fields (merged) and, only when sent, the email status."""
        with self.lock:
            for key, attr in (("given_name", "given"), ("family_name", "family")):
                if data.get(key):
                    setattr(person, attr, str(data[key]))
                    write.fields_set[key] = str(data[key])
            custom = data.get("custom_fields")
            if isinstance(custom, dict):
                for name, value in custom.items():
                    person.custom_fields[str(name)] = str(value)
                    write.fields_set[f"custom_fields.{name}"] = str(value)
            emails = data.get("email_addresses") or []
            status = emails[0].get("status") if emails and isinstance(emails[0], dict) else None
            if status:  # only when the request asks
                write.status_sent = status
                write.status_before = None if write.created else person.email_status
                write.status_after = status
                person.email_status = status
            person.modified = self.clock.now()
            self.version += 1

    def _create_tag(self, name: str, when: datetime) -> dict[str, Any]:
        tag_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-tag:{self._seed}:{name.lower()}"))
        tag = {"uuid": tag_id, "name": name, "created": when, "modified": when}
        self.tags[tag_id] = tag
        return tag

    def tag_by_name(self, name: str) -> dict[str, Any] | None:
        wanted = name.strip().lower()
        return next((t for t in self.tags.values() if t["name"].lower() == wanted), None)

    def filtered_items(self, key: str, items: list[Any], text: str) -> list[Any]:
        """Any collection through a filter, cached until the state changes."""
        with self.lock:
            cached = self._cache.get(key + "|" + text)
            if cached and cached[0] == self.version:
                return cached[1]
            clauses = parse_filter(text) if text else []
            result = [i for i in items if _matches(i, clauses)] if clauses else list(items)
            self._cache[key + "|" + text] = (self.version, result)
            return result

    def person_tags(self, person_uuid: str) -> set[str]:
        """Tag names on one person (for test assertions)."""
        with self.lock:
            return set(self.by_uuid[person_uuid].tags)

    def filtered(self, text: str) -> list[AnPerson]:
        with self.lock:
            cached = self._cache.get(text)
            if cached and cached[0] == self.version:
                return cached[1]
            clauses = parse_filter(text) if text else []
            result = (
                [p for p in self.people if _matches(p, clauses)] if clauses else list(self.people)
            )
            self._cache[text] = (self.version, result)
            return result

    def upsert(self, body: dict[str, Any], write: Write | None = None) -> AnPerson:
        data = body.get("person") or {}
        emails = data.get("email_addresses") or []
        phones = data.get("phone_numbers") or []
        email = (emails[0].get("address") or "").strip() if emails else ""
        phone = phones[0].get("number") if phones else None
        now = self.clock.now()
        with self.lock:
            person = None
            if email:
                person = next(
                    (p for p in self.people if (p.email or "").strip().lower() == email.lower()),
                    None,
                )
            if person is None and _digits(phone):
                person = next((p for p in self.people if _digits(p.phone) == _digits(phone)), None)
            if person is None:
                person = AnPerson(
                    uuid=str(
                        uuid.uuid5(
                            uuid.NAMESPACE_URL, f"sandbox-person:{email}:{phone}:{len(self.people)}"
                        )
                    ),
                    human=-1,
                    given=None,
                    family=None,
                    email=email or None,
                    email_status="subscribed",
                    phone=phone,
                    # A new number is not opted in to texts unless the body sends a status.
                    phone_status="unsubscribed",
                    address=None,
                    zip_only=None,
                    created=now,
                    modified=now,
                )
                self.people.append(person)
                self.by_uuid[person.uuid] = person
                if write is not None:
                    write.created, write.status_after = True, person.email_status
            write = write or Write("action_network", "POST", "", "/people")
            write.member, write.email = person.uuid, person.email or ""
            set_contact_details(person, data, write)
            self.update(person, data, write)
            for name in body.get("add_tags") or []:
                tag = self.tag_by_name(str(name))
                if tag:  # unknown tag names are silently ignored, as on the real API
                    write.tags_added.append(tag["name"])
                    person.tags.add(tag["name"])
            for name in body.get("remove_tags") or []:
                tag = self.tag_by_name(str(name))
                if tag:
                    write.tags_removed.append(tag["name"])
                    person.tags.discard(tag["name"])
            person.modified = now
            self.version += 1
            return person


def person_json(p: AnPerson, api: str) -> dict[str, Any]:
    self_href = f"{api}/people/{p.uuid}"
    doc: dict[str, Any] = {
        "identifiers": [f"action_network:{p.uuid}"],
        "created_date": iso(p.created),
        "modified_date": iso(p.modified),
        "email_addresses": [{"primary": True, "address": p.email, "status": p.email_status}]
        if p.email
        else [],
        "phone_numbers": [],
        "postal_addresses": [],
        "languages_spoken": ["en"],
        "custom_fields": dict(p.custom_fields),
    }
    if p.given:
        doc["given_name"] = p.given
    if p.family:
        doc["family_name"] = p.family
    phone: dict[str, Any] = {"primary": True, "number_type": "Mobile", "status": p.phone_status}
    digits = _digits(p.phone)
    if digits:
        phone["number"] = digits if digits.startswith("1") else "1" + digits
    doc["phone_numbers"].append(phone)
    if p.address:
        line, city, state, zip_code = p.address
        doc["postal_addresses"].append(
            {
                "primary": True,
                "address_lines": [line],
                "locality": city,
                "region": state,
                "postal_code": zip_code,
                "country": "US",
                "language": "en",
                "location": {"latitude": 0.0, "longitude": 0.0, "accuracy": "Approximate"},
            }
        )
    elif p.zip_only:
        doc["postal_addresses"].append(
            {"primary": True, "postal_code": p.zip_only, "country": "US"}
        )
    doc["_links"] = {
        "self": {"href": self_href},
        **{
            f"osdi:{rel}": {"href": f"{self_href}/{rel}"}
            for rel in (
                "attendances",
                "signatures",
                "submissions",
                "donations",
                "outreaches",
                "taggings",
            )
        },
        "action_network:responses": {"href": f"{self_href}/responses"},
    }
    return doc


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
        routes = [
            Route("GET", "/", self.entry_point),
            Route("GET", "/people", self.list_people),
            self._write("POST", "/people", self.signup),
            Route("GET", "/people/{person_id}", self.get_person),
            Route("GET", "/people/{person_id}/taggings", self.person_taggings),
            self._write("PUT", "/people/{person_id}", self.put_person),
            Route("GET", "/tags", self.list_tags),
            self._write("POST", "/tags", self.create_tag),
            Route("GET", "/tags/{tag_id}", self.get_tag),
            Route("GET", "/tags/{tag_id}/taggings", self.list_taggings),
            self._write("POST", "/tags/{tag_id}/taggings", self.add_tagging),
            self._write("DELETE", "/tags/{tag_id}/taggings/{tagging_id}", self.remove_tagging),
            Route("GET", "/lists", self.list_lists),
            Route("GET", "/metadata/custom_fields", self.custom_fields),
            Route("GET", "/donations", self.all_donations),
        ]
        for collection, (actions, _) in ACTION_COLLECTIONS.items():
            routes += [
                Route("GET", f"/{collection}", self._objects(collection)),
                Route("GET", f"/{collection}/{{object_id}}", self._object(collection)),
                Route("GET", f"/{collection}/{{object_id}}/{actions}", self._actions(collection)),
            ]
        # The rest of what Parsons' ActionNetwork calls: events, petitions, their actions.
        self.organising_routes = OrganisingRoutes(self)
        routes += self.organising_routes.routes()
        super().__init__(
            PREFIX,
            routes,
            authorise=self.authorise,
            throttled=self.too_many,
            rate=rate,
            latency=latency,
        )
        add_controls(self.controls, self.state.audit, self.state.aliases)

    def _write(self, method: str, template: str, handler: Handler) -> Route:
        """A write route: logged in the audit, and refused for refused people."""
        return Route(
            method,
            template,
            audited(self.state.audit, f"{method} {template}", handler, self._keys, self._refuse),
        )

    def _keys(self, request: Request) -> list[str]:
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
            return [_person_uuid(body)]
        data = body.get("person") if isinstance(body.get("person"), dict) else {}
        emails = data.get("email_addresses") or []
        email = (
            str(emails[0].get("address") or "") if emails and isinstance(emails[0], dict) else ""
        )
        person = self.state.by_email(email)
        return [person.uuid if person else "", email]

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

    @staticmethod
    def api(request: Request) -> str:
        return request.base + PREFIX

    def entry_point(self, request: Request) -> Response:
        api = self.api(request)
        return Response(
            200,
            {
                "motd": "Welcome to the Action Network OSDI API v2 (sandbox)",
                "max_page_size": MAX_PER_PAGE,
                "_links": {
                    "self": {"href": api},
                    "osdi:people": {"href": f"{api}/people"},
                    "osdi:tags": {"href": f"{api}/tags"},
                    "curies": CURIES,
                },
            },
        )

    def list_people(self, request: Request) -> Response:
        api = self.api(request)
        page, per_page = _page_args(request)
        try:
            people = self.state.filtered(request.params.get("filter", ""))
        except FilterError as exc:
            return Response(400, {"error": str(exc)})
        chunk = people[(page - 1) * per_page : page * per_page]
        rendered = [person_json(p, api) for p in chunk]
        query = f"&filter={request.params['filter']}" if request.params.get("filter") else ""
        return Response(
            200,
            {
                "per_page": per_page,
                "page": page,
                "_links": {
                    # The real collection always links a next page, even past the end.
                    "next": {"href": f"{api}/people?page={page + 1}{query}"},
                    "osdi:people": [{"href": r["_links"]["self"]["href"]} for r in rendered],
                    "curies": CURIES,
                    "self": {"href": f"{api}/people"},
                },
                "_embedded": {"osdi:people": rendered},
            },
        )

    def get_person(self, request: Request) -> Response:
        person = self.state.by_uuid.get(request.args["person_id"])
        if person is None:
            return self.not_found(request)
        return Response(200, person_json(person, self.api(request)))

    def signup(self, request: Request) -> Response:
        if not isinstance(request.body, dict) or not isinstance(request.body.get("person"), dict):
            return Response(400, {"error": "Request must contain a person"})
        person = self.state.upsert(request.body, note(request))
        if _background(request):
            return Response(200, {})
        return Response(200, person_json(person, self.api(request)))

    def put_person(self, request: Request) -> Response:
        """Update names and custom fields; the email status only when the body sends one."""
        person = self.state.by_uuid.get(request.args["person_id"])
        if person is None:
            return self.not_found(request)
        if not isinstance(request.body, dict):
            return Response(400, {"error": "Request must contain a person"})
        write = note(request)
        write.email = person.email or ""
        with self.state.lock:
            set_contact_details(person, request.body, write)
        self.state.update(person, request.body, write)
        if _background(request):
            return Response(200, {})
        return Response(200, person_json(person, self.api(request)))

    def add_tagging(self, request: Request) -> Response:
        tag = self.state.tags.get(request.args["tag_id"])
        if tag is None:
            return self.not_found(request)
        body = request.body if isinstance(request.body, dict) else {}
        person = self.state.by_uuid.get(_person_uuid(body))
        if person is None:
            return Response(400, {"error": "A tagging needs an osdi:person link to a person"})
        write = note(request)
        write.email = person.email or ""
        write.tags_added.append(tag["name"])
        self.state.set_tag(person, tag["name"], True)
        if _background(request):
            return Response(200, {})
        return Response(200, tagging_json(tag, person, self.api(request)))

    def remove_tagging(self, request: Request) -> Response:
        tag = self.state.tags.get(request.args["tag_id"])
        person = self.state.tagged(tag, request.args["tagging_id"]) if tag else None
        if tag is None or person is None:
            return self.not_found(request)
        write = note(request)
        write.email = person.email or ""
        write.tags_removed.append(tag["name"])
        self.state.set_tag(person, tag["name"], False)
        return Response(200, {"notice": "This tagging was successfully deleted."})

    def list_tags(self, request: Request) -> Response:
        api = self.api(request)
        page, per_page = _page_args(request)
        tags = sorted(self.state.tags.values(), key=lambda t: (t["created"], t["name"]))
        return Response(
            200, _collection(api, "tags", tags, page, per_page, lambda t: tag_json(t, api))
        )

    def get_tag(self, request: Request) -> Response:
        tag = self.state.tags.get(request.args["tag_id"])
        return Response(200, tag_json(tag, self.api(request))) if tag else self.not_found(request)

    def create_tag(self, request: Request) -> Response:
        name = str((request.body or {}).get("name") or "").strip()
        if not name:
            return Response(400, {"error": "A tag needs a name"})
        note(request).detail["tag"] = name
        with self.state.lock:
            tag = self.state.tag_by_name(name) or self.state._create_tag(
                name, self.state.clock.now()
            )
        return Response(200, tag_json(tag, self.api(request)))

    def _filtered(self, request: Request, key: str, items: list[Any]) -> list[Any] | Response:
        try:
            return self.state.filtered_items(key, items, request.params.get("filter", ""))
        except FilterError as exc:
            return Response(400, {"error": str(exc)})

    def _objects(self, collection: str):
        def handler(request: Request) -> Response:
            api = self.api(request)
            items = self._filtered(request, collection, self.state.organising.objects[collection])
            if isinstance(items, Response):
                return items
            page, per_page = _page_args(request)
            return Response(
                200,
                _collection(api, collection, items, page, per_page, lambda o: self._render(o, api)),
            )

        return handler

    def _object(self, collection: str):
        def handler(request: Request) -> Response:
            found = self.state.objects.get(request.args["object_id"])
            if found is None or found.collection != collection:
                return self.not_found(request)
            return Response(200, self._render(found, self.api(request)))

        return handler

    def _render(self, found: OrgObject, api: str) -> dict[str, Any]:
        """An organising object with its totals (signatures, accepted attendances)."""
        with self.state.lock:
            actions = list(self.state.organising.by_object.get(found.uuid, []))
        return object_json(found, api, actions)

    def _actions(self, collection: str):
        actions_name = ACTION_COLLECTIONS[collection][0]

        def handler(request: Request) -> Response:
            found = self.state.objects.get(request.args["object_id"])
            if found is None or found.collection != collection:
                return self.not_found(request)
            api = self.api(request)
            items = self._filtered(
                request, found.uuid, self.state.organising.by_object.get(found.uuid, [])
            )
            if isinstance(items, Response):
                return items
            page, per_page = _page_args(request)
            body = _collection(
                api,
                f"{collection}/{found.uuid}/{actions_name}",
                items,
                page,
                per_page,
                lambda a: action_json(a, api, self.state.objects),
            )
            return Response(200, body)

        return handler

    def all_donations(self, request: Request) -> Response:
        api = self.api(request)
        items = self._filtered(
            request, "donations", self.state.organising.actions.get("donations", [])
        )
        if isinstance(items, Response):
            return items
        page, per_page = _page_args(request)
        return Response(
            200,
            _collection(
                api,
                "donations",
                items,
                page,
                per_page,
                lambda a: action_json(a, api, self.state.objects),
            ),
        )

    def list_lists(self, request: Request) -> Response:
        api = self.api(request)
        page, per_page = _page_args(request)
        return Response(
            200,
            _collection(
                api,
                "lists",
                self.state.organising.lists,
                page,
                per_page,
                lambda o: object_json(o, api),
            ),
        )

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
                "_links": {"self": {"href": f"{self.api(request)}/metadata/custom_fields"}},
            },
        )

    def list_taggings(self, request: Request) -> Response:
        tag = self.state.tags.get(request.args["tag_id"])
        if tag is None:
            return self.not_found(request)
        api = self.api(request)
        with self.state.lock:
            people = [p for p in self.state.people if tag["name"] in p.tags]

        def render(person: AnPerson) -> dict[str, Any]:
            return tagging_json(tag, person, api)

        page, per_page = _page_args(request)
        body = _collection(api, f"tags/{tag['uuid']}/taggings", people, page, per_page, render)
        return Response(200, body)

    def person_taggings(self, request: Request) -> Response:
        """One person's taggings (the person's `osdi:taggings` link)."""
        person = self.state.by_uuid.get(request.args["person_id"])
        if person is None:
            return self.not_found(request)
        api = self.api(request)
        with self.state.lock:
            tags = [t for t in self.state.tags.values() if t["name"] in person.tags]

        def render(tag: dict[str, Any]) -> dict[str, Any]:
            return tagging_json(tag, person, api)

        page, per_page = _page_args(request)
        name = f"people/{person.uuid}/taggings"
        return Response(200, _collection(api, name, tags, page, per_page, render))
