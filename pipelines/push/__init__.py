"""Applying a sync plan to the platforms. Outcomes are written in chunks as they arrive:
the ledger gets only what a platform confirmed, so a killed run resumes where it stopped
and never resends a confirmed operation; refusals are kept with the platform's reason."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from connectors.errors import AuthError, NotFoundError, PlatformError, RequestRejected
from connectors.http import RequestStats
from transforms.outbound import record_confirmed, record_rejections
from warehouse.load import utcnow

CHUNK = 500
Log = Callable[[str], None]


@dataclass
class PushReport:
    destination: str
    operations: int = 0
    confirmed: int = 0
    rejected: int = 0
    requests: int = 0
    seconds: float = 0.0
    by_op: dict[str, int] = field(default_factory=dict)  # confirmed operations per op
    rejection_titles: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.rejected:
            return "ok"
        return "failed" if not self.confirmed else "partial"

    def metadata(self) -> dict[str, object]:
        """Counts only: never a person's data."""
        return {
            "status": self.status,
            "operations_planned": self.operations,
            "confirmed": self.confirmed,
            "rejected": self.rejected,
            **{f"confirmed_{op}": n for op, n in sorted(self.by_op.items())},
            "requests": self.requests,  # writes, and batch status polls
            "seconds": round(self.seconds, 1),
            "operations_per_second": round(self.confirmed / self.seconds, 1)
            if self.seconds
            else 0.0,
            **{f"rejected: {title}": n for title, n in sorted(self.rejection_titles.items())},
        }


@contextmanager
def measured(report: PushReport, stats: RequestStats) -> Iterator[None]:
    """Fill in the report's write requests and wall seconds for the work inside."""
    started, before = time.monotonic(), stats.as_dict().get("requests", 0)
    try:
        yield
    finally:
        report.requests = stats.as_dict().get("requests", 0) - before
        report.seconds = time.monotonic() - started


NOT_FOUND = "Resource Not Found"


def describe(error: PlatformError) -> tuple[int | None, str, str]:
    """(status, title, detail) of a refusal, in the platform's words where it gave them."""
    if isinstance(error, RequestRejected):
        return error.status, error.title, error.detail or str(error)
    if isinstance(error, NotFoundError):
        return (
            error.status,
            NOT_FOUND,
            "the contact is no longer on the platform (deleted there); the next "
            "reconciliation of the members drops it",
        )
    return error.status, type(error).__name__, str(error)


class Outcomes:
    """Collects confirmed and refused operations and writes them every CHUNK units."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        report: PushReport,
        run_id: str,
        log: Log,
        total: int,
    ) -> None:
        self.con, self.report, self.run_id, self.log, self.total = con, report, run_id, log, total
        self.confirmed: list[pd.DataFrame] = []
        self.rejected: list[pd.DataFrame] = []
        self.units = 0
        self.started = time.monotonic()

    def confirm(self, rows: pd.DataFrame) -> None:
        self.confirmed.append(rows)
        self.report.confirmed += len(rows)
        for op, n in rows["op"].value_counts().items():
            self.report.by_op[str(op)] = self.report.by_op.get(str(op), 0) + int(n)

    def reject(self, rows: pd.DataFrame, status: int | None, title: str, detail: str) -> None:
        self.rejected.append(rows.assign(status=status, title=title, detail=detail[:500]))
        self.report.rejected += len(rows)
        self.report.rejection_titles[title] = self.report.rejection_titles.get(title, 0) + len(rows)

    def fail(self, rows: pd.DataFrame, error: BaseException) -> None:
        """A request that failed: a refusal is recorded; anything else stops the push."""
        if isinstance(error, AuthError) or not isinstance(error, PlatformError):
            self.flush()
            raise error
        self.reject(rows, *describe(error))

    def unit_done(self) -> None:
        self.units += 1
        if self.units % CHUNK == 0:
            self.flush()
            elapsed = max(time.monotonic() - self.started, 1e-6)
            rate = self.units / elapsed
            left = (self.total - self.units) / rate if rate else 0
            self.log(
                f"{self.report.destination}: {self.units:,}/{self.total:,} contacts "
                f"({rate:.0f}/s, about {left:.0f} s left)"
            )

    def flush(self) -> None:
        now = utcnow()
        if self.confirmed:
            record_confirmed(self.con, pd.concat(self.confirmed), self.run_id, now)
            self.confirmed.clear()
        if self.rejected:
            record_rejections(self.con, pd.concat(self.rejected), self.run_id, now)
            self.rejected.clear()
