"""Writes to the simulated Action Network's organising data: events and petitions made and
changed through the API, and the attendances and signatures recorded on them (one per
person per event or petition, as on the real API: a second one updates the first)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.actions import ACTION_COLLECTIONS, Action, OrganisingData, OrgObject
from sandbox.audit import Write
from sandbox.clock import Clock
from sandbox.records import AnPerson

# Fields a write may set on an object, beyond `title` and `start_date`; others are
# read-only (totals, links, browser_url) and ignored, as the real API ignores them.
OBJECT_FIELDS = {
    "events": (
        "name",
        "description",
        "instructions",
        "end_date",
        "location",
        "status",
        "visibility",
        "capacity",
        "featured_image_url",
        "guests_can_invite_others",
        "transparence",
    ),
    "petitions": ("name", "description", "petition_text", "target", "featured_image_url"),
}
ATTENDANCE_STATUSES = ("accepted", "declined", "tentative", "needs action")


class WriteError(ValueError):
    """A request the real API would answer with 400 and `{"error": ...}`."""


def parse_date(value: Any) -> datetime:
    """`2026-12-01 18:00:00` (what Parsons sends), ISO 8601 with or without `Z`, or a
    date; as naive UTC, like every time in the sandbox."""
    text = str(value).strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WriteError(f"Invalid date: {value!r}") from None
    if moment.tzinfo:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _targets(value: Any) -> list[dict[str, Any]]:
    """A petition's `target`: OSDI sends a list of `{name}`; a bare name is one target."""
    items = value if isinstance(value, list) else [value]
    return [i if isinstance(i, dict) else {"name": str(i)} for i in items if i not in (None, "")]


def _identifiers(current: list[str], sent: Any) -> list[str]:
    """Other systems' identifiers are added to the list, never replace it; Action
    Network's own cannot be set from outside."""
    extra = [str(i) for i in (sent if isinstance(sent, list) else [sent]) if i]
    kept = [i for i in extra if not i.startswith("action_network:")]
    return current + [i for i in kept if i not in current]


class OrganisingWrites:
    """Creates and changes objects and actions under the state's lock; `changed` tells the
    state its cached filters are stale."""

    def __init__(
        self,
        data: OrganisingData,
        objects: dict[str, OrgObject],
        lock: threading.RLock,
        clock: Clock,
        changed: Callable[[], None],
    ) -> None:
        self.data = data
        self.objects = objects
        self.lock = lock
        self.clock = clock
        self.changed = changed

    def action(self, object_uuid: str, action_id: str) -> Action | None:
        """One action of an object by its id."""
        with self.lock:
            found = self.data.by_object.get(object_uuid, [])
            return next((a for a in found if a.uuid == action_id), None)

    def person_actions(self, person_uuid: str, actions: str) -> list[Action]:
        """One person's actions of one kind (attendances, signatures, ...)."""
        with self.lock:
            return [a for a in self.data.actions.get(actions, []) if a.person_uuid == person_uuid]

    def create_object(self, collection: str, body: dict[str, Any]) -> OrgObject:
        """A new event or petition; a title is required."""
        title = str(body.get("title") or "").strip()
        if not title:
            raise WriteError(f"A {collection[:-1]} needs a title")
        now = self.clock.now()
        with self.lock:
            made = self.data.objects.setdefault(collection, [])
            key = f"sandbox-{collection}:{len(made)}:{title}:{now.isoformat()}"
            found = OrgObject(str(uuid.uuid5(uuid.NAMESPACE_URL, key)), collection, title, now, now)
            self._set_object(found, body)
            made.append(found)
            self.objects[found.uuid] = found
            self.changed()
            return found

    def update_object(self, found: OrgObject, body: dict[str, Any]) -> None:
        """Change the writable fields sent; the rest stay as they were."""
        with self.lock:
            self._set_object(found, body)
            found.modified = self.clock.now()
            self.changed()

    def _set_object(self, found: OrgObject, body: dict[str, Any]) -> None:
        start = parse_date(body["start_date"]) if body.get("start_date") else None
        if str(body.get("title") or "").strip():
            found.title = str(body["title"]).strip()
        if start is not None:
            found.start = start
        for name in OBJECT_FIELDS.get(found.collection, ()):
            if name in body:
                found.fields[name] = _targets(body[name]) if name == "target" else body[name]
        if "identifiers" in body:
            found.fields["identifiers"] = _identifiers(
                found.fields.get("identifiers", []), body["identifiers"]
            )

    def record_action(
        self, found: OrgObject, person_uuid: str, body: dict[str, Any]
    ) -> tuple[Action, bool]:
        """A person's attendance or signature; their earlier one is updated instead of a
        second being made. Returns the action and whether it is new."""
        actions_name = ACTION_COLLECTIONS[found.collection][0]
        now = self.clock.now()
        with self.lock:
            existing = next(
                (
                    a
                    for a in self.data.by_object.get(found.uuid, [])
                    if a.person_uuid == person_uuid
                ),
                None,
            )
            if existing is not None:
                self._set_action(existing, body)
                existing.modified = now
                self.changed()
                return existing, False
            key = f"sandbox-{actions_name}:{found.uuid}:{person_uuid}"
            action = Action(
                str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
                actions_name,
                found.uuid,
                person_uuid,
                now,
                now,
                source=str(body.get("source") or "") or None,
            )
            self._set_action(action, body)
            self.data.add(action)
            self.changed()
            return action, True

    def update_action(self, action: Action, body: dict[str, Any]) -> None:
        """Change an attendance's status or a signature's comments, add identifiers."""
        with self.lock:
            self._set_action(action, body)
            action.modified = self.clock.now()
            self.changed()

    @staticmethod
    def _set_action(action: Action, body: dict[str, Any]) -> None:
        status = body.get("status")
        if action.collection == "attendances" and status is not None:
            if str(status) not in ATTENDANCE_STATUSES:
                raise WriteError(f"Invalid attendance status: {status!r}")
            action.status = str(status)
        if action.collection == "signatures" and "comments" in body:
            action.fields["comments"] = str(body["comments"] or "")
        if "identifiers" in body:
            action.fields["identifiers"] = _identifiers(
                action.fields.get("identifiers", []), body["identifiers"]
            )


def _primary(entries: Any) -> dict[str, Any]:
    """The primary entry of an OSDI list (email_addresses, postal_addresses, ...), else
    the first; {} when there is none."""
    items = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    return next((e for e in items if e.get("primary")), items[0] if items else {})


def set_contact_details(person: AnPerson, data: dict[str, Any], write: Write) -> None:
    """What a person write sends beyond names, custom fields and email status: the postal
    address (merged into the one on file), a phone number for a person without one, and
    the phone's SMS status, only when sent (as the email status)."""
    address = _primary(data.get("postal_addresses"))
    if address:
        line, city, region, postcode = person.address or ("", "", "", person.zip_only or "")
        lines = address.get("address_lines") or []
        merged = (
            str(lines[0]) if isinstance(lines, list) and lines else line,
            str(address.get("locality") or city),
            str(address.get("region") or region),
            str(address.get("postal_code") or postcode),
        )
        if any(merged[:3]):
            person.address, person.zip_only = merged, None
        else:
            person.zip_only = merged[3] or None
        write.detail["postal_address"] = True  # that it changed, not what it says
    phone = _primary(data.get("phone_numbers"))
    digits = re.sub(r"\D", "", str(phone.get("number") or ""))
    if digits and not person.phone:
        person.phone = digits
    if phone.get("status"):
        write.detail["phone_status"] = str(phone["status"])
        person.phone_status = str(phone["status"])
