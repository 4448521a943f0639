"""EventBridge Scheduler expressions evaluated in a time zone (tracking_export/schedule.py).

The expected dates below are worked out by hand from the calendar: 1 January 2026 is a
Thursday; Europe/Paris changes on 29 March 2026 (02:00 CET -> 03:00 CEST) and 25 October 2026
(03:00 CEST -> 02:00 CET); America/New_York on 8 March 2026 (02:00 EST -> 03:00 EDT) and
1 November 2026 (02:00 EDT -> 01:00 EST). The property tests compare the evaluator with a
minute-by-minute walk and a matcher written from the field grammar, not from the code.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracking_export.schedule import (
    MONTHS,
    WEEKDAYS,
    At,
    Cron,
    Rate,
    ScheduleExpressionError,
    occurrence_of,
    occurrences,
    parse,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def days_fired(expression: str, start: date, end: date, zone: str = "UTC") -> list[date]:
    found = occurrences(
        expression,
        zone,
        datetime.combine(start, datetime.min.time(), ZoneInfo(zone)),
        datetime.combine(end, datetime.min.time(), ZoneInfo(zone)),
    )
    return [o.local.date() for o in found]


# -- cron fields --------------------------------------------------------------------------------


def test_every_day_at_two_in_utc() -> None:
    found = occurrences("cron(0 2 * * ? *)", "UTC", utc(2026, 1, 1), utc(2026, 1, 4))
    assert [o.instant for o in found] == [utc(2026, 1, 1, 2), utc(2026, 1, 2, 2), utc(2026, 1, 3, 2)]
    assert all(o.instants == (o.instant,) and not o.nonexistent for o in found)


def test_minutes_and_hours_take_lists_ranges_and_steps() -> None:
    found = occurrences("cron(15,45 8-10/2 * * ? *)", "UTC", utc(2026, 1, 5), utc(2026, 1, 6))
    assert [o.instant.strftime("%H:%M") for o in found] == ["08:15", "08:45", "10:15", "10:45"]
    found = occurrences("cron(0/20 6 * * ? *)", "UTC", utc(2026, 1, 5), utc(2026, 1, 6))
    assert [o.instant.strftime("%H:%M") for o in found] == ["06:00", "06:20", "06:40"]
    found = occurrences("cron(*/30 23 * * ? *)", "UTC", utc(2026, 1, 5), utc(2026, 1, 6))
    assert [o.instant.strftime("%H:%M") for o in found] == ["23:00", "23:30"]


def test_weekdays_by_name_and_a_range_that_wraps() -> None:
    # January 2026: Monday 5 to Sunday 11.
    assert days_fired("cron(0 9 ? * MON-FRI *)", date(2026, 1, 5), date(2026, 1, 12)) == [
        date(2026, 1, d) for d in (5, 6, 7, 8, 9)
    ]
    # FRI-MON wraps past Saturday (7) to Sunday (1) and Monday (2).
    assert days_fired("cron(0 9 ? * FRI-MON *)", date(2026, 1, 5), date(2026, 1, 13)) == [
        date(2026, 1, d) for d in (5, 9, 10, 11, 12)
    ]
    # 1 is Sunday, 7 Saturday; lower case names too.
    assert days_fired("cron(0 9 ? * 1,7 *)", date(2026, 1, 5), date(2026, 1, 12)) == [
        date(2026, 1, 10),
        date(2026, 1, 11),
    ]
    assert days_fired("cron(0 9 ? * sat *)", date(2026, 1, 5), date(2026, 1, 12)) == [date(2026, 1, 10)]


def test_last_day_of_the_month_and_of_february_in_a_leap_year() -> None:
    assert days_fired("cron(0 10 L * ? *)", date(2026, 1, 1), date(2026, 4, 1)) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
    ]
    assert days_fired("cron(0 10 L 2 ? *)", date(2028, 1, 1), date(2028, 12, 31)) == [date(2028, 2, 29)]


def test_last_weekday_of_the_month() -> None:
    # 31 January 2026 is a Saturday, 28 February a Saturday, 31 March a Tuesday.
    assert days_fired("cron(0 10 LW * ? *)", date(2026, 1, 1), date(2026, 4, 1)) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 31),
    ]


def test_nearest_weekday_stays_in_its_month() -> None:
    # 15 Jan 2026 is a Thursday; 15 Feb a Sunday (-> Monday 16); 15 Aug a Saturday (-> Friday 14).
    assert days_fired("cron(0 10 15W * ? *)", date(2026, 1, 1), date(2026, 3, 1)) == [
        date(2026, 1, 15),
        date(2026, 2, 16),
    ]
    assert days_fired("cron(0 10 15W 8 ? *)", date(2026, 8, 1), date(2026, 9, 1)) == [date(2026, 8, 14)]
    # 1 August 2026 is a Saturday: Monday the 3rd, not Friday 31 July.
    assert days_fired("cron(0 10 1W 8 ? *)", date(2026, 7, 1), date(2026, 9, 1)) == [date(2026, 8, 3)]
    # 31 May 2026 is a Sunday: Friday the 29th, not Monday 1 June.
    assert days_fired("cron(0 10 31W 5 ? *)", date(2026, 5, 1), date(2026, 7, 1)) == [date(2026, 5, 29)]
    # A month without a 31st never fires 31W (this evaluator's reading; docs/run-lifecycle.md).
    assert days_fired("cron(0 10 31W 2 ? *)", date(2026, 2, 1), date(2026, 3, 1)) == []


def test_nth_and_last_day_of_the_week_in_the_month() -> None:
    # Fridays of January 2026: 2, 9, 16, 23, 30.
    assert days_fired("cron(0 10 ? * 6#3 *)", date(2026, 1, 1), date(2026, 2, 1)) == [date(2026, 1, 16)]
    assert days_fired("cron(0 10 ? * FRI#1 *)", date(2026, 1, 1), date(2026, 2, 1)) == [date(2026, 1, 2)]
    assert days_fired("cron(0 10 ? * 6L *)", date(2026, 1, 1), date(2026, 2, 1)) == [date(2026, 1, 30)]
    # Fifth Monday: January 2026 has four (5, 12, 19, 26), March five (2 ... 30).
    assert days_fired("cron(0 10 ? * 2#5 *)", date(2026, 1, 1), date(2026, 4, 1)) == [date(2026, 3, 30)]
    # L alone in day-of-week is Saturday.
    assert days_fired("cron(0 10 ? * L *)", date(2026, 1, 5), date(2026, 1, 19)) == [
        date(2026, 1, 10),
        date(2026, 1, 17),
    ]


def test_months_and_years() -> None:
    assert days_fired("cron(0 0 1 JAN,JUL ? 2026-2027)", date(2025, 1, 1), date(2029, 1, 1)) == [
        date(2026, 1, 1),
        date(2026, 7, 1),
        date(2027, 1, 1),
        date(2027, 7, 1),
    ]
    assert days_fired("cron(0 0 1 1 ? 2026/2)", date(2025, 1, 1), date(2031, 1, 1)) == [
        date(2026, 1, 1),
        date(2028, 1, 1),
        date(2030, 1, 1),
    ]
    # NOV-FEB wraps over the year's end.
    assert [d.month for d in days_fired("cron(0 0 1 NOV-FEB ? *)", date(2026, 1, 1), date(2027, 1, 1))] == [
        1,
        2,
        11,
        12,
    ]


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("cron(0 2 * * *)", "six fields"),
        ("cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week is ?"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week is ?"),
        ("cron(60 2 * * ? *)", "minutes: '60'"),
        ("cron(0 24 * * ? *)", "hours: '24'"),
        ("cron(0 2 32 * ? *)", "day-of-month: '32'"),
        ("cron(0 2 * FOO ? *)", "month: 'FOO'"),
        ("cron(0 2 ? * 8 *)", "day-of-week: '8'"),
        ("cron(0 2 ? * 6#6 *)", "the week after # is 1 to 5"),
        ("cron(0 2 * * ? 2027-2026)", "year: '2027-2026' runs backwards"),
        ("cron(0/0 2 * * ? *)", "no positive step"),
        ("rate(0 hours)", "positive"),
        ("rate(5 weeks)", "expected cron("),
        ("at(2026-02-30T10:00:00)", "not a date and time"),
        ("every day", "expected cron("),
    ],
)
def test_bad_expressions_are_refused_naming_the_part(expression: str, names: str) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse(expression)
    assert names in str(caught.value)


# -- time zones and daylight saving time --------------------------------------------------------


def test_the_default_schedule_in_paris_over_the_spring_change() -> None:
    # 29 March 2026: 02:00 does not exist; the day's run is due at 03:00 CEST = 01:00 UTC.
    found = occurrences("cron(0 2 * * ? *)", "Europe/Paris", utc(2026, 3, 28), utc(2026, 3, 31))
    assert [(o.instant, o.nonexistent) for o in found] == [
        (utc(2026, 3, 28, 1), False),  # 02:00 CET
        (utc(2026, 3, 29, 1), True),  # 02:00 skipped: 03:00 CEST
        (utc(2026, 3, 30, 0), False),  # 02:00 CEST
    ]
    assert found[1].local == datetime(2026, 3, 29, 2, 0)


def test_a_skipped_half_hour_runs_at_the_first_instant_after_the_gap_not_an_hour_later() -> None:
    [skipped] = occurrences("cron(30 2 * * ? *)", "Europe/Paris", utc(2026, 3, 29), utc(2026, 3, 30))
    assert (skipped.instant, skipped.nonexistent) == (utc(2026, 3, 29, 1), True)  # 03:00 CEST, not 03:30
    [skipped] = occurrences("cron(30 2 * * ? *)", "America/New_York", utc(2026, 3, 8), utc(2026, 3, 9))
    assert (skipped.instant, skipped.nonexistent) == (utc(2026, 3, 8, 7), True)  # 03:00 EDT


def test_a_skipped_time_and_the_time_after_the_gap_are_one_run() -> None:
    found = occurrences("cron(0 2,3 * * ? *)", "Europe/Paris", utc(2026, 3, 29), utc(2026, 3, 30))
    assert [(o.local, o.instant, o.nonexistent) for o in found] == [
        (datetime(2026, 3, 29, 3, 0), utc(2026, 3, 29, 1), False)
    ]


def test_hourly_in_the_spring_gap() -> None:
    found = occurrences("cron(30 * * * ? *)", "Europe/Paris", utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
    assert [(o.local.strftime("%H:%M"), o.instant.strftime("%H:%M"), o.nonexistent) for o in found] == [
        ("00:30", "23:30", False),
        ("01:30", "00:30", False),
        ("02:30", "01:00", True),  # the gap: 03:00 CEST
        ("03:30", "01:30", False),
        ("04:30", "02:30", False),
    ]


def test_the_repeated_autumn_hour_runs_once_at_its_first_instant() -> None:
    # 25 October 2026 in Paris: 02:30 is 00:30 UTC (CEST) and again 01:30 UTC (CET).
    [repeated] = occurrences("cron(30 2 * * ? *)", "Europe/Paris", utc(2026, 10, 25), utc(2026, 10, 26))
    assert repeated.instant == utc(2026, 10, 25, 0, 30)
    assert repeated.instants == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    assert repeated.latest == utc(2026, 10, 25, 1, 30)
    # New York, 1 November 2026: 01:30 is 05:30 UTC (EDT) and 06:30 UTC (EST).
    [repeated] = occurrences("cron(30 1 * * ? *)", "America/New_York", utc(2026, 11, 1), utc(2026, 11, 2))
    assert repeated.instants == (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))


def test_hourly_over_the_autumn_change_skips_the_repeat() -> None:
    found = occurrences("cron(0 * * * ? *)", "Europe/Paris", utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert [(o.local.strftime("%H:%M"), o.instant.strftime("%H:%M")) for o in found] == [
        ("01:00", "23:00"),  # CEST
        ("02:00", "00:00"),  # CEST; its second instant 01:00 UTC is the same occurrence
        ("03:00", "02:00"),  # CET
    ]


def test_a_repeated_time_whose_first_instant_is_before_the_range_is_not_in_it() -> None:
    found = occurrences("cron(30 2 * * ? *)", "Europe/Paris", utc(2026, 10, 25, 1), utc(2026, 10, 26))
    assert found == []


def test_rate_counts_elapsed_time_from_its_anchor_whatever_the_zone() -> None:
    found = occurrences(
        "rate(6 hours)", "Europe/Paris", utc(2026, 3, 29), utc(2026, 3, 30), anchor=utc(2026, 3, 28, 22)
    )
    assert [o.instant for o in found] == [utc(2026, 3, 29, h) for h in (4, 10, 16, 22)]
    assert found[0].local == datetime(2026, 3, 29, 6, 0)  # CEST
    found = occurrences("rate(1 day)", "UTC", utc(2026, 1, 1), utc(2026, 1, 3), anchor=utc(2026, 1, 1, 5))
    assert [o.instant for o in found] == [utc(2026, 1, 1, 5), utc(2026, 1, 2, 5)]
    with pytest.raises(ScheduleExpressionError, match="anchor"):
        occurrences("rate(1 day)", "UTC", utc(2026, 1, 1), utc(2026, 1, 3))


def test_at_is_one_local_time() -> None:
    expression = "at(2026-03-29T02:30:00)"
    [once] = occurrences(expression, "Europe/Paris", utc(2026, 3, 1), utc(2026, 4, 1))
    assert (once.instant, once.nonexistent) == (utc(2026, 3, 29, 1), True)
    assert occurrences("at(2026-06-01T10:00:00)", "Europe/Paris", utc(2026, 3, 1), utc(2026, 4, 1)) == []
    [once] = occurrences("at(2026-06-01T10:00:00)", "Europe/Paris", utc(2026, 6, 1), utc(2026, 6, 2))
    assert once.instant == utc(2026, 6, 1, 8)


def test_an_empty_range_has_no_occurrence() -> None:
    assert occurrences("cron(0 2 * * ? *)", "UTC", utc(2026, 1, 2), utc(2026, 1, 1)) == []


# -- properties ---------------------------------------------------------------------------------

ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute change
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",
)


@st.composite
def field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> tuple[str, set[int]]:
    """One comma list of a cron field, and the values it selects, worked out from its parts."""
    span = high - low + 1
    parts, values = [], set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["*", "*/s", "a", "a/s", "a-b", "a-b/s"]))
        a, b = draw(st.integers(low, high)), draw(st.integers(low, high))
        step = draw(st.integers(1, span))

        def name(v: int) -> str:
            return names[v - low] if names and draw(st.booleans()) else str(v)

        if kind == "*":
            parts.append("*")
            values |= set(range(low, high + 1))
        elif kind == "*/s":
            parts.append(f"*/{step}")
            values |= set(range(low, high + 1, step))
        elif kind == "a":
            parts.append(name(a))
            values.add(a)
        elif kind == "a/s":
            parts.append(f"{name(a)}/{step}")
            values |= set(range(a, high + 1, step))
        else:
            # a..b, wrapping past high back to low; every step-th value from a.
            walk = [low + (a - low + n) % span for n in range((b - a) % span + 1)]
            chosen = walk[:: step if kind == "a-b/s" else 1]
            parts.append(f"{name(a)}-{name(b)}" + (f"/{step}" if kind == "a-b/s" else ""))
            values |= set(chosen)
    return ",".join(parts), values


@dataclass(frozen=True)
class CronCase:
    """A cron expression, and what it selects as worked out from its parts."""

    text: str
    minutes: set[int]
    hours: set[int]
    months: set[int]
    day_ok: Callable[[date], bool]

    def fires_on(self, day: date) -> bool:
        return day.month in self.months and self.day_ok(day)

    def matches(self, local: datetime) -> bool:
        return local.minute in self.minutes and local.hour in self.hours and self.fires_on(local.date())


@st.composite
def cron_case(draw: st.DrawFn) -> CronCase:
    """A cron expression with its day rule written from the grammar."""
    minutes_text, minutes = draw(field(0, 59))
    hours_text, hours = draw(field(0, 23))
    months_text, months = draw(field(1, 12, MONTHS))
    by_month_day = draw(st.booleans())
    if by_month_day:
        special = draw(st.sampled_from(["values", "L", "LW", "W"]))
        if special == "values":
            dom_text, dom_values = draw(field(1, 31))

            def day_ok(d: date) -> bool:
                return d.day in dom_values
        elif special == "L":
            dom_text = "L"

            def day_ok(d: date) -> bool:
                return d.day == calendar.monthrange(d.year, d.month)[1]
        elif special == "LW":
            dom_text = "LW"

            def day_ok(d: date) -> bool:
                return d == max(x for x in _month(d) if x.weekday() < 5)
        else:
            n = draw(st.integers(1, 31))
            dom_text = f"{n}W"

            def day_ok(d: date) -> bool:
                if n > calendar.monthrange(d.year, d.month)[1]:
                    return False
                target = d.replace(day=n)
                return d == min((x for x in _month(d) if x.weekday() < 5), key=lambda x: abs(x - target))

        text = f"cron({minutes_text} {hours_text} {dom_text} {months_text} ? *)"
    else:
        special = draw(st.sampled_from(["values", "L", "nL", "#"]))
        n = draw(st.integers(1, 7))
        if special == "values":
            dow_text, dow_values = draw(field(1, 7, WEEKDAYS))

            def day_ok(d: date) -> bool:
                return _sunday_one(d) in dow_values
        elif special == "L":
            dow_text = "L"

            def day_ok(d: date) -> bool:
                return d.weekday() == 5
        elif special == "nL":
            dow_text = f"{n}L"

            def day_ok(d: date) -> bool:
                return d == max(x for x in _month(d) if _sunday_one(x) == n)
        else:
            k = draw(st.integers(1, 5))
            dow_text = f"{n}#{k}"

            def day_ok(d: date) -> bool:
                same = [x for x in _month(d) if _sunday_one(x) == n]
                return len(same) >= k and d == same[k - 1]

        text = f"cron({minutes_text} {hours_text} ? {months_text} {dow_text} *)"

    return CronCase(text, minutes, hours, months, day_ok)


def _month(d: date) -> list[date]:
    return [d.replace(day=n) for n in range(1, calendar.monthrange(d.year, d.month)[1] + 1)]


def _sunday_one(d: date) -> int:
    return {6: 1, 0: 2, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7}[d.weekday()]


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _changes(zone_name: str) -> list[datetime]:
    """The instants (UTC, whole minutes) where the zone's offset changes, 2025 to 2027."""
    zone = ZoneInfo(zone_name)
    found = []
    instant = utc(2025, 1, 1)
    offset = instant.astimezone(zone).utcoffset()
    while instant < utc(2028, 1, 1):
        following = instant + timedelta(hours=1)
        if following.astimezone(zone).utcoffset() != offset:
            minute = instant
            while minute.astimezone(zone).utcoffset() == offset:
                minute += timedelta(minutes=1)
            found.append(minute)
            offset = following.astimezone(zone).utcoffset()
        instant = following
    return found


