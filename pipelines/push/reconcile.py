"""Settling the writes an earlier run sent, or may have sent, without learning the
outcome (killed, timed out, answer lost): the platform's state decides. What the platform
shows done goes into the ledger, what it does not is left to be planned again. This runs
before planning and before each push, so nothing confirmed is sent twice and nothing lost
is dropped. Reads only: reconciling never writes to a platform."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from connectors.action_network import ActionNetworkClient, person_uuid, uuid_from_href
from connectors.errors import AuthError, NotFoundError, PlatformError
from connectors.fanout import run_concurrently
from connectors.mailchimp import MailchimpClient
from pipelines.push import Log, Outcomes, PushReport
from pipelines.push import action_network as an
from pipelines.push import mailchimp as mc
from transforms.outbound import unsettled_intents

STATUS = "email_status"  # the plan's item for a contact's email status (an opt-out)

# Reading one contact's state: (member_key, rows) -> the rows it shows done (with any
# remote id learnt), or None when the contact is not there.
Check = Callable[[str, pd.DataFrame], pd.DataFrame | None]


def reconcile_mailchimp(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, run_id: str, log: Log
) -> PushReport:
    """Settle Mailchimp writes left unsettled: batches by their results (found again by
    their operation ids when their id was never recorded), the rest member by member."""
    report = mc.collect_pending_batches(con, client, run_id, log)
    left = unsettled_intents(con, mc.DESTINATION)
    left = left[left["batch_id"].isna()]  # a known batch's are read with it, above
    if left.empty:
        return report
    log(f"Mailchimp: checking {len(left):,} operation(s) an interrupted run may have sent")
    outcomes = Outcomes(con, report, run_id, log, left["member_key"].nunique())
    unsent = left[left["batch_key"].notna()]
    for batch_key, rows in unsent.groupby("batch_key", sort=False):
        try:
            batch_id = mc.find_batch(client, str(batch_key), rows["request_key"].nunique())
        except mc.BatchPending as exc:
            log(f"Mailchimp: {exc}")  # left unsettled: the next run looks again
            report.unconfirmed += len(rows)
            continue
        if batch_id is None:
            check_members(con, client, rows, outcomes)
        else:
            mc.remember_batch(con, str(batch_key), batch_id, run_id, rows["request_key"].nunique())
            mc.collect_batch(con, client, batch_id, outcomes)
    direct = left[left["batch_key"].isna()]
    if not direct.empty:
        check_members(con, client, direct, outcomes)
    outcomes.finish()
    return report


def check_members(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, ops: pd.DataFrame, outcomes: Outcomes
) -> None:
    """Settle operations by reading each member: a tag active or not, a merge field's
    value, their status, the member's existence."""

    def check(member_key: str, rows: pd.DataFrame) -> pd.DataFrame | None:
        try:
            member = client.get_member(member_key)
        except NotFoundError:
            return None
        tags = {str(t.get("name") or "").lower() for t in member.get("tags") or []}
        fields = {**(member.get("merge_fields") or {}), STATUS: member.get("status")}
        done = [
            _done(op, item, value, tags, fields)
            for op, item, value in zip(rows["op"], rows["item"], rows["value"], strict=True)
        ]
        return rows[done]

    _settle(ops, check, client.max_connections, outcomes)


def _done(op: str, item: str, value: object, tags: set[str], fields: dict) -> bool:
    """Whether the platform shows this operation's effect."""
    if op == "add":
        return item.lower() in tags
    if op == "remove":
        return item.lower() not in tags
    if op in ("set", "unsubscribe"):
        return str(fields.get(item) or "") == str(value or "")
    return op == "create"  # the contact exists


def _settle(ops: pd.DataFrame, check: Check, workers: int, outcomes: Outcomes) -> None:
    """Read each contact concurrently and settle its operations: done ones confirmed,
    the rest failed (planned again). A read that fails leaves them unsettled."""
    groups = {str(k): rows for k, rows in ops.groupby("member_key", sort=True)}
    unread = 0
    for member_key, done, error in run_concurrently(
        lambda key: check(key, groups[key]), list(groups), workers
    ):
        rows = groups[member_key]
        if error is not None:
            if isinstance(error, AuthError) or not isinstance(error, PlatformError):
                outcomes.flush()
                raise error
            unread += len(rows)
            continue
        confirmed = done if done is not None else rows.iloc[0:0]
        if not confirmed.empty:
            outcomes.confirm(confirmed)
        settled = set(zip(confirmed["request_key"], confirmed["item"], strict=True))
        undone = [key not in settled for key in zip(rows["request_key"], rows["item"], strict=True)]
        if any(undone):
            outcomes.undone(rows[undone])
        outcomes.unit_done()
    outcomes.flush()
    if unread:
        outcomes.log(
            f"{outcomes.report.destination}: {unread:,} operation(s) could not be checked "
            "now; they are held back (not sent) until a later run can read them"
        )


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
        _settle(people, check, max(2, client.window), outcomes)
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
        done = rows[
            [
                _done(op, item, value, set(taggings), fields)
                for op, item, value in zip(rows["op"], rows["item"], rows["value"], strict=True)
            ]
        ]
        tagging_ids = done["item"].str.lower().map(taggings)
        done = done.assign(remote_id=tagging_ids.where(done["op"] == "add", done.get("remote_id")))
        return an.as_created(done, uuid) if member_key.startswith("new:") else done

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
