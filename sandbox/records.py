"""The records the simulated platforms hold: a hidden human, an Action Network person, a
Mailchimp member. Plain data, no sandbox imports, so every other module can use them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Human:
    human_id: str
    given: str
    family: str
    emails: list[str]
    phone: str | None  # 10 digits, national
    street_number: int
    street: str
    city: str
    state: str
    zip: str
    joined: datetime
    hq: bool = False


@dataclass(slots=True)
class AnPerson:
    uuid: str
    human: int
    given: str | None
    family: str | None
    email: str | None
    email_status: str
    phone: str | None
    phone_status: str
    address: tuple[str, str, str, str] | None  # line, city, state, zip
    zip_only: str | None
    created: datetime
    modified: datetime
    tags: set[str] = field(default_factory=set)
    custom_fields: dict[str, str] = field(default_factory=dict)  # flat name -> string


@dataclass(slots=True)
class McMember:
    email: str
    human: int
    status: str
    fname: str
    lname: str
    phone: str
    address: tuple[str, str, str, str] | None
    signup: datetime
    last_changed: datetime
    web_id: int
    tags: list[str] = field(default_factory=list)
    tier: str = ""  # the TIER merge field, empty until a sync writes one
    extra: dict[str, str] = field(default_factory=dict)  # merge fields created by the API

    @property
    def id(self) -> str:
        return subscriber_hash(self.email)