CHANGES = {name: _changes(name) for name in ZONES}


@st.composite
def window(draw: st.DrawFn) -> tuple[str, datetime, datetime]:
    """A zone and a range of up to 60 hours, around one of its changes half of the time."""
    zone_name = draw(st.sampled_from(ZONES))
    hours = draw(st.integers(1, 60))
    if CHANGES[zone_name] and draw(st.booleans()):
        change = draw(st.sampled_from(CHANGES[zone_name]))
        begin = change - timedelta(minutes=draw(st.integers(0, hours * 60)))
    else:
        begin = draw(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)))
        begin = begin.replace(second=0, microsecond=0, tzinfo=UTC)
    return zone_name, begin, begin + timedelta(hours=hours)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cron_case(), year=st.integers(2024, 2030), month=st.integers(1, 12))
def test_day_fields_agree_with_the_grammar(case: CronCase, year: int, month: int) -> None:
    cron = parse(case.text)
    assert not isinstance(cron, (Rate, At))
    for day in _month(date(year, month, 1)):
        assert cron.fires_on(day) == case.fires_on(day), day


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cron_case(), where=window())
def test_cron_agrees_with_a_minute_by_minute_walk(
    case: CronCase, where: tuple[str, datetime, datetime]
) -> None:
    matches = case.matches
    zone_name, begin, end = where
    zone = ZoneInfo(zone_name)
    found = occurrences(case.text, zone_name, begin, end)
    # Order, range, and what each occurrence says of its instants.
    assert [o.instant for o in found] == sorted({o.instant for o in found})
    for occurrence in found:
        assert begin <= occurrence.instant < end
        assert matches(occurrence.local)
        if occurrence.nonexistent:
            assert all(_local(t, zone) != occurrence.local for t in (occurrence.instant,))
            assert _local(occurrence.instant, zone) > occurrence.local
            assert _local(occurrence.instant - timedelta(seconds=1), zone) < occurrence.local
        else:
            assert all(_local(t, zone) == occurrence.local for t in occurrence.instants)
            assert occurrence.instant == occurrence.instants[0]

    # Every minute of the range whose local time matches, at the first instant of that local
    # time, is an occurrence; and a matching local time that never shows on the clock (a gap)
    # is due at the first instant after the gap.
    expected: dict[datetime, datetime] = {}
    minute = begin - timedelta(hours=3)
    seen: set[datetime] = set()
    while minute < end + timedelta(hours=3):
        local = _local(minute, zone)
        if local not in seen:
            seen.add(local)
            if matches(local) and begin <= minute < end:
                expected[minute] = local
        before = _local(minute - timedelta(minutes=1), zone)
        if local - before > timedelta(minutes=1):  # a gap between these two minutes' clocks
            gap = before + timedelta(minutes=1)
            while gap < local:
                if matches(gap) and begin <= minute < end:
                    expected.setdefault(minute, gap)
                gap += timedelta(minutes=1)
        minute += timedelta(minutes=1)
    assert sorted(expected) == [o.instant for o in found]


