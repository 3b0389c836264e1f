"""Applying a tag plan to Mailchimp with bounded concurrency; the ledger records only
what the platform confirmed, in chunks, so a killed run resumes where it stopped."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from connectors.errors import PlatformError, RequestRejected
from connectors.fanout import run_concurrently
from connectors.mailchimp import MailchimpClient
from transforms.outbound import record_confirmed, record_rejections
from warehouse.load import utcnow

CHUNK = 500


@dataclass
class PushReport:
    members: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejection_titles: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> dict[str, object]:
        return {
            "members_changed": self.members,
            "tags_added": self.tags_added,
            "tags_removed": self.tags_removed,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 1),
        }


def push_mailchimp_tags(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    plan: pd.DataFrame,
    run_id: str,
    log: Callable[[str], None],
) -> PushReport:
    """One request per member carrying all of its tag changes."""
    report = PushReport()
    started = time.monotonic()
    groups = {key: rows for key, rows in plan.groupby("member_key", sort=True)}
    total = len(groups)

    def send(member_key: str) -> None:
        rows = groups[member_key]
        client.set_member_tags(member_key, dict(zip(rows["tag"], rows["active"], strict=True)))

    confirmed: list[pd.DataFrame] = []
    rejected: list[dict[str, object]] = []

    def flush() -> None:
        if confirmed:
            record_confirmed(con, "mailchimp", pd.concat(confirmed), run_id, utcnow())
            confirmed.clear()
        record_rejections(con, "mailchimp", rejected, run_id, utcnow())
        rejected.clear()

    results = run_concurrently(send, groups, client.max_connections)
    for done, (member_key, _, error) in enumerate(results, start=1):
        rows = groups[member_key]
        if error is None:
            confirmed.append(rows)
            report.members += 1
            report.tags_added += int(rows["active"].sum())
            report.tags_removed += int((~rows["active"]).sum())
        elif isinstance(error, PlatformError):
            title = error.title if isinstance(error, RequestRejected) else type(error).__name__
            rejected.append(
                {
                    "member_key": member_key,
                    "operation": "tags",
                    "status": error.status,
                    "title": title,
                    "detail": getattr(error, "detail", "") or str(error),
                }
            )
            report.rejected += 1
            report.rejection_titles[title] = report.rejection_titles.get(title, 0) + 1
        else:
            flush()
            raise error
        if done % CHUNK == 0:
            flush()
            rate = done / max(time.monotonic() - started, 1e-6)
            log(f"Mailchimp tags: {done}/{total} members ({rate:.0f}/s)")
    flush()
    report.seconds = time.monotonic() - started
    return report
