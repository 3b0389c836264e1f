"""Settling Mailchimp writes left unsettled by an interrupted run, from Mailchimp's own
state: batches by their results, the rest member by member (see connectors/reconcile.py)."""

from __future__ import annotations

import duckdb
import pandas as pd

from connectors.errors import NotFoundError
from connectors.mailchimp import push as mc
from connectors.mailchimp.client import MailchimpClient
from connectors.push import Log, Outcomes, PushReport
from connectors.reconcile import STATUS, done, settle
from warehouse.ledger import unsettled_intents


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
        shown = [
            done(op, item, value, tags, fields)
            for op, item, value in zip(rows["op"], rows["item"], rows["value"], strict=True)
        ]
        return rows[shown]

    settle(ops, check, client.max_connections, outcomes)
