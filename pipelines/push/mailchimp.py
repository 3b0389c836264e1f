"""Pushing a plan to Mailchimp: namespaced tags (active / inactive), the optional tier
merge field, and new members where configured (status_if_new, never `status`). Small
plans go out with bounded concurrency; large ones through `POST /batches`."""

from __future__ import annotations

import json
import time

import duckdb
import pandas as pd

from connectors.errors import PlatformError
from connectors.fanout import run_concurrently
from connectors.mailchimp import MailchimpClient
from pipelines.push import Log, Outcomes, PushReport, measured
from transforms.outbound import claim_tags
from transforms.sync_config import MailchimpSync
from warehouse.load import append, transaction, utcnow

DESTINATION = "mailchimp"
POLL_SECONDS = (0.2, 5.0)  # first and longest pause between batch status checks
BATCH_TIMEOUT = 3600.0


def requests_for(ops: pd.DataFrame) -> list[tuple[str, str, bool, pd.DataFrame]]:
    """Group a member's operations into requests: (member_key, kind, journeys, rows), kind
    being create, tags or fields, in the order they must be sent."""
    order = {"member": 0, "tag": 1, "field": 2}
    ops = ops.assign(_order=ops["kind"].map(order))
    units = []
    for (member_key, _, journeys), rows in ops.groupby(
        ["member_key", "_order", "journeys"], sort=True
    ):
        kind = {"member": "create", "tag": "tags", "field": "fields"}[rows["kind"].iloc[0]]
        units.append((str(member_key), kind, bool(journeys), rows.drop(columns="_order")))
    return units


def _send(client: MailchimpClient, kind: str, journeys: bool, rows: pd.DataFrame) -> None:
    member_key = rows["member_key"].iloc[0]
    if kind == "create":
        client.add_member(rows["email"].iloc[0], rows["value"].iloc[0])
    elif kind == "tags":
        tags = dict(zip(rows["item"], rows["op"] == "add", strict=True))
        client.set_member_tags(member_key, tags, is_syncing=not journeys)
    else:
        client.update_merge_fields(member_key, dict(zip(rows["item"], rows["value"], strict=True)))


def _operation(client: MailchimpClient, kind: str, journeys: bool, rows: pd.DataFrame) -> dict:
    """The same request as a batch operation."""
    member_key = rows["member_key"].iloc[0]
    if kind == "tags":
        tags = dict(zip(rows["item"], rows["op"] == "add", strict=True))
        body = client.tags_body(tags, is_syncing=not journeys)
        return {"method": "POST", "path": "/" + client.tags_path(member_key), "body": body}
    fields = dict(zip(rows["item"], rows["value"], strict=True))
    return {
        "method": "PATCH",
        "path": f"/lists/{client.list_id}/members/{member_key}",
        "body": {"merge_fields": fields},
    }


def push_mailchimp(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    ops: pd.DataFrame,
    settings: MailchimpSync,
    run_id: str,
    log: Log,
) -> PushReport:
    """Send the plan's pending Mailchimp operations; record every outcome."""
    report = PushReport(DESTINATION, operations=len(ops))
    with measured(report, client.http.stats):
        _push(con, client, ops, settings, run_id, log, report)
    return report


def _send_direct(client: MailchimpClient, units: list, outcomes: Outcomes) -> set[str]:
    """Send each request with bounded concurrency; returns the members confirmed."""
    confirmed: set[str] = set()

    def send(index: int) -> None:
        _, kind, journeys, rows = units[index]
        _send(client, kind, journeys, rows)

    for index, _, error in run_concurrently(send, range(len(units)), client.max_connections):
        rows = units[index][3]
        if error is None:
            outcomes.confirm(rows)
            confirmed.add(units[index][0])
        else:
            outcomes.fail(rows, error)
        outcomes.unit_done()
    return confirmed


