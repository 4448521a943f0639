"""parse_tracking_log's inline fast path refuses what the field-by-field checks refuse, and a
DynamoDB log item becomes exactly what its plain record would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tracking_export.records import InvalidRecord, TrackingLog, parse_tracking_log
from tracking_export_aws.aws.dynamo import plain_item
from tracking_export_aws.aws.tracking_source import log_of_item, logs_of_items


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


# -- straight from a DynamoDB item (tracking_export_aws.aws.tracking_source.log_of_item) -------------

ITEM: dict[str, Any] = {
    "trackingId": {"N": "7192"},
    "logId": {"N": "45950"},
    "startedAt": {"S": "2026-10-31T00:02:26Z"},
    "lastAccessAt": {"S": "2026-10-31T00:24:37Z"},
    "completedAt": {"NULL": True},
    "progression": {"N": "37.5"},
    "score": {"N": "80"},
    "status": {"S": "incomplete"},
    "timeSpentSeconds": {"N": "1331"},
}
NOW = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


CHANGES: list[dict[str, Any]] = [
    {},
    {"completedAt": {"S": "2026-10-31T01:00:00Z"}, "progression": {"N": "100"}},
    {"score": {"N": "12.50"}, "progression": {"N": "100.0"}},
    {"score": {"N": "-3"}},
    {"score": {"N": "1E+2"}},
    {"expiresAt": {"N": str(int(NOW) + 1)}},
    {"expiresAt": {"N": str(int(NOW) - 1)}},  # expired
    {"expiresAt": {"S": "soon"}},  # not a number: never expires
    {"startedAt": {"S": "2026-10-31T02:02:26+02:00"}},  # another offset: the field-by-field path
    {"startedAt": {"S": "2026-10-31T00:02:26"}},  # no offset: invalid
    {"trackingId": {"S": "7192"}},
    {"trackingId": {"N": "0007192"}},
    {"logId": {"N": "-1"}},
    {"timeSpentSeconds": {"N": "1331.5"}},
    {"timeSpentSeconds": {"N": "99999999999999"}},
    {"progression": {"N": "100.5"}},
    {"progression": {"S": "50"}},
    {"status": {"S": "done"}},
    {"status": {"NULL": True}},
    {"score": {"BOOL": True}},
    {"score": {"NULL": True}},
    {"score": None},  # absent
    {"lastAccessAt": {"N": "5"}},
    {"lastAccessAt": {"S": ""}},
    {"lastAccessAt": {"NULL": True}},
    {"lastAccessAt": None, "completedAt": None},
    {"completedAt": {"S": "1899-12-31T23:00:00Z"}},
    {"progression": None},  # absent
    {"startedAt": None},
    {"status": {"L": []}},
]


@pytest.mark.parametrize("changes", CHANGES)
def test_an_item_becomes_what_the_record_would(changes: dict[str, Any]) -> None:
    item = {k: v for k, v in {**ITEM, **changes}.items() if v is not None}
    got = log_of_item(item, NOW)
    if got is None:
        assert "expiresAt" in changes
        return
    record = plain_item(item)
    try:
        expected: Any = parse_tracking_log(record)
    except InvalidRecord:
        expected = None
    if isinstance(got, TrackingLog):
        assert got == expected
    else:
        # Handed to the engine as the record itself, which it checks and reports as a dataset's.
        assert got == record
        assert expected is None or "startedAt" in changes


def test_a_page_of_items_becomes_what_each_item_would_in_the_same_order() -> None:
    """logs_of_items reads the common shape inline: the same logs, records and expiries."""
    items = [{k: v for k, v in {**ITEM, **changes}.items() if v is not None} for changes in CHANGES]
    items = [
        {**item, "logId": {"N": str(n)}} if "logId" not in changes else item
        for n, (item, changes) in enumerate(zip(items, CHANGES, strict=True))
    ]
    expected = [log for item in items if (log := log_of_item(item, NOW)) is not None]

    got = logs_of_items(items, NOW)

    assert got == expected
    assert [type(log) for log in got] == [type(log) for log in expected]
    assert [type(v) for log in got for v in (log if isinstance(log, tuple) else log.values())] == [
        type(v) for log in expected for v in (log if isinstance(log, tuple) else log.values())
    ]
    assert len(expected) == len(items) - 1  # the expired one is left out


def test_a_valid_item_is_a_tracking_log_with_the_values_dynamodb_holds() -> None:
    got = log_of_item(ITEM, NOW)
    assert got == TrackingLog(
        tracking_id=7192,
        log_id=45950,
        started_at=datetime(2026, 10, 31, 0, 2, 26, tzinfo=UTC),
        last_access_at=datetime(2026, 10, 31, 0, 24, 37, tzinfo=UTC),
        completed_at=None,
        progression=37.5,
        score=80,
        status="incomplete",
        time_spent_seconds=1331,
    )
    assert type(got.score) is int and type(got.progression) is float


@pytest.mark.parametrize(("expires_at", "kept"), [(NOW - 1, False), (NOW, False), (NOW + 0.5, True)])
def test_an_expired_item_is_not_handed_out(expires_at: float, kept: bool) -> None:
    valid = log_of_item({**ITEM, "expiresAt": {"N": repr(expires_at)}}, NOW)
    invalid = log_of_item({**ITEM, "status": {"S": "?"}, "expiresAt": {"N": repr(expires_at)}}, NOW)
    assert (valid is not None, invalid is not None) == (kept, kept)
