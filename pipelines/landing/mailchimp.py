"""Landing Mailchimp: members incrementally by last_changed with a periodic reconciliation
of the id set; the audience's lists, merge fields and tags whole; sent campaigns by send
time and each campaign's email activity behind its own `since` bookmark."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from connectors.errors import NotFoundError
from connectors.fanout import run_concurrently
from connectors.mailchimp import MailchimpClient
from pipelines.landing.pages import LandingReport, Log, land_pages, land_whole, raw_frame
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
    since the last reconciliation, read the whole id set and mark each member we hold that
    is gone as deleted. Offset paging can skip a member when others are deleted mid-read,
    so each one missing is confirmed gone (404) before it is marked."""
    now = now or utcnow()
    last = get_cursor(con, SOURCE, RECONCILED)
    if last is None:
        # The first run read every member: that read is the first reconciliation.
        with transaction(con):
            set_cursor(con, SOURCE, RECONCILED, now.isoformat())
        return {"reconciled": False, "members_deleted": 0}
    if now - datetime.fromisoformat(last) < every:
        return {"reconciled": False, "members_deleted": 0}
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
    gone, still_there = _confirm_gone(client, missing)
    with transaction(con):
        if still_there:
            # Read again rather than marked: land what the platform says now.
            frame = raw_frame(
                "members",
                [m["id"] for m in still_there],
                [m.get("last_changed") for m in still_there],
                still_there,
                batch_id,
            )
            append(con, TABLE, frame)
        deleted = mark_vanished(con, TABLE, "members", pd.DataFrame({"record_id": gone}), batch_id)
        set_cursor(con, SOURCE, RECONCILED, now.isoformat())
    log(
        f"Mailchimp reconciliation: {len(live)} members in the audience, "
        f"{deleted} gone since the last read marked deleted"
    )
    return {"reconciled": True, "members_live": len(live), "members_deleted": deleted}


def _confirm_gone(
    client: MailchimpClient, member_ids: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    gone: list[str] = []
    found: list[dict[str, Any]] = []
    for member_id, member, error in run_concurrently(
        client.get_member, member_ids, client.max_connections
    ):
        if isinstance(error, NotFoundError):
            gone.append(member_id)
        elif error is not None:
            raise error
        else:
            found.append(member)
    return sorted(gone), found


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
    due = con.execute(
        """
        SELECT record_id, max(modified_at) AS send_time FROM raw_mailchimp
        WHERE resource = 'campaigns'
        GROUP BY record_id
        HAVING (max(modified_at) >= ? OR NOT EXISTS (
            SELECT 1 FROM sync_cursors
            WHERE source = 'mailchimp' AND resource = 'email-activity/' || record_id))
           AND NOT EXISTS (
            SELECT 1 FROM sync_cursors
            WHERE source = 'mailchimp' AND resource = 'email-activity-gone/' || record_id)
        ORDER BY send_time, record_id
        """,
        [horizon],
    ).fetchall()
    activity = LandingReport(incremental=True)
    for campaign_id, send_time in due:
        cursor = f"email-activity/{campaign_id}"
        try:
            report = land_pages(
                con,
                table=TABLE,
                source=SOURCE,
                resource="email_activity",
                cursor=cursor,
                pages=lambda since, first, cid=campaign_id: client.iter_email_activity(
                    cid, since, first
                ),
                record_id=lambda e: e.get("id"),
                modified=lambda e: e.get("timestamp"),
                batch_id=batch_id,
                log=log,
            )
        except NotFoundError:
            # Deleted on Mailchimp: the activity already landed stays; never asked for again.
            log(f"Mailchimp campaign {campaign_id} no longer exists; its activity is not read")
            with transaction(con):
                set_cursor(con, SOURCE, f"email-activity-gone/{campaign_id}", utcnow().isoformat())
            continue
        if get_cursor(con, SOURCE, cursor) is None and send_time is not None:
            # No activity yet: bookmark the send time, before which there can be none.
            with transaction(con):
                set_cursor(con, SOURCE, cursor, pd.Timestamp(send_time).isoformat())
        activity.pages += report.pages
        activity.records += report.records
        activity.incremental = activity.incremental and report.incremental
    log(f"Mailchimp email activity: {activity.records} events from {len(due)} campaigns")
    return {"campaigns": campaigns, "email_activity": activity}
