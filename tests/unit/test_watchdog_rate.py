"""The watchdog's reading of a ``rate()`` schedule (ops/watchdog.py, docs/run-lifecycle.md).

Scheduler fires a rate schedule once when it is created, then every interval; an update may
restart that phase. The watchdog follows the phase of the runs on record: a record within half
an interval of the time it expects is that time's run, and the next is due an interval later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracking_export_aws.ops.watchdog import _rate_missed

HOUR = timedelta(hours=1)


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def test_a_gap_between_records_is_missed_and_so_is_a_time_after_the_last() -> None:
    records = [at(10), at(11), at(13)]
    assert _rate_missed(HOUR, at(10), at(10), at(14, 30), records) == [at(12), at(14)]


def test_nothing_is_missed_before_it_is_due() -> None:
    assert _rate_missed(HOUR, at(10), at(10), at(12, 59), [at(10), at(11), at(12)]) == []


def test_the_phase_follows_the_records_when_an_update_restarted_it() -> None:
    # Restarted at 11:20 (an update): 12:20 follows it; 13:20 is due at 13:30 and missing.
    records = [at(10), at(11, 20), at(12, 20)]
    assert _rate_missed(HOUR, at(10), at(10), at(13, 10), records) == []
    assert _rate_missed(HOUR, at(10), at(10), at(13, 30), records) == [at(13, 20)]


def test_a_new_schedule_fires_at_once_when_created() -> None:
    assert _rate_missed(HOUR, at(10, 5), at(10, 5), at(11, 30), []) == [at(10, 5), at(11, 5)]


def test_without_records_the_phase_comes_from_the_schedules_start_and_the_window_bounds_it() -> None:
    since = at(0, 10, day=1)
    start = at(2, 0, day=3)  # the lookback window's start, long after the schedule began
    assert _rate_missed(6 * HOUR, since, start, at(13, 0, day=3), []) == [at(6, 10, day=3), at(12, 10, day=3)]


def test_a_record_before_the_window_sets_the_phase_and_times_before_the_window_are_never_missed() -> None:
    start = at(10)
    records = [at(7, 40)]  # 8:40 and 9:40 are before the window: not the watchdog's
    assert _rate_missed(HOUR, at(0), start, at(12), records) == [at(10, 40), at(11, 40)]


def test_records_of_an_earlier_schedule_do_not_set_the_phase() -> None:
    # The schedule in force since 10:15 (another interval before): its first time is 10:15.
    assert _rate_missed(HOUR, at(10, 15), at(10, 15), at(11, 0), [at(9, 0), at(10, 0)]) == [at(10, 15)]
