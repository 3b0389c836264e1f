"""Sent Mailchimp campaigns and what their recipients did with them: opens (some people
several times), clicks on a link, bounces. Most of it arrives within a day of sending,
some days later. Each campaign keeps its events in three parallel arrays (about 13 bytes
an event), so a large audience's half-year of history stays small in memory."""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.records import McMember

# Event kinds, one byte each; a click's byte also carries its link (CLICK + link index).
OPEN, HARD_BOUNCE, SOFT_BOUNCE, CLICK = 0, 1, 2, 8
EVERY_DAYS = 14  # the history: one campaign a fortnight...
HISTORY_DAYS = 180  # ...over about half a year
LAST_SENT_DAYS_AGO = 2  # the newest is still gathering opens when the sandbox starts
BOUNCE_RATE = 0.007
HARD_SHARE = 0.4  # of bounces
MOST_OPENS = 6
REOPEN = 0.35  # chance of one more open after each open
CLICK_GIVEN_OPEN = 0.13  # ~30% open x 13% ~ 4% of recipients click
LATE_CLICK = 0.12  # of late opens
LINKS = ("take-action", "events", "donate", "volunteer")
THEMES = (
    ("Monthly newsletter", "What we built together this month"),
    ("Action alert", "We need you this week"),
    ("Event invitation", "Join us at the next community meeting"),
    ("Volunteer update", "Three ways to help before the weekend"),
    ("Fundraising appeal", "Can you chip in to keep us going?"),
)
SITE = "https://groundswell.example.org"


@dataclass(slots=True, eq=False)
class McCampaign:
    id: str  # 10 hex, like Mailchimp's
    web_id: int
    title: str
    subject: str
    create_time: datetime
    send_time: datetime
    emails_sent: int = 0
    who: list[McMember] = field(default_factory=list, repr=False)
    kinds: bytearray = field(default_factory=bytearray, repr=False)
    offsets: array = field(default_factory=lambda: array("I"), repr=False)  # after send_time
    _tally: tuple[int, Tally] | None = field(default=None, repr=False)

    @property
    def events(self) -> int:
        return len(self.kinds)

    def add(self, member: McMember, kind: int, seconds: int) -> None:
        self.who.append(member)
        self.kinds.append(kind)
        self.offsets.append(seconds)

    def at(self, index: int) -> datetime:
        return self.send_time + timedelta(seconds=self.offsets[index])

    def url(self, kind: int) -> str:
        if kind < CLICK:
            return ""
        return f"{SITE}/{LINKS[kind - CLICK]}?utm_source=mailchimp&utm_campaign={self.id}"

    def tally(self) -> Tally:
        """The report's totals, recounted only when events were added since last time.
        Events are only ever appended, so their count is a version."""
        if self._tally is None or self._tally[0] != self.events:
            self._tally = (self.events, _count(self))
        return self._tally[1]


@dataclass(slots=True)
class Tally:
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    last_open: datetime | None = None
    last_click: datetime | None = None

    def rate(self, unique: int, emails_sent: int) -> float:
        """Mailchimp divides by the emails that were delivered (sent less bounced)."""
        delivered = emails_sent - self.hard_bounces - self.soft_bounces
        return round(unique / delivered, 4) if delivered > 0 else 0.0


def _count(c: McCampaign) -> Tally:
    t = Tally()
    openers: set[int] = set()
    clickers: set[int] = set()
    last_open = last_click = -1
    for member, kind, offset in zip(c.who, c.kinds, c.offsets, strict=True):
        if kind == OPEN:
            t.opens += 1
            openers.add(id(member))
            last_open = max(last_open, offset)
        elif kind >= CLICK:
            t.clicks += 1
            clickers.add(id(member))
            last_click = max(last_click, offset)
        elif kind == HARD_BOUNCE:
            t.hard_bounces += 1
        else:
            t.soft_bounces += 1
    t.unique_opens, t.unique_clicks = len(openers), len(clickers)
    t.last_open = c.send_time + timedelta(seconds=last_open) if last_open >= 0 else None
    t.last_click = c.send_time + timedelta(seconds=last_click) if last_click >= 0 else None
    return t


@dataclass(slots=True)
class Rows:
    """A campaign's events after some `since`, one row per recipient: `order` holds event
    indices sorted by (email id, time), `starts` where each recipient's run begins. Eight
    bytes an event, so many cached selections of a large campaign stay small."""

    order: array
    starts: array

    def __len__(self) -> int:
        return len(self.starts)

    def events(self, row: int) -> list[int]:
        end = self.starts[row + 1] if row + 1 < len(self.starts) else len(self.order)
        return list(self.order[self.starts[row] : end])


def rows_after(c: McCampaign, since: datetime | None) -> Rows:
    """The recipients with an event strictly after `since` (all of them when None), ordered
    by email id so that offset paging over them is exact."""
    threshold = -1.0 if since is None else (since - c.send_time).total_seconds()
    offsets, who = c.offsets, c.who
    chosen = [i for i, offset in enumerate(offsets) if offset > threshold]
    # One hash per recipient, not per event; objects stay alive in c.who, so id() is safe.
    hashes = {id(who[i]): "" for i in chosen}
    for i in chosen:
        if not hashes[id(who[i])]:
            hashes[id(who[i])] = who[i].id
    chosen.sort(key=lambda i: (hashes[id(who[i])], offsets[i]))
    starts = array("I")
    previous = None
    for position, i in enumerate(chosen):
        if who[i] is not previous:
            starts.append(position)
            previous = who[i]
    return Rows(array("I", chosen), starts)


