"""Fetching numbered pages with several requests in flight, yielding them in order.
The rate limit is enforced by the client's token bucket; this only keeps the pipe full."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

FetchPage = Callable[[int], tuple[list[dict[str, Any]], int | None]]


class JsonPage(list):
    """A page's records, parsed, together with the body they came in: landing stores the
    records from the body itself (DuckDB reads it), instead of encoding each record
    again in Python. `key` names the body's array of records."""

    def __init__(self, records: list[dict[str, Any]], body: bytes, key: str) -> None:
        super().__init__(records)
        self.body = body
        self.key = key


def pipelined_pages(
    fetch: FetchPage, window: int, first_page: int = 1, opening: int = 1
) -> Iterator[list[dict[str, Any]]]:
    """Yield non-empty pages in order. `fetch(n)` returns (records, total_pages or None).
    With totals, no page past the end is asked for once they are known; without (Action
    Network's people), the first empty page ends it. Without totals the window opens as
    full pages arrive (1, 2, 4, ... up to `window`) and closes to one after a short page
    (likely the last), so a pull of a page or two (an incremental run's) spends a request
    or two past the end, not a whole window; only the empty page ends it.

    `opening` pages are asked for at once, before the first answers: for a pull expected
    to be long (a full pull of an audience), one round trip saved at the price of up to
    `opening - 1` empty pages when it is short."""
    window = max(1, window)
    opened = 1  # how many may be in flight now, without totals
    fullest = 0  # the most records a page has held
    last: int | None = None
    next_to_submit = first_page
    next_to_yield = first_page
    in_flight: dict[int, Future] = {}
    with ThreadPoolExecutor(max_workers=window) as pool:
        try:
            # The first page alone (or the opening few), to learn the totals before
            # fanning out.
            for _ in range(min(window, max(1, opening))):
                in_flight[next_to_submit] = pool.submit(fetch, next_to_submit)
                next_to_submit += 1
            while next_to_yield in in_flight:
                records, total_pages = in_flight.pop(next_to_yield).result()
                if total_pages is not None:
                    last = total_pages if last is None else min(last, total_pages)
                if not records:
                    return
                next_to_yield += 1
                fullest = max(fullest, len(records))
                if last is not None:
                    opened = window
                else:
                    opened = min(window, opened * 2) if len(records) == fullest else 1
                # Refill the window before handing the page over: the next requests are
                # on their way while the caller lands this one.
                while len(in_flight) < opened and (last is None or next_to_submit <= last):
                    in_flight[next_to_submit] = pool.submit(fetch, next_to_submit)
                    next_to_submit += 1
                yield records
        finally:
            for future in in_flight.values():
                future.cancel()
