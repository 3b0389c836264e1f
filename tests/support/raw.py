"""Real-shaped raw payloads written by tests into a temporary warehouse."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from itertools import count

import pandas as pd

from warehouse.load import append

_ids = count(1)
NOW = datetime(2026, 11, 24, 12, 0, 0)


def an_person(
    given: str | None,
    family: str | None,
    email: str | None,
    *,
    phone: str | None = None,
    status: str = "subscribed",
    phone_status: str = "subscribed",
    postal_code: str | None = None,
    address: str | None = None,
    identifiers: tuple[str, ...] = (),
    created: str = "2025-06-01T00:00:00Z",
    modified: str = "2026-11-01T00:00:00Z",
    uuid: str | None = None,
) -> dict:
    uuid = uuid or f"00000000-0000-4000-8000-{next(_ids):012d}"
    person = {
        "identifiers": [f"action_network:{uuid}", *identifiers],
        "created_date": created,
        "modified_date": modified,
        "email_addresses": [{"primary": True, "address": email, "status": status}] if email else [],
        "phone_numbers": [{"primary": True, "number": phone, "status": phone_status}]
        if phone
        else [],
        "postal_addresses": [
            {
                "primary": True,
                "postal_code": postal_code,
                "address_lines": [address] if address else [],
            }
        ]
        if postal_code or address
        else [],
    }
    if given:
        person["given_name"] = given
    if family:
        person["family_name"] = family
    return person


def mc_member(
    given: str,
    family: str,
    email: str,
    *,
    status: str = "subscribed",
    tags: tuple[str, ...] = (),
    phone: str = "",
    last_changed: str = "2026-11-01T00:00:00+00:00",
    signup: str = "2025-01-01T00:00:00+00:00",
) -> dict:
    return {
        "id": hashlib.md5(email.strip().lower().encode()).hexdigest(),
        "email_address": email,
        "status": status,
        "merge_fields": {"FNAME": given, "LNAME": family, "PHONE": phone, "ADDRESS": ""},
        "tags": [{"id": i, "name": t} for i, t in enumerate(tags)],
        "timestamp_signup": signup,
        "last_changed": last_changed,
    }


def land(
    con, *, an: list[dict] = (), mc: list[dict] = (), forms: dict[str, list[dict]] | None = None
) -> None:
    """Append payloads to the raw tables as the connectors would."""
    if an:
        append(
            con,
            "raw_action_network",
            pd.DataFrame(
                {
                    "resource": "people",
                    "record_id": [p["identifiers"][0].split(":", 1)[1] for p in an],
                    "modified_at": pd.to_datetime(
                        [p["modified_date"] for p in an], utc=True
                    ).tz_convert(None),
                    "payload": [json.dumps(p) for p in an],
                    "batch_id": "test",
                    "loaded_at": NOW,
                }
            ),
        )
    if mc:
        append(
            con,
            "raw_mailchimp",
            pd.DataFrame(
                {
                    "resource": "members",
                    "record_id": [m["id"] for m in mc],
                    "modified_at": pd.to_datetime(
                        [m["last_changed"] for m in mc], utc=True
                    ).tz_convert(None),
                    "payload": [json.dumps(m) for m in mc],
                    "batch_id": "test",
                    "loaded_at": NOW,
                }
            ),
        )
    for file_name, rows in (forms or {}).items():
        append(
            con,
            "raw_forms",
            pd.DataFrame(
                {
                    "file_hash": hashlib.sha256(file_name.encode()).hexdigest(),
                    "file_name": file_name,
                    "row_number": list(range(1, len(rows) + 1)),
                    "layout": "plain",
                    "payload": [json.dumps({"fields": r, "answers": r}) for r in rows],
                    "batch_id": "test",
                    "loaded_at": NOW,
                }
            ),
        )
