"""Paged reads in the background, in a fixed order, within a memory budget.

The tracking source reads a day as several Queries (one per UTC day and shard), each a
chain of pages (a page's ``LastEvaluatedKey`` starts the next). The reader consumes the
Queries one after the other; meanwhile a thread pool fetches:

- for the Query being read: up to ``READING_AHEAD`` pages ahead of the reader, always, so
  the reader never starves and never deadlocks;
- for the other Queries of the range being read (``make_current``): their next page, always;
- for the Queries of later ranges: their first page only, and only while fewer than
  ``budget`` records wait in memory or are being fetched (a fetch counts as
  ``page_estimate`` records until it is back) — so small days are fetched ahead in parallel
  while a big day holds a bounded number of pages.

No pool task ever blocks: a fetch that may not start yet is started later, by the reader
taking a page or by another fetch finishing. The pool can therefore be shared with
other short tasks (catalogue batches) without deadlock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

Page = list[Any]
Request = dict[str, Any]
# fetch(request) -> (records of that page, the request of the next page or None)
Fetch = Callable[[Request], tuple[Page, Request | None]]

READING_AHEAD = 2


class PagedQuery:
    """One chain of pages; all state is guarded by the owning PagedReads' condition."""

    __slots__ = ("ahead", "error", "next_request", "ready", "running")

    def __init__(self, request: Request) -> None:
        self.next_request: Request | None = request  # None once the last page was fetched
        self.ready: deque[Page] = deque()
        self.running = False
        # Pages fetched ahead whatever the budget: 0 (a later range), 1 (the range being
        # read), READING_AHEAD (the Query being read).
        self.ahead = 0
        self.error: BaseException | None = None

    def finished(self) -> bool:
        return not self.ready and not self.running and (self.next_request is None or self.error is not None)


class PagedReads:
    """Background page fetches for a sequence of PagedQuery, read in the order they were added."""

    def __init__(self, pool: Executor, fetch: Fetch, budget: int, page_estimate: int) -> None:
        self._pool = pool
        self._fetch = fetch
        self._budget = budget
        self._page_estimate = page_estimate
        self._running = 0  # fetches started and not back yet
        self._cond = threading.Condition()
        self._queries: list[PagedQuery] = []  # not yet finished, in reading order
        self._buffered = 0  # records in fetched pages not yet taken by the reader
        self._closed = False

    def add(self, request: Request) -> PagedQuery:
        """A new Query, read after every one added before it."""
        query = PagedQuery(request)
        with self._cond:
            self._queries.append(query)
            self._start_allowed()
        return query

    def make_current(self, queries: Sequence[PagedQuery]) -> None:
        """The reader is about to read these: fetch their next page whatever the budget."""
        with self._cond:
            for query in queries:
                query.ahead = max(query.ahead, 1)
            self._start_allowed()

    def pages(self, query: PagedQuery) -> Iterator[Page]:
        """The pages of one Query, in order, as they arrive; raises what a fetch raised."""
        with self._cond:
            query.ahead = READING_AHEAD
            self._start_allowed()
        while True:
            with self._cond:
                while not query.ready and query.error is None and not query.finished():
                    if self._closed:
                        return
                    self._cond.wait()
                if query.ready:
                    page = query.ready.popleft()
                    self._buffered -= len(page)
                elif query.error is not None:
                    raise query.error
                else:
                    return
                if query.finished():
                    self._queries.remove(query)
                self._start_allowed()
            yield page

    def close(self) -> None:
        """Start no further fetch and drop what was fetched (fetches already running finish)."""
        with self._cond:
            self._closed = True
            self._queries.clear()
            self._buffered = 0
            self._cond.notify_all()

    def _start_allowed(self) -> None:
        """Start each fetch the rules allow. Caller holds the condition."""
        if self._closed:
            return
        for query in self._queries:
            if query.running or query.next_request is None or query.error is not None:
                continue
            if query.ahead:
                allowed = len(query.ready) < query.ahead
            else:
                waiting = self._buffered + self._running * self._page_estimate
                allowed = not query.ready and waiting < self._budget
            if allowed:
                request, query.next_request = query.next_request, None
                query.running = True
                self._running += 1
                try:
                    self._pool.submit(self._run, query, request)
                except RuntimeError as exc:  # the pool was shut down under us
                    query.running = False
                    self._running -= 1
                    query.error = exc

    def _run(self, query: PagedQuery, request: Request) -> None:
        try:
            page, next_request = self._fetch(request)
        except BaseException as exc:  # handed to the reader, which raises it
            with self._cond:
                query.running = False
                self._running -= 1
                query.error = exc
                self._cond.notify_all()
            return
        with self._cond:
            query.running = False
            self._running -= 1
            if self._closed:
                return
            query.ready.append(page)
            query.next_request = next_request
            self._buffered += len(page)
            self._start_allowed()
            self._cond.notify_all()


def pages_of(reads: PagedReads, queries: Sequence[PagedQuery]) -> Iterator[Page]:
    """Every page of these Queries, one Query after the other."""
    for query in queries:
        yield from reads.pages(query)
