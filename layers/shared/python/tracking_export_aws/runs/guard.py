"""What keeps a running export honest about time and ownership.

- :class:`Heartbeat` renews the run's short lease in a background thread while the run works,
  and notices when the run was taken over (the lease was lost).
- :class:`Guard` is checked as rows flow (each day read, each piece written): it stops the
  run with a clear reason when the invocation's remaining time falls below what finishing
  needs, or when the heartbeat lost the lease.
- :class:`GuardedSource` and :class:`GuardedOut` put the guard in the engine's path without
  the engine knowing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from tracking_export.source import Raw, TimeRange, TrackingSource
from tracking_export_aws.runs.ledger import LeaseLostError


class RunDeadlineExceeded(RuntimeError):
    """The invocation would run out of time before the run could finish."""


class Heartbeat:
    """Calls ``renew()`` every ``interval`` seconds until stopped; ``renew`` returns False once
    the run is no longer ours. A renewal that raises is tried again at the next beat."""

    def __init__(self, renew: Callable[[], bool], interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name="run-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self._interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing (idempotent): the run ends, or is handed to a holder with its own lease."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                still_ours = self._renew()
            except Exception:  # a transient error: the lease outlives a few missed beats
                continue
            if not still_ours:
                self.lost = True
                return


class Guard:
    """Raises when the run must stop: the lease is lost, or too little time remains."""

    def __init__(
        self,
        heartbeat: Heartbeat | None,
        remaining_seconds: Callable[[], float] | None,
        reserve_seconds: float,
        run_id: str,
    ) -> None:
        self.heartbeat = heartbeat
        self.remaining_seconds = remaining_seconds
        self.reserve_seconds = reserve_seconds
        self.run_id = run_id

    def stop_heartbeat(self) -> None:
        """No more renewals of the short lease (the run is being handed off)."""
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def check(self) -> None:
        if self.heartbeat is not None and self.heartbeat.lost:
            raise LeaseLostError(f"run {self.run_id} was taken over by another delivery (lease lost)")
        if self.remaining_seconds is not None:
            remaining = self.remaining_seconds()
            if remaining < self.reserve_seconds:
                raise RunDeadlineExceeded(
                    f"the run was stopped with {remaining:.0f} s of the function's time left (it keeps "
                    f"{self.reserve_seconds:.0f} s to finish cleanly): the window holds more data than one "
                    "invocation can export; narrow the window or use the distributed path"
                )


class GuardedSource(TrackingSource):
    """A tracking source that checks the guard before each day of logs."""

    def __init__(self, inner: TrackingSource, guard: Guard) -> None:
        self.inner = inner
        self.guard = guard
        if hasattr(inner, "tenant_id"):  # the engine checks a source that names its tenant
            self.tenant_id = inner.tenant_id
        if hasattr(inner, "estimated_logs"):  # the row estimate that routes a run
            self.estimated_logs = inner.estimated_logs

    @property
    def read_units(self) -> float | None:
        """The inner source's measured DynamoDB read capacity, when it measures it."""
        units: float | None = getattr(self.inner, "read_units", None)
        return units

    def log_span(self) -> TimeRange | None:
        return self.inner.log_span()

    def logs_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[list[Raw]]:
        for day in self.inner.logs_in_ranges(ranges):
            self.guard.check()
            yield day

    def log_pages_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[Iterator[list[Raw]]]:
        # The inner source's pages as they stream (not the base class's one page per range,
        # which would hold a whole day in memory), with the guard checked before each page.
        for pages in self.inner.log_pages_in_ranges(ranges):
            self.guard.check()
            yield self._checked(pages)

    def _checked(self, pages: Iterator[list[Raw]]) -> Iterator[list[Raw]]:
        while True:
            self.guard.check()  # before the next page is asked for, not after it was read
            page = next(pages, None)
            if page is None:
                return
            yield page

    def get_many(self, kind: str, keys: Iterable[Any]) -> dict[Any, Raw]:
        return self.inner.get_many(kind, keys)

    def get_records(self, wanted: Mapping[str, Collection[Any]]) -> dict[str, dict[Any, Raw]]:
        # The inner source's own: it may fetch several kinds in shared requests.
        return self.inner.get_records(wanted)

    def logs_of_trackings(self, tracking_ids: Iterable[int]) -> dict[int, list[Raw]]:
        return self.inner.logs_of_trackings(tracking_ids)

    def unlaunched_trackings(self) -> Iterator[Raw]:
        return self.inner.unlaunched_trackings()

    def close(self) -> None:
        self.inner.close()


class GuardedOut:
    """A binary writer that checks the guard before each piece it passes on."""

    def __init__(self, inner: Any, guard: Guard) -> None:
        self.inner = inner
        self.guard = guard

    def write(self, data: bytes, /) -> Any:
        self.guard.check()
        return self.inner.write(data)
