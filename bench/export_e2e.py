"""The export end to end against the local DynamoDB endpoint, versus the read floor.

    python bench/export_e2e.py [--logs N]

Loads N logs (default 200,000) of the sample tenant into dynalite through the loader,
then, in the same run:
- the read floor: every log of the window paged through with a plain boto3 client's
  ``Query``, one day and shard after another, nothing else done with the items (and the
  same through the project's own client, whose DynamoDB parser is faster);
- the export: the export service (ledger claim, DynamoDB reads, catalogue batches,
  rendering, S3 multipart upload to moto server, run record, notification).
Prints both rates, their ratio (target: export time at most 1.5 x the read floor's), the
peak RSS of this process, and rows per CPU-second (``time.process_time()`` of this process,
DynamoDB being in its own) of the export next to two floors measured in the same run: the
project client's bare Query paging (pages of the export's size) and ``json.loads`` of the
same response bodies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tools.local_endpoints import dynalite, moto_server_process, repo_root
from tools.sample_data import SampleShape, dataset, write_jsonl
from tools.template_tables import table_definitions
from tracking_export_aws import clients, keys
from tracking_export_aws.config_store import ConfigStore
from tracking_export_aws.dynamo_source import LOG_PAGE_SIZE, DynamoTrackingSource
from tracking_export_aws.export_service import ExportRequest, ExportService
from tracking_export_aws.ledger import RunLedger
from tracking_export_aws.loader import load_jsonl
from tracking_export_aws.notifier import Notifier

REGION = "us-east-1"
DEFINITION = """<export-config><export guid="bench">
<providers><trackingLogProvider><columns>
<logDate/><candidateId/><candidateName/><candidateFirstname/><candidateEmail/><candidateEntityName/>
<trainingTitle/><sessionTitle/><contentGuid/><contentTitle/><firstLaunchDate/><completionTime/>
<progression/><score/><status/><timeGlobal/>
</columns><parameters><deltaMode>yes</deltaMode></parameters></trackingLogProvider></providers>
</export></export-config>"""


def read_floor(
    dynamodb: Any, table: str, tenant: str, days: list[str], limit: int | None = None
) -> tuple[float, float, int]:
    """Seconds, CPU seconds and items to page through every log partition of ``days`` with Query."""
    started, cpu_started = time.perf_counter(), time.process_time()
    items = 0
    for day in days:
        for shard in range(keys.LOG_SHARDS):
            request: dict[str, Any] = {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": keys.log_pk(tenant, day, shard)}},
                **({"Limit": limit} if limit else {}),
            }
            while True:
                page = dynamodb.query(**request)
                items += len(page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return time.perf_counter() - started, time.process_time() - cpu_started, items


def response_bodies(endpoint: str, table: str, tenant: str, days: list[str], limit: int) -> list[bytes]:
    """The raw bodies of the Query answers the project-client floor reads (not timed)."""
    capturing = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=Config(parameter_validation=False)
    )
    bodies: list[bytes] = []
    capturing.meta.events.register(
        "after-call.dynamodb.Query", lambda http_response, **_: bodies.append(http_response.content)
    )
    read_floor(capturing, table, tenant, days, limit)
    return bodies


def json_floor(bodies: list[bytes]) -> float:
    """CPU seconds to ``json.loads`` every body: the least any Python reader of them can spend."""
    started = time.process_time()
    for body in bodies:
        json.loads(body)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=200_000)
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    shape = replace(SampleShape(tenant_id="acme"), logs=args.logs, trackings=max(20_000, args.logs // 5))
    # moto runs in its own process, so that the stored file does not count in our peak RSS.
    with moto_server_process() as moto, dynalite() as dynamo, tempfile.TemporaryDirectory() as scratch:
        dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION)
        s3 = clients.client("s3", endpoint_url=moto, region=REGION)
        tables = {}
        for logical_id, definition in table_definitions(repo_root() / "template.yaml").items():
            tables[logical_id] = f"bench-{logical_id}"
            dynamodb.create_table(TableName=tables[logical_id], **definition)
        tracking = next(v for k, v in tables.items() if "Tracking" in k)
        history = next(v for k, v in tables.items() if "History" in k)
        for bucket in ("bench-config", "bench-exports"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="bench-config", Key=keys.tenant_settings_key("acme"), Body=b'{"timezone":"UTC"}')
        s3.put_object(Bucket="bench-config", Key=keys.export_config_key("acme", "bench"), Body=DEFINITION)
        topic = clients.client("sns", endpoint_url=moto, region=REGION).create_topic(Name="bench")["TopicArn"]

        path = Path(scratch) / "acme.jsonl"
        write_jsonl(dataset(shape), path)
        started = time.perf_counter()
        report = load_jsonl(path, tracking, dynamodb)
        load_s = time.perf_counter() - started
        print(f"loaded {report.written_total:,} items ({args.logs:,} logs) in {load_s:.1f} s")

        days_count = -(-shape.logs // shape.logs_per_day)
        first_day = shape.last_day - timedelta(days=days_count - 1)
        days = [(first_day + timedelta(days=i)).isoformat() for i in range(days_count)]
        # The floor as the issue defines it: plain boto3, one Query page after another.
        plain = boto3.client(
            "dynamodb", endpoint_url=dynamo, region_name=REGION, config=Config(parameter_validation=False)
        )
        floor_s, _, floor_items = read_floor(plain, tracking, "acme", days)
        # The same paging through the project's client, in the export's page size (its DynamoDB
        # parser skips botocore's per-attribute walk), and json.loads of the same bodies.
        fast_floor_s, fast_floor_cpu, _ = read_floor(dynamodb, tracking, "acme", days, LOG_PAGE_SIZE)
        json_cpu = json_floor(response_bodies(dynamo, tracking, "acme", days, LOG_PAGE_SIZE))

        service = ExportService(
            config=ConfigStore(s3, "bench-config"),
            ledger=RunLedger(dynamodb, history),
            notifier=Notifier.for_aws(
                clients.client("sns", endpoint_url=moto, region=REGION),
                clients.client("events", endpoint_url=moto, region=REGION),
                topic,
            ),
            s3=s3,
            export_bucket="bench-exports",
            source_for=lambda tenant: DynamoTrackingSource(tenant, tracking, dynamodb),
        )
        rss_before_export = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run_at = datetime.combine(shape.last_day + timedelta(days=1), clock_time(2), UTC)
        started, cpu_started = time.perf_counter(), time.process_time()
        result = service.run(ExportRequest("acme", "bench", run_at=run_at))
        export_s = time.perf_counter() - started
        export_cpu = time.process_time() - cpu_started
        if result["outcome"] != "succeeded":
            print(json.dumps(result, indent=2, default=str))
            sys.exit(1)
        rows = result["rows"]
        print(
            f"read floor: {floor_items / floor_s:10,.0f} items/s "
            f"({floor_items:,} items, {floor_s:.2f} s, sequential Query)"
        )
        print(
            f"export:     {rows / export_s:10,.0f} rows/s  "
            f"({rows:,} rows, {export_s:.2f} s, {result['bytes']:,} bytes)"
        )
        print(
            f"read floor through the project's client: {floor_items / fast_floor_s:10,.0f} items/s "
            f"({fast_floor_s:.2f} s)"
        )
        print("rows (items) per CPU-second of this process:")
        print(f"  export:                          {rows / export_cpu:10,.0f}  ({export_cpu:.2f} CPU-s)")
        print(
            f"  project client's bare Query paging: {floor_items / fast_floor_cpu:7,.0f}  "
            f"({fast_floor_cpu:.2f} CPU-s, pages of {LOG_PAGE_SIZE})"
        )
        print(f"  json.loads of the same bodies:   {floor_items / json_cpu:10,.0f}  ({json_cpu:.2f} CPU-s)")
        print(f"export time / read-floor time: {export_s / floor_s:.2f}  (target <= 1.5)")
        print(f"export time / project-client read-floor time: {export_s / fast_floor_s:.2f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak RSS of this process: {rss_before_export:.0f} MiB after loading and the floor, "
            f"{peak:.0f} MiB after the export"
        )


if __name__ == "__main__":
    main()
