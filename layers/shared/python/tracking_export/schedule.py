"""When an EventBridge Scheduler expression fires, in a time zone: ``cron()``, ``rate()``, ``at()``.

Pure: no AWS. The watchdog uses it to find the runs a schedule should have started, and an
operator's replay to list the scheduled times of a range (docs/run-lifecycle.md).

``cron(minutes hours day-of-month month day-of-week year)`` follows Scheduler's six fields:
lists ``,``, ranges ``a-b`` (wrapping past the end of the field: ``FRI-MON``), steps ``/n``,
``*``, names (``JAN``..``DEC``, ``SUN``..``SAT``; day-of-week 1 is Sunday), ``?`` in one of the
two day fields, ``L`` (last day of the month; alone in day-of-week, Saturday), ``LW`` (last
weekday of the month), ``nW`` (the weekday nearest day n, within its month), ``nL`` (the last
day n of the week in the month) and ``n#k`` (the k-th day n of the week in the month).

Daylight saving time, in the service's terms (the watchdog and replays follow these):

- a local time the spring-forward change skips does not exist. Scheduler skips it; the
  service runs it at the first valid local instant after the gap (02:00 in Europe/Paris on
  the last Sunday of March runs at 03:00 CEST, 01:00 UTC), and that run is the day's run.
  The :class:`Occurrence` says so with ``nonexistent``;
- a local time the autumn change repeats fires once, at its first instant. Both instants
  are that one occurrence (``instants``): a run recorded at either of them is its run.

``rate(N unit)`` counts elapsed time (a day is 24 hours, DST or not) from an anchor the
caller gives; ``at(yyyy-mm-ddThh:mm:ss)`` is one local time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_CRON = re.compile(r"cron\((?P<body>[^()]*)\)")
_RATE = re.compile(r"rate\((?P<n>[0-9]{1,6}) (?P<unit>minutes?|hours?|days?)\)")
_AT = re.compile(r"at\((?P<when>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)")
_UNIT = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIRST_YEAR, LAST_YEAR = 1970, 2199  # Scheduler's year field


class ScheduleExpressionError(ValueError):
    """The expression is not one this evaluator understands; the message names the part."""


@dataclass(frozen=True)
class Occurrence:
    """One time a schedule fires.

    ``local`` is the wall-clock time the expression names (naive, in the schedule's zone);
    ``instant`` is when the run is due (UTC); ``instants`` every UTC instant that is this
    occurrence: one, or two for a time the autumn change repeats (the run is due at the
    first); ``nonexistent`` marks a local time the spring-forward change skipped: Scheduler
    does not fire it, the service runs it at ``instant``, the first valid instant after the gap.
    """

    local: datetime
    instant: datetime
    instants: tuple[datetime, ...]
    nonexistent: bool = False

    @property
    def latest(self) -> datetime:
        """The last instant this occurrence may have fired at."""
        return self.instants[-1]


# -- the expressions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _DaySpec:
    """One item of a day-of-month or day-of-week field that is not a plain set of values."""

    kind: str  # "last", "last-weekday", "nearest-weekday", "last-of-week", "nth-of-week"
    day: int = 0  # the day of the month (nearest-weekday) or of the week (1 = Sunday)
    nth: int = 0


@dataclass(frozen=True)
class Cron:
    """A parsed six-field ``cron()``."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?"
    month_days: tuple[_DaySpec, ...]
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = Sunday .. 7 = Saturday; None: "?"
    week_days: tuple[_DaySpec, ...]
    years: frozenset[int] | None  # None: every year

    def times(self) -> list[time]:
        """The times of day it fires, in order."""
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]

    def fires_on(self, day: date) -> bool:
        """Whether the date fields select ``day``."""
        if self.years is not None and day.year not in self.years:
            return False
        if day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month or any(_month_day(s, day) for s in self.month_days)
        assert self.days_of_week is not None
        return _weekday(day) in self.days_of_week or any(_week_day(s, day) for s in self.week_days)


@dataclass(frozen=True)
class Rate:
    """``rate(N unit)``: every ``every`` of elapsed time."""

    every: timedelta


@dataclass(frozen=True)
class At:
    """``at(...)``: one local time."""

    local: datetime


Expression = Cron | Rate | At


