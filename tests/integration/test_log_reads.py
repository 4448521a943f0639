"""How the tracking source reads a day of logs from DynamoDB (dynalite): page by page, in a
fixed order, skipping logs whose TTL has passed — and the fast response parser really used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contract_records import log_id_of

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.clients import client, item_read_parsers
from tracking_export_aws.aws.tracking_source import DynamoTrackingSource
from tracking_export_aws.ingest.loader import load_dataset

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
    expiries: dict[int, dict[str, str]] = {
        21: {"N": str(int(NOW) - 1)},
        22: {"N": str(int(NOW))},
        23: {"N": str(int(NOW) + 1)},
        24: {"S": "2021-03-01"},
        25: {"N": str(NOW - 0.5)},
    }
    records += [log(log_id, 9 + log_id) for log_id in expiries]
    report = load_dataset(records, table, dynamodb)
    assert report.rejected_count == 0
    # The loader sets expiresAt from the tenant's retention (none here) and refuses it in a
    # record: the TTL values under test are written onto the stored items directly.
    for log_id, value in expiries.items():
        started = datetime(2021, 3, 4, 10, 9 + log_id, tzinfo=UTC)
        day = keys.utc_day(started)
        dynamodb.update_item(
            TableName=table,
            Key={
                "pk": {"S": keys.log_pk(TENANT, day, keys.log_shard(log_id))},
                "sk": {"S": keys.log_sk(started, log_id)},
            },
            UpdateExpression="SET expiresAt = :e",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":e": value},
        )
    return dynamodb, table


def test_a_day_comes_in_pages_shard_by_shard_in_sort_key_order(loaded: tuple[Any, str]) -> None:
    dynamodb, table = loaded
    with DynamoTrackingSource(TENANT, table, dynamodb, now=NOW, page_size=2) as source:
        (day,) = list([list(page) for page in pages] for pages in source.log_pages_in_ranges([DAY]))
    assert all(len(page) <= 2 for page in day)
    ids = [log_id_of(record) for page in day for record in page]
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
    by_id = {log_id_of(record): record for record in logs}
    assert {21, 22, 25}.isdisjoint(by_id)
    assert {23, 24} <= by_id.keys()  # 23 expires a second after NOW, 24's expiresAt is no number
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
