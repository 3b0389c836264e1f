"""The sandbox's truth for the ask loop: during an advance, a known share of the people who
carry a pushed list's tag (`groundswell:list:<name>`) at its start take the asked action
inside the window, so a test can compare Groundswell's measured conversion with it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.action_network.state import ActionNetworkState
from sandbox.actions import Action, OrgObject
from sandbox.generator import Organisation, _an_person
from sandbox.mailchimp.state import MailchimpState
from sandbox.records import AnPerson, McMember

# Groundswell's default tag namespace and its list key prefix: a pushed list's tag.
NAMESPACE = "groundswell:"
LIST_KEY = "list:"
HOST = "host_event"  # an Action Network event the person creates, so hosts
SIGN = "sign_petition"  # a signature on a new Action Network petition

# What Groundswell's Action Network activities read each action as
# (connectors/action_network/activities.sql); hosting comes from an event's creator.
ACTIVITY = {
    "signatures": "petition_signature",
    "attendances": "event_rsvp",
    "submissions": "form_submission",
    "donations": "donation",
    "outreaches": "outreach",
}
NOT_ATTENDING = ("declined", "cancelled", "canceled", "not attending", "needs action", "no")


@dataclass(frozen=True)
class ListAsk:
    """One pushed list's ask: who says yes, what they then do, what counts as success."""

    name: str
    share: float  # of the asked, who say yes and act
    action: str  # HOST or SIGN
    success: frozenset[str]  # activity types ladder.yaml's `success` accepts

    @property
    def tag(self) -> str:
        return f"{NAMESPACE}{LIST_KEY}{self.name}"


# The default pushed lists (ladder.yaml). Shares are fixed so a test knows the truth; a
# newcomer's easy ask works more often than a first action or hosting. Realistic, and small
# enough that a week of them stays inside the guard rails (sync.max_remove_share, 20%): with
# larger ones `make run ADVANCE_DAYS=7` stops its second push for confirmation.
ASKS: tuple[ListAsk, ...] = (
    ListAsk("welcome_new", 0.20, SIGN, frozenset({"petition_signature", "form_submission"})),
    ListAsk(
        "first_action",
        0.10,
        SIGN,
        frozenset(
            {
                "petition_signature",
                "event_rsvp",
                "form_submission",
                "volunteer_signup",
                "donation",
                "outreach",
            }
        ),
    ),
    ListAsk("ready_to_host", 0.12, HOST, frozenset({"event_hosted"})),
    ListAsk("connectors", 0.20, HOST, frozenset({"event_hosted"})),
)


@dataclass
class Asked:
    """One human who carried a list's tag when the advance began."""

    key: Hashable  # the human's index, or ("email", address) for a record of no known human
    email: str
    person: AnPerson | None = None  # their tagged Action Network person, if tagged there
    member: McMember | None = None  # their tagged Mailchimp member, if tagged there
    said_yes: bool = False
    acted: bool = False


@dataclass
class AskRound:
    """The asks of one advance: who was asked on each list, who said yes, who acted."""

    asks: tuple[ListAsk, ...] = ASKS
    start: datetime | None = None
    end: datetime | None = None
    asked: dict[str, list[Asked]] = field(default_factory=dict)
    actions_made: int = 0  # petition signatures the asks added

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per list: asked, said_yes, acted and the declared share."""
        out = {}
        for ask in self.asks:
            people = self.asked.get(ask.name, [])
            out[ask.name] = {
                "asked": len(people),
                "said_yes": sum(p.said_yes for p in people),
                "acted": sum(p.acted for p in people),
                "share": ask.share,
            }
        return out

    def report(self, detail: bool = False) -> dict[str, Any]:
        """The truth served by `GET /_sandbox/asks`; `detail` adds the (synthetic) emails."""
        lists: dict[str, dict[str, Any]] = {}
        for ask in self.asks:
            entry = {"tag": ask.tag, "action": ask.action, **self.counts()[ask.name]}
            if detail:
                people = self.asked.get(ask.name, [])
                entry["asked_emails"] = sorted(p.email for p in people)
                entry["said_yes_emails"] = sorted(p.email for p in people if p.said_yes)
                entry["acted_emails"] = sorted(p.email for p in people if p.acted)
            lists[ask.name] = entry
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "namespace": NAMESPACE,
            "asks": lists,
        }


def _key(human: int, email: str | None, record: str) -> Hashable:
    """The human's index; for a record of no known human its address, else the record."""
    if human >= 0:
        return human
    address = (email or "").strip().lower()
    return ("email", address) if address else ("record", record)


def tagged(
    asks: tuple[ListAsk, ...], an: ActionNetworkState, mc: MailchimpState
) -> dict[str, list[Asked]]:
    """Who carries each list's tag now, once per human even if tagged on both platforms.
    Draws nothing: the advance's random stream is untouched."""
    wanted = {ask.tag.lower(): ask.name for ask in asks}
    found: dict[str, dict[Hashable, Asked]] = {ask.name: {} for ask in asks}
    for p in an.people:
        for tag in p.tags:
            name = wanted.get(tag.strip().lower())
            if name is not None:
                key = _key(p.human, p.email, p.uuid)
                asked = found[name].setdefault(key, Asked(key, (p.email or "").strip().lower()))
                asked.person = asked.person or p
    for m in mc.members:
        for tag in m.tags:
            name = wanted.get(tag.strip().lower())
            if name is not None:
                key = _key(m.human, m.email, m.id)
                asked = found[name].setdefault(key, Asked(key, m.email.strip().lower()))
                asked.member = asked.member or m
                asked.email = asked.email or m.email.strip().lower()
    return {name: list(people.values()) for name, people in found.items()}


