"""Landing Mailchimp: members incrementally by last_changed with a periodic reconciliation
of the id set; the audience's lists, merge fields and tags whole; sent campaigns by send
time and each campaign's email activity behind its own `since` bookmark."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from connectors.errors import NotFoundError, NotFoundPageError
from connectors.fanout import run_concurrently
from connectors.landing import (
    LandingReport,
    Log,
    SkippedStreams,
    land_pages,
    land_whole,
    note_found,
    note_not_found,
    raw_frame,
)
from connectors.mailchimp.client import PLATFORM, MailchimpClient
from warehouse.load import append, get_cursor, mark_vanished, set_cursor, transaction, utcnow

SOURCE = "mailchimp"
TABLE = "raw_mailchimp"
RECONCILED = "members#reconciled_at"


def land_mailchimp_members(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str, log: Log
) -> LandingReport:
    """Members of every status changed since the last pass (all of them the first time)."""
    return land_pages(
        con,
        table=TABLE,
        source=SOURCE,
        resource="members",
        pages=lambda since, first: client.iter_member_pages(
            since_last_changed=since, first_page=first
        ),
        record_id=lambda m: m.get("id"),
        modified=lambda m: m.get("last_changed"),
        batch_id=batch_id,
        log=log,
        json_fields=("$.id", "$.last_changed"),
    )


def reconcile_mailchimp_members(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    batch_id: str,
    log: Log,
    every: timedelta = timedelta(days=7),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Permanently deleted members vanish without a change to see: when `every` has passed
    since the last reconciliation, read the whole id set and look up each member we hold
    that is not in it (offset paging can skip one when others are deleted mid-read). A
    member is marked deleted only after Mailchimp's own "Resource Not Found" in two runs:
    the first marks it missing, and every later run looks again until it answers or is
    confirmed gone. An HTML 404 is a transient fault that stops the reconciliation."""
    now = now or utcnow()
    result: dict[str, Any] = {"reconciled": False, **_second_look(con, client, batch_id, log)}
    last = get_cursor(con, SOURCE, RECONCILED)
    if last is None:
        # The first run read every member: that read is the first reconciliation.
        with transaction(con):
            set_cursor(con, SOURCE, RECONCILED, now.isoformat())
        return result
    if now - datetime.fromisoformat(last) < every:
        return result
    live = [member_id for page in client.iter_member_ids() for member_id in page]
    held = con.execute(
        """
        SELECT record_id FROM raw_mailchimp WHERE resource = 'members'
        QUALIFY row_number() OVER (
            PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
            AND payload ->> '$.status' IS DISTINCT FROM 'deleted'
        """
    ).fetchall()
    missing = sorted({row[0] for row in held} - set(live))
    not_found, still_there = _look_up(client, missing)
    with transaction(con):
        # A member already heard "not found" in an earlier run is confirmed gone now.
        confirmed = note_not_found(con, SOURCE, "members", not_found, batch_id)
        _land_found(con, still_there, batch_id)
        deleted = mark_vanished(
            con, TABLE, "members", pd.DataFrame({"record_id": confirmed}), batch_id
        )
        set_cursor(con, SOURCE, RECONCILED, now.isoformat())
    newly_missing = len(not_found) - len(confirmed)
    log(
        f"Mailchimp reconciliation: {len(live)} members in the audience, {newly_missing} "
        "not found (looked at again next run before being marked deleted)"
    )
    result["members_deleted"] += deleted
    result["members_missing"] += newly_missing
    return {**result, "reconciled": True, "members_live": len(live)}


def _second_look(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str, log: Log
) -> dict[str, int]:
    """Members an earlier run heard "not found" for: gone if Mailchimp says so again (a
    tombstone is landed, the member's earlier versions stay), landed again if they answer."""
    pending = [
        row[0]
        for row in con.execute(
            "SELECT record_id FROM missing_records WHERE source = ? AND resource = 'members' "
            "AND gone_at IS NULL AND first_batch <> ? ORDER BY record_id",
            [SOURCE, batch_id],
        ).fetchall()
    ]
    if not pending:
        return {"members_deleted": 0, "members_missing": 0}
    not_found, found = _look_up(client, pending)
    with transaction(con):
        gone = note_not_found(con, SOURCE, "members", not_found, batch_id)
        _land_found(con, found, batch_id)
        deleted = mark_vanished(con, TABLE, "members", pd.DataFrame({"record_id": gone}), batch_id)
    log(
        f"Mailchimp members not found in an earlier run: {deleted} confirmed deleted, "
        f"{len(found)} answered again and are kept"
    )
    return {"members_deleted": deleted, "members_missing": len(not_found) - len(gone)}


def _land_found(
    con: duckdb.DuckDBPyConnection, members: list[dict[str, Any]], batch_id: str
) -> None:
    """Members looked up one by one: landed as they are now, and no longer missing."""
    if not members:
        return
    frame = raw_frame(
        "members",
        [m["id"] for m in members],
        [m.get("last_changed") for m in members],
        members,
        batch_id,
    )
    append(con, TABLE, frame)
    note_found(con, SOURCE, "members", [m["id"] for m in members])