def _send_batch(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    units: list,
    outcomes: Outcomes,
    run_id: str,
) -> None:
    """One batch: submitted, remembered in sync_batches (so a killed run's next run reads
    its results), polled until finished, then its results read into the ledger."""
    operations, frames = [], []
    for n, (_, kind, journeys, rows) in enumerate(units):
        op = _operation(client, kind, journeys, rows)
        operations.append({**op, "body": json.dumps(op["body"]), "operation_id": str(n)})
        frames.append(rows.assign(operation_id=str(n)))
    batch = client.submit_batch(operations)
    batch_id = str(batch["id"])
    remembered = pd.concat(frames).assign(batch_id=batch_id)
    with transaction(con):
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
                        "operations": len(operations),
                    }
                ]
            ),
        )
        append(con, "sync_batch_operations", remembered[_BATCH_COLUMNS])
    collect_batch(con, client, batch_id, outcomes)


_BATCH_COLUMNS = [
    "batch_id",
    "operation_id",
    "destination",
    "member_key",
    "person_id",
    "item",
    "kind",
    "segment",
    "op",
    "value",
]


def collect_batch(
    con: duckdb.DuckDBPyConnection, client: MailchimpClient, batch_id: str, outcomes: Outcomes
) -> None:
    """Wait for a batch to finish and record each operation's outcome."""
    pause, waited = POLL_SECONDS[0], 0.0
    while True:
        batch = client.get_batch(batch_id)
        if batch.get("status") == "finished":
            break
        if waited > BATCH_TIMEOUT:
            raise PlatformError(
                "Mailchimp",
                f"batch {batch_id} has not finished after {BATCH_TIMEOUT:.0f} s; the next run "
                "reads its results",
            )
        time.sleep(pause)
        waited += pause
        pause = min(pause * 2, POLL_SECONDS[1])
    ops = con.execute(
        "SELECT * EXCLUDE (batch_id) FROM sync_batch_operations WHERE batch_id = ?", [batch_id]
    ).fetchdf()
    try:
        results = client.batch_results(batch.get("response_body_url") or "")
    except PlatformError as exc:
        if exc.status not in (403, 404, 410):
            # Kept uncollected: the next push reads the results again before sending.
            outcomes.log(f"Mailchimp: {exc}; batch {batch_id} is read again next run")
            return
        # The link expired: the operations without an outcome are planned again.
        outcomes.log(f"Mailchimp: {exc}")
        results = []
    by_id = {str(r.get("operation_id")): r for r in results}
    for operation_id, rows in ops.groupby("operation_id", sort=False):
        result = by_id.get(str(operation_id))
        rows = rows.drop(columns="operation_id")
        if result is None:
            continue  # no outcome: not in the ledger, so planned again next run
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
    with transaction(con):
        con.execute(
            "UPDATE sync_batches SET collected_at = ? WHERE batch_id = ?", [utcnow(), batch_id]
        )
        con.execute("DELETE FROM sync_batch_operations WHERE batch_id = ?", [batch_id])


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
        outcomes = Outcomes(con, report, run_id, log, 0)
        for batch_id in pending:
            collect_batch(con, client, batch_id, outcomes)
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
    settings: MailchimpSync,
    run_id: str,
    log: Log,
    report: PushReport,
) -> None:
    claim_tags(con, DESTINATION, set(ops.loc[ops["kind"] == "tag", "item"]), utcnow())
    units = requests_for(ops) if not ops.empty else []
    creates = [u for u in units if u[1] == "create"]
    rest = [u for u in units if u[1] != "create"]
    outcomes = Outcomes(con, report, run_id, log, len(units))
    if creates:
        # A member that could not be created gets none of its tags or fields either.
        refused = {u[0] for u in creates} - _send_direct(client, creates, outcomes)
        for unit in [u for u in rest if u[0] in refused]:
            outcomes.reject(unit[3], 424, "Member Not Created", "the member could not be added")
        rest = [u for u in rest if u[0] not in refused]
    if len(rest) > settings.batch_above:
        log(f"Mailchimp: {len(rest):,} requests, sent as batches of {settings.batch_size:,}")
        for start in range(0, len(rest), settings.batch_size):
            _send_batch(con, client, rest[start : start + settings.batch_size], outcomes, run_id)
    else:
        _send_direct(client, rest, outcomes)
    outcomes.flush()