def parse(expression: str) -> Expression:
    """The expression, parsed; ScheduleExpressionError names what is wrong."""
    text = expression.strip()
    if cron := _CRON.fullmatch(text):
        return _parse_cron(cron["body"])
    if rate := _RATE.fullmatch(text):
        count = int(rate["n"])
        if count < 1:
            raise ScheduleExpressionError(f"{expression!r}: rate() needs a positive number")
        return Rate(count * _UNIT[rate["unit"].removesuffix("s")])
    if at := _AT.fullmatch(text):
        try:
            return At(datetime.fromisoformat(at["when"]))
        except ValueError:
            raise ScheduleExpressionError(f"{expression!r}: not a date and time") from None
    raise ScheduleExpressionError(
        f"{expression!r}: expected cron(minutes hours day-of-month month day-of-week year), "
        "rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss)"
    )


def _parse_cron(body: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"cron({body}): six fields expected, got {len(fields)}")
    minute, hour, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(f"cron({body}): exactly one of day-of-month and day-of-week is ?")
    days_of_month: frozenset[int] | None = None
    month_days: tuple[_DaySpec, ...] = ()
    if dom != "?":
        days_of_month, month_days = _day_field(dom, "day-of-month", 1, 31, (), _month_special)
    days_of_week: frozenset[int] | None = None
    week_days: tuple[_DaySpec, ...] = ()
    if dow != "?":
        days_of_week, week_days = _day_field(dow, "day-of-week", 1, 7, WEEKDAYS, _week_special)
    return Cron(
        minutes=_values(minute, "minutes", 0, 59),
        hours=_values(hour, "hours", 0, 23),
        days_of_month=days_of_month,
        month_days=month_days,
        months=_values(month, "month", 1, 12, MONTHS),
        days_of_week=days_of_week,
        week_days=week_days,
        years=None if year == "*" else _values(year, "year", FIRST_YEAR, LAST_YEAR, wrap=False),
    )


