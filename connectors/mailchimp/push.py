"""Pushing a plan to Mailchimp: namespaced tags (active / inactive), the optional tier
merge field, new members where configured (status_if_new), and opt-outs carried from
elsewhere (status `unsubscribed`, the only status ever sent). Small
plans go out with bounded concurrency; large ones through `POST /batches`. A batch's
operations are recorded as intended before it is sent and its id right after, so a batch
whose answer was lost is found again (by its operation ids) instead of being resent."""

from __future__ import annotations

import json
import time
from typing import Protocol

import duckdb
import pandas as pd

from connectors.errors import AuthError, NotFoundError, PlatformError
from connectors.failpoints import failpoint
from connectors.fanout import run_concurrently
from connectors.mailchimp.client import UNSUBSCRIBE, MailchimpClient
from connectors.push import (
    Log,
    Outcomes,
    PushReport,
    applied,
    keyed,
    measured,
    new_push_key,
    refused,
)
from warehouse.ledger import claim_tags, mark_batch_sent
from warehouse.load import append, transaction, utcnow

DESTINATION = "mailchimp"


class BatchSettings(Protocol):
    """When the push switches to batches and how big they are (ladder.yaml `sync.mailchimp`)."""

    batch_above: int
    batch_size: int


POLL_SECONDS = (0.2, 5.0)  # first and longest pause between batch status checks
BATCH_TIMEOUT = 3600.0

Unit = tuple[str, str, bool, pd.DataFrame]  # member_key, kind, journeys, rows


class BatchPending(PlatformError):
    """A batch still unfinished after BATCH_TIMEOUT: its writes stay unsettled and a later
    run reads it again (never a failure of every run)."""


def requests_for(ops: pd.DataFrame, push_key: str | None = None) -> list[Unit]:
    """Group a member's operations into requests: (member_key, kind, journeys, rows), kind
    being create, tags, fields or status, in the order they must be sent. Each request's
    rows carry its `request_key`."""
    order = {"member": 0, "tag": 1, "field": 2, "status": 3}
    ops = ops.assign(_order=ops["kind"].map(order))
    ops = keyed(ops, ["member_key", "_order", "journeys"], push_key or new_push_key())
    units = []
    for (member_key, _, journeys), rows in ops.groupby(
        ["member_key", "_order", "journeys"], sort=True
    ):
        kinds = {"member": "create", "tag": "tags", "field": "fields", "status": "status"}
        kind = kinds[rows["kind"].iloc[0]]
        units.append((str(member_key), kind, bool(journeys), rows.drop(columns="_order")))
    return units


def _send(client: MailchimpClient, kind: str, journeys: bool, rows: pd.DataFrame) -> None:
    member_key = rows["member_key"].iloc[0]
    if kind == "create":
        client.add_member(rows["email"].iloc[0], rows["value"].iloc[0])
    elif kind == "tags":
        tags = dict(zip(rows["item"], rows["op"] == "add", strict=True))
        client.set_member_tags(member_key, tags, is_syncing=not journeys)
    elif kind == "status":
        client.unsubscribe_member(member_key)
    else:
        client.update_merge_fields(member_key, dict(zip(rows["item"], rows["value"], strict=True)))


def _operation(client: MailchimpClient, kind: str, journeys: bool, rows: pd.DataFrame) -> dict:
    """The same request as a batch operation."""
    member_key = rows["member_key"].iloc[0]
    if kind == "tags":
        tags = dict(zip(rows["item"], rows["op"] == "add", strict=True))
        body = client.tags_body(tags, is_syncing=not journeys)
        return {"method": "POST", "path": "/" + client.tags_path(member_key), "body": body}
    path = f"/lists/{client.list_id}/members/{member_key}"
    if kind == "status":
        return {"method": "PATCH", "path": path, "body": dict(UNSUBSCRIBE)}
    fields = dict(zip(rows["item"], rows["value"], strict=True))
    return {"method": "PATCH", "path": path, "body": {"merge_fields": fields}}


