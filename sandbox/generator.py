"""A deterministic synthetic organisation: humans with a hidden true id, each appearing on
one or more platforms with the variation real data has. Ground truth (source record id ->
human id) is kept so identity quality can be measured."""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sandbox.actions import OrganisingData
from sandbox.actions import build as build_organising
from sandbox.campaigns import McCampaign
from sandbox.campaigns import history as campaign_history
from sandbox.names import (
    EMAIL_DOMAINS,
    FAMILY_NAMES,
    GIVEN_NAMES,
    HEARD_ABOUT,
    HELP_WITH,
    NICKNAMES,
    PLACES,
    STREETS,
)
from sandbox.paper_sheets import (
    PAPER_FILE,
    PAPER_HEADER,
    SHARE_KNOWN,
    SHARE_NEW,
    TWICE,
    new_human,
    paper_row,
)

# The records each platform holds live in sandbox.records; re-exported for callers.
from sandbox.records import AnPerson, Human, McMember
from sandbox.records import subscriber_hash as subscriber_hash

PLUS_DOMAINS = ("gmail.com", "outlook.com", "hotmail.com", "icloud.com", "protonmail.com")
CORE_TEAM = "Core Team"
MC_TAGS = ("Newsletter", "Volunteer", "Donor")
AN_TAGS = (CORE_TEAM, "Volunteer", "Donor", "Event Host")


@dataclass
class Organisation:
    seed: int
    today: date
    humans: list[Human]
    an_people: list[AnPerson]
    mc_members: list[McMember]
    google_rows: list[list[str]]
    typeform_rows: list[list[str]]
    truth: list[tuple[str, str, str]]
    now: datetime = field(init=False)
    google_humans: list[int] = field(default_factory=list)  # the human behind each row
    organising: OrganisingData = field(default_factory=OrganisingData)
    mc_campaigns: list[McCampaign] = field(default_factory=list)
    paper_rows: list[list[str]] = field(default_factory=list)  # the typed-up sign-in sheet
    paper_humans: list[int] = field(default_factory=list)  # the human behind each row

    def __post_init__(self) -> None:
        self.now = datetime.combine(self.today, time(6, 0), tzinfo=UTC).replace(tzinfo=None)


GOOGLE_FILE = "google_forms_volunteer_signup.csv"
TYPEFORM_FILE = "typeform_event_rsvp.csv"
GOOGLE_HEADER = [
    "Timestamp",
    "Email address",
    "First name",
    "Last name",
    "Phone number",
    "Postcode",
    "How did you hear about us?",
    "Which of these would you like to help with?",
    "Who referred you? (name, email or referral code)",
]
REFERRED = 0.10  # share of Google Forms rows naming who referred them
# Humans per set of ZIP prefixes (place_set_prefix): about the 1M-record benchmark's
# organisation. The stride keeps every city's prefixes apart for 16 sets (10,240,000 humans).
PLACE_SET_PEOPLE = 640_000
PLACE_SET_STRIDE = 182
# House numbers a place set has of each street (place_set_number): 1 to 9,998 in the first.
PLACE_SET_NUMBERS = 10_000
TYPEFORM_HEADER = [
    "#",
    "What's your first name?",
    "What's your last name?",
    "What's your email address?",
    "What's your phone number?",
    "What's your postcode?",
    "Will you bring a friend?",
    "Response Type",
    "Start Date (UTC)",
    "Stage Date (UTC)",
    "Submit Date (UTC)",
    "Network ID",
    "Tags",
]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


DOMAINS = [d for d, w in EMAIL_DOMAINS for _ in range(w)]


