"""Applying a sync plan to the platforms. Every write is recorded as intended before it is
sent (in small blocks, just ahead of the requests) and settled after: the ledger gets what
a platform confirmed, sync_rejections what it refused, and a write whose answer was lost
stays `sent` for the next run to check on the platform. Answers are recorded in small
transactions as they arrive, so a killed run leaves at most a few writes unsettled and the
next run reads their state instead of sending them again."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from connectors.errors import AuthError, NotFoundError, PlatformError, RequestRejected
from connectors.failpoints import failpoint
from connectors.http import RequestStats
from warehouse.ledger import (
    record_confirmed,
    record_intents,
    record_rejections,
    settle_intents,
)
from warehouse.load import transaction, utcnow

CHUNK = 500  # contacts between progress lines
FLUSH_SECONDS = 0.5  # answers wait at most this long before they are recorded
# Intents are recorded this many requests ahead (at least; more for fast platforms), and
# answers at least every this many: a kill leaves about twice this many unsettled, each
# checked with a read by the next run. Measured: one small DuckDB commit costs 5-20 ms,
# so one per request would slow a Mailchimp push by half; one per block does not.
BLOCK = 8
Log = Callable[[str], None]


@dataclass
class PushReport:
    destination: str
    operations: int = 0
    confirmed: int = 0
    rejected: int = 0
    unconfirmed: int = 0  # sent, answer lost: checked on the platform by the next run
    drift_repaired: int = 0  # confirmed operations that put back what drifted
    requests: int = 0
    seconds: float = 0.0
    by_op: dict[str, int] = field(default_factory=dict)  # confirmed operations per op
    rejection_titles: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.rejected and not self.unconfirmed:
            return "ok"
        return "failed" if not self.confirmed else "partial"

    def metadata(self) -> dict[str, object]:
        """Counts only: never a person's data."""
        return {
            "status": self.status,
            "operations_planned": self.operations,
            "confirmed": self.confirmed,
            "rejected": self.rejected,
            "unconfirmed": self.unconfirmed,
            **{f"confirmed_{op}": n for op, n in sorted(self.by_op.items())},
            "drift_repaired": self.drift_repaired,
            "opt_outs_propagated": self.by_op.get("unsubscribe", 0),
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


def applied(error: BaseException) -> bool:
    """A 2xx status whose body could not be read: the platform did the write."""
    status = getattr(error, "status", None)
    return isinstance(error, PlatformError) and status is not None and 200 <= status < 300


def refused(error: BaseException) -> bool:
    """The platform answered that it did not do the write (a 4xx other than auth)."""
    return isinstance(error, RequestRejected | NotFoundError)


def new_push_key() -> str:
    """A short id that makes every request key of one push unique."""
    return uuid.uuid4().hex[:12]


def keyed(ops: pd.DataFrame, by: list[str], push_key: str) -> pd.DataFrame:
    """The operations with a `request_key` per group of `by` (one request each)."""
    number = ops.groupby(by, sort=True, dropna=False).ngroup()
    return ops.assign(request_key=push_key + "-" + number.astype(str))


def for_ledger(ops: pd.DataFrame) -> pd.DataFrame:
    """Confirmed operations as the ledger keeps them: an unsubscribe is the contact's email
    status set to its value (`unsubscribed`), like a field."""
    if ops.empty or "op" not in ops:
        return ops
    return ops.assign(op=ops["op"].where(ops["op"] != "unsubscribe", "set"))


class Outcomes:
    """Records intents before requests and their outcomes after, in small transactions."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        report: PushReport,
        run_id: str,
        log: Log,
        total: int,
        block: int = BLOCK,
    ) -> None:
        self.con, self.report, self.run_id, self.log, self.total = con, report, run_id, log, total
        self.block = max(BLOCK, block)
        self.confirmed: list[pd.DataFrame] = []
        self.rejected: list[pd.DataFrame] = []
        self.lost: list[pd.DataFrame] = []
        self.not_done: list[pd.DataFrame] = []
        self.waiting = 0
        self.units = 0
        self.started = self.flushed = time.monotonic()

    def intend(self, ops: pd.DataFrame) -> None:
        """Record operations as intended, durably, before any of them is sent."""
        with transaction(self.con):
            record_intents(self.con, ops, self.run_id, utcnow())

    def ahead(self, units: Sequence[pd.DataFrame]) -> Iterator[int]:
        """The indexes of `units`, each recorded as intended before it is handed out: a
        block at a time (one transaction each), so a kill leaves few intents never sent."""
        for start in range(0, len(units), self.block):
            chunk = units[start : start + self.block]
            self.intend(pd.concat(chunk, ignore_index=True))
            yield from range(start, start + len(chunk))

    def confirm(self, rows: pd.DataFrame) -> None:
        self.confirmed.append(rows)
        self.waiting += 1
        self.report.confirmed += len(rows)
        # Counter, not value_counts: this runs for every confirmed batch, and pandas' costs
        # ~4 ms a call on Arrow strings.
        for op, n in Counter(map(str, rows["op"])).items():
            self.report.by_op[op] = self.report.by_op.get(op, 0) + n
        if "drift" in rows:
            self.report.drift_repaired += int(rows["drift"].fillna(False).astype(bool).sum())

    def reject(self, rows: pd.DataFrame, status: int | None, title: str, detail: str) -> None:
        self.rejected.append(rows.assign(status=status, title=title, detail=detail[:500]))
        self.waiting += 1
        self.report.rejected += len(rows)
        self.report.rejection_titles[title] = self.report.rejection_titles.get(title, 0) + len(rows)

    def unknown(self, rows: pd.DataFrame) -> None:
        """Sent, but the answer was lost: the next run checks the platform."""
        self.lost.append(rows)
        self.waiting += 1
        self.report.unconfirmed += len(rows)

    def undone(self, rows: pd.DataFrame) -> None:
        """Found not done on the platform: the intent fails and the plan sends it again."""
        self.not_done.append(rows)
        self.waiting += 1

    def fail(self, rows: pd.DataFrame, error: BaseException, answer_needed: bool = True) -> None:
        """A request that failed: a refusal is recorded, a lost answer left for the next
        run to check (or taken as done when the status said so and the body is not
        needed); a refused key or anything unexpected stops the push."""
        if isinstance(error, AuthError) or not isinstance(error, PlatformError):
            self.flush()
            raise error
        if refused(error):
            self.reject(rows, *describe(error))
        elif applied(error) and not answer_needed:
            self.confirm(rows)
        else:
            self.unknown(rows)

    def unit_done(self) -> None:
        self.units += 1
        if self.waiting >= self.block or time.monotonic() - self.flushed >= FLUSH_SECONDS:
            self.flush()
        if self.units % CHUNK == 0:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            rate = self.units / elapsed
            left = max(self.total - self.units, 0) / rate if rate else 0
            self.log(
                f"{self.report.destination}: {self.units:,}/{self.total:,} contacts "
                f"({rate:.0f}/s, about {left:.0f} s left)"
            )

    def flush(self) -> None:
        """Record the answers so far in one transaction: ledger, refusals, intents."""
        self.flushed = time.monotonic()
        if not self.waiting:
            return
        now = utcnow()
        confirmed = pd.concat(self.confirmed) if self.confirmed else pd.DataFrame()
        rejected = pd.concat(self.rejected) if self.rejected else pd.DataFrame()
        lost = pd.concat(self.lost) if self.lost else pd.DataFrame()
        not_done = pd.concat(self.not_done) if self.not_done else pd.DataFrame()
        with transaction(self.con):
            record_confirmed(self.con, for_ledger(confirmed), self.run_id, now)
            failpoint(f"{self.report.destination}.mid_ledger")
            record_rejections(self.con, rejected, self.run_id, now)
            settle_intents(self.con, confirmed, "confirmed", now)
            settle_intents(self.con, rejected, "failed", now)
            settle_intents(self.con, lost, "sent", now)
            settle_intents(self.con, not_done, "failed", now)
        for pending in (self.confirmed, self.rejected, self.lost, self.not_done):
            pending.clear()
        self.waiting = 0

    def finish(self) -> None:
        """Record what is left and say how many answers were lost."""
        self.flush()
        if self.report.unconfirmed:
            self.log(
                f"{self.report.destination}: {self.report.unconfirmed:,} operation(s) were sent "
                "but their answer was lost; the next run checks them on the platform before "
                "planning, so they are neither sent twice nor dropped"
            )
