"""Settling Action Network writes left unsettled by an interrupted run, from Action
Network's own state: tag creations by reading the tags, people's changes by reading their
taggings and custom fields (see connectors/reconcile.py)."""

from __future__ import annotations

import duckdb
import pandas as pd

from connectors.action_network import push as an
from connectors.action_network.client import ActionNetworkClient, person_uuid, uuid_from_href
from connectors.errors import NotFoundError
from connectors.push import Log, Outcomes, PushReport
from connectors.reconcile import STATUS, done, settle
from warehouse.ledger import unsettled_intents


def reconcile_action_network(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, run_id: str, log: Log
) -> PushReport:
    """Settle Action Network writes left unsettled: tag creations by reading the tags,
    people's changes by reading their taggings and custom fields."""
    report = PushReport(an.DESTINATION)
    left = unsettled_intents(con, an.DESTINATION)
    if left.empty:
        return report
    log(f"Action Network: checking {len(left):,} operation(s) an interrupted run may have sent")
    tags = left[left["kind"] == "tag_definition"]
    if not tags.empty:
        an.settle_tag_intents(con, client, tags)
    people = left[left["kind"] != "tag_definition"]
    if not people.empty:
        outcomes = Outcomes(con, report, run_id, log, people["member_key"].nunique())
        names = {tag_id: name for name, tag_id in an.known_tag_ids(con).items()}
        emails = _emails(con, people)
        check = _person_check(client, names, emails)
        settle(people, check, max(2, client.window), outcomes)
        outcomes.finish()
    return report


def _emails(con: duckdb.DuckDBPyConnection, people: pd.DataFrame) -> dict[str, str]:
    """The address of each new person (planned as `new:<person_id>`), to find them by."""
    wanted = sorted({k[4:] for k in people["member_key"] if str(k).startswith("new:")})
    if not wanted:
        return {}
    return dict(
        con.execute(
            "SELECT person_id, email FROM person_metrics WHERE email IS NOT NULL "
            "AND person_id IN (SELECT unnest(?::VARCHAR[]))",
            [wanted],
        ).fetchall()
    )


def _person_check(client: ActionNetworkClient, names: dict[str, str], emails: dict[str, str]):
    """How one Action Network person's operations are checked: their taggings (tag names
    by id) and custom fields; a new person is first found by their address."""

    def check(member_key: str, rows: pd.DataFrame) -> pd.DataFrame | None:
        uuid = member_key
        if member_key.startswith("new:"):
            uuid = _find_by_email(client, emails.get(member_key[4:], ""))
            if not uuid:
                return None
        try:
            person = client.http.request("GET", f"people/{uuid}") or {}
        except NotFoundError:
            return None
        taggings = {
            names.get(uuid_from_href(t["_links"]["osdi:tag"]["href"]), "").lower(): person_uuid(t)
            for page in client.iter_pages(f"people/{uuid}/taggings", "osdi:taggings")
            for t in page
            if (t.get("_links") or {}).get("osdi:tag")
        }
        fields = {**(person.get("custom_fields") or {}), STATUS: _email_status(person)}
        shown = rows[
            [
                done(op, item, value, set(taggings), fields)
                for op, item, value in zip(rows["op"], rows["item"], rows["value"], strict=True)
            ]
        ]
        tagging_ids = shown["item"].str.lower().map(taggings)
        shown = shown.assign(
            remote_id=tagging_ids.where(shown["op"] == "add", shown.get("remote_id"))
        )
        return an.as_created(shown, uuid) if member_key.startswith("new:") else shown

    return check


def _email_status(person: dict) -> str:
    """The status of a person's primary (else first) email address."""
    emails = [e for e in person.get("email_addresses") or [] if isinstance(e, dict)]
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else {})
    return str(primary.get("status") or "")


def _find_by_email(client: ActionNetworkClient, email: str) -> str:
    """The id of the Action Network person with this address, or '': only a person whose
    address is the one wanted (case aside) counts, whatever the filter returned."""
    wanted = email.strip().lower()
    if not wanted:
        return ""
    quoted = email.strip().replace("'", "''")  # OData: a quote inside a literal is doubled
    body = client.http.request("GET", "people", params={"filter": f"email_address eq '{quoted}'"})
    found = ((body or {}).get("_embedded") or {}).get("osdi:people") or []
    for person in found:
        if wanted in _addresses(person):
            return person_uuid(person) or ""
    return ""


def _addresses(person: dict) -> set[str]:
    """A person's email addresses, lower-cased."""
    return {
        str(e.get("address") or "").strip().lower()
        for e in person.get("email_addresses") or []
        if isinstance(e, dict)
    }
