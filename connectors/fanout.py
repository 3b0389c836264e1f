"""Run one function over many items with a bounded number of requests in flight."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")


def run_concurrently(
    fn: Callable[[T], Any], items: Iterable[T], workers: int
) -> Iterator[tuple[T, Any, BaseException | None]]:
    """Yield (item, result, error) as calls finish; never more than `workers` at once."""
    workers = max(1, workers)
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future, T] = {}

        def submit_next() -> bool:
            try:
                item = next(iterator)
            except StopIteration:
                return False
            pending[pool.submit(fn, item)] = item
            return True

        while len(pending) < workers and submit_next():
            pass
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                error = future.exception()
                yield item, (None if error else future.result()), error
                submit_next()
