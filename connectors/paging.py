"""Fetching numbered pages with several requests in flight, yielding them in order.
The rate limit is enforced by the client's token bucket; this only keeps the pipe full."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

FetchPage = Callable[[int], tuple[list[dict[str, Any]], int | None]]


def pipelined_pages(
    fetch: FetchPage, window: int, first_page: int = 1
) -> Iterator[list[dict[str, Any]]]:
    """Yield non-empty pages in order. `fetch(n)` returns (records, total_pages or None).
    With totals, no page past the end is asked for; without (Action Network's people),
    the first empty page ends it, so at most `window` requests are spent past the end."""
    window = max(1, window)
    last: int | None = None
    next_to_submit = first_page
    next_to_yield = first_page
    in_flight: dict[int, Future] = {}
    with ThreadPoolExecutor(max_workers=window) as pool:
        try:
            while True:
                while len(in_flight) < window and (last is None or next_to_submit <= last):
                    in_flight[next_to_submit] = pool.submit(fetch, next_to_submit)
                    next_to_submit += 1
                    if next_to_yield == first_page and len(in_flight) == 1:
                        break  # learn the totals from the first page before fanning out
                if next_to_yield not in in_flight:
                    return
                records, total_pages = in_flight.pop(next_to_yield).result()
                if total_pages is not None:
                    last = total_pages if last is None else min(last, total_pages)
                if not records:
                    return
                yield records
                next_to_yield += 1
        finally:
            for future in in_flight.values():
                future.cancel()