def push_mailchimp(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    ops: pd.DataFrame,
    settings: BatchSettings,
    run_id: str,
    log: Log,
) -> PushReport:
    """Send the plan's pending Mailchimp operations; record every outcome."""
    report = PushReport(DESTINATION, operations=len(ops))
    with measured(report, client.http.stats):
        _push(con, client, ops, settings, run_id, log, report)
    return report


def _send_direct(client: MailchimpClient, units: list[Unit], outcomes: Outcomes) -> dict[str, str]:
    """Send each request with bounded concurrency, each recorded as intended just before;
    returns each member's outcome: confirmed, refused or unknown (answer lost)."""
    outcome: dict[str, str] = {}

    def send(index: int) -> None:
        _, kind, journeys, rows = units[index]
        failpoint(f"{DESTINATION}.before_send")
        _send(client, kind, journeys, rows)
        failpoint(f"{DESTINATION}.after_send")

    workers = client.max_connections
    frames = [u[3] for u in units]
    for index, _, error in run_concurrently(send, outcomes.ahead(frames), workers):
        member_key, rows = units[index][0], units[index][3]
        if error is None:
            outcomes.confirm(rows)
            outcome[member_key] = "confirmed"
        else:
            outcomes.fail(rows, error, answer_needed=False)
            outcome[member_key] = (
                "refused" if refused(error) else "confirmed" if applied(error) else "unknown"
            )
        outcomes.unit_done()
    outcomes.flush()  # recorded before any long batch wait that may follow
    return outcome


def _send_batch(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    units: list[Unit],
    outcomes: Outcomes,
    batch_key: str,
) -> None:
    """One batch: its operations recorded as intended, submitted, its id recorded, polled
    until finished, then its results read into the ledger. Operation ids carry the
    batch's key, so a batch whose answer was lost can be recognised later."""
    operations, frames = [], []
    for n, (_, kind, journeys, rows) in enumerate(units):
        op = _operation(client, kind, journeys, rows)
        operation_id = f"{batch_key}-{n}"
        operations.append({**op, "body": json.dumps(op["body"]), "operation_id": operation_id})
        frames.append(rows.assign(request_key=operation_id))
    outcomes.intend(pd.concat(frames, ignore_index=True).assign(batch_key=batch_key))
    failpoint(f"{DESTINATION}.batch_before_send")
    try:
        batch = client.submit_batch(operations)
    except PlatformError as exc:
        if isinstance(exc, AuthError) or refused(exc):
            raise
        outcomes.log(f"Mailchimp: the answer to a batch was lost ({exc}); looking for it")
        try:
            batch_id = find_batch(client, batch_key, len(operations))
        except BatchPending as pending:
            outcomes.log(f"Mailchimp: {pending}")
            batch_id = None
        if batch_id is None:
            # Settled by the next run: by the batch if it turns up, else member by member.
            outcomes.report.unconfirmed += sum(len(f) for f in frames)
            return
    else:
        failpoint(f"{DESTINATION}.batch_after_send")
        batch_id = str(batch["id"])
    remember_batch(con, batch_key, batch_id, outcomes.run_id, len(operations))
    collect_batch(con, client, batch_id, outcomes)


def remember_batch(
    con: duckdb.DuckDBPyConnection, batch_key: str, batch_id: str, run_id: str, operations: int
) -> None:
    """The platform took the batch: keep its id, so any later run can read its results."""
    with transaction(con):
        mark_batch_sent(con, DESTINATION, batch_key, batch_id)
        append(
            con,
            "sync_batches",
            pd.DataFrame(
                [
                    {
                        "batch_id": batch_id,
                        "destination": DESTINATION,
                        "run_id": run_id,
                        "submitted_at": utcnow(),
                        "operations": operations,
                    }
                ]
            ),
            or_replace=True,
        )


