"""How offboarding finds one tenant's items: a parallel Scan with a key-prefix filter, against
the alternative of walking the tenant's day markers.

    python bench/offboard_scan.py [--tenants T] [--logs N] [--segments 1,4,8]

Loads T tenants of N logs each (with their catalogues) into the tracking table on dynalite,
then, for the first tenant:
- the survey's Scan (``aws.table_scan.scan_prefix``, strongly consistent) for each segment
  count: seconds, items examined, items matched, and read units (DynamoDB's rule for a Scan:
  the sizes of the items a request reads, summed and rounded up to 4 KB, one unit each when
  strongly consistent; dynalite's own figure beside it);
- the alternative: the ``DAYS`` markers, then 4 shard Queries per day (keys only): what it
  reads, and what it cannot see (the catalogue has no per-tenant index).
docs/operations.md turns these into a fleet table's cost.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from dataclasses import replace
from typing import Any

from read_cost import READ_UNIT_BYTES, item_size

from tools.local_endpoints import dynalite, repo_root
from tools.sample_data import SampleShape, dataset
from tools.template_tables import table_definitions
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.aws.table_scan import scan_prefix
from tracking_export_aws.ingest.loader import load_dataset

REGION = "us-east-1"


def _load(dynamodb: Any, table: str, tenants: int, logs: int) -> list[str]:
    names = [f"tenant-{n:03d}" for n in range(tenants)]
    for name in names:
        shape = replace(
            SampleShape(tenant_id=name), logs=logs, learners=200, contents=40, trackings=logs // 4
        )
        report = load_dataset(dataset(shape), table, dynamodb)
        assert report.rejected_count == 0, report.as_dict()
    return names


def _table_bytes(dynamodb: Any, table: str, prefix: str) -> tuple[int, int, int, int]:
    """(items, bytes) of the whole table and of the tenant's items, by DynamoDB's size rules."""
    items = size = mine = mine_size = 0
    for page in _pages(dynamodb, TableName=table):
        for item in page:
            bytes_ = item_size(item)
            items, size = items + 1, size + bytes_
            if item["pk"]["S"].startswith(prefix):
                mine, mine_size = mine + 1, mine_size + bytes_
    return items, size, mine, mine_size


def _pages(dynamodb: Any, **request: Any) -> Any:
    while True:
        page = dynamodb.scan(**request)
        yield page.get("Items", [])
        if not page.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _scan(dynamodb: Any, table: str, prefix: str, segments: int) -> tuple[float, Any]:
    matched: list[int] = []
    lock = threading.Lock()

    def count(items: list[dict[str, Any]]) -> None:
        with lock:
            matched.append(len(items))

    started = time.perf_counter()
    stats = scan_prefix(dynamodb, table, prefix, count, segments=segments)
    return time.perf_counter() - started, stats


def _by_days(dynamodb: Any, table: str, tenant: str) -> tuple[float, int, float]:
    """The tenant's logs through its day markers: (seconds, items, read units by the rule)."""
    started = time.perf_counter()
    found = 0
    units = 0.0
    for page in query_pages(
        dynamodb,
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.days_pk(tenant)}},
        ConsistentRead=True,
    ):
        units += math.ceil(sum(item_size(i) for i in page) / READ_UNIT_BYTES)
        for marker in page:
            day = marker["sk"]["S"]
            for shard in range(keys.LOG_SHARDS):
                for logs in query_pages(
                    dynamodb,
                    TableName=table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": keys.log_pk(tenant, day, shard)}},
                    ConsistentRead=True,
                ):
                    # A Query reads whole items whatever it projects.
                    found += len(logs)
                    units += math.ceil(sum(item_size(i) for i in logs) / READ_UNIT_BYTES)
    return time.perf_counter() - started, found, units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--logs", type=int, default=5_000, help="logs per tenant")
    parser.add_argument("--segments", default="1,4,8")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with dynalite() as endpoint:
        dynamodb = clients.client("dynamodb", endpoint_url=endpoint, region=REGION)
        definitions = table_definitions(repo_root() / "template.yaml")
        table = "bench-tracking"
        dynamodb.create_table(TableName=table, **definitions["TrackingTable"])
        started = time.perf_counter()
        tenants = _load(dynamodb, table, args.tenants, args.logs)
        print(f"loaded {args.tenants} tenants x {args.logs:,} logs in {time.perf_counter() - started:.1f} s")
        tenant = tenants[0]
        prefix = keys.tenant_key_prefix(tenant)
        items, size, mine, mine_size = _table_bytes(dynamodb, table, prefix)
        print(
            f"table: {items:,} items, {size / 1e6:.2f} MB (DynamoDB sizes); tenant {tenant}: {mine:,} items, "
            f"{mine_size / 1e6:.2f} MB; load average {os.getloadavg()[0]:.1f}"
        )
        rule_units = math.ceil(size / READ_UNIT_BYTES)
        for segments in (int(s) for s in args.segments.split(",")):
            seconds, stats = _scan(dynamodb, table, prefix, segments)
            assert stats.matched == mine, (stats.matched, mine)
            print(
                f"scan, {segments} segment(s): {seconds:.2f} s, {stats.scanned:,} items examined "
                f"({stats.scanned / seconds:,.0f}/s), {stats.matched:,} matched; read units: "
                f"~{rule_units:,} by DynamoDB's rule (strongly consistent), "
                f"{stats.read_units:,.0f} as dynalite reports"
            )
        seconds, found, units = _by_days(dynamodb, table, tenant)
        print(
            f"day markers + shard Queries: {seconds:.2f} s, {found:,} logs "
            f"({found / mine:.0%} of the tenant's items: the catalogue and the other markers "
            f"have no per-tenant index), ~{units:,.0f} read units"
        )


if __name__ == "__main__":
    main()
