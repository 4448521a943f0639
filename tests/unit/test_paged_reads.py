"""Background page reads: handed out in order, ahead of the reader only within their bounds."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from tracking_export_aws.aws.paged_reads import READING_AHEAD, PagedReads, pages_of


class InlineExecutor(Executor):
    """Runs each task as it is submitted: what was fetched is known at every step."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class FakeQueries:
    """Query ``name`` has ``pages[name]`` pages of 3 records each; every fetch is recorded."""

    def __init__(self, pages: dict[str, int], failing: str | None = None) -> None:
        self.pages = pages
        self.failing = failing
        self.fetched: list[tuple[str, int]] = []

    def fetch(self, request: dict[str, Any]) -> tuple[list[Any], dict[str, Any] | None]:
        name, page = request["name"], request.get("page", 0)
        if name == self.failing:
            raise ConnectionError(f"query {name} failed")
        self.fetched.append((name, page))
        records = [f"{name}{page}-{n}" for n in range(3)]
        more = page + 1 < self.pages[name]
        return records, ({"name": name, "page": page + 1} if more else None)


def test_pages_come_query_by_query_in_order() -> None:
    fake = FakeQueries({"a": 3, "b": 1, "c": 2})
    reads = PagedReads(InlineExecutor(), fake.fetch, budget=100, page_estimate=3)
    queries = [reads.add({"name": name}) for name in "abc"]
    reads.make_current(queries)
    got = [record for page in pages_of(reads, queries) for record in page]
    assert got == [
        f"{q}{p}-{n}" for q, count in (("a", 3), ("b", 1), ("c", 2)) for p in range(count) for n in range(3)
    ]


def test_later_queries_fetch_one_page_ahead_within_the_budget() -> None:
    fake = FakeQueries({"now": 5, "next": 5, "later": 5})
    reads = PagedReads(InlineExecutor(), fake.fetch, budget=6, page_estimate=3)
    current = reads.add({"name": "now"})
    upcoming = [reads.add({"name": "next"}), reads.add({"name": "later"})]
    # Nothing is being read yet: first pages only, until 6 records wait (budget used up).
    assert fake.fetched == [("now", 0), ("next", 0)]
    reads.make_current([current])  # its next page is already there
    assert fake.fetched[2:] == []
    pages = reads.pages(current)
    next(pages)
    # Being read: READING_AHEAD pages kept ready whatever the budget; nothing else moves.
    assert READING_AHEAD == 2
    assert fake.fetched[2:] == [("now", 1), ("now", 2)]
    assert len(list(pages)) == 4
    # "now" is done: 3 records wait ("next" 0), so "later" gets its first page, "next" no more.
    assert ("later", 0) in fake.fetched and ("next", 1) not in fake.fetched
    assert [len(p) for p in pages_of(reads, upcoming)] == [3] * 10


def test_a_failed_fetch_is_raised_when_its_query_is_reached() -> None:
    fake = FakeQueries({"a": 2, "b": 2}, failing="b")
    reads = PagedReads(InlineExecutor(), fake.fetch, budget=100, page_estimate=3)
    queries = [reads.add({"name": "a"}), reads.add({"name": "b"})]
    reader = pages_of(reads, queries)
    assert [next(reader), next(reader)] == [["a0-0", "a0-1", "a0-2"], ["a1-0", "a1-1", "a1-2"]]
    with pytest.raises(ConnectionError, match="query b failed"):
        next(reader)


def test_closed_reads_start_nothing_more() -> None:
    fake = FakeQueries({"a": 5})
    reads = PagedReads(InlineExecutor(), fake.fetch, budget=0, page_estimate=3)
    reads.close()
    query = reads.add({"name": "a"})
    assert list(reads.pages(query)) == []
    assert fake.fetched == []