def generate(
    people: int = 5000, seed: int = 42, today: date | None = None, first_human: int = 0
) -> Organisation:
    """The organisation for (people, seed, today): the same inputs give the same data.
    `first_human` numbers its humans from there (ids, email addresses and phone numbers
    stay unique), so organisations made in parts with distinct seeds and consecutive
    numbering never share a person by accident."""
    today = today or datetime.now(UTC).date()
    rng = random.Random(seed)
    org = Organisation(seed, today, [], [], [], [], [], [])
    now = datetime.combine(today, time(6, 0))
    for i in range(people):
        days_ago = rng.randrange(7) if rng.random() < 0.03 else rng.randrange(7, 1095)
        org.humans.append(
            make_human(
                rng,
                first_human + i,
                org.humans,
                now - timedelta(days=days_ago, seconds=rng.randrange(86400)),
            )
        )
    hq_count = max(3 if people >= 100 else 1, people // 200) if people else 0
    for i in rng.sample(range(people), hq_count):
        org.humans[i].hq = True
    for index in range(people):
        add_appearances(rng, org, index, now)
    # A separate stream, so adding resources never reshuffles the people above.
    org.organising = build_organising(
        random.Random(seed + 7), org.an_people, now, random.Random(seed + 13)
    )
    org.mc_campaigns = campaign_history(random.Random(seed + 11), org.mc_members, now)
    add_referrals(random.Random(seed + 17), org, 0)
    add_paper_sheet(random.Random(seed + 19), org, people, now, first_human)
    return org


def add_paper_sheet(
    rng: random.Random, org: Organisation, people: int, now: datetime, first_human: int = 0
) -> None:
    """The typed-up paper sign-in sheet: some people known elsewhere with a street address,
    and some new people (appended to `org.humans`) known only from it. Its own random
    stream, so the platforms' records stay what they were without it."""
    with_address = sorted(
        {p.human for p in org.an_people if p.address}
        | {m.human for m in org.mc_members if m.address}
    )
    chosen = [i for i in with_address if rng.random() < SHARE_KNOWN]
    for _ in range(round(people * SHARE_NEW)):
        index = len(org.humans)
        joined = now - timedelta(days=rng.randrange(1, 60), seconds=rng.randrange(86400))
        org.humans.append(new_human(rng, first_human + index, org.humans, make_human, joined))
        chosen.append(index)
    for index in chosen:
        for _ in range(2 if rng.random() < TWICE else 1):
            org.paper_rows.append(paper_row(rng, org.humans[index]))
            org.paper_humans.append(index)
            org.truth.append(
                ("forms", f"{PAPER_FILE}:{len(org.paper_rows)}", org.humans[index].human_id)
            )


def add_referrals(rng: random.Random, org: Organisation, start: int) -> None:
    """Fill "Who referred you?" on Google Forms rows from `start` on: about one in ten
    names another human by email or full name, or gives an organising referral code."""
    codes = org.organising.codes
    for row, index in zip(org.google_rows[start:], org.google_humans[start:], strict=True):
        if rng.random() >= REFERRED or len(org.humans) < 2:
            continue
        other = rng.randrange(len(org.humans) - 1)
        referrer = org.humans[other if other < index else other + 1]  # never themselves
        kind = rng.randrange(3)
        if kind == 2 and codes:
            row[-1] = codes[rng.randrange(len(codes))]
        elif kind == 1 or not referrer.emails:  # known only from a paper sheet: by name
            row[-1] = f"{referrer.given} {referrer.family}"
        else:
            row[-1] = referrer.emails[0]


def place_set_prefix(zip_prefix: str, i: int) -> str:
    """The ZIP prefix of human number i in a city whose first prefix is `zip_prefix`: a
    larger organisation spans more of each city (PLACE_SET_PEOPLE humans a prefix), so
    namesakes in one ZIP code stay as rare as in a smaller one. The first set is the
    city's own prefix, so an organisation below PLACE_SET_PEOPLE is as it always was."""
    step = i // PLACE_SET_PEOPLE
    return zip_prefix if step == 0 else f"{(int(zip_prefix) + PLACE_SET_STRIDE * step) % 1000:03d}"


def place_set_number(number: int, i: int) -> int:
    """House `number` (1 to 9,998) of human number i: each place set has its own stretch of
    every street, as it has its own ZIP codes, so people at one street address stay as few
    at 10M records as at 1M. The first set keeps the number, as it always was."""
    return number + PLACE_SET_NUMBERS * (i // PLACE_SET_PEOPLE)


def make_human(rng: random.Random, i: int, humans: list[Human], joined: datetime) -> Human:
    """Human number i; about 2% share the previous human's household phone and address.
    Phone numbers are unique up to 8,000,000 humans."""
    city, state, zip_prefix, areas = PLACES[rng.randrange(len(PLACES))]
    zip_prefix = place_set_prefix(zip_prefix, i)
    given = GIVEN_NAMES[rng.randrange(len(GIVEN_NAMES))]
    family = FAMILY_NAMES[rng.randrange(len(FAMILY_NAMES))]
    household = bool(humans) and rng.random() < 0.02 and humans[-1].phone is not None
    if household:
        partner = humans[-1]
        family, city, state = partner.family, partner.city, partner.state
        while given == partner.given:
            given = GIVEN_NAMES[rng.randrange(len(GIVEN_NAMES))]
    # The index keeps every address and number unique to one human.
    local = _local_part(rng, given, family, i)
    emails = [f"{local}@{DOMAINS[rng.randrange(len(DOMAINS))]}"]
    if rng.random() < 0.03:
        emails.append(f"{given[0].lower()}{family.lower().replace(chr(39), '')}.{i}@example.net")
    if household:
        phone = partner.phone
        number, street, zip_code = partner.street_number, partner.street, partner.zip
    else:
        phone = None
        if rng.random() < 0.8:
            area = areas[rng.randrange(len(areas))]
            phone = f"{area}{200 + (i // 10000) % 800:03d}{i % 10000:04d}"
        number = place_set_number(rng.randrange(1, 9999), i)
        street = STREETS[rng.randrange(len(STREETS))]
        zip_code = f"{zip_prefix}{rng.randrange(100):02d}"
    return Human(
        f"h{i + 1:07d}", given, family, emails, phone, number, street, city, state, zip_code, joined
    )


def add_appearances(rng: random.Random, org: Organisation, index: int, now: datetime) -> None:
    """Put human `index` on the platforms and in the exports, recording the truth."""
    h = org.humans[index]
    on_an = rng.random() < 0.70
    on_mc = rng.random() < 0.75
    on_google = rng.random() < 0.08
    on_typeform = rng.random() < 0.05
    if not (on_an or on_mc or on_google or on_typeform):
        on_an = True
    if on_an:
        person = _an_person(rng, h, index, now)
        org.an_people.append(person)
        org.truth.append(("action_network", person.uuid, h.human_id))
    if on_mc:
        chosen = h.emails if len(h.emails) == 1 or rng.random() < 0.5 else h.emails[-1:]
        for email in chosen:
            member = _mc_member(rng, h, index, email, now, len(org.mc_members))
            org.mc_members.append(member)
            org.truth.append(("mailchimp", member.id, h.human_id))
    if on_google:
        for _ in range(2 if rng.random() < 0.03 else 1):
            org.google_rows.append(_google_row(rng, h, now))
            org.google_humans.append(index)
            org.truth.append(("forms", f"{GOOGLE_FILE}:{len(org.google_rows)}", h.human_id))
    if on_typeform:
        org.typeform_rows.append(_typeform_row(rng, h, now))
        org.truth.append(("forms", f"{TYPEFORM_FILE}:{len(org.typeform_rows)}", h.human_id))


def _local_part(rng: random.Random, given: str, family: str, i: int) -> str:
    g, f = given.lower(), family.lower().replace("'", "")
    style = rng.randrange(4)
    if style == 0:
        return f"{g}.{f}{i}"
    if style == 1:
        return f"{g[0]}{f}{i}"
    if style == 2:
        return f"{g}{f[0]}{i}"
    return f"{g}_{f}.{i}"


def _shown_given(rng: random.Random, given: str) -> str:
    """The name as typed on one platform: sometimes a nickname, sometimes a typo."""
    if given in NICKNAMES and rng.random() < 0.25:
        options = NICKNAMES[given]
        return options[rng.randrange(len(options))]
    return _typo(rng, given)


def _typo(rng: random.Random, name: str) -> str:
    if len(name) > 3 and rng.random() < 0.03:
        i = rng.randrange(1, len(name) - 1)
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name


def _email_variant(rng: random.Random, email: str, messy: bool) -> str:
    """How an address gets typed: Gmail dots and +tags, googlemail, case and spaces."""
    local, domain = email.split("@")
    if domain == "gmail.com":
        roll = rng.random()
        if roll < 0.10:
            local = local.replace(".", "")
        elif roll < 0.18 and len(local) > 4:
            cut = rng.randrange(2, len(local) - 1)
            local = local[:cut] + "." + local[cut:]
        elif roll < 0.24:
            domain = "googlemail.com"
    if domain in PLUS_DOMAINS and rng.random() < 0.06:
        local += "+" + ("news", "action", "org", "signup")[rng.randrange(4)]
    address = f"{local}@{domain}"
    if messy:
        roll = rng.random()
        if roll < 0.15:
            address = address.capitalize()
        elif roll < 0.22:
            address = address.upper()
        if rng.random() < 0.08:
            address = f" {address} "
    return address


def _phone_format(rng: random.Random, phone: str) -> str:
    a, b, c = phone[:3], phone[3:6], phone[6:]
    style = rng.randrange(5)
    return (f"+1{phone}", f"({a}) {b}-{c}", f"{a} {b} {c}", f"{a}.{b}.{c}", f"1{phone}")[style]


def _zip(rng: random.Random, h: Human) -> str:
    if rng.random() < 0.05:  # moved
        return h.zip[:3] + f"{(int(h.zip[3:]) + 1 + rng.randrange(50)) % 100:02d}"
    return h.zip


def _an_person(rng: random.Random, h: Human, index: int, now: datetime) -> AnPerson:
    status = "subscribed"
    roll = rng.random()
    if roll < 0.07:
        status = "unsubscribed"
    elif roll < 0.10:
        status = "bouncing"
    created = h.joined + timedelta(hours=rng.randrange(0, 48))
    created = min(created, now - timedelta(minutes=5))
    modified = created + timedelta(
        seconds=rng.randrange(max(1, int((now - created).total_seconds())))
    )
    has_address = rng.random() < 0.6
    person = AnPerson(
        uuid=_uuid(rng),
        human=index,
        given=_shown_given(rng, h.given),
        family=h.family if rng.random() > 0.03 else None,
        email=_email_variant(rng, h.emails[0], messy=False),
        email_status=status,
        phone=_phone_format(rng, h.phone) if h.phone and rng.random() < 0.7 else None,
        phone_status="unsubscribed" if rng.random() < 0.05 else "subscribed",
        address=(f"{h.street_number} {h.street}", h.city, h.state, _zip(rng, h))
        if has_address
        else None,
        zip_only=None if has_address else (_zip(rng, h) if rng.random() < 0.7 else None),
        created=created,
        modified=modified,
    )
    if h.hq:
        person.tags.add(CORE_TEAM)
    elif rng.random() < 0.1:
        person.tags.add(AN_TAGS[1 + rng.randrange(len(AN_TAGS) - 1)])
    return person


def _mc_member(
    rng: random.Random, h: Human, index: int, email: str, now: datetime, position: int
) -> McMember:
    roll = rng.random()
    status = "subscribed"
    if roll < 0.08:
        status = "unsubscribed"
    elif roll < 0.12:
        status = "cleaned"
    elif roll < 0.15:
        status = "pending"
    signup = min(h.joined + timedelta(hours=rng.randrange(0, 72)), now - timedelta(minutes=5))
    last_changed = signup + timedelta(
        seconds=rng.randrange(max(1, int((now - signup).total_seconds())))
    )
    tags = [CORE_TEAM] if h.hq else []
    if rng.random() < 0.2:
        tags.append(MC_TAGS[rng.randrange(len(MC_TAGS))])
    return McMember(
        email=_email_variant(rng, email, messy=True).strip(),
        human=index,
        status=status,
        fname=_shown_given(rng, h.given),
        lname=h.family if rng.random() > 0.05 else "",
        phone=_phone_format(rng, h.phone) if h.phone and rng.random() < 0.4 else "",
        address=(f"{h.street_number} {h.street}", h.city, h.state, _zip(rng, h))
        if rng.random() < 0.3
        else None,
        signup=signup,
        last_changed=last_changed,
        web_id=100000 + position,
        tags=tags,
    )


def _recent(rng: random.Random, h: Human, now: datetime) -> datetime:
    """A form submission: mostly in the last 60 days, some in the last week."""
    days = rng.randrange(7) if rng.random() < 0.2 else rng.randrange(7, 60)
    return max(h.joined, now - timedelta(days=days, seconds=rng.randrange(86400)))


def _google_row(rng: random.Random, h: Human, now: datetime) -> list[str]:
    when = _recent(rng, h, now)
    email = h.emails[rng.randrange(len(h.emails))]
    chosen = sorted(rng.sample(HELP_WITH, rng.randrange(1, 3)))
    return [
        f"{when.month}/{when.day}/{when.year} {when:%H:%M:%S}",
        _email_variant(rng, email, messy=True),
        _shown_given(rng, h.given),
        h.family if rng.random() > 0.05 else "",
        _phone_format(rng, h.phone) if h.phone and rng.random() < 0.6 else "",
        _zip(rng, h),
        HEARD_ABOUT[rng.randrange(len(HEARD_ABOUT))],
        ";".join(chosen),
        "",  # who referred them: filled in by add_referrals once referral codes exist
    ]


def _typeform_row(rng: random.Random, h: Human, now: datetime) -> list[str]:
    when = _recent(rng, h, now)
    started = when - timedelta(seconds=rng.randrange(30, 600))
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
    return [
        token,
        _shown_given(rng, h.given),
        h.family,
        _email_variant(rng, h.emails[0], messy=True),
        _phone_format(rng, h.phone) if h.phone and rng.random() < 0.7 else "",
        _zip(rng, h) if rng.random() < 0.8 else "",
        ("Yes", "No", "Maybe")[rng.randrange(3)],
        "completed",
        f"{started:%Y-%m-%d %H:%M:%S}",
        f"{when:%Y-%m-%d %H:%M:%S}",
        f"{when:%Y-%m-%d %H:%M:%S}",
        f"{rng.getrandbits(40):010x}",
        "",
    ]


def write_form_exports(org: Organisation, directory: str | Path) -> list[Path]:
    """The demo Google Forms (UTF-8) and Typeform (UTF-8 with a BOM) exports, and the
    typed-up paper sign-in sheet (UTF-8, no email or phone column)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    google = directory / GOOGLE_FILE
    with open(google, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GOOGLE_HEADER)
        writer.writerows(org.google_rows)
    typeform = directory / TYPEFORM_FILE
    with open(typeform, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(TYPEFORM_HEADER)
        writer.writerows(org.typeform_rows)
    paper = directory / PAPER_FILE
    with open(paper, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAPER_HEADER)
        writer.writerows(org.paper_rows)
    return [google, typeform, paper]


def write_truth(org: Organisation, directory: str | Path) -> Path:
    """`truth.csv`: source, source_record_id, human_id for every source record."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "truth.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "source_record_id", "human_id"])
        writer.writerows(org.truth)
    return path
