"""How the simulated Action Network renders its resources (OSDI v2, HAL+JSON): people, tags,
taggings, organising objects (events, petitions, ...), the actions people take on them,
and paged collections. Pure functions: no state, no HTTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sandbox.actions import ACTION_COLLECTIONS, Action, OrgObject
from sandbox.httpserver import Request
from sandbox.records import AnPerson

PREFIX = "/api/v2"
MAX_PER_PAGE = 25
CURIES = [
    {"name": "osdi", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True},
    {
        "name": "action_network",
        "href": "https://actionnetwork.org/docs/v2/{rel}",
        "templated": True,
    },
]
BROWSER = "https://actionnetwork.org"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def api(request: Request) -> str:
    """The API's base URL as this request reached it, for absolute links."""
    return request.base + PREFIX


def digits(phone: str | None) -> str:
    """A phone number's digits only."""
    return re.sub(r"\D", "", phone or "")


def background(request: Request) -> bool:
    """`?background_processing=true`: the real API queues the work and answers `{}`."""
    return request.params.get("background_processing", "").lower() == "true"


def page_args(request: Request) -> tuple[int, int]:
    """`page` and `per_page` from the query, the page size capped at 25 as on the API."""
    try:
        page = max(1, int(request.params.get("page", "1")))
        per_page = min(MAX_PER_PAGE, max(1, int(request.params.get("per_page", str(MAX_PER_PAGE)))))
    except ValueError:
        page, per_page = 1, MAX_PER_PAGE
    return page, per_page


def collection(
    api: str, name: str, items: list, page: int, per_page: int, render: Callable[[Any], dict]
) -> dict[str, Any]:
    """A collection other than people: with totals, and `next` only when there is one."""
    total_pages = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    rendered = [render(item) for item in chunk]
    links: dict[str, Any] = {
        "self": {"href": f"{api}/{name}"},
        f"osdi:{name.rsplit('/', 1)[-1]}": [
            {"href": r["_links"]["self"]["href"]} for r in rendered
        ],
        "curies": CURIES,
    }
    if page < total_pages:
        links["next"] = {"href": f"{api}/{name}?page={page + 1}"}
    return {
        "total_pages": total_pages,
        "per_page": per_page,
        "page": page,
        "total_records": len(items),
        "_links": links,
        "_embedded": {f"osdi:{name.rsplit('/', 1)[-1]}": rendered},
    }


def linked_person(body: dict[str, Any]) -> str:
    """The person uuid at the end of a body's `_links.osdi:person.href`, or ""."""
    links = body.get("_links") if isinstance(body.get("_links"), dict) else {}
    link = links.get("osdi:person") if isinstance(links.get("osdi:person"), dict) else {}
    return str(link.get("href") or "").rstrip("/").rsplit("/", 1)[-1]


