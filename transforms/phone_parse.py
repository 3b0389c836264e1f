"""One phone number's E.164, validity and line type, with Google's libphonenumber. Kept apart
from DuckDB (transforms/phones.py) so the worker processes that parse a large staging's
numbers import only this and phonenumbers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType

# What `phone_type` says; numbers libphonenumber cannot place get NULL.
KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    PhoneNumberType.VOIP: "voip",
}


class PhoneParts(NamedTuple):
    e164: str | None  # E.164 when the number is possible for its region
    valid: bool  # libphonenumber's is_valid_number
    kind: str | None  # mobile, landline, fixed_or_mobile, voip, other; None when unknown


NOT_A_NUMBER = PhoneParts(None, False, None)


def possible(raw: str | None, region: str) -> phonenumbers.PhoneNumber | None:
    """The parsed number when it is possible for `region`, else None."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().startswith("p:"):
        text = text[2:]  # Meta lead ads prefix values with their type
    digits = [ch for ch in text if ch.isdigit()]
    if len(digits) < 6 or len(set(digits)) == 1:
        return None  # '0000000000' and friends are placeholders, not numbers
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return number


def parts(raw: str | None, region: str = "US") -> PhoneParts:
    """E.164, validity and line type in one parse. Not cached: staging calls it once per
    distinct number."""
    number = possible(raw, region)
    if number is None:
        return NOT_A_NUMBER
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # is_valid_number is exactly number_type != UNKNOWN (both find the region, then match
    # the number against that region's patterns): one call gives both, at half the cost.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return PhoneParts(e164, False, None)
    return PhoneParts(e164, True, KINDS.get(kind, "other"))


Columns = tuple[list[str | None], list[bool | None], list[str | None]]


def parse_columns(
    texts: list[str | None], region: str, parse: Callable[[str, str], PhoneParts] = parts
) -> Columns:
    """The e164, valid and kind of each text (None for a None text), as three lists: what
    a worker process returns, cheaper to send back than a tuple a number."""
    found = [None if text is None else parse(text, region) for text in texts]
    return (
        [p.e164 if p else None for p in found],
        [p.valid if p else None for p in found],
        [p.kind if p else None for p in found],
    )


def watch_parent(parent: int, every_s: float = 1.0) -> None:
    """A worker's initializer: exit when the process that started it is gone (killed, so
    never told to stop), instead of waiting on its queue for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
