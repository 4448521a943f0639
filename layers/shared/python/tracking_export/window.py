"""The period a run covers (spec §3 time frames, §5 deltaMode) and its local days."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tracking_export.model import Parameters
from tracking_export.report import Window
from tracking_export.source import TimeRange


def compute_window(
    parameters: Parameters, tz: ZoneInfo, now: datetime, previous_success_start: datetime | None
) -> Window:
    """The window of a run at ``now`` (aware) for a tenant in ``tz``.

    A deltaMode run without a previous success (the export's first) has no
    ``first_day``: it covers all data up to the end of the run's local day (spec §5),
    so a replay with a past ``runAt`` never includes later logs.
    """
    if parameters.delta_mode:
        today = now.astimezone(tz).date()
        if previous_success_start is None:
            return Window("delta", last_day=today)
        first = previous_success_start.astimezone(tz).date()
        return Window("delta", first_day=min(first, today), last_day=today)
    if parameters.time_frames_scale is not None and parameters.time_frames is not None:
        start = time_frame_start(parameters.time_frames_scale, parameters.time_frames, tz, now)
        return Window(
            "timeFrame",
            first_day=start.astimezone(tz).date(),
            last_day=now.astimezone(tz).date(),
            start=start.astimezone(UTC),
            end=now.astimezone(UTC),
        )
    return Window("all")


def time_frame_start(scale: str, n: int, tz: ZoneInfo, now: datetime) -> datetime:
    """Start of a ``timeFramesScale`` window ending at ``now`` (spec §3 row 13)."""
    local = now.astimezone(tz)
    if scale == "less_than_n_days":
        return now - timedelta(hours=24 * n)
    if scale == "less_than_n_months":
        year, month = _months_back(local.year, local.month, n)
        return _wall_clock(local, year, month, tz)
    if scale == "less_than_n_full_months":
        year, month = _months_back(local.year, local.month, n)
        return datetime.combine(date(year, month, 1), time(0), tz)
    if scale == "less_than_n_years":
        return _wall_clock(local, local.year - n, local.month, tz)
    if scale == "less_than_n_full_years":
        return datetime.combine(date(local.year - n, 1, 1), time(0), tz)
    raise ValueError(f"unknown timeFramesScale {scale!r}")


def _months_back(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) - n
    return index // 12, index % 12 + 1


def _wall_clock(local: datetime, year: int, month: int, tz: ZoneInfo) -> datetime:
    """The same wall-clock time on the same day of (year, month), the day clamped to the month's end."""
    day = min(local.day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, local.hour, local.minute, local.second, local.microsecond, tzinfo=tz)


def day_range(day: date, tz: ZoneInfo) -> TimeRange:
    """The UTC instants [start, end) of a local day."""
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def local_days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
