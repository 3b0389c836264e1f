"""Pushing a plan to Action Network. Tags are created first when missing (the signup
helper silently ignores unknown tag names). A person with an email address gets one
signup-helper request carrying all their tag changes and fields, by email and without a
status, so their subscription is never touched; a person without one is tagged by id
through taggings. Every answer is checked against the person it was meant for."""

from __future__ import annotations

import duckdb
import pandas as pd

from connectors.action_network import ActionNetworkClient, person_uuid
from connectors.fanout import run_concurrently
from pipelines.push import Log, Outcomes, PushReport, measured
from warehouse.load import append, transaction, utcnow

DESTINATION = "action_network"


def ensure_tags(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, names: set[str]
) -> dict[str, str]:
    """Each tag name's Action Network id, creating the missing tags; every tag used is
    recorded as managed by Groundswell."""
    known = dict(
        con.execute(
            """
            SELECT lower(name), any_value(id) FROM (
                SELECT tag AS name, remote_id AS id FROM sync_managed_tags
                WHERE destination = 'action_network' AND remote_id IS NOT NULL
                UNION ALL
                SELECT payload ->> '$.name', record_id FROM raw_action_network
                WHERE resource = 'tags'
            ) GROUP BY 1
            """
        ).fetchall()
    )
    ids: dict[str, str] = {}
    for name in sorted(names):
        tag_id = known.get(name.lower())
        if tag_id is None:
            tag_id = person_uuid(client.create_tag(name)) or ""
        ids[name] = tag_id
    rows = pd.DataFrame(
        [
            {"destination": DESTINATION, "tag": n, "remote_id": i, "created_at": utcnow()}
            for n, i in ids.items()
        ]
    )
    with transaction(con):
        con.execute(
            "DELETE FROM sync_managed_tags WHERE destination = ? AND tag IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [DESTINATION, list(ids)],
        )
        append(con, "sync_managed_tags", rows)
    return ids


def _signup(client: ActionNetworkClient, rows: pd.DataFrame) -> str:
    """One signup-helper request for all of a person's changes; returns the uuid that
    Action Network says it wrote to."""
    person: dict = {"email_addresses": [{"address": rows["email"].iloc[0]}]}
    fields = rows[rows["op"] == "set"]
    if not fields.empty:
        person["custom_fields"] = dict(zip(fields["item"], fields["value"], strict=True))
    answer = client.signup(
        person,
        add_tags=sorted(rows.loc[rows["op"] == "add", "item"]),
        remove_tags=sorted(rows.loc[rows["op"] == "remove", "item"]),
    )
    return person_uuid(answer or {}) or ""


def push_action_network(
    con: duckdb.DuckDBPyConnection,
    client: ActionNetworkClient,
    ops: pd.DataFrame,
    run_id: str,
    log: Log,
) -> PushReport:
    """Send the plan's pending Action Network operations; record every outcome."""
    report = PushReport(DESTINATION, operations=len(ops))
    if not ops.empty:
        with measured(report, client.http.stats):
            _push(con, client, ops, run_id, log, report)
    return report


def _push(
    con: duckdb.DuckDBPyConnection,
    client: ActionNetworkClient,
    ops: pd.DataFrame,
    run_id: str,
    log: Log,
    report: PushReport,
) -> None:
    tag_ids = ensure_tags(con, client, set(ops.loc[ops["kind"] == "tag", "item"]))
    groups = {str(k): rows for k, rows in ops.groupby("member_key", sort=True)}
    outcomes = Outcomes(con, report, run_id, log, len(groups))

    def send(member_key: str) -> list[tuple[pd.DataFrame, BaseException | None]]:
        rows = groups[member_key]
        if rows["email"].notna().all() and rows["email"].iloc[0]:
            written = _signup(client, rows)
            if not written:
                return [(rows, NO_ID)]
            if member_key.startswith("new:"):
                # A new person: their operations are kept under the id Action Network gave
                # them, and the create under the planned key, pointing at that id.
                create = rows["op"] == "create"
                rows = pd.concat(
                    [
                        rows[create].assign(remote_id=written),
                        rows[~create].assign(member_key=written),
                    ]
                )
            elif written != member_key:
                return [(rows, _Refused(*MISMATCH, written=written))]
            return [(rows, None)]
        return [_by_id(client, tag_ids, member_key, row) for _, row in rows.iterrows()]

    workers = max(2, client.window)
    for member_key, results, error in run_concurrently(send, groups, workers):
        if error is not None:
            outcomes.fail(groups[member_key], error)
        else:
            for rows, failure in results:
                if failure is None:
                    outcomes.confirm(rows)
                elif isinstance(failure, _Refused):
                    if failure.written:
                        _take_back(con, client, rows, failure.written)
                    outcomes.reject(rows, failure.status, failure.title, failure.detail)
                else:
                    outcomes.fail(rows, failure)
        outcomes.unit_done()
    outcomes.flush()


class _Refused(Exception):
    """An operation Groundswell itself refused or found wrong. The 4xx status keeps it from
    being retried on every run, like a platform's own refusal."""

    def __init__(self, status: int, title: str, detail: str, written: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.detail, self.written = status, title, detail, written


MISMATCH = (
    409,
    "Email Matched Another Person",
    "the signup helper wrote to another Action Network person than planned (the address may "
    "have moved); the tags it added there were taken back off, a field it set was not",
)
NO_TAGGING = _Refused(
    404,
    "Tagging Id Unknown",
    "the person has no email address and the tagging's id was never read; the next full "
    "read of taggings finds it",
)
NO_ID = _Refused(502, "No Person Id", "Action Network answered the signup without the person's id")


def _take_back(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, rows: pd.DataFrame, written: str
) -> None:
    """Remove the tags a mismatched signup added to someone else, except those Groundswell
    manages on that person anyway."""
    theirs = {
        row[0]
        for row in con.execute(
            "SELECT item FROM sync_ledger WHERE destination = ? AND member_key = ? "
            "AND kind = 'tag' AND state = 'active'",
            [DESTINATION, written],
        ).fetchall()
    }
    added = sorted(set(rows.loc[rows["op"] == "add", "item"]) - theirs)
    if added:
        client.signup({"email_addresses": [{"address": rows["email"].iloc[0]}]}, remove_tags=added)


def _by_id(
    client: ActionNetworkClient, tag_ids: dict[str, str], member_key: str, row: pd.Series
) -> tuple[pd.DataFrame, BaseException | None]:
    """One operation for a person without an email address, by their id."""
    frame = row.to_frame().T
    try:
        if row["op"] == "add":
            tagging = client.add_tagging(tag_ids[row["item"]], member_key)
            frame = frame.assign(remote_id=person_uuid(tagging or {}))
        elif row["op"] == "remove":
            if not row.get("remote_id") or pd.isna(row["remote_id"]):
                return frame, NO_TAGGING
            client.delete_tagging(tag_ids[row["item"]], row["remote_id"])
        elif row["op"] == "set":
            client.update_person(member_key, {"custom_fields": {row["item"]: row["value"]}})
        else:
            return frame, NO_TAGGING
    except Exception as exc:
        return frame, exc
    return frame, None
