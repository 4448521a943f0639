"""Where the engine reads tracking records from.

A source hands out *raw* records (plain dicts, as in the JSONL dataset of
data-contract.md); the engine validates them, so every source gets the same
checks and the same "skip, count and report" treatment of invalid records.
A log may also come as a ``records.TrackingLog`` that the source made with
``records.valid_tracking_log`` from the values its record holds: that function
accepts only what the engine's own check accepts, and the engine uses such a log as is.
"""

from __future__ import annotations

import abc
import json
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracking_export.limits import MAX_JSON_DEPTH, json_nesting_line

Raw = dict[str, Any]
# Catalogue kinds and the field(s) that identify a record of that kind.
CATALOGUE_KEYS: dict[str, tuple[str, ...]] = {
    "learner": ("learnerId",),
    "entity": ("entityId",),
    "smartgroup": ("smartgroupId",),
    "training": ("trainingId",),
    "session": ("sessionId",),
    "content": ("contentGuid",),
    "trainingContent": ("trainingId", "learningObjectGuid"),
    "tracking": ("trackingId",),
}
RECORD_TYPES = (*CATALOGUE_KEYS, "trackingLog")
TimeRange = tuple[datetime, datetime]  # [start, end) in UTC


def record_key(kind: str, raw: Raw) -> Any:
    """The id of a catalogue record: a scalar, or a tuple for trainingContent."""
    fields = CATALOGUE_KEYS[kind]
    if len(fields) == 1:
        return raw.get(fields[0])
    return tuple(raw.get(f) for f in fields)


# Instants outside these years are refused as unreadable: no real log lies there, and days
# near datetime's own limits (years 1, 9999) cannot be turned into local day ranges.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 instant with offset or Z within years FIRST_YEAR..LAST_YEAR, as an aware
    UTC datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        tz = parsed.tzinfo
        if tz is None:
            return None
        # An offset can push year 1 or 9999 out of datetime's range (OverflowError).
        instant = parsed if tz is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return instant if FIRST_YEAR <= instant.year <= LAST_YEAR else None


class TrackingSource(abc.ABC):
    """The tracking data of one tenant."""

    @abc.abstractmethod
    def log_span(self) -> TimeRange | None:
        """A range [start, end) of UTC instants holding every log's ``startedAt``; None if no log.

        It may be wider than the data (whole days, say); the engine only uses it
        to know which days "all data" covers.
        """

    @abc.abstractmethod
    def logs_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[list[Raw]]:
        """For each range, in order, the raw logs with ``start <= startedAt < end``, in any order.

        Implementations may read ahead (several ranges in parallel) but must yield
        the lists in the order of ``ranges``.
        """

    def log_pages_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[Iterator[list[Raw]]]:
        """For each range, in order, its raw logs as a sequence of pages (lists), in any order.

        The engine reads every page of a range before asking for the next range, and never
        holds more than a page of raw logs: a source that streams its reads (DynamoDB) keeps
        memory bounded however many logs a day holds. By default each range is one page,
        from :meth:`logs_in_ranges`.
        """
        for logs in self.logs_in_ranges(ranges):
            yield iter((logs,))

    @abc.abstractmethod
    def get_many(self, kind: str, keys: Iterable[Any]) -> dict[Any, Raw]:
        """Catalogue records of one kind by key (see CATALOGUE_KEYS); missing keys are absent."""

    @abc.abstractmethod
    def logs_of_trackings(self, tracking_ids: Iterable[int]) -> dict[int, list[Raw]]:
        """Every log of each tracking, whatever its day (for cumulative time)."""

    @abc.abstractmethod
    def unlaunched_trackings(self) -> Iterator[Raw]:
        """Raw trackings of the tenant that have no log at all, in any order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (thread pools, connections)."""


class InvalidLine:
    """A dataset line that is not a JSON object with a known ``type`` and ``tenantId``."""

    def __init__(self, line_number: int, reason: str) -> None:
        self.line_number = line_number
        self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "line", "key": self.line_number, "reason": self.reason}


