"""Phone numbers to E.164 with Google's libphonenumber; DuckDB calls it as a UDF."""

from __future__ import annotations

import contextlib
from functools import lru_cache

import duckdb
import phonenumbers


@lru_cache(maxsize=200_000)
def to_e164(raw: str | None, region: str = "US") -> str | None:
    """E.164 when the number is possible for its region, else None ('n/a', too short...)."""
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
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def register(con: duckdb.DuckDBPyConnection, default_region: str) -> None:
    """Make `normalise_phone(varchar)` available on this connection."""
    region = (default_region or "US").upper()

    def normalise_phone(raw: str | None) -> str | None:
        return to_e164(raw, region)

    with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
        con.remove_function("normalise_phone")
    con.create_function(
        "normalise_phone",
        normalise_phone,
        [duckdb.sqltype("VARCHAR")],
        duckdb.sqltype("VARCHAR"),
        null_handling="special",
        side_effects=False,
    )
