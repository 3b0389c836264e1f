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


# --------------------------------------------------- organising objects, actions, activity


def an_object(
    collection: str,
    uuid: str,
    title: str,
    *,
    created: str = "2026-01-01T00:00:00Z",
    start: str | None = None,
    creator: str | None = None,
    organizer: str | None = None,
) -> dict:
    """A petition, event, form, fundraising page or advocacy campaign; `creator` and
    `organizer` are person uuids, linked as Action Network links them."""
    api = "https://actionnetwork.org/api/v2"
    links: dict = {"self": {"href": f"{api}/{collection}/{uuid}"}}
    if creator:
        links["osdi:creator"] = {"href": f"{api}/people/{creator}"}
    if organizer:
        links["osdi:organizer"] = {"href": f"{api}/people/{organizer}"}
    doc = {
        "identifiers": [f"action_network:{uuid}"],
        "title": title,
        "created_date": created,
        "modified_date": created,
        "_links": links,
    }
    if start:
        doc["start_date"] = start
    return doc


AN_ACTION_OBJECT = {
    "signatures": "petition",
    "attendances": "event",
    "submissions": "form",
    "donations": "fundraising_page",
    "outreaches": "advocacy_campaign",
}


def an_action(
    resource: str,
    person_uuid: str,
    object_uuid: str,
    *,
    created: str = "2026-11-01T00:00:00Z",
    modified: str | None = None,
    source: str = "",
    referrer: str = "",
    status: str | None = None,
    amount: str | None = None,
    recurring: bool | None = None,
    uuid: str | None = None,
) -> dict:
    """A signature, attendance, submission, donation or outreach as Action Network sends it."""
    uuid = uuid or f"a0000000-0000-4000-8000-{next(_ids):012d}"
    doc: dict = {
        "identifiers": [f"action_network:{uuid}"],
        "created_date": created,
        "modified_date": modified or created,
        "action_network:person_id": person_uuid,
        f"action_network:{AN_ACTION_OBJECT[resource]}_id": object_uuid,
        "action_network:referrer_data": {
            "source": source,
            "referrer": referrer,
            "website": "",
            "email_referrer": "",
            "mobile_message_referrer": "",
        },
    }
    if resource == "attendances":
        doc["status"] = status or "accepted"
    if resource == "donations":
        doc["amount"] = amount or "10.00"
        doc["currency"] = "USD"
        doc["action_network:recurrence"] = {"recurring": bool(recurring)}
    return doc


def mc_campaign(campaign_id: str, title: str, send_time: str = "2026-11-01T15:00:00+00:00") -> dict:
    return {"id": campaign_id, "send_time": send_time, "settings": {"title": title}}


def mc_email_event(
    email: str, campaign_id: str, action: str, timestamp: str, *, url: str = "", kind: str = ""
) -> dict:
    """One open, click or bounce, flattened as the Mailchimp connector lands them."""
    member_id = hashlib.md5(email.strip().lower().encode()).hexdigest()
    key = f"{campaign_id}|{member_id}|{action}|{kind}|{timestamp}|{url}"
    return {
        "id": hashlib.md5(key.encode()).hexdigest(),
        "campaign_id": campaign_id,
        "list_id": "list1",
        "email_id": member_id,
        "email_address": email,
        "action": action,
        "type": kind,
        "timestamp": timestamp,
        "url": url,
    }


def land_records(
    con,
    table: str,
    resource: str,
    records: list[dict],
    *,
    modified_key: str = "modified_date",
    batch_id: str = "test",
    loaded_at: datetime = NOW,
) -> None:
    """Append records of one resource to raw_action_network or raw_mailchimp; the record id
    is the `action_network:` identifier, else `id`."""

    def record_id(r: dict) -> str:
        for identifier in r.get("identifiers") or []:
            if identifier.startswith("action_network:"):
                return identifier.split(":", 1)[1]
        return r["id"]

    append(
        con,
        table,
        pd.DataFrame(
            {
                "resource": resource,
                "record_id": [record_id(r) for r in records],
                "modified_at": pd.to_datetime(
                    [r.get(modified_key) for r in records], utc=True
                ).tz_convert(None),
                "payload": [json.dumps(r) for r in records],
                "batch_id": batch_id,
                "loaded_at": loaded_at,
            }
        ),
    )


def land_an_tags(con, taggings: dict[str, list[str]], *, batch_id: str = "tags-1") -> None:
    """A complete read of Action Network tags: tag name -> the person uuids tagged, as
    `land_action_network_whole` lands them (the batch becomes the current one)."""
    tags, rows = [], []
    for n, (name, people) in enumerate(taggings.items(), start=1):
        tag_id = f"t0000000-0000-4000-8000-{n:012d}"
        tags.append(
            {"identifiers": [f"action_network:{tag_id}"], "name": name, "modified_date": None}
        )
        for person in people:
            rows.append(
                {
                    "identifiers": [f"action_network:g{n}-{person}"],
                    "created_date": "2026-10-01T00:00:00Z",
                    "modified_date": "2026-10-01T00:00:00Z",
                    "groundswell:tag_id": tag_id,
                    "groundswell:person_id": person,
                }
            )
    land_records(con, "raw_action_network", "tags", tags, batch_id=batch_id)
    land_records(con, "raw_action_network", "taggings", rows, batch_id=batch_id)
    con.execute(
        "INSERT OR REPLACE INTO sync_cursors VALUES "
        "('action_network', 'taggings#current_batch', ?, ?)",
        [batch_id, NOW],
    )
