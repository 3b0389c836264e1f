"""People arriving on their own, as the erasure tests need them: a form export in the inbox
and a Mailchimp signup on the sandbox (neither a Groundswell write)."""

from __future__ import annotations

import csv
from pathlib import Path

import requests

from connectors.mailchimp.client import subscriber_hash


def write_form(path: Path, rows: list[list[str]]) -> None:
    """A sign-up export: first name, last name, email, phone, postcode per row."""
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["First name", "Last name", "Email", "Phone", "Postcode"])
        out.writerows(rows)


def mailchimp_signup(sandbox, email: str, first: str, last: str, phone: str = "") -> None:
    """The person signs up on Mailchimp themselves."""
    fields = {"FNAME": first, "LNAME": last, **({"PHONE": phone} if phone else {})}
    response = requests.put(
        f"{sandbox.env['MAILCHIMP_BASE_URL']}/lists/{sandbox.env['MAILCHIMP_LIST_ID']}"
        f"/members/{subscriber_hash(email)}",
        auth=("anyone", sandbox.env["MAILCHIMP_API_KEY"]),
        json={"email_address": email, "status_if_new": "subscribed", "merge_fields": fields},
        timeout=10,
    )
    assert response.status_code == 200, response.text
