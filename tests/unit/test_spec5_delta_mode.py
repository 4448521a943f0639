"""Spec export-definition.md §5: deltaMode windows are whole local days, from the day
the previous *successful* run started through the current day, inclusive.

The engine is told the last successful run's start (``previous_success_start``);
it never sees failed runs, so "a failed run does not move the window" means: given
an older successful start, the window reaches back to that older day.
Tenant zone Europe/Paris (UTC+1 in winter, UTC+2 in summer) unless said otherwise.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from contract_records import Dataset, utc
from engine_helpers import definition_xml, parameters, provider, run, standard, zone

from tracking_export.cli import main
from tracking_export.model import Parameters
from tracking_export.window import compute_window

DELTA = provider("<reportId/><firstLaunchDate/><timeGlobal/>", "<deltaMode>yes</deltaMode>")


def delta_params() -> Parameters:
    return parameters("<deltaMode>yes</deltaMode>")


@pytest.mark.parametrize(
    ("tz", "previous", "now", "first_day", "last_day"),
    [
        (
            "Europe/Paris",
            "2021-02-23T01:30:00Z",
            "2021-02-24T12:00:00Z",
            date(2021, 2, 23),
            date(2021, 2, 24),
        ),
        # Same day: the window is today only.
        (
            "Europe/Paris",
            "2021-02-24T01:00:00Z",
            "2021-02-24T12:00:00Z",
            date(2021, 2, 24),
            date(2021, 2, 24),
        ),
        # 23:30Z on 22 Feb is 00:30 on 23 Feb in Paris; 22:59:59Z is still 22 Feb.
        (
            "Europe/Paris",
            "2021-02-22T23:30:00Z",
            "2021-02-24T12:00:00Z",
            date(2021, 2, 23),
            date(2021, 2, 24),
        ),
        (
            "Europe/Paris",
            "2021-02-22T22:59:59Z",
            "2021-02-24T12:00:00Z",
            date(2021, 2, 22),
            date(2021, 2, 24),
        ),
        ("UTC", "2021-02-22T23:30:00Z", "2021-02-24T12:00:00Z", date(2021, 2, 22), date(2021, 2, 24)),
        # now 23:30Z on 24 Feb is 25 Feb in Paris.
        (
            "Europe/Paris",
            "2021-02-24T01:00:00Z",
            "2021-02-24T23:30:00Z",
            date(2021, 2, 24),
            date(2021, 2, 25),
        ),
        ("UTC", "2021-02-24T01:00:00Z", "2021-02-24T23:30:00Z", date(2021, 2, 24), date(2021, 2, 24)),
        # Summer time: 22:00Z on 1 July is 00:00 on 2 July.
        ("Europe/Paris", "2021-07-01T22:00:00Z", "2021-07-03T10:00:00Z", date(2021, 7, 2), date(2021, 7, 3)),
        ("Europe/Paris", "2021-07-01T21:59:59Z", "2021-07-03T10:00:00Z", date(2021, 7, 1), date(2021, 7, 3)),
        # An older successful start (the runs after it failed): the window reaches back to it.
        (
            "Europe/Paris",
            "2021-02-20T01:00:00Z",
            "2021-02-24T01:00:00Z",
            date(2021, 2, 20),
            date(2021, 2, 24),
        ),
    ],
)
def test_compute_window_whole_local_days(
    tz: str, previous: str, now: str, first_day: date, last_day: date
) -> None:
    window = compute_window(delta_params(), zone(tz), utc(now), utc(previous))
    assert window.kind == "delta"
    assert (window.first_day, window.last_day) == (first_day, last_day)


def days_world() -> Dataset:
    """One log a day at 10:00Z (11:00 Paris) from 18 to 24 Feb 2021; timeGlobal = day of month."""
    data = standard()
    for day in range(18, 25):
        data.log(1000, 9000 + day, f"2021-02-{day:02d}T10:00:00Z", seconds=day)
    return data


def seconds_of(raw: bytes) -> list[str]:
    lines = raw.decode().split("\r\n")[1:-1]
    return [line.rsplit(",", 1)[1] for line in lines]


def test_run_covers_whole_days_from_previous_start_day() -> None:
    # Previous successful run started 22 Feb at 02:30 Paris; the 22 Feb log at 11:00 Paris
    # started *after* it, the window still starts at 22 Feb 00:00.
    raw, report = run(
        DELTA, days_world().records, now=utc("2021-02-24T12:00:00Z"), previous=utc("2021-02-22T01:30:00Z")
    )
    assert seconds_of(raw) == ["22", "23", "24"]
    assert report.window.kind == "delta"
    assert (report.window.first_day, report.window.last_day) == (date(2021, 2, 22), date(2021, 2, 24))


def test_five_runs_in_a_row_today_give_identical_files() -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-20T10:00:00Z", seconds=20)  # long before
    data.log(1000, 9002, "2021-02-23T23:30:00Z", seconds=24)  # 24 Feb 00:30 Paris
    data.log(1000, 9003, "2021-02-24T00:15:00Z", seconds=25)  # 24 Feb 01:15 Paris
    previous = utc("2021-02-23T01:00:00Z")  # yesterday's run, 02:00 Paris; no activity on 23 Feb
    files = []
    for start in ("01:00", "01:10", "01:20", "01:30", "01:40"):
        now = utc(f"2021-02-24T{start}:00Z")
        raw, _ = run(DELTA, data.records, now=now, previous=previous)
        files.append(raw)
        previous = now
    assert all(f == files[0] for f in files)
    assert files[0] == (
        b"reportId,firstLaunchDate,timeGlobal\r\n"
        b"1000,2021-02-24 00:30:00,24\r\n"
        b"1000,2021-02-24 01:15:00,25\r\n"
    )


def test_late_activity_yesterday_after_yesterdays_run_appears_today() -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-22T10:00:00Z", seconds=22)  # the day before yesterday
    data.log(1000, 9002, "2021-02-23T00:30:00Z", seconds=1)  # 23 Feb 01:30 Paris, before yesterday's run
    data.log(1000, 9003, "2021-02-23T21:00:00Z", seconds=2)  # 23 Feb 22:00 Paris, after yesterday's run
    data.log(1000, 9004, "2021-02-24T00:30:00Z", seconds=3)  # 24 Feb 01:30 Paris
    yesterdays_run = utc("2021-02-23T01:00:00Z")  # 02:00 Paris
    raw, _ = run(DELTA, data.records, now=utc("2021-02-24T01:00:00Z"), previous=yesterdays_run)
    assert seconds_of(raw) == ["1", "2", "3"]


def test_first_run_covers_all_data_up_to_the_end_of_the_run_s_local_day() -> None:
    data = standard()
    data.log(1000, 9001, "2019-06-01T10:00:00Z", seconds=1)
    data.log(1000, 9002, "2020-12-31T23:30:00Z", seconds=2)
    data.log(1000, 9003, "2021-02-24T08:00:00Z", seconds=3)
    data.log(1000, 9004, "2021-02-24T22:59:00Z", seconds=4)  # 24 Feb 23:59 Paris: still today
    data.log(1000, 9005, "2021-02-24T23:00:00Z", seconds=5)  # 25 Feb 00:00 Paris: tomorrow
    data.log(1000, 9006, "2021-03-10T10:00:00Z", seconds=6)
    raw, report = run(DELTA, data.records, now=utc("2021-02-24T12:00:00Z"), previous=None)
    assert seconds_of(raw) == ["1", "2", "3", "4"]
    assert report.rows == 4
    assert report.window.kind == "delta"
    assert (report.window.first_day, report.window.last_day) == (None, date(2021, 2, 24))


def test_first_run_replayed_with_a_past_run_at_never_includes_later_logs() -> None:
    # The export's first run, replayed on 1 March with runAt 20 Feb 02:00 Paris: the logs
    # of 21 Feb onwards, already in the table, stay out; all of 20 Feb is in.
    data = days_world()
    raw, report = run(DELTA, data.records, now=utc("2021-02-20T01:00:00Z"), previous=None)
    assert seconds_of(raw) == ["18", "19", "20"]
    assert report.window.last_day == date(2021, 2, 20)


def test_first_run_s_local_day_runs_past_midnight_utc() -> None:
    # now = 24 Feb 23:30Z = 25 Feb 00:30 Paris: the run's day is 25 Feb, to its end
    # (25 Feb 23:00Z).
    data = standard()
    data.log(1000, 9001, "2021-02-24T23:15:00Z", seconds=1)  # 25 Feb 00:15 Paris
    data.log(1000, 9002, "2021-02-25T22:59:59Z", seconds=2)  # 25 Feb 23:59:59 Paris
    data.log(1000, 9003, "2021-02-25T23:00:00Z", seconds=3)  # 26 Feb 00:00 Paris
    now = utc("2021-02-24T23:30:00Z")
    raw, _ = run(DELTA, data.records, now=now, previous=None)
    assert seconds_of(raw) == ["1", "2"]
    # In UTC the run's day is 24 Feb: only the 24 Feb 23:15Z log.
    raw, _ = run(DELTA, data.records, tz="UTC", now=now, previous=None)
    assert seconds_of(raw) == ["1"]


def test_first_run_before_any_data_is_empty_and_still_reports_unreadable_logs() -> None:
    data = days_world()
    data.log(1000, 9999, "2021-02-20T10:00:00Z", startedAt="not a date")
    raw, report = run(DELTA, data.records, now=utc("2021-02-01T12:00:00Z"), previous=None)
    assert seconds_of(raw) == []
    assert report.rows == 0
    assert [(s.kind, s.key) for s in report.skipped] == [("trackingLog", 9999)]


def test_cli_summary_names_the_first_run_s_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "data.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in days_world().records), encoding="utf-8")
    definition = tmp_path / "delta.xml"
    definition.write_text(definition_xml(DELTA), encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    argv += ["--timezone", "Europe/Paris", "--now", "2021-02-20T01:00:00Z", "--output", str(out)]
    assert main(argv) == 0
    assert "window=delta:all-data..2021-02-20 " in capsys.readouterr().err
    assert seconds_of(out.read_bytes()) == ["18", "19", "20"]


@pytest.mark.parametrize(
    ("tz", "now", "last_day"),
    [
        ("Europe/Paris", "2021-02-24T12:00:00Z", date(2021, 2, 24)),
        ("Europe/Paris", "2021-02-24T23:30:00Z", date(2021, 2, 25)),
        ("UTC", "2021-02-24T23:30:00Z", date(2021, 2, 24)),
        ("America/New_York", "2021-02-25T03:00:00Z", date(2021, 2, 24)),  # 22:00 on 24 Feb there
    ],
)
def test_compute_window_of_a_first_run_ends_with_the_run_s_local_day(
    tz: str, now: str, last_day: date
) -> None:
    window = compute_window(delta_params(), zone(tz), utc(now), None)
    assert (window.kind, window.first_day, window.last_day) == ("delta", None, last_day)


def test_failed_runs_do_not_move_the_window() -> None:
    # Success on 20 Feb (02:00 Paris); the runs of 21, 22 and 23 Feb failed, so the
    # caller still passes 20 Feb's start: today's run covers 20..24 Feb.
    now = utc("2021-02-24T12:00:00Z")
    raw, report = run(DELTA, days_world().records, now=now, previous=utc("2021-02-20T01:00:00Z"))
    assert seconds_of(raw) == ["20", "21", "22", "23", "24"]
    assert report.window.first_day == date(2021, 2, 20)
    # Compare with what a run after a success on 23 Feb covers.
    raw, _ = run(DELTA, days_world().records, now=now, previous=utc("2021-02-23T01:00:00Z"))
    assert seconds_of(raw) == ["23", "24"]


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        # Paris: previous start 22 Feb 23:30Z = 23 Feb 00:30 -> window from 23 Feb 00:00 Paris
        # (= 22 Feb 23:00Z): the 23:10Z log (23 Feb 00:10 Paris, before the previous start
        # instant but on its day) is in, the 22:50Z one (22 Feb 23:50 Paris) is out.
        ("Europe/Paris", ["2", "3", "4"]),
        # UTC: previous start is on 22 Feb, all of 22 Feb is in.
        ("UTC", ["1", "2", "3", "4"]),
    ],
)
def test_local_day_boundaries_around_midnight_utc(tz: str, expected: list[str]) -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-22T22:50:00Z", seconds=1)
    data.log(1000, 9002, "2021-02-22T23:10:00Z", seconds=2)
    data.log(1000, 9003, "2021-02-23T12:00:00Z", seconds=3)
    data.log(1000, 9004, "2021-02-24T10:00:00Z", seconds=4)
    raw, _ = run(
        DELTA, data.records, tz=tz, now=utc("2021-02-24T12:00:00Z"), previous=utc("2021-02-22T23:30:00Z")
    )
    assert seconds_of(raw) == expected


def test_current_local_day_runs_past_midnight_utc() -> None:
    # now = 24 Feb 23:30Z = 25 Feb 00:30 Paris: today is 25 Feb; a log at 23:15Z (25 Feb 00:15 Paris)
    # is in, and so is the rest of 24 Feb (previous run started on 24 Feb).
    data = standard()
    data.log(1000, 9001, "2021-02-23T22:59:00Z", seconds=1)  # 23 Feb 23:59 Paris: out
    data.log(1000, 9002, "2021-02-23T23:00:00Z", seconds=2)  # 24 Feb 00:00 Paris: in
    data.log(1000, 9003, "2021-02-24T23:15:00Z", seconds=3)  # 25 Feb 00:15 Paris: in
    raw, report = run(
        DELTA, data.records, now=utc("2021-02-24T23:30:00Z"), previous=utc("2021-02-24T01:00:00Z")
    )
    assert seconds_of(raw) == ["2", "3"]
    assert (report.window.first_day, report.window.last_day) == (date(2021, 2, 24), date(2021, 2, 25))
