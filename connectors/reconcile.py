"""Settling the writes an earlier run sent, or may have sent, without learning the
outcome (killed, timed out, answer lost): the platform's state decides. What the platform
shows done goes into the ledger, what it does not is left to be planned again. This runs
before planning and before each push, so nothing confirmed is sent twice and nothing lost
is dropped. Reads only: reconciling never writes to a platform. The reads of each platform
live in its folder (`connectors/<platform>/reconcile.py`); this is what they share."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from connectors.errors import AuthError, PlatformError
from connectors.fanout import run_concurrently
from connectors.push import Outcomes

STATUS = "email_status"  # the plan's item for a contact's email status (an opt-out)

# Reading one contact's state: (member_key, rows) -> the rows it shows done (with any
# remote id learnt), or None when the contact is not there.
Check = Callable[[str, pd.DataFrame], pd.DataFrame | None]


def done(op: str, item: str, value: object, tags: set[str], fields: dict) -> bool:
    """Whether the platform shows this operation's effect."""
    if op == "add":
        return item.lower() in tags
    if op == "remove":
        return item.lower() not in tags
    if op in ("set", "unsubscribe"):
        return str(fields.get(item) or "") == str(value or "")
    return op == "create"  # the contact exists


def settle(ops: pd.DataFrame, check: Check, workers: int, outcomes: Outcomes) -> None:
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