def _months(first: int = 2024, last: int = 2030) -> list[date]:
    return [date(year, month, 1) for year in range(first, last + 1) for month in range(1, 13)]


def test_every_day_special_on_every_month_of_seven_years() -> None:
    for first in _months():
        days = _month(first)
        weekdays = [d for d in days if d.weekday() < 5]
        expected = {
            "L": {days[-1]},
            "LW": {weekdays[-1]},
            **{
                f"{n}W": ({min(weekdays, key=lambda d, n=n: abs(d.day - n))} if n <= len(days) else set())
                for n in range(1, 32)
            },
        }
        for spec, wanted in expected.items():
            cron = parse(f"cron(0 0 {spec} * ? *)")
            assert isinstance(cron, Cron)
            assert {d for d in days if cron.fires_on(d)} == wanted, (first, spec)
        for n in range(1, 8):
            same = [d for d in days if _sunday_one(d) == n]
            cron = parse(f"cron(0 0 ? * {n}L *)")
            assert isinstance(cron, Cron)
            assert {d for d in days if cron.fires_on(d)} == {same[-1]}, (first, n)
            for k in range(1, 6):
                cron = parse(f"cron(0 0 ? * {n}#{k} *)")
                assert isinstance(cron, Cron)
                assert {d for d in days if cron.fires_on(d)} == set(same[k - 1 : k]), (first, n, k)


def test_every_skipped_minute_of_every_change_runs_at_the_change() -> None:
    checked = 0
    for zone_name, changes in CHANGES.items():
        zone = ZoneInfo(zone_name)
        for change in changes:
            before, after = _local(change - timedelta(minutes=1), zone), _local(change, zone)
            skipped = before + timedelta(minutes=1)
            while skipped < after:  # only a spring-forward change leaves a gap
                occurrence = occurrence_of(skipped, zone)
                assert (occurrence.instant, occurrence.instants, occurrence.nonexistent) == (
                    change,
                    (change,),
                    True,
                ), (zone_name, skipped)
                skipped += timedelta(minutes=1)
                checked += 1
            repeated = after
            while repeated <= before:  # only an autumn change repeats local times
                occurrence = occurrence_of(repeated, zone)
                # Once before the change, counting back from its last minute; once after it.
                first = change - timedelta(minutes=1) - (before - repeated)
                second = change + (repeated - after)
                assert occurrence.instants == (first, second), (zone_name, repeated)
                assert occurrence.instant == first
                repeated += timedelta(minutes=1)
                checked += 1
    assert checked > 1000
