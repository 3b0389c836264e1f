"""Pushing a plan to Action Network. Tags are created first when missing (the signup
helper silently ignores unknown tag names). A person with an email address gets one
signup-helper request carrying all their tag changes and fields, by email and without a
status, so their subscription is never touched, except to carry an opt-out they made
elsewhere (status `unsubscribed`, the only one ever sent); a person without one is tagged
by id through taggings. Every answer is checked against the person it was meant for."""

from __future__ import annotations

import duckdb
import pandas as pd

from connectors.action_network.client import ActionNetworkClient, person_uuid
from connectors.errors import AuthError, PlatformError
from connectors.failpoints import failpoint
from connectors.fanout import run_concurrently
from connectors.push import (
    Log,
    Outcomes,
    PushReport,
    keyed,
    measured,
    new_push_key,
    refused,
)
from warehouse.ledger import claim_tags, record_intents, settle_intents
from warehouse.load import transaction, utcnow

DESTINATION = "action_network"


def known_tag_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each known tag's Action Network id, by lower-cased name."""
    return dict(
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


def record_tag_ids(con: duckdb.DuckDBPyConnection, ids: dict[str, str]) -> None:
    """Keep the platform's id of each tag Groundswell manages."""
    for name, tag_id in ids.items():
        con.execute(
            "UPDATE sync_managed_tags SET remote_id = ? WHERE destination = ? AND tag = ?",
            [tag_id, DESTINATION, name],
        )


def ensure_tags(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, names: set[str], run_id: str = ""
) -> dict[str, str]:
    """Each tag name's Action Network id, creating the missing tags. Every tag used is
    recorded as Groundswell's, and each creation as intended, before any request: a lost
    answer never makes a later run take Groundswell's own tag for someone else's."""
    now = utcnow()
    with transaction(con):
        claim_tags(con, DESTINATION, names, now)
    known = known_tag_ids(con)
    ids = {name: known[name.lower()] for name in names if name.lower() in known}
    missing = sorted(name for name in names if name.lower() not in known)
    if missing:
        ids.update(_create_tags(con, client, missing, run_id or "tags"))
    with transaction(con):
        record_tag_ids(con, ids)
    return ids


def tag_intents(names: list[str], push_key: str) -> pd.DataFrame:
    """One intent per tag to create."""
    return pd.DataFrame(
        {
            "destination": DESTINATION,
            "member_key": "",
            "person_id": None,
            "item": names,
            "kind": "tag_definition",
            "segment": None,
            "op": "create",
            "value": None,
            "remote_id": None,
            "request_key": [f"{push_key}-tag{n}" for n in range(len(names))],
        }
    )


def _create_tags(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, names: list[str], run_id: str
) -> dict[str, str]:
    """Create tags, each recorded as intended first; a lost answer is settled by reading
    the tags back."""
    intents = tag_intents(names, new_push_key())
    with transaction(con):
        record_intents(con, intents, run_id, utcnow())
    ids: dict[str, str] = {}
    lost = []
    for row in intents.itertuples(index=False):
        failpoint(f"{DESTINATION}.before_send")
        try:
            answer = client.create_tag(row.item)
        except PlatformError as exc:
            if isinstance(exc, AuthError) or refused(exc):
                raise
            lost.append(row.item)
            continue
        failpoint(f"{DESTINATION}.tag_after_send")
        tag_id = person_uuid(answer or {})
        if not tag_id:
            lost.append(row.item)
            continue
        ids[row.item] = tag_id
        with transaction(con):
            record_tag_ids(con, {row.item: tag_id})
            settle_intents(con, intents[intents["item"] == row.item], "confirmed", utcnow())
    if lost:
        ids.update(settle_tag_intents(con, client, intents[intents["item"].isin(lost)]))
        unresolved = sorted(set(lost) - set(ids))
        if unresolved:
            raise PlatformError(
                "Action Network",
                f"the tag(s) {', '.join(unresolved)} could not be created (no usable answer); "
                "nothing was tagged with them. Run again: the next run checks which tags "
                "exist before creating any.",
            )
    return ids


def settle_tag_intents(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, intents: pd.DataFrame
) -> dict[str, str]:
    """Read the tags back to settle creations whose answer was lost: a tag that exists is
    confirmed (and its id kept), one that does not was never made."""
    existing = {
        str(tag.get("name") or "").lower(): person_uuid(tag) or "" for tag in client.list_tags()
    }
    found = {name: existing[name.lower()] for name in intents["item"] if existing.get(name.lower())}
    made = intents["item"].isin(list(found))
    with transaction(con):
        record_tag_ids(con, found)
        settle_intents(con, intents[made], "confirmed", utcnow())
        settle_intents(con, intents[~made], "failed", utcnow())
    return found


def _signup(client: ActionNetworkClient, rows: pd.DataFrame) -> str:
    """One signup-helper request for all of a person's changes; returns the uuid that
    Action Network says it wrote to."""
    address: dict = {"address": rows["email"].iloc[0]}
    if (rows["op"] == "unsubscribe").any():
        address["status"] = "unsubscribed"  # an opt-out made elsewhere, carried here
    person: dict = {"email_addresses": [address]}
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


def as_created(rows: pd.DataFrame, written: str) -> pd.DataFrame:
    """A new person's operations under the id Action Network gave them, and the create
    under the planned key, pointing at that id."""
    create = rows["op"] == "create"
    return pd.concat(
        [rows[create].assign(remote_id=written), rows[~create].assign(member_key=written)]
    )


def _push(
    con: duckdb.DuckDBPyConnection,
    client: ActionNetworkClient,
    ops: pd.DataFrame,
    run_id: str,
    log: Log,
    report: PushReport,
) -> None:
    tag_ids = ensure_tags(con, client, set(ops.loc[ops["kind"] == "tag", "item"]), run_id)
    ops = keyed(ops, ["member_key"], new_push_key())
    keys = [str(k) for k in sorted(ops["member_key"].unique())]
    groups = [rows for _, rows in ops.groupby("member_key", sort=True)]
    workers = max(2, client.window)
    outcomes = Outcomes(con, report, run_id, log, len(groups), block=workers)

    def send(index: int) -> list[tuple[pd.DataFrame, BaseException | None]]:
        member_key, rows = keys[index], groups[index]
        failpoint(f"{DESTINATION}.before_send")
        if rows["email"].notna().all() and rows["email"].iloc[0]:
            written = _signup(client, rows)
            failpoint(f"{DESTINATION}.after_send")
            if not written:
                return [(rows, NO_ID)]
            if member_key.startswith("new:"):
                rows = as_created(rows, written)
            elif written != member_key:
                return [(rows, _Refused(*MISMATCH, written=written))]
            return [(rows, None)]
        results = [_by_id(client, tag_ids, member_key, row) for _, row in rows.iterrows()]
        failpoint(f"{DESTINATION}.after_send")
        return results

    for index, results, error in run_concurrently(send, outcomes.ahead(groups), workers):
        if error is not None:
            outcomes.fail(groups[index], error)
        else:
            for rows, failure in results:
                if failure is None:
                    outcomes.confirm(rows)
                elif failure is NO_ID:
                    outcomes.unknown(rows)  # written somewhere: the next run reads it back
                elif isinstance(failure, _Refused):
                    if failure.written:
                        _take_back(con, client, rows, failure.written)
                    outcomes.reject(rows, failure.status, failure.title, failure.detail)
                else:
                    # A tag add's answer carries the tagging id a later removal needs: an
                    # unreadable one is left for the next run to read back, not taken as done.
                    adds = bool((rows["op"] == "add").any())
                    outcomes.fail(rows, failure, answer_needed=adds)
        outcomes.unit_done()
    outcomes.finish()


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
