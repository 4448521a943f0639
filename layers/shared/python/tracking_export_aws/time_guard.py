"""A single-path run that would outlive its Lambda invocation stops cleanly, well before the timeout.

Lambda kills an invocation at its timeout without running any ``finally``: the multipart
upload would stay open, the run would stay ``running`` until its lease expires, and nobody
would be told. The guard checks the invocation's remaining time before each day of logs and
before each chunk of the file reaches S3, and raises :class:`RunTimeExceeded` while a margin
is left, so the run fails like any other failure: upload aborted, run recorded failed (the
deltaMode window does not move), one ``failed`` notification naming the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tracking_export.source import Raw, TimeRange, TrackingSource

# Time kept back for what follows a stop: abort the upload, record the run, notify.
DEFAULT_MARGIN_MS = 60_000


class RunTimeExceeded(RuntimeError):
    """The run stopped because its invocation is about to time out."""


@dataclass(frozen=True)
class TimeGuard:
    """Raises once ``remaining_ms()`` (a LambdaContext's ``get_remaining_time_in_millis``)
    falls under ``margin_ms``."""

    remaining_ms: Callable[[], int]
    margin_ms: int = DEFAULT_MARGIN_MS

    def check(self, where: str) -> None:
        left = self.remaining_ms()
        if left < self.margin_ms:
            raise RunTimeExceeded(
                f"stopped {where} with {left / 1000:.0f} s of the invocation's time left: the run "
                f"would not finish before the Lambda timeout. Its window holds more rows than one "
                f"invocation renders: lower MAX_ROWS_PER_WORKER so that runs this large go distributed"
            )

    def out(self, out: Any) -> _GuardedOut:
        return _GuardedOut(out, self)

    def source(self, source: TrackingSource) -> _GuardedSource:
        return _GuardedSource(source, self)


class _GuardedOut:
    """The file's byte sink, checked before every chunk the writer hands over (1 MiB)."""

    def __init__(self, out: Any, guard: TimeGuard) -> None:
        self._out = out
        self._guard = guard

    def write(self, data: bytes) -> Any:
        self._guard.check("while writing the file")
        return self._out.write(data)


class _GuardedSource(TrackingSource):
    """The run's tracking source, checked before each day of logs is handed to the engine."""

    def __init__(self, source: TrackingSource, guard: TimeGuard) -> None:
        self._source = source
        self._guard = guard
        self.tenant_id = getattr(source, "tenant_id", None)

    def log_span(self) -> TimeRange | None:
        return self._source.log_span()

    def logs_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[list[Raw]]:
        self._guard.check("before reading the first day")
        for day in self._source.logs_in_ranges(ranges):
            yield day
            self._guard.check("between two days")

    def get_many(self, kind: str, keys: Iterable[Any]) -> dict[Any, Raw]:
        return self._source.get_many(kind, keys)

    def logs_of_trackings(self, tracking_ids: Iterable[int]) -> dict[int, list[Raw]]:
        return self._source.logs_of_trackings(tracking_ids)

    def unlaunched_trackings(self) -> Iterator[Raw]:
        return self._source.unlaunched_trackings()

    def close(self) -> None:
        self._source.close()