def _number(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text in names:
        return names.index(text) + low
    if not text.isdigit() or len(text) > 4 or not low <= int(text) <= high:
        raise ScheduleExpressionError(f"{field}: {text!r} is not a value from {low} to {high}")
    return int(text)


def _values(
    text: str, field: str, low: int, high: int, names: tuple[str, ...] = (), *, wrap: bool = True
) -> frozenset[int]:
    """The values a list of ``*``, ``a``, ``a-b`` (wrapping when ``a`` > ``b``), each with an
    optional ``/step``, selects in ``[low, high]``."""
    found: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or len(step_text) > 4 or int(step_text) < 1:
                raise ScheduleExpressionError(f"{field}: {part!r} has no positive step")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = _number(start, field, low, high, names), _number(end, field, low, high, names)
            if last < first and not wrap:
                raise ScheduleExpressionError(f"{field}: {part!r} runs backwards")
        else:
            first = _number(base, field, low, high, names)
            last = high if slash else first
        span = high - low + 1
        count = (last - first) % span + 1 if wrap else last - first + 1
        found.update(low + (first - low + n) % span for n in range(0, count, step))
    return frozenset(found)


def _month_special(part: str) -> _DaySpec | None:
    if part == "L":
        return _DaySpec("last")
    if part == "LW":
        return _DaySpec("last-weekday")
    if part.endswith("W") and part[:-1].isdigit() and 1 <= int(part[:-1]) <= 31:
        return _DaySpec("nearest-weekday", day=int(part[:-1]))
    return None


def _week_special(part: str) -> _DaySpec | None:
    if len(part) == 2 and part[1] == "L" and part[0] in "1234567":
        return _DaySpec("last-of-week", day=int(part[0]))
    day, hash_, nth = part.partition("#")
    if hash_:
        weekday = _number(day, "day-of-week", 1, 7, WEEKDAYS)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleExpressionError(f"day-of-week: {part!r}: the week after # is 1 to 5")
        return _DaySpec("nth-of-week", day=weekday, nth=int(nth))
    return None


def _day_field(
    text: str,
    field: str,
    low: int,
    high: int,
    names: tuple[str, ...],
    special: Callable[[str], _DaySpec | None],
) -> tuple[frozenset[int], tuple[_DaySpec, ...]]:
    values: set[int] = set()
    specs: list[_DaySpec] = []
    for part in text.split(","):
        if field == "day-of-week" and part == "L":
            values.add(7)  # alone in day-of-week, L is the last day of the week: Saturday
        elif (spec := special(part)) is not None:
            specs.append(spec)
        else:
            values |= _values(part, field, low, high, names)
    return frozenset(values), tuple(specs)


def _weekday(day: date) -> int:
    """Scheduler's day of the week: 1 = Sunday .. 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _month_day(spec: _DaySpec, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if spec.kind == "last":
        return day.day == last
    if spec.kind == "last-weekday":
        return day == _nearest_weekday(day.replace(day=last))
    # nearest-weekday: never across the month's ends; a day the month lacks never fires.
    return spec.day <= last and day == _nearest_weekday(day.replace(day=spec.day))


def _nearest_weekday(target: date) -> date:
    """The Monday-to-Friday day nearest ``target`` without leaving its month."""
    weekday = target.weekday()  # Monday 0 .. Sunday 6
    last = calendar.monthrange(target.year, target.month)[1]
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return target - timedelta(days=1) if target.day > 1 else target + timedelta(days=2)
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the month's last day
        return target + timedelta(days=1) if target.day < last else target - timedelta(days=2)
    return target


def _week_day(spec: _DaySpec, day: date) -> bool:
    if _weekday(day) != spec.day:
        return False
    if spec.kind == "last-of-week":
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 + 1 == spec.nth


# -- local times to instants -------------------------------------------------------------------


def occurrence_of(local: datetime, zone: ZoneInfo) -> Occurrence:
    """The occurrence of the naive wall-clock time ``local`` in ``zone``."""
    instants = sorted({local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)})
    real = [t for t in instants if t.astimezone(zone).replace(tzinfo=None) == local]
    if real:
        return Occurrence(local, real[0], tuple(real))
    # In a gap, the two folds give the offsets before and after the change: the change lies
    # between them. Its instant is the first valid local time after the gap.
    low, high = int(instants[0].timestamp()), int(instants[-1].timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).replace(tzinfo=None) > local:
            high = middle
        else:
            low = middle
    first = datetime.fromtimestamp(high, UTC)
    return Occurrence(local, first, (first,), nonexistent=True)


def occurrences(
    expression: str | Expression,
    timezone: str,
    start: datetime,
    end: datetime,
    *,
    anchor: datetime | None = None,
) -> list[Occurrence]:
    """The occurrences of the schedule whose ``instant`` lies in ``[start, end)``, in order,
    in the IANA zone ``timezone``. ``rate()`` counts from ``anchor`` (required for it): its
    occurrences are ``anchor + k * interval``.

    Two local times that fall on the same instant (a skipped 02:00 and the 03:00 after the
    gap) are one occurrence: the one whose local time exists.
    """
    parsed = parse(expression) if isinstance(expression, str) else expression
    zone = ZoneInfo(timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    if isinstance(parsed, Rate):
        if anchor is None:
            raise ScheduleExpressionError("rate() occurrences need an anchor (when the schedule started)")
        return list(_rate_occurrences(parsed, zone, anchor.astimezone(UTC), start, end))
    if isinstance(parsed, At):
        found = [occurrence_of(parsed.local, zone)]
    else:
        found = list(_cron_occurrences(parsed, zone, start, end))
    by_instant: dict[datetime, Occurrence] = {}
    for occurrence in found:
        if not start <= occurrence.instant < end:
            continue
        known = by_instant.get(occurrence.instant)
        if known is None or (known.nonexistent and not occurrence.nonexistent):
            by_instant[occurrence.instant] = occurrence
    return [by_instant[instant] for instant in sorted(by_instant)]


def _cron_occurrences(cron: Cron, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[Occurrence]:
    # A day either side: a local time near midnight may land across the range's edge.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    times = cron.times()
    while day <= last_day:
        if cron.fires_on(day):
            for clock in times:
                yield occurrence_of(datetime.combine(day, clock), zone)
        day += timedelta(days=1)


def _rate_occurrences(
    rate: Rate, zone: ZoneInfo, anchor: datetime, start: datetime, end: datetime
) -> Iterator[Occurrence]:
    steps = max(0, -(-(start - anchor) // rate.every))  # the first k with anchor + k * every >= start
    instant = anchor + steps * rate.every
    while instant < end:
        yield Occurrence(instant.astimezone(zone).replace(tzinfo=None), instant, (instant,))
        instant += rate.every