def _look_up(
    client: MailchimpClient, member_ids: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """(ids Mailchimp says are not found, members that answered). Any other failure,
    an HTML 404 page included, stops the look-up: it proves nothing."""
    not_found: list[str] = []
    found: list[dict[str, Any]] = []
    for member_id, member, error in run_concurrently(
        client.get_member, member_ids, client.max_connections
    ):
        if isinstance(error, NotFoundError):
            not_found.append(member_id)
        elif error is not None:
            raise error
        else:
            found.append(member)
    return sorted(not_found), found


def land_mailchimp_audience(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str
) -> dict[str, int]:
    """Audiences, merge fields and tags: small, with no change filter, read whole."""
    records = {
        "lists": client.list_audiences(),
        "merge_fields": [
            {**field, "id": str(field.get("merge_id"))} for field in client.merge_fields()
        ],
        "tags": [{**tag, "id": str(tag.get("id"))} for tag in client.tags()],
    }
    return land_whole(
        con,
        table=TABLE,
        source=SOURCE,
        resources=records,
        record_id=lambda r: r.get("id"),
        modified=lambda r: r.get("date_created"),
        batch_id=batch_id,
    )


def land_mailchimp_campaigns(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    batch_id: str,
    log: Log,
    activity_days: int = 30,
    now: datetime | None = None,
) -> dict[str, LandingReport]:
    """Campaigns sent since the last pass, then the email activity of every campaign never
    read, and of those sent in the last `activity_days` (opens and clicks keep arriving
    for a while), each from its own bookmark."""
    campaigns = land_pages(
        con,
        table=TABLE,
        source=SOURCE,
        resource="campaigns",
        pages=lambda since, first: client.iter_campaign_pages(since, first),
        record_id=lambda c: c.get("id"),
        modified=lambda c: c.get("send_time"),
        batch_id=batch_id,
        log=log,
    )
    horizon = (now or utcnow()) - timedelta(days=activity_days)
    due = con.execute(DUE_FOR_ACTIVITY, [horizon]).fetchall()
    activity = LandingReport(incremental=True)
    skipped = SkippedStreams(PLATFORM, "campaigns' email activity")
    for campaign_id, send_time in due:
        try:
            report = _land_activity(con, client, campaign_id, batch_id, log)
        except NotFoundPageError as exc:
            skipped.skip(exc)
            continue
        skipped.read()
        if report is None:
            continue
        cursor = f"email-activity/{campaign_id}"
        if get_cursor(con, SOURCE, cursor) is None and send_time is not None:
            # No activity yet: bookmark the send time, before which there can be none.
            with transaction(con):
                set_cursor(con, SOURCE, cursor, pd.Timestamp(send_time).isoformat())
        activity.pages += report.pages
        activity.records += report.records
        activity.incremental = activity.incremental and report.incremental
    log(f"Mailchimp email activity: {activity.records} events from {len(due)} campaigns")
    skipped.raise_if_any()
    return {"campaigns": campaigns, "email_activity": activity}


# Campaigns whose activity is read this run: never read, sent within the window, or
# not found in an earlier run (a second look); never those confirmed gone.
DUE_FOR_ACTIVITY = """
    WITH missing AS (
        SELECT record_id, gone_at FROM missing_records
        WHERE source = 'mailchimp' AND resource = 'campaigns')
    SELECT record_id, max(modified_at) AS send_time FROM raw_mailchimp
    WHERE resource = 'campaigns'
    GROUP BY record_id
    HAVING (max(modified_at) >= ?
            OR record_id IN (SELECT record_id FROM missing)
            OR NOT EXISTS (
                SELECT 1 FROM sync_cursors
                WHERE source = 'mailchimp' AND resource = 'email-activity/' || record_id))
       AND record_id NOT IN (SELECT record_id FROM missing WHERE gone_at IS NOT NULL)
    ORDER BY send_time, record_id
"""


def _land_activity(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    campaign_id: str,
    batch_id: str,
    log: Log,
) -> LandingReport | None:
    """One campaign's activity from its bookmark; None when Mailchimp says the campaign
    is not found. What landed before always stays; only a second "Resource Not Found" in
    a later run stops the campaign being asked for."""
    try:
        report = land_pages(
            con,
            table=TABLE,
            source=SOURCE,
            resource="email_activity",
            cursor=f"email-activity/{campaign_id}",
            pages=lambda since, first: client.iter_email_activity(campaign_id, since, first),
            record_id=lambda e: e.get("id"),
            modified=lambda e: e.get("timestamp"),
            batch_id=batch_id,
            log=log,
        )
    except NotFoundError:
        with transaction(con):
            gone = note_not_found(con, SOURCE, "campaigns", [campaign_id], batch_id)
        if gone:
            log(
                f"Mailchimp campaign {campaign_id} was not found in two runs: it is treated as "
                "deleted; its activity already landed stays and it is not asked for again"
            )
        else:
            log(
                f"Mailchimp campaign {campaign_id} was not found (404); its activity already "
                "landed stays and the next run looks again before treating it as deleted"
            )
        return None
    note_found(con, SOURCE, "campaigns", [campaign_id])  # one statement: atomic on its own
    return report
