"""How the tracking source reads a day of logs from DynamoDB (dynalite): page by page, in a
fixed order, skipping logs whose TTL has passed — and the fast response parser really used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tracking_export_aws.clients import client, item_read_parsers
from tracking_export_aws.dynamo_source import DynamoTrackingSource
from tracking_export_aws.loader import load_dataset

TENANT = "umbrella"
DAY = (datetime(2021, 3, 4, tzinfo=UTC), datetime(2021, 3, 5, tzinfo=UTC))
# The run's wall clock in these tests: 2021-03-10T00:00:00Z.
NOW = datetime(2021, 3, 10, tzinfo=UTC).timestamp()


def log(log_id: int, minute: int, **fields: Any) -> dict[str, Any]:
    started = f"2021-03-04T10:{minute:02d}:00Z"
    return {
        "type": "trackingLog",
        "tenantId": TENANT,
        "trackingId": 1,
        "logId": log_id,
        "startedAt": started,
        "lastAccessAt": started,
        "progression": 50,
        "score": None,
        "status": "incomplete",
        "timeSpentSeconds": 60,
        "updatedAt": started,
        **fields,
    }


@pytest.fixture(scope="module")
def loaded(dynamo_endpoint: str, dynamo_tables: dict[str, str]) -> tuple[Any, str]:
    dynamodb = client("dynamodb", endpoint_url=dynamo_endpoint, region="us-east-1")
    table = dynamo_tables["TrackingTable"]
    # 20 logs, 5 per shard (shard = logId % 4); minutes decrease with the id, so that the
    # order within a shard (sort key: start, then id) is not the order of the ids.
    records = [log(log_id, 59 - log_id) for log_id in range(1, 21)]
    # TTL: 21 expired a second before NOW, 22 expires exactly at NOW (expired), 23 a second
    # after (kept), 24 has a non-numeric expiresAt (never expires), 25 a float one (expired).
    records += [log(log_id, minute) for log_id, minute in ((21, 30), (22, 31), (23, 32), (24, 33), (25, 34))]
    report = load_dataset(records, table, dynamodb)
    assert report.rejected_count == 0
    # expiresAt is the TTL attribute retention writes; a record may not carry it (the loader
    # refuses it), so it is set on the stored items, malformed values included.
    expiries = {
        21: {"N": str(int(NOW) - 1)},
        22: {"N": str(int(NOW))},
        23: {"N": str(int(NOW) + 1)},
        24: {"S": "2021-03-01"},
        25: {"N": str(NOW - 0.5)},
    }
    stored = [
        item
        for page in dynamodb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
        if item["pk"]["S"].startswith(f"T#{TENANT}#") and "#L#" in item["pk"]["S"]
    ]
    updated = 0
    for item in stored:
        log_id = int(item.get("logId", {}).get("N", "0"))
        if log_id in expiries:
            dynamodb.update_item(
                TableName=table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET expiresAt = :e",
                ExpressionAttributeValues={":e": expiries[log_id]},
            )
            updated += 1
    assert updated == len(expiries)
    return dynamodb, table


def test_a_day_comes_in_pages_shard_by_shard_in_sort_key_order(loaded: tuple[Any, str]) -> None:
    dynamodb, table = loaded
    with DynamoTrackingSource(TENANT, table, dynamodb, now=NOW, page_size=2) as source:
        (day,) = list([list(page) for page in pages] for pages in source.log_pages_in_ranges([DAY]))
    assert all(len(page) <= 2 for page in day)
    ids = [record["logId"] for page in day for record in page]
    # Shard = logId % 4; within a shard, by start (10:{59 - id} for ids 1-20), then id.
    # 21, 22 and 25 have expired: they cost a read but are not handed out.
    assert ids == [
        *[24, 20, 16, 12, 8, 4],  # shard 0: 24 at 10:33, then 20 at 10:39 ... 4 at 10:55
        *[17, 13, 9, 5, 1],  # shard 1 (21 at 10:30 and 25 at 10:34 expired)
        *[18, 14, 10, 6, 2],  # shard 2 (22 at 10:31 expired)
        *[23, 19, 15, 11, 7, 3],  # shard 3: 23 at 10:32 first
    ]


def test_logs_past_their_expiry_are_not_read(loaded: tuple[Any, str]) -> None:
    dynamodb, table = loaded
    with DynamoTrackingSource(TENANT, table, dynamodb, now=NOW) as source:
        (logs,) = source.logs_in_ranges([DAY])
    by_id = {record["logId"]: record for record in logs}
    assert {21, 22, 25}.isdisjoint(by_id)
    assert {23, 24} <= by_id.keys()
    assert by_id[23]["expiresAt"] == int(NOW) + 1
    # A week earlier, nothing had expired yet.
    with DynamoTrackingSource(TENANT, table, dynamodb, now=NOW - 7 * 86_400) as earlier:
        (logs,) = earlier.logs_in_ranges([DAY])
    assert len(logs) == 25


def test_reading_stops_cleanly_midway_through_a_day(loaded: tuple[Any, str]) -> None:
    dynamodb, table = loaded
    with DynamoTrackingSource(TENANT, table, dynamodb, now=NOW, page_size=1) as source:
        days = source.log_pages_in_ranges([DAY, (DAY[1], DAY[1] + timedelta(days=1))])
        pages = next(days)
        first = next(pages)
        assert len(first) == 1
        days.close()  # the reads still in flight are dropped


def test_query_answers_take_the_fast_parser(loaded: tuple[Any, str]) -> None:
    dynamodb, table = loaded
    counts = item_read_parsers(dynamodb)
    assert counts is not None
    before_fast, before_standard = counts.fast_answers, counts.standard_answers
    with DynamoTrackingSource(TENANT, table, dynamodb, now=NOW) as source:
        (logs,) = source.logs_in_ranges([DAY])
        assert source.get_many("tracking", [1]) == {}
    assert len(logs) == 22
    # 1 Query for the DAYS items, 4 for the shards, 1 BatchGetItem: all parsed by json.loads.
    assert counts.fast_answers - before_fast == 6
    assert counts.standard_answers == before_standard
