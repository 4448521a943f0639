"""Every item of a table whose partition key starts with a prefix: a parallel Scan.

For the rare whole-tenant operations (offboarding) that no index serves: the tracking table
has no per-tenant index of its catalogue items. A Scan reads the whole table whatever its
filter (docs/operations.md gives the cost); segments run in threads, each handing its pages
to the caller as they come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws.dynamo import BATCH_WRITE_LIMIT, batch_write, chunks

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_SEGMENTS = 4


@dataclass
class ScanStats:
    """What a scan read: items examined and read capacity consumed (as DynamoDB reports it)."""

    scanned: int = 0
    matched: int = 0
    read_units: float = 0.0

    def add(self, scanned: int, matched: int, units: float) -> None:
        self.scanned += scanned
        self.matched += matched
        self.read_units += units


def scan_prefix(
    client: DynamoDBClient,
    table: str,
    prefix: str,
    on_page: Callable[[list[dict[str, Any]]], None],
    *,
    attributes: Sequence[str] = ("pk", "sk"),
    segments: int = DEFAULT_SEGMENTS,
) -> ScanStats:
    """Scan ``table`` (strongly consistent, ``segments`` in parallel) for the items whose ``pk``
    starts with ``prefix``; ``on_page(items)`` gets each page of matches (low-level items with
    ``attributes`` only), from the segment's own thread. Returns what the scan read."""
    names = {f"#a{n}": name for n, name in enumerate(dict.fromkeys(["pk", *attributes]))}
    pk_name = next(alias for alias, name in names.items() if name == "pk")
    request: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": f"begins_with({pk_name}, :prefix)",
        "ProjectionExpression": ", ".join(names),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":prefix": {"S": prefix}},
        "ConsistentRead": True,
        "ReturnConsumedCapacity": "TOTAL",
        "TotalSegments": segments,
    }
    stats = ScanStats()
    lock = threading.Lock()

    def segment(number: int) -> None:
        start: dict[str, Any] = {}
        while True:
            page = client.scan(**request, Segment=number, **start)
            items = page.get("Items", [])
            units = float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
            with lock:
                stats.add(int(page.get("ScannedCount", 0)), len(items), units)
            if items:
                on_page(items)
            if not page.get("LastEvaluatedKey"):
                return
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
        for future in [pool.submit(segment, number) for number in range(segments)]:
            future.result()
    return stats


def delete_items(client: DynamoDBClient, table: str, items: Iterable[dict[str, Any]]) -> int:
    """Delete the items (low-level, with ``pk`` and ``sk``) 25 a request; returns how many."""
    deleted = 0
    for batch in chunks(items, BATCH_WRITE_LIMIT):
        batch_write(
            client,
            table,
            [{"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}} for item in batch],
        )
        deleted += len(batch)
    return deleted
