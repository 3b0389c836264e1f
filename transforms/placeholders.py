"""Values people type when they have nothing to give: they never link anyone.

Staging compares each field, normalised, with these lists: a placeholder email gets no
match key, a placeholder phone no phone key, a placeholder name no name keys, and the
organisation's own address no street keys. The values themselves stay for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FIELDS = ("emails", "phones", "names", "addresses")

DEFAULT_EMAILS = (
    "test@test.com",
    "test@example.com",
    "none@none.com",
    "noemail@noemail.com",
    "no@email.com",
    "na@na.com",
    "email@email.com",
    "a@a.com",
    # A local part at any domain.
    "noemail@",
    "none@",
    "unknown@",
    "n/a@",
    "noreply@",
    "no-reply@",
)
# Numbers of one repeated digit ('0000000000') are never numbers at all (transforms/phones.py).
DEFAULT_PHONES = ("1234567890", "0123456789", "5555555555")
DEFAULT_NAMES = (
    "test",
    "none",
    "n/a",
    "na",
    "unknown",
    "anonymous",
    "asdf",
    "xxx",
    "first",
    "last",
    "name",
)


@dataclass(frozen=True)
class Placeholders:
    """Emails: a full address (`test@test.com`), a local part at any domain (`noreply@`)
    or a whole domain (`@mailinator.com`), compared with the address and its match key.
    Phones: compared by their digits and by their E.164 form. Names: compared with the
    given and the family name, each as a whole, lower case without accents or
    punctuation. Addresses (the organisation's own): compared with the address line
    (upper case, punctuation as spaces) and by street number and name.

    `Placeholders()` holds the defaults; `from_config` extends them."""

    emails: tuple[str, ...] = DEFAULT_EMAILS
    phones: tuple[str, ...] = DEFAULT_PHONES
    names: tuple[str, ...] = DEFAULT_NAMES
    addresses: tuple[str, ...] = ()

    def extended(self, **more: Iterable[str]) -> Placeholders:
        """These values plus more, in order, without repeats."""
        unknown = sorted(set(more) - set(FIELDS))
        if unknown:
            raise TypeError(f"unknown placeholder list(s): {', '.join(unknown)}")
        return Placeholders(
            **{
                name: tuple(dict.fromkeys([*getattr(self, name), *more.get(name, ())]))
                for name in FIELDS
            }
        )

    @classmethod
    def from_config(cls, data: dict[str, Any] | None) -> Placeholders:
        """The defaults extended with the lists under `emails`, `phones`, `names` and
        `addresses`; a ValueError names the key that is wrong."""
        return from_config(data)


DEFAULT = Placeholders()


def from_config(data: dict[str, Any] | None) -> Placeholders:
    """DEFAULT extended with the lists under `emails`, `phones`, `names` and `addresses`
    (the organisation's own address belongs under `addresses`)."""
    if data is None:
        return DEFAULT
    if not isinstance(data, dict):
        raise ValueError(
            f"expected a mapping with the keys {', '.join(FIELDS)}, got {type(data).__name__}"
        )
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (expected {', '.join(FIELDS)})")
    more: dict[str, tuple[str, ...]] = {}
    for key in FIELDS:
        values = data.get(key)
        if values is None:
            continue
        if isinstance(values, str) or not isinstance(values, list | tuple):
            raise ValueError(f"{key}: expected a list of text, got {type(values).__name__}")
        more[key] = tuple(_entry(key, i, value) for i, value in enumerate(values, start=1))
    return DEFAULT.extended(**more)


def _entry(key: str, position: int, value: Any) -> str:
    # YAML reads an unquoted 5555555555 as a number: take it as its digits.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key}: entry {position} must be text, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{key}: entry {position} is empty")
    if key == "emails" and "@" not in text:
        raise ValueError(
            f"emails: entry {position} needs an @ (an address like 'test@test.com', a local "
            "part like 'noreply@' or a domain like '@mailinator.com')"
        )
    if key == "phones" and not any(ch.isdigit() for ch in text):
        raise ValueError(f"phones: entry {position} has no digits")
    return text
