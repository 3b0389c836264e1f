"""The simulated Action Network's data: people and tags in memory for the life of the
process, the organising objects and actions, OData filters over them, and the changes
the routes make (signup upserts, updates, tagging)."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.action_network.shapes import digits, tagging_uuid
from sandbox.action_network.writes import set_contact_details
from sandbox.audit import Audit, Write
from sandbox.clock import Clock
from sandbox.generator import Organisation
from sandbox.records import AnPerson

_CLAUSE = re.compile(
    r"^\s*(modified_date|created_date)\s+(gt|lt|ge|le)\s+'([^']+)'\s*$|^\s*(email_address)\s+eq\s+'((?:[^']|'')*)'\s*$",
    re.IGNORECASE,
)


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
            self.create_tag(name, org.now)
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

    def create_tag(self, name: str, when: datetime) -> dict[str, Any]:
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
            if person is None and digits(phone):
                person = next((p for p in self.people if digits(p.phone) == digits(phone)), None)
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
