"""parse_tracking_log's inline fast path refuses what the field-by-field checks refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tracking_export.records import InvalidRecord, parse_tracking_log


def log(**fields: Any) -> dict[str, Any]:
    return {
        "trackingId": 1,
        "logId": 7,
        "startedAt": "2026-01-01T10:00:00Z",
        "progression": 50,
        "status": "incomplete",
        "timeSpentSeconds": 60,
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"score": float("inf")}, "field 'score' must be a finite number, got NaN or an infinity"),
        ({"score": float("nan")}, "field 'score' must be a finite number, got NaN or an infinity"),
        ({"timeSpentSeconds": 10**12}, "field 'timeSpentSeconds' must lie in 0..3162240000"),
        ({"lastAccessAt": 5}, "field 'lastAccessAt' must be an ISO 8601 instant with an offset or Z"),
        ({"completedAt": "2026-01-01T10:00:00"}, "field 'completedAt' must be an ISO 8601 instant"),
        ({"startedAt": "1899-12-31T23:00:00Z"}, "field 'startedAt' must be an ISO 8601 instant"),
    ],
)
def test_refused(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRecord) as error:
        parse_tracking_log(log(**fields))
    assert str(error.value).startswith(reason)


def test_an_offset_other_than_utc_is_read_as_the_same_instant() -> None:
    parsed = parse_tracking_log(
        log(startedAt="2026-01-01T12:00:00+02:00", lastAccessAt="2026-01-01T10:05:00Z")
    )
    assert parsed.started_at == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert parsed.started_at.tzinfo is UTC
    assert parsed.last_access_at == datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
