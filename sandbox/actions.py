"""Organising objects (petitions, events, forms, fundraising pages, advocacy campaigns,
lists) and the actions Action Network people take on them, with referrer codes."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# collection -> (its actions' collection, the object's name in `action_network:<name>_id`)
ACTION_COLLECTIONS: dict[str, tuple[str, str]] = {
    "petitions": ("signatures", "petition"),
    "events": ("attendances", "event"),
    "forms": ("submissions", "form"),
    "fundraising_pages": ("donations", "fundraising_page"),
    "advocacy_campaigns": ("outreaches", "advocacy_campaign"),
}
# (collection, how many, share of people who act on one, most actions a person takes)
PLAN = (
    ("petitions", 8, 0.40, 3),
    ("events", 20, 0.15, 3),
    ("forms", 4, 0.20, 1),
    ("fundraising_pages", 3, 0.08, 2),
    ("advocacy_campaigns", 2, 0.05, 1),
)
TITLES = {
    "petitions": "Petition",
    "events": "Community meeting",
    "forms": "Volunteer form",
    "fundraising_pages": "Fundraiser",
    "advocacy_campaigns": "Call your representative",
}
CAMPAIGN_CODES = ("email-nov", "fb_ad_2", "ig-story", "newsletter", "sms-blast")
RECORDS_ATTENDANCE = 0.5  # share of events whose host records who came
ATTENDED = 0.7  # share of accepted RSVPs who turn up, where that is recorded
CUSTOM_FIELDS = ("I am a parent", "Employer", "Preferred pronouns", "Volunteer interest")


@dataclass(slots=True)
class OrgObject:
    uuid: str
    collection: str
    title: str
    created: datetime
    modified: datetime
    host: str | None = None  # person uuid of an event's creator
    start: datetime | None = None
    records_attendance: bool = False  # an event whose host checks people in
    # What an API write set beyond the generated ones (description, location, target,
    # other systems' identifiers), rendered as sent.
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Action:
    uuid: str
    collection: str  # signatures, attendances, ...
    object_uuid: str
    person_uuid: str
    created: datetime
    modified: datetime
    source: str | None = None  # ?source= campaign or referral code
    referrer: str | None = None
    amount: str | None = None
    recurring: bool = False
    status: str = "accepted"
    attended: bool | None = None  # OSDI `attended`: only where the host records it
    fields: dict[str, Any] = field(default_factory=dict)  # comments, identifiers, as written


@dataclass
class OrganisingData:
    objects: dict[str, list[OrgObject]] = field(default_factory=dict)
    actions: dict[str, list[Action]] = field(default_factory=dict)  # by actions collection
    by_object: dict[str, list[Action]] = field(default_factory=dict)  # object uuid -> actions
    referral_codes: dict[str, str] = field(default_factory=dict)  # person uuid -> code
    codes: list[str] = field(default_factory=list)  # the same codes, to draw from
    lists: list[OrgObject] = field(default_factory=list)
    custom_fields: tuple[str, ...] = CUSTOM_FIELDS

    def add(self, action: Action) -> None:
        self.actions.setdefault(action.collection, []).append(action)
        self.by_object.setdefault(action.object_uuid, []).append(action)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build(
    rng: random.Random,
    people: list[Any],
    now: datetime,
    marks: random.Random | None = None,
) -> OrganisingData:
    """Objects over the last two years, and each person's actions after they joined.
    `marks` draws attendance records, on a stream of its own so adding them reshuffles
    nothing else."""
    data = OrganisingData()
    for collection, count, _, _ in PLAN:
        made = []
        for n in range(count):
            created = now - timedelta(days=rng.randrange(1, 730))
            made.append(
                OrgObject(_uuid(rng), collection, f"{TITLES[collection]} {n + 1}", created, created)
            )
        data.objects[collection] = made
    for n in range(3):
        created = now - timedelta(days=rng.randrange(30, 700))
        data.lists.append(OrgObject(_uuid(rng), "lists", f"List {n + 1}", created, created))
    # Some people host events; the host is the event's creator.
    if people:
        for event in data.objects["events"]:
            if rng.random() < 0.6:
                event.host = people[rng.randrange(len(people))].uuid
            event.start = now + timedelta(days=rng.randrange(-300, 60))
        for person in rng.sample(people, max(1, len(people) // 50)):
            data.referral_codes[person.uuid] = f"ref-{person.uuid[:8]}"
        data.codes = list(data.referral_codes.values())
    for person in people:
        add_actions(rng, data, person, now)
    marks = marks or random.Random(rng.getrandbits(64))
    for event in data.objects["events"]:
        event.records_attendance = marks.random() < RECORDS_ATTENDANCE
    mark_attendance(marks, data, now)
    return data


def mark_attendance(rng: random.Random, data: OrganisingData, now: datetime) -> int:
    """Record who came to events that have started and whose host records attendance:
    accepted RSVPs get `attended` true or false, once. Returns how many were marked."""
    events = {o.uuid: o for o in data.objects.get("events", [])}
    marked = 0
    for action in data.actions.get("attendances", []):
        event = events.get(action.object_uuid)
        if action.attended is not None or action.status != "accepted" or event is None:
            continue
        if not event.records_attendance or event.start is None or event.start > now:
            continue
        action.attended = rng.random() < ATTENDED
        # The host checks people in on the day: the record changes then.
        action.modified = max(action.modified, min(now, event.start + timedelta(hours=3)))
        marked += 1
    return marked


def add_actions(
    rng: random.Random,
    data: OrganisingData,
    person: Any,
    now: datetime,
    since: datetime | None = None,
) -> None:
    """The actions one person takes, after `since` when given (people act again later)."""
    codes = data.codes
    for collection, _, share, most in PLAN:
        if rng.random() >= share:
            continue
        actions_collection, _ = ACTION_COLLECTIONS[collection]
        choices = data.objects[collection]
        for target in rng.sample(choices, min(len(choices), rng.randint(1, most))):
            start = max(person.created, target.created, since or person.created)
            span = max(60, int((now - start).total_seconds()))
            created = start + timedelta(seconds=rng.randrange(span))
            source = None
            roll = rng.random()
            if roll < 0.12 and codes:
                source = codes[rng.randrange(len(codes))]
            elif roll < 0.30:
                source = CAMPAIGN_CODES[rng.randrange(len(CAMPAIGN_CODES))]
            action = Action(
                _uuid(rng),
                actions_collection,
                target.uuid,
                person.uuid,
                created,
                created + timedelta(seconds=rng.randrange(120)),
                source,
                "group-sandbox-organising" if rng.random() < 0.2 else None,
            )
            if actions_collection == "donations":
                action.amount = f"{rng.choice((5, 10, 20, 25, 50, 100))}.00"
                action.recurring = rng.random() < 0.2
            if actions_collection == "attendances" and rng.random() < 0.05:
                action.status = "declined"
            data.add(action)
