"""Pipelined paging: order, bounds, and the end of open-ended collections."""

import threading
import time

import pytest

from connectors.paging import pipelined_pages


class Collection:
    """A paged collection answering like a platform, counting what was asked."""

    def __init__(self, records: int, per_page: int, totals: bool, delay: float = 0.0) -> None:
        self.records, self.per_page, self.totals, self.delay = records, per_page, totals, delay
        self.asked: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def fetch(self, page: int):
        with self.lock:
            self.asked.append(page)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay * (1 + (page % 3)))  # later pages can finish first
        with self.lock:
            self.in_flight -= 1
        start = (page - 1) * self.per_page
        items = [{"n": i} for i in range(start, min(start + self.per_page, self.records))]
        pages = -(-self.records // self.per_page)
        return items, (pages if self.totals else None)


@pytest.mark.parametrize("window", [1, 3, 8])
def test_pages_come_in_order_and_complete(window):
    collection = Collection(records=230, per_page=25, totals=False, delay=0.01)
    pages = list(pipelined_pages(collection.fetch, window))
    assert [r["n"] for page in pages for r in page] == list(range(230))
    assert collection.max_in_flight <= window
    # Ten pages, the empty eleventh, and at most the rest of the window past it.
    assert 11 <= len(collection.asked) <= 10 + window


def test_totals_mean_no_page_past_the_end():
    collection = Collection(records=230, per_page=25, totals=True, delay=0.01)
    pages = list(pipelined_pages(collection.fetch, 8))
    assert len(pages) == 10
    assert sorted(collection.asked) == list(range(1, 11))


def test_empty_collection():
    collection = Collection(records=0, per_page=25, totals=True)
    assert list(pipelined_pages(collection.fetch, 4)) == []
    assert collection.asked == [1]


def test_requests_overlap_when_the_window_allows():
    collection = Collection(records=500, per_page=25, totals=True, delay=0.05)
    started = time.monotonic()
    list(pipelined_pages(collection.fetch, 5))
    assert collection.max_in_flight >= 3
    assert time.monotonic() - started < 20 * 0.1  # sequential would take about 2 s


def test_an_error_stops_the_iteration():
    def fetch(page):
        if page == 3:
            raise RuntimeError("boom")
        return [{"page": page}], None

    with pytest.raises(RuntimeError, match="boom"):
        list(pipelined_pages(fetch, 2))


def test_the_next_requests_are_on_their_way_while_a_page_is_landed():
    collection = Collection(records=100, per_page=25, totals=True)
    pages = pipelined_pages(collection.fetch, 3)
    next(pages)  # the caller now lands page 1: pages 2 to 4 must already be asked for
    deadline = time.monotonic() + 5
    while len(collection.asked) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(collection.asked) == [1, 2, 3, 4]
    assert len(list(pages)) == 3


def test_a_short_open_ended_pull_spends_little_past_the_end():
    # An incremental run's people: 48 changed, two pages; no totals; a window of 8.
    collection = Collection(records=48, per_page=25, totals=False)
    pages = list(pipelined_pages(collection.fetch, 8))
    assert [len(p) for p in pages] == [25, 23]
    assert sorted(collection.asked) == [1, 2, 3]  # the empty third page ends it


def test_a_short_page_mid_collection_does_not_end_it():
    # Only the empty page ends an open-ended collection, whatever the pages hold.
    sizes = {1: 25, 2: 10, 3: 25, 4: 25, 5: 7}

    def fetch(page):
        return [{"page": page}] * sizes.get(page, 0), None

    assert [len(p) for p in pipelined_pages(fetch, 8)] == [25, 10, 25, 25, 7]


def test_an_opening_window_asks_before_the_first_answer_and_stops_at_the_end():
    collection = Collection(records=230, per_page=25, totals=True, delay=0.05)
    first_answer = threading.Event()
    asked_before: list[int] = []

    def fetch(page: int):
        if not first_answer.is_set():
            asked_before.append(page)
        answer = collection.fetch(page)
        first_answer.set()
        return answer

    pages = list(pipelined_pages(fetch, 8, opening=8))
    assert [r["n"] for page in pages for r in page] == list(range(230))
    assert len(asked_before) >= 2  # more than the first page was on its way
    assert sorted(collection.asked) == list(range(1, 11))  # nothing past the end
    assert collection.max_in_flight <= 8


def test_an_opening_window_over_a_short_collection_costs_only_empty_pages():
    collection = Collection(records=40, per_page=25, totals=True)
    pages = list(pipelined_pages(collection.fetch, 8, opening=6))
    assert [r["n"] for page in pages for r in page] == list(range(40))
    # Page 3, the first empty one, ends it; pages 4 to 6 were asked or, when still queued
    # behind the others, cancelled. Nothing past the opening window.
    assert set(range(1, 4)) <= set(collection.asked) <= set(range(1, 7))