def find_batch(client: MailchimpClient, batch_key: str, operations: int) -> str | None:
    """The id of the batch that carried `batch_key`'s operations, if Mailchimp has it:
    among the batches of the right size, the one whose results name those operations."""
    for batch in list_batches(client):
        if int(batch.get("total_operations") or -1) != operations:
            continue
        batch_id = str(batch.get("id") or "")
        try:
            finished = wait_for_batch(client, batch_id)
        except NotFoundError:
            continue  # purged since it was listed: not one to wait for
        try:
            results = client.batch_results(finished.get("response_body_url") or "")
        except PlatformError:
            continue
        ids = {str(r.get("operation_id") or "") for r in results}
        if ids and all(i.startswith(batch_key + "-") for i in ids):
            return batch_id
    return None


def list_batches(client: MailchimpClient) -> list[dict]:
    """Every batch the account has on record (Mailchimp keeps them for a few days)."""
    return [
        batch
        for page in client.iter_offset_pages(
            "batches", "batches", {"fields": "batches.id,batches.total_operations,total_items"}
        )
        for batch in page
    ]


def wait_for_batch(client: MailchimpClient, batch_id: str) -> dict:
    """Poll a batch until it has finished; returns it. BatchPending after BATCH_TIMEOUT;
    NotFoundError (the platform's JSON 404) when Mailchimp no longer has it."""
    pause, waited = POLL_SECONDS[0], 0.0
    while True:
        batch = client.get_batch(batch_id)
        if batch.get("status") == "finished":
            return batch
        if waited > BATCH_TIMEOUT:
            raise BatchPending(
                "Mailchimp",
                f"batch {batch_id} has not finished after {BATCH_TIMEOUT:.0f} s; its "
                "operations are held back (not sent again) and the next run reads its results",
            )
        time.sleep(pause)
        waited += pause
        pause = min(pause * 2, POLL_SECONDS[1])


def batch_operations(con: duckdb.DuckDBPyConnection, batch_id: str) -> pd.DataFrame:
    """The operations a batch carried, as recorded before it was sent."""
    return con.execute(
        "SELECT * FROM sync_intents WHERE destination = ? AND batch_id = ? "
        "AND state IN ('intended', 'sent')",
        [DESTINATION, batch_id],
    ).fetchdf()


def collect_batch(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str, outcomes: Outcomes
) -> None:
    """Wait for a batch to finish and record each operation's outcome. Operations without
    a result (results expired, or the batch itself purged) are checked on their members.
    The batch counts as read only once none of its operations is left unsettled."""
    ops = batch_operations(con, batch_id)
    try:
        batch = wait_for_batch(client, batch_id)
    except BatchPending as exc:
        outcomes.log(f"Mailchimp: {exc}")
        outcomes.report.unconfirmed += len(ops)
        return
    except NotFoundError:
        outcomes.log(
            f"Mailchimp no longer has batch {batch_id} (purged); its {len(ops):,} "
            "operation(s) are checked on the members instead"
        )
        _check_unanswered(con, client, [ops], outcomes)
        _mark_read_if_settled(con, batch_id, outcomes)
        return
    try:
        results = client.batch_results(batch.get("response_body_url") or "")
    except PlatformError as exc:
        if exc.status not in (403, 404, 410):
            # Kept uncollected: the next push reads the results again before sending.
            outcomes.log(f"Mailchimp: {exc}; batch {batch_id} is read again next run")
            outcomes.report.unconfirmed += len(ops)
            return
        outcomes.log(f"Mailchimp: {exc}; its operations are checked on the members instead")
        results = []
    by_id = {str(r.get("operation_id")): r for r in results}
    unanswered = []
    for request_key, rows in ops.groupby("request_key", sort=False):
        result = by_id.get(_operation_id(str(request_key), batch_id))
        if result is None:
            unanswered.append(rows)
            continue
        status = int(result.get("status_code") or 0)
        if 200 <= status < 300:
            outcomes.confirm(rows)
        else:
            body = _json(result.get("response"))
            outcomes.reject(
                rows,
                status,
                str(body.get("title") or f"HTTP {status}"),
                str(body.get("detail") or ""),
            )
        outcomes.unit_done()
    outcomes.flush()
    _check_unanswered(con, client, unanswered, outcomes)
    _mark_read_if_settled(con, batch_id, outcomes)


