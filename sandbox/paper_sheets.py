"""A typed-up paper sign-in sheet: door-knocking lists, petitions and meeting sign-in sheets
copied into a spreadsheet by a volunteer. Names and a postal address, no email and no phone,
with the slips such typing really makes: transposed and dropped letters, first and last
names swapped, missing cells, street and town run together in one cell, `St` or `Street`,
case and punctuation noise. Some of the people are known elsewhere with an address, some
are new; a few of the new ones share a name with someone else in their town."""

from __future__ import annotations

import random
from datetime import datetime

from sandbox.names import NICKNAMES

PAPER_FILE = "paper_signin_sheet_typed.csv"
PAPER_HEADER = ["First name", "Last name", "Address", "City", "State", "Postcode"]
SHARE_KNOWN = 0.045  # of the people known elsewhere with a street address
SHARE_NEW = 0.01  # new people (of the organisation's size) known only from a sheet
NAMESAKE = 0.25  # of the new people: someone else's name, in their town, at another address
TWICE = 0.10  # signed two sheets
# How each suffix of the sandbox's streets also gets typed.
SUFFIXES = {
    "St": ("Street", "st", "St.", "ST", "street"),
    "Ave": ("Avenue", "ave", "Ave.", "Av", "avenue"),
    "Rd": ("Road", "rd", "Rd.", "road"),
    "Dr": ("Drive", "dr", "Dr."),
    "Ln": ("Lane", "ln", "Ln."),
    "Blvd": ("Boulevard", "blvd", "Blvd."),
}


def typo(rng: random.Random, word: str) -> str:
    """One slip of the pen or the keyboard: two letters swapped, or one dropped."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i + 1 :]


def _noisy_case(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        return text.upper()
    if roll < 0.30:
        return text.lower()
    return text


def _name(rng: random.Random, name: str) -> str:
    if rng.random() < 0.08:
        name = typo(rng, name)
    if rng.random() < 0.04:
        name = name.replace("'", "") + "."  # a stray full stop, an apostrophe lost
    return _noisy_case(rng, name)


def _street(rng: random.Random, street: str) -> str:
    """The street as typed: its name maybe misspelt, its suffix in another form."""
    words = street.split(" ")
    name, suffix = words[:-1], words[-1]
    if rng.random() < 0.10:
        longest = max(range(len(name)), key=lambda i: len(name[i]))
        name[longest] = typo(rng, name[longest])
    if suffix in SUFFIXES and rng.random() < 0.5:
        options = SUFFIXES[suffix]
        suffix = options[rng.randrange(len(options))]
    return " ".join([*name, suffix])


def paper_row(rng: random.Random, human) -> list[str]:
    """One typed-up line of a sign-in sheet for `human` (a sandbox Human)."""
    given = human.given
    if given in NICKNAMES and rng.random() < 0.15:  # people sign with the name they go by
        given = NICKNAMES[given][rng.randrange(len(NICKNAMES[given]))]
    given, family = _name(rng, given), _name(rng, human.family)
    if rng.random() < 0.06:
        given, family = family, given
    line = _noisy_case(rng, f"{human.street_number} {_street(rng, human.street)}")
    city, state, postcode = human.city, human.state, human.zip
    # One cell left empty at most: a row with no postal detail at all is a name only.
    roll = rng.random()
    if roll < 0.15:
        postcode = ""
    elif roll < 0.21:
        line = ""
    elif roll < 0.25:
        city = ""
    elif roll < 0.30:
        state = ""
    if line and rng.random() < 0.12:  # street and town in one cell, the town's cell empty
        line, city = f"{line} {city}" if city else line, ""
    if rng.random() < 0.05:
        line = f" {line},"  # a stray space and comma
    return [given, family, line, _noisy_case(rng, city), state, postcode]


def new_human(rng: random.Random, index: int, humans: list, make_human, joined: datetime):
    """Someone known only from a sheet; sometimes a namesake of someone in the same town
    who lives at another address."""
    human = make_human(rng, index, humans, joined)
    human.emails, human.phone = [], None  # nobody has their email or phone
    if humans and rng.random() < NAMESAKE:
        other = humans[rng.randrange(len(humans))]
        human.given, human.family = other.given, other.family
        human.city, human.state = other.city, other.state
        if rng.random() < 0.5:  # the same postcode: only the street tells them apart
            human.zip = other.zip
        while human.street_number == other.street_number:
            human.street_number = rng.randrange(1, 9999)
    return human
