"""Landing reads a page's body while it lands the page before: the order of events, and a
failure to get the next page raised only after the page before it is handed over."""

from __future__ import annotations

import pytest

from connectors.landing import _read_ahead


def test_each_page_comes_with_its_start_once_the_next_has_been_started():
    events: list[str] = []

    def pages():
        for n in range(3):
            events.append(f"arrived {n}")
            yield n

    def start(n: int) -> int:
        events.append(f"started {n}")
        return n * 10

    for page, started in _read_ahead(pages(), start):
        assert started == page * 10
        events.append(f"landed {page}")
    assert events == [
        "arrived 0",
        "started 0",
        "arrived 1",
        "started 1",
        "landed 0",
        "arrived 2",
        "started 2",
        "landed 1",
        "landed 2",
    ]


def test_a_failure_to_get_the_next_page_comes_after_the_page_before_it():
    def pages():
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    landed = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page, _ in _read_ahead(pages(), lambda page: None):
            landed.append(page)
    assert landed == [1, 2]


def test_no_pages():
    assert list(_read_ahead(iter(()), lambda page: page)) == []