def _operation_id(request_key: str, batch_id: str) -> str:
    """The operation id Mailchimp's results carry for an intent: its request key, less the
    `<batch_id>.` prefix migration 008 gave batches sent by an earlier version (whose
    operation ids were only unique within their batch)."""
    return request_key.removeprefix(f"{batch_id}.")


def _check_unanswered(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    unanswered: list[pd.DataFrame],
    outcomes: Outcomes,
) -> None:
    """Settle operations the batch's results do not answer by reading their members."""
    frames = [f for f in unanswered if not f.empty]
    if frames:
        from connectors.mailchimp.reconcile import check_members  # the reads live there

        check_members(con, client, pd.concat(frames), outcomes)


def _mark_read_if_settled(
    con: duckdb.DuckDBPyConnection, batch_id: str, outcomes: Outcomes
) -> None:
    """Record the batch as read, unless some of its operations could not be settled (a
    member read failed): then it stays pending and the next run reads it again."""
    left = len(batch_operations(con, batch_id))
    if left:
        outcomes.report.unconfirmed += left
        outcomes.log(
            f"Mailchimp: {left:,} operation(s) of batch {batch_id} could not be settled; "
            "they are held back (not sent again) and the next run checks them"
        )
        return
    with transaction(con):
        con.execute(
            "UPDATE sync_batches SET collected_at = ? WHERE batch_id = ?", [utcnow(), batch_id]
        )


def collect_pending_batches(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, run_id: str, log: Log
) -> PushReport:
    """Read back batches an earlier, interrupted run sent but never read."""
    report = PushReport(DESTINATION)
    pending = [
        row[0]
        for row in con.execute(
            "SELECT batch_id FROM sync_batches WHERE destination = ? AND collected_at IS NULL "
            "ORDER BY submitted_at",
            [DESTINATION],
        ).fetchall()
    ]
    if pending:
        log(f"Mailchimp: reading back {len(pending)} batch(es) an interrupted run sent")
        requests = con.execute(
            "SELECT count(DISTINCT request_key) FROM sync_intents WHERE destination = ? "
            "AND state IN ('intended', 'sent') AND batch_id IN (SELECT unnest(?::VARCHAR[]))",
            [DESTINATION, pending],
        ).fetchone()[0]
        outcomes = Outcomes(con, report, run_id, log, requests)
        for batch_id in pending:
            collect_batch(con, client, batch_id, outcomes)
        outcomes.finish()
    return report


def _json(text: object) -> dict:
    try:
        value = json.loads(str(text or "") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _push(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    ops: pd.DataFrame,
    settings: BatchSettings,
    run_id: str,
    log: Log,
    report: PushReport,
) -> None:
    with transaction(con):
        claim_tags(con, DESTINATION, set(ops.loc[ops["kind"] == "tag", "item"]), utcnow())
    push_key = new_push_key()
    units = requests_for(ops, push_key) if not ops.empty else []
    creates = [u for u in units if u[1] == "create"]
    rest = [u for u in units if u[1] != "create"]
    outcomes = Outcomes(con, report, run_id, log, len(units), block=4 * client.max_connections)
    if creates:
        created = _send_direct(client, creates, outcomes)
        # A member that could not be created gets none of its tags or fields either; one
        # whose creation's answer was lost gets them after the next run has checked.
        for unit in [u for u in rest if created.get(u[0]) == "refused"]:
            outcomes.reject(unit[3], 424, "Member Not Created", "the member could not be added")
        rest = [u for u in rest if created.get(u[0], "confirmed") == "confirmed"]
    if len(rest) > settings.batch_above:
        log(f"Mailchimp: {len(rest):,} requests, sent as batches of {settings.batch_size:,}")
        for n, start in enumerate(range(0, len(rest), settings.batch_size)):
            chunk = rest[start : start + settings.batch_size]
            _send_batch(con, client, chunk, outcomes, f"{push_key}b{n}")
    else:
        _send_direct(client, rest, outcomes)
    outcomes.finish()
