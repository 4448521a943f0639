"""The per-definition generated log row (render.RowRenderer.log_row) against hand-checked cells.

The generated row inlines value caches, date formatting and, for a pattern the encoder can
never change, skips the encoder: these cases hit each branch where that could go wrong
(quoting, maxLength, formula escape, stripHTML, YY, a zone with offsets, UTC) and compare
with the general per-column path (``row``) too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from engine_helpers import load, provider

from tracking_export.records import TrackingLog
from tracking_export.render import RowRenderer
from tracking_export.writer import CellEncoder

COLUMNS = "<firstLaunchDate/><completionTime/><logDate/><progression/><score/><status/><timeGlobal/>"
START = datetime(2021, 2, 10, 8, 30, 5, tzinfo=UTC)
LAST_ACCESS = datetime(2021, 2, 10, 9, 15, 0, tzinfo=UTC)
LOG = TrackingLog(1000, 1, START, LAST_ACCESS, None, 37.5, None, "incomplete", 5115)
# The entry of a tracking for definitions without tracking-scope columns: its sort-key prefix only.
ENTRY = (1, 100, "C-1")


def cells(parameters: str, action: str, tz: str) -> list[str]:
    definition = load(provider(COLUMNS, parameters), action)
    renderer = RowRenderer(definition, ZoneInfo(tz), CellEncoder(definition.file_action))
    fast = list(renderer.log_row(ENTRY, LOG, LOG.time_spent_seconds))
    assert fast == list(renderer.row(ENTRY, LOG, LOG.time_spent_seconds))
    return fast


@pytest.mark.parametrize(
    ("parameters", "action", "tz", "expected"),
    [
        (  # Paris is UTC+1 in February
            "<dateTimeFormat>YYYY-MM-DD hh:ii:ss</dateTimeFormat>",
            "<delimiter>comma</delimiter>",
            "Europe/Paris",
            ["2021-02-10 09:30:05", "2021-02-10 10:15:00", "2021-02-10", "37.5", "", "incomplete", "5115"],
        ),
        (  # the same instants in UTC: no zone conversion, same fields
            "<dateTimeFormat>YYYY-MM-DD hh:ii:ss</dateTimeFormat>",
            "<delimiter>comma</delimiter>",
            "UTC",
            ["2021-02-10 08:30:05", "2021-02-10 09:15:00", "2021-02-10", "37.5", "", "incomplete", "5115"],
        ),
        (  # the delimiter inside the pattern: every date cell is quoted
            "<dateTimeFormat>DD,MM,YYYY</dateTimeFormat><dateFormat>YYYY,MM</dateFormat>",
            "<delimiter>comma</delimiter>",
            "UTC",
            ['"10,02,2021"', '"10,02,2021"', '"2021,02"', "37.5", "", "incomplete", "5115"],
        ),
        (  # maxLength cuts dates and status alike
            "<dateTimeFormat>YYYY-MM-DD hh:ii</dateTimeFormat><maxLength>7</maxLength>",
            "<delimiter>comma</delimiter>",
            "UTC",
            ["2021-02", "2021-02", "2021-02", "37.5", "", "incompl", "5115"],
        ),
        (  # YY and a decimal comma (then the comma-delimited progression is quoted)
            "<dateTimeFormat>DD/MM/YY hh:ii</dateTimeFormat><timeGlobalFormat>rawMinutes</timeGlobalFormat>",
            "<delimiter>comma</delimiter><decimal>comma</decimal>",
            "UTC",
            ["10/02/21 08:30", "10/02/21 09:15", "2021-02-10", '"37,5"', "", "incomplete", '"85,25"'],
        ),
        (  # a pattern starting with a formula trigger is escaped
            "<dateTimeFormat>=YYYY</dateTimeFormat>",
            "<delimiter>semicolon</delimiter><formulaEscape>yes</formulaEscape>",
            "UTC",
            ["'=2021", "'=2021", "2021-02-10", "37.5", "", "incomplete", "5115"],
        ),
    ],
)
def test_generated_log_row(parameters: str, action: str, tz: str, expected: list[str]) -> None:
    assert cells(parameters, action, tz) == expected


def test_cached_cells_do_not_mix_values() -> None:
    """The same column's cache serves each value its own cell, 100 and 100.0 alike."""
    definition = load(provider("<progression/><score/>"))
    renderer = RowRenderer(definition, ZoneInfo("UTC"), CellEncoder(definition.file_action))
    rows = [
        list(renderer.log_row(ENTRY, LOG._replace(progression=p, score=s), 0))
        for p, s in ((100, 80), (100.0, None), (37.5, 12.5), (0, 0), (100, 80))
    ]
    assert rows == [["100", "80"], ["100", ""], ["37.5", "12.5"], ["0", "0"], ["100", "80"]]