def engagement(member: McMember) -> float:
    """A member's steady appetite for email, in [0, 1): the same person opens most
    campaigns or hardly any, as in real audiences. Hashed from web_id, so nothing is stored."""
    return ((member.web_id * 2654435761) & 0xFFFFFFFF) / 2**32


def ip_address(member: McMember) -> str:
    """A stable address per member, in a range reserved for documentation."""
    return f"198.51.100.{member.web_id % 254 + 1}"


def was_subscribed(member: McMember, when: datetime) -> bool:
    """Subscribed at `when`: signed up before it, and if no longer subscribed, left after it
    (the generator's last_changed is the moment of leaving)."""
    if member.signup > when:
        return False
    if member.status == "subscribed":
        return True
    return member.status in ("unsubscribed", "cleaned") and member.last_changed > when


def new_campaign(rng: random.Random, index: int, send_time: datetime) -> McCampaign:
    """Campaign number `index` (0-based), written a few hours to days before it went out."""
    theme, subject = THEMES[index % len(THEMES)]
    created = send_time - timedelta(hours=rng.randrange(2, 72), seconds=rng.randrange(3600))
    return McCampaign(
        id=f"{rng.getrandbits(40):010x}",
        web_id=2_000_000 + 13 * index + rng.randrange(13),
        title=f"{theme} #{index + 1}",
        subject=subject,
        create_time=created,
        send_time=send_time,
    )


def send(rng: random.Random, c: McCampaign, recipients: list[McMember], horizon: datetime) -> int:
    """Send `c` to `recipients` and record what they did up to `horizon` (the clock: nothing
    happens after it). Returns how many events were recorded."""
    c.emails_sent = len(recipients)
    limit = int((horizon - c.send_time).total_seconds())
    before = c.events
    for member in recipients:
        _react(rng, c, member, limit)
    return c.events - before


def _react(rng: random.Random, c: McCampaign, member: McMember, limit: int) -> None:
    """One recipient: a bounce, or opens (each at its own second) and perhaps clicks (each
    on its own link), so no two of their events in a campaign look alike."""
    if rng.random() < BOUNCE_RATE:
        kind = HARD_BOUNCE if rng.random() < HARD_SHARE else SOFT_BOUNCE
        at = rng.randrange(1, 600)
        if at <= limit:
            c.add(member, kind, at)
        return
    if rng.random() >= 0.6 * engagement(member):
        return
    at = _first_open(rng)
    opened = at
    for _ in range(MOST_OPENS):
        if at > limit:
            break
        c.add(member, OPEN, at)
        if rng.random() >= REOPEN:
            break
        at += 1 + int(rng.expovariate(1 / 21600))
    if opened > limit or rng.random() >= CLICK_GIVEN_OPEN:
        return
    links = rng.sample(range(len(LINKS)), 2 if rng.random() < 0.25 else 1)
    at = opened
    for link in links:
        at += rng.randrange(5, 900)
        if at <= limit:
            c.add(member, CLICK + link, at)


def _first_open(rng: random.Random) -> int:
    """Seconds after sending: most within hours, some a day or more later."""
    if rng.random() < 0.85:
        return 30 + int(rng.expovariate(1 / 7200))
    return rng.randrange(3600, 3 * 86400)


def late_activity(
    rng: random.Random,
    c: McCampaign,
    audience: list[McMember],
    start: datetime,
    end: datetime,
    share: float,
) -> int:
    """Opens (and a few clicks) arriving in the window (start, end] on a campaign sent
    before it: `share` of `audience`, each at most once, all strictly after `start` so a
    client reading `since` the previous clock finds them."""
    span = int((end - start).total_seconds())
    if span < 2 or not audience:
        return 0
    before = c.events
    base = int((start - c.send_time).total_seconds())
    for member in rng.sample(audience, min(len(audience), round(len(audience) * share))):
        at = base + rng.randrange(1, span)
        c.add(member, OPEN, at)
        if rng.random() < LATE_CLICK:
            click = at + rng.randrange(5, 300)
            if click <= base + span:
                c.add(member, CLICK + rng.randrange(len(LINKS)), click)
    return c.events - before


def history(rng: random.Random, members: list[McMember], now: datetime) -> list[McCampaign]:
    """A campaign every EVERY_DAYS over the last HISTORY_DAYS, each sent in the afternoon to
    whoever was subscribed then, with their activity up to `now`."""
    campaigns: list[McCampaign] = []
    for k in reversed(range(HISTORY_DAYS // EVERY_DAYS + 1)):
        day = (now - timedelta(days=LAST_SENT_DAYS_AGO + EVERY_DAYS * k)).replace(
            hour=14, minute=0, second=0, microsecond=0
        )
        send_time = day + timedelta(seconds=rng.randrange(3 * 3600))
        c = new_campaign(rng, len(campaigns), send_time)
        send(rng, c, [m for m in members if was_subscribed(m, send_time)], now)
        campaigns.append(c)
    return campaigns
