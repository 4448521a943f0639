"""What an export's DynamoDB reads cost: item sizes, read request units per exported row.

    python bench/read_cost.py [--logs N]

Loads N logs (default 20,000) of the sample tenant into dynalite through the loader, then:
- the average size of a log item as DynamoDB counts it (attribute names + values, with the
  table's key attributes), computed from the stored items;
- the read request units the export's log Queries consume (pages of the source's size,
  eventually consistent), as dynalite reports them (``ReturnConsumedCapacity``) and as
  DynamoDB's rule gives them (0.5 unit per 4 KB of the items a page reads, rounded up);
- the catalogue items a run reads by ``BatchGetItem`` (0.5 unit each: every item is
  rounded up to 4 KB on its own), per exported row.
docs/read-cost.md turns these into a million-row export's cost.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import Any

from export_e2e import DEFINITION

from tools.local_endpoints import dynalite, repo_root
from tools.sample_data import SampleShape, dataset, write_jsonl
from tools.template_tables import table_definitions
from tracking_export.definition import load_definition
from tracking_export.engine import run_export
from tracking_export.source import InMemorySource
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.aws.tracking_source import LOG_PAGE_SIZE
from tracking_export_aws.ingest.loader import load_jsonl

REGION = "us-east-1"
READ_UNIT_BYTES = 4096


def value_size(attribute: dict[str, Any]) -> int:
    """Bytes of one attribute value by DynamoDB's item-size rules."""
    ((tag, value),) = attribute.items()
    if tag == "S":
        return len(value.encode("utf-8"))
    if tag == "N":
        digits = Decimal(value).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "L":
        return 3 + sum(1 + value_size(v) for v in value)
    if tag == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in value.items())
    if tag == "SS":
        return sum(len(v.encode("utf-8")) for v in value)
    if tag == "NS":
        return sum(value_size({"N": v}) for v in value)
    return len(value)


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=20_000)
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    shape = replace(SampleShape(tenant_id="acme"), logs=args.logs, trackings=max(20_000, args.logs // 5))
    with dynalite() as endpoint, tempfile.TemporaryDirectory() as scratch:
        # As the export's tracking reads: no client-side parameter validation.
        dynamodb = clients.client("dynamodb", endpoint_url=endpoint, region=REGION, validated=False)
        definitions = table_definitions(repo_root() / "template.yaml")
        logical_id = next(k for k in definitions if "Tracking" in k)
        dynamodb.create_table(TableName="cost-tracking", **definitions[logical_id])
        path = Path(scratch) / "acme.jsonl"
        write_jsonl(dataset(shape), path)
        started = time.perf_counter()
        load_jsonl(path, "cost-tracking", dynamodb)
        print(f"loaded {args.logs:,} logs in {time.perf_counter() - started:.1f} s")

        days_count = -(-shape.logs // shape.logs_per_day)
        first_day = shape.last_day - timedelta(days=days_count - 1)
        sizes: list[int] = []
        reported = computed = 0.0
        for n in range(days_count):
            day = (first_day + timedelta(days=n)).isoformat()
            for shard in range(keys.LOG_SHARDS):
                request: dict[str, Any] = {
                    "TableName": "cost-tracking",
                    "KeyConditionExpression": "pk = :pk",
                    "ExpressionAttributeValues": {":pk": {"S": keys.log_pk("acme", day, shard)}},
                    "Limit": LOG_PAGE_SIZE,
                    "ReturnConsumedCapacity": "TOTAL",
                }
                while True:
                    page = dynamodb.query(**request)
                    page_sizes = [item_size(item) for item in page["Items"]]
                    sizes += page_sizes
                    reported += page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)
                    computed += 0.5 * math.ceil(sum(page_sizes) / READ_UNIT_BYTES)
                    if "LastEvaluatedKey" not in page:
                        break
                    request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        logs = len(sizes)
        print(
            f"log items: {logs:,}, average size {sum(sizes) / logs:.0f} bytes "
            f"(min {min(sizes)}, max {max(sizes)})"
        )
        print(
            f"log Query read units: {computed:,.1f} by DynamoDB's rule ({computed / logs:.4f} per log), "
            f"{reported:,.1f} as dynalite reports them"
        )
        catalogue = catalogue_items_read(shape)
        print(
            f"catalogue items read by the e2e export of these logs: {catalogue:,} "
            f"({0.5 * catalogue / logs:.4f} read units per row)"
        )


class _CountingSource(InMemorySource):
    """The in-memory source, counting the catalogue records it hands out."""

    found = 0

    def get_many(self, kind: str, keys_wanted: Iterable[Any]) -> dict[Any, Any]:
        found = super().get_many(kind, keys_wanted)
        self.found += len(found)
        return found


def catalogue_items_read(shape: SampleShape) -> int:
    """Catalogue records one export of the sample tenant fetches (each a BatchGetItem item)."""
    source = _CountingSource("acme", dataset(shape))
    run_at = datetime.combine(shape.last_day + timedelta(days=1), clock_time(2), UTC)
    run_export(
        load_definition(DEFINITION), source, io.BytesIO(), tenant_id="acme", timezone="UTC", now=run_at
    )
    return source.found


if __name__ == "__main__":
    main()