def tagging_uuid(tag: dict[str, Any], person: AnPerson) -> str:
    """Deterministic, so a tagging keeps its id however often it is listed."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag['uuid']}:{person.uuid}"))


def tagging_json(tag: dict[str, Any], person: AnPerson, api: str) -> dict[str, Any]:
    tagging_id = tagging_uuid(tag, person)
    tag_href = f"{api}/tags/{tag['uuid']}"
    return {
        "identifiers": [f"action_network:{tagging_id}"],
        "created_date": iso(person.created),
        "modified_date": iso(person.modified),
        "item_type": "osdi:person",
        "_links": {
            "self": {"href": f"{tag_href}/taggings/{tagging_id}"},
            "osdi:tag": {"href": tag_href},
            "osdi:person": {"href": f"{api}/people/{person.uuid}"},
        },
    }


def tag_json(tag: dict[str, Any], api: str) -> dict[str, Any]:
    href = f"{api}/tags/{tag['uuid']}"
    return {
        "identifiers": [f"action_network:{tag['uuid']}"],
        "name": tag["name"],
        "created_date": iso(tag["created"]),
        "modified_date": iso(tag["modified"]),
        "_links": {"self": {"href": href}, "osdi:taggings": {"href": f"{href}/taggings"}},
    }


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "untitled"


def _event_fields(o: OrgObject, href: str, actions: list[Action] | None) -> dict[str, Any]:
    """What an event carries beyond the common fields."""
    doc: dict[str, Any] = {
        "name": o.title,
        "browser_url": f"{BROWSER}/events/{_slug(o.title)}",
        "status": "confirmed",
        "visibility": "public",
        "transparence": "opaque",
        "guests_can_invite_others": True,
        "capacity": 0,
    }
    if actions is not None:
        doc["total_accepted"] = sum(1 for a in actions if a.status == "accepted")
    links = {
        "osdi:record_attendance_helper": {"href": f"{href}/attendances"},
        "action_network:embed": {"href": f"{href}/embed"},
    }
    return {**doc, "_links": links}


def _petition_fields(o: OrgObject, href: str, actions: list[Action] | None) -> dict[str, Any]:
    """What a petition carries beyond the common fields."""
    doc: dict[str, Any] = {
        "browser_url": f"{BROWSER}/petitions/{_slug(o.title)}",
        "target": [],
        "action_network:hidden": False,
    }
    if actions is not None:
        doc["total_signatures"] = len(actions)
    links = {
        "osdi:record_signature_helper": {"href": f"{href}/signatures"},
        "action_network:embed": {"href": f"{href}/embed"},
    }
    return {**doc, "_links": links}


EXTRAS = {"events": _event_fields, "petitions": _petition_fields}


def object_json(o: OrgObject, api: str, actions: list[Action] | None = None) -> dict[str, Any]:
    """An organising object; `actions` (its signatures, attendances, ...) adds the totals."""
    href = f"{api}/{o.collection}/{o.uuid}"
    extra_ids = [str(i) for i in o.fields.get("identifiers") or []]
    doc: dict[str, Any] = {
        "identifiers": [f"action_network:{o.uuid}", *extra_ids],
        "origin_system": "Action Network",
        "title": o.title,
        "created_date": iso(o.created),
        "modified_date": iso(o.modified),
        "_links": {"self": {"href": href}},
    }
    if o.collection in EXTRAS:
        extra = EXTRAS[o.collection](o, href, actions)
        doc["_links"].update(extra.pop("_links"))
        doc.update(extra)
    doc.update({k: v for k, v in o.fields.items() if k != "identifiers"})
    if o.collection in ACTION_COLLECTIONS:
        actions_name = ACTION_COLLECTIONS[o.collection][0]
        doc["_links"][f"osdi:{actions_name}"] = {"href": f"{href}/{actions_name}"}
    if o.start is not None:
        doc["start_date"] = iso(o.start)
    if o.host:
        doc["_links"]["osdi:creator"] = {"href": f"{api}/people/{o.host}"}
    return doc


def action_json(a: Action, api: str, objects: dict[str, OrgObject]) -> dict[str, Any]:
    target = objects[a.object_uuid]
    name = ACTION_COLLECTIONS[target.collection][1]
    object_href = f"{api}/{target.collection}/{a.object_uuid}"
    extra_ids = [str(i) for i in a.fields.get("identifiers") or []]
    doc: dict[str, Any] = {
        "identifiers": [f"action_network:{a.uuid}", *extra_ids],
        "created_date": iso(a.created),
        "modified_date": iso(a.modified),
        "action_network:person_id": a.person_uuid,
        f"action_network:{name}_id": a.object_uuid,
        "action_network:referrer_data": {
            "source": a.source or "",
            "referrer": a.referrer or "",
            "website": "",
            "email_referrer": "",
            "mobile_message_referrer": "",
        },
        "_links": {
            "self": {"href": f"{object_href}/{a.collection}/{a.uuid}"},
            f"osdi:{name}": {"href": object_href},
            "osdi:person": {"href": f"{api}/people/{a.person_uuid}"},
        },
    }
    if a.collection == "signatures" and a.fields.get("comments"):
        doc["comments"] = a.fields["comments"]
    if a.collection == "attendances":
        doc["status"] = a.status
        if a.attended is not None:  # only where the host records attendance
            doc["attended"] = a.attended
    if a.collection == "donations":
        doc.update(
            {
                "currency": "USD",
                "amount": a.amount,
                "recipients": [{"display_name": "Sandbox Organising", "amount": a.amount}],
                "payment": {
                    "method": "Credit Card",
                    "reference_number": a.uuid,
                    "authorization_stored": False,
                },
                "action_network:recurrence": {
                    "recurring": a.recurring,
                    "period": "Monthly" if a.recurring else "None",
                },
            }
        )
    return doc


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
    number = digits(p.phone)
    if number:
        phone["number"] = number if number.startswith("1") else "1" + number
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
