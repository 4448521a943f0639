"""What a run produced: the window it covered and what it wrote or skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

# How many skipped records a report lists with their keys; the count is always exact.
MAX_LISTED_SKIPS = 1000


@dataclass(frozen=True)
class Window:
    """The period a run covers.

    ``kind`` is ``all`` (no delta, no time frame), ``delta`` (whole local days
    ``first_day``..``last_day``) or ``timeFrame`` (instants ``start``..``end``, both inclusive).
    """

    kind: Literal["all", "delta", "timeFrame"]
    first_day: date | None = None
    last_day: date | None = None
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        """The window :meth:`as_dict` gave (as a run record keeps it)."""

        def day(value: Any) -> date | None:
            return date.fromisoformat(value) if value else None

        def instant(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            data["kind"],
            first_day=day(data.get("firstDay")),
            last_day=day(data.get("lastDay")),
            start=instant(data.get("start")),
            end=instant(data.get("end")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "firstDay": self.first_day.isoformat() if self.first_day else None,
            "lastDay": self.last_day.isoformat() if self.last_day else None,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class SkippedRecord:
    kind: str  # record type, or "line" for an unreadable dataset line
    key: Any  # the record's id(s), as far as they could be read
    reason: str

    def as_dict(self) -> dict[str, Any]:
        key = list(self.key) if isinstance(self.key, tuple) else self.key
        return {"kind": self.kind, "key": key, "reason": self.reason}


@dataclass
class RunReport:
    window: Window
    rows: int = 0
    bytes_written: int = 0
    skipped_count: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)

    def skip(self, record: SkippedRecord) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append(record)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.as_dict(),
            "rows": self.rows,
            "bytes": self.bytes_written,
            "skippedCount": self.skipped_count,
            "skipped": [s.as_dict() for s in self.skipped],
        }