def make_asks(
    round_: AskRound,
    org: Organisation,
    an: ActionNetworkState,
    rng: random.Random,
) -> None:
    """Each asked human says yes with the list's share and acts in (start, end]; then who
    acted is counted. Draws nothing when nobody was asked. Call with both states locked."""
    if not any(round_.asked.values()):
        return
    assert round_.start is not None and round_.end is not None
    start, end = round_.start, round_.end
    people = _ActionNetworkPeople(org, an)
    for ask in round_.asks:
        chosen = round_.asked.get(ask.name, [])
        for asked in chosen:
            asked.said_yes = rng.random() < ask.share
        yes = [a for a in chosen if a.said_yes]
        if not yes:
            continue
        if ask.action == SIGN:
            opened = min(end, start + timedelta(seconds=1))
            petition = _new_object(org, an, rng, "petitions", "Petition", opened)
            for asked in yes:
                when = _after(rng, petition.created, end)
                person = people.of(asked, rng, when)
                action = Action(_uuid(rng), "signatures", petition.uuid, person.uuid, when, when)
                org.organising.add(action)
                round_.actions_made += 1
        else:
            for asked in yes:
                created = _after(rng, start, end)
                person = people.of(asked, rng, created)
                event = _new_object(org, an, rng, "events", "House meeting", created)
                event.host = person.uuid
                event.start = _after(rng, created, end)
    done = _acted(org, people.keys, start, end)
    for ask in round_.asks:
        for asked in round_.asked.get(ask.name, []):
            asked.acted = bool(done.get(asked.key, set()) & ask.success)


class _ActionNetworkPeople:
    """The Action Network person an asked human acts as: their tagged person, else the
    human's person there, else one created (as the generator makes them) when they act."""

    def __init__(self, org: Organisation, an: ActionNetworkState) -> None:
        self.org = org
        self.an = an
        self.keys = {p.uuid: _key(p.human, p.email, p.uuid) for p in an.people}
        self.by_key: dict[Hashable, AnPerson] = {}
        for p in an.people:
            self.by_key.setdefault(self.keys[p.uuid], p)

    def of(self, asked: Asked, rng: random.Random, when: datetime) -> AnPerson:
        if asked.person is not None:
            return asked.person
        found = self.by_key.get(asked.key)
        if found is not None:
            return found
        if isinstance(asked.key, int):
            index = asked.key
            person = _an_person(rng, self.org.humans[index], index, when)
        else:  # a member of no known human (added through the API): their own record
            m = asked.member
            assert m is not None
            person = AnPerson(
                _uuid(rng), -1, m.fname or None, m.lname or None, m.email, "subscribed",
                None, "subscribed", None, None, when, when,
            )  # fmt: skip
        # Signing up is what puts them on Action Network: created and changed then.
        person.created = person.modified = when
        self.org.an_people.append(person)
        self.an.people.append(person)
        self.an.by_uuid[person.uuid] = person
        if person.human >= 0:
            human_id = self.org.humans[person.human].human_id
            self.org.truth.append(("action_network", person.uuid, human_id))
        self.keys[person.uuid] = asked.key
        self.by_key[asked.key] = person
        return person


def _acted(
    org: Organisation, keys: dict[str, Hashable], start: datetime, end: datetime
) -> dict[Hashable, set[str]]:
    """Every human's Action Network activity types dated in (start, end], read as
    Groundswell's activities read them, whatever made them."""
    done: dict[Hashable, set[str]] = {}
    for collection, kind in ACTIVITY.items():
        for a in org.organising.actions.get(collection, []):
            if not start < a.created <= end or a.person_uuid not in keys:
                continue
            if collection == "attendances" and not a.attended and a.status in NOT_ATTENDING:
                continue
            done.setdefault(keys[a.person_uuid], set()).add(kind)
    for event in org.organising.objects.get("events", []):
        when = event.start or event.created
        if event.host in keys and start < when <= end:
            done.setdefault(keys[event.host], set()).add("event_hosted")
    return done


def _new_object(
    org: Organisation,
    an: ActionNetworkState,
    rng: random.Random,
    collection: str,
    title: str,
    created: datetime,
) -> OrgObject:
    made = org.organising.objects.setdefault(collection, [])
    found = OrgObject(_uuid(rng), collection, f"{title} {len(made) + 1}", created, created)
    made.append(found)
    an.objects[found.uuid] = found
    return found


def _after(rng: random.Random, lo: datetime, end: datetime) -> datetime:
    """A moment in (lo, end], to the second."""
    span = int((end - lo).total_seconds())
    return min(end, lo + timedelta(seconds=1 + rng.randrange(max(1, span))))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