def read_jsonl(path: Path | str) -> Iterator[tuple[int, Raw | InvalidLine]]:
    """Lines of a JSONL dataset: (line number, record or InvalidLine). Blank lines are ignored."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            # Counting brackets is cheap; only a line with that many is scanned for its depth.
            if line.count("[") + line.count("{") > MAX_JSON_DEPTH and json_nesting_line(line) is not None:
                yield number, InvalidLine(number, "not JSON this service reads: nested too deep")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, InvalidLine(number, f"not JSON: {exc.msg} at column {exc.colno}")
                continue
            except ValueError:  # an integer of thousands of digits
                yield number, InvalidLine(number, "not JSON this service reads: a number has too many digits")
                continue
            if not isinstance(record, dict):
                yield number, InvalidLine(number, "not a JSON object")
            elif record.get("type") not in RECORD_TYPES:
                yield number, InvalidLine(number, f"unknown type; expected one of {', '.join(RECORD_TYPES)}")
            elif not isinstance(record.get("tenantId"), str) or not record["tenantId"]:
                yield number, InvalidLine(number, "missing tenantId")
            else:
                yield number, record


class InMemorySource(TrackingSource):
    """All of one tenant's records held in memory: the JSONL preview and unit tests."""

    def __init__(self, tenant_id: str, records: Iterable[Raw]) -> None:
        self.tenant_id = tenant_id
        self.invalid_lines: list[InvalidLine] = []
        self._catalogue: dict[str, dict[Any, Raw]] = defaultdict(dict)
        self._logs_by_tracking: dict[Any, list[Raw]] = defaultdict(list)
        # Logs whose startedAt cannot be read are kept apart, to be handed out (and reported).
        self._unreadable_logs: list[Raw] = []
        readable: list[tuple[datetime, int, Raw]] = []
        for raw in records:
            if raw.get("tenantId") != tenant_id:
                continue
            kind = raw.get("type")
            if kind == "trackingLog":
                instant = parse_instant(raw.get("startedAt"))
                if instant is None:
                    self._unreadable_logs.append(raw)
                else:
                    readable.append((instant, len(readable), raw))
                self._logs_by_tracking[raw.get("trackingId")].append(raw)
            elif kind in CATALOGUE_KEYS:
                self._catalogue[kind][_hashable(record_key(kind, raw))] = raw
        readable.sort(key=lambda item: (item[0], item[1]))
        self._instants = [t for t, _, _ in readable]
        self._sorted_logs = [raw for _, _, raw in readable]

    @classmethod
    def from_jsonl(cls, tenant_id: str, path: Path | str) -> InMemorySource:
        invalid: list[InvalidLine] = []

        def records() -> Iterator[Raw]:
            for _, item in read_jsonl(path):
                if isinstance(item, InvalidLine):
                    invalid.append(item)
                else:
                    yield item

        source = cls(tenant_id, records())
        source.invalid_lines = invalid
        return source

    def log_span(self) -> TimeRange | None:
        if not self._instants:
            return None
        return self._instants[0], self._instants[-1] + timedelta(microseconds=1)

    def logs_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[list[Raw]]:
        for index, (start, end) in enumerate(ranges):
            found = self._sorted_logs[bisect_left(self._instants, start) : bisect_left(self._instants, end)]
            # Logs whose startedAt is unreadable go out with the first range, so that
            # the engine reports them instead of their silently vanishing.
            yield [*self._unreadable_logs, *found] if index == 0 else found

    def get_many(self, kind: str, keys: Iterable[Any]) -> dict[Any, Raw]:
        table = self._catalogue.get(kind, {})
        return {key: table[_hashable(key)] for key in keys if _hashable(key) in table}

    def logs_of_trackings(self, tracking_ids: Iterable[int]) -> dict[int, list[Raw]]:
        return {tid: list(self._logs_by_tracking.get(tid, ())) for tid in tracking_ids}

    def unlaunched_trackings(self) -> Iterator[Raw]:
        for key, raw in self._catalogue.get("tracking", {}).items():
            if key not in self._logs_by_tracking:
                yield raw


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(key)
    return key
