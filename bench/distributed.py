"""What one shard worker renders per minute, and the default MAX_ROWS_PER_WORKER derived from it.

    python bench/distributed.py [--logs N] [--shard-rows M]

Loads N logs (default 40,000) of the sample tenant into dynalite through the loader, then:
1. one worker renders every day of the window as ONE shard (``ShardWorker.render``, the code a
   distributed run's worker runs), moto server in its own process so this process's CPU time
   (``time.process_time``) is the worker's own: rows per CPU-second and per worker-minute
   (a 1,769 MB Lambda has one vCPU);
2. the same export on the distributed path, end to end on moto's Step Functions interpreter
   (in-process), shards of at most M estimated rows (default N/4): wall time, shards.
Prints the figures and the MAX_ROWS_PER_WORKER they imply: the rows a worker renders in a
sixth of its 900 s timeout (room for slower days, DynamoDB throttling and cold starts).
No assertion: docs/capacity.md quotes the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench_stack import DEFINITION, REGION, create_stack

from tools.local_endpoints import (
    dynalite,
    local_state_machines,
    moto_server,
    moto_server_process,
    repo_root,
    state_machine_definition,
    wait_for_execution,
)
from tools.sample_data import SampleShape, dataset, write_jsonl
from tracking_export.window import compute_window
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.ingest.loader import load_jsonl
from tracking_export_aws.runs.outcomes import RunHandedOff
from tracking_export_aws.runs.payloads import Shard, read_step
from tracking_export_aws.runs.plan import ClaimRef, RunPlan
from tracking_export_aws.runs.service import ExportRequest
from tracking_export_aws.runtime.settings import CoordinatorSettings, ExportSettings, ShardWorkerSettings
from tracking_export_aws.runtime.wiring import coordinator, export_service, shard_worker

ACCOUNT = "123456789012"
TENANT = "bench"
LAMBDA_TIMEOUT_SECONDS = 900
SAFETY = 6  # a worker's budget is a sixth of its timeout


def _create(moto: str, dynamo: str) -> dict[str, str]:
    stack = create_stack(moto, dynamo, suffix=f"-{uuid.uuid4().hex[:8]}")
    env = {
        "AWS_ENDPOINT_URL": moto,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
        "AWS_REGION": REGION,
        "CONFIG_BUCKET": stack.config_bucket,
        "EXPORT_BUCKET": stack.export_bucket,
        "TOPIC_ARN": stack.topic_arn,
        "TRACKING_TABLE": stack.tracking_table,
        "RUN_HISTORY_TABLE": stack.history_table,
        "EVENT_BUS_NAME": "default",
        "EVENTS_INCLUDE_LINKS_AND_RECIPIENTS": "false",
        "DOWNLOAD_LINK_SECONDS": "3600",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    stack.s3.put_object(
        Bucket=env["CONFIG_BUCKET"], Key=f"tenants/{TENANT}/tenant.json", Body=b'{"timezone": "UTC"}'
    )
    stack.s3.put_object(
        Bucket=env["CONFIG_BUCKET"], Key=f"tenants/{TENANT}/exports/bench.xml", Body=DEFINITION.encode()
    )
    return env


def _plan() -> RunPlan:
    """A run of the bench definition at 02:00 UTC on 2026-11-28 over all its data, as prepared."""
    run_at = datetime(2026, 11, 28, 2, tzinfo=UTC)
    data = DEFINITION.encode()
    definition = checked_definition(data, "bench")
    return RunPlan(
        tenant_id=TENANT,
        export_guid="bench",
        scheduled_time=run_at,
        run_at=run_at,
        claim=ClaimRef(run_number=1, attempt=1, token="bench", holder=None, started_at=run_at),
        claimed_at=run_at,
        window=compute_window(definition.parameters, ZoneInfo("UTC"), run_at, None),
        recipients=(),
        timezone="UTC",
        previous_success_start=None,
        definition=data,
        definition_version=None,
        object_key=f"tenants/{TENANT}/bench.csv",
        requested_key=f"tenants/{TENANT}/bench.csv",
        end_file=None,
        content_type="text/csv",
        tags={},
        download_link=False,
        delete_empty_file=False,
        route=None,
    )


def one_worker(dynamo: str, dataset_path: Path, logs: int) -> tuple[int, float, float]:
    """(rows, CPU seconds, wall seconds) of one worker rendering every day as one shard."""
    with moto_server_process() as moto:
        env = _create(moto, dynamo)
        dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION, validated=False)
        load_jsonl(dataset_path, env["TRACKING_TABLE"], dynamodb)
        worker = shard_worker(ShardWorkerSettings.from_env(env))
        cpu, wall = time.process_time(), time.perf_counter()
        result = worker.render(_plan(), Shard(index=0, last=True))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return result.rows, cpu, wall


def distributed_run(dynamo: str, dataset_path: Path, shard_rows: int) -> tuple[int, int, float, str]:
    """(rows, shards, wall seconds, status) of the export on the distributed path."""
    root = repo_root()
    step_handlers: dict[str, Any] = {}
    with moto_server() as moto, local_state_machines(moto, step_handlers):
        env = _create(moto, dynamo)
        dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION, validated=False)
        load_jsonl(dataset_path, env["TRACKING_TABLE"], dynamodb)
        sfn = clients.client("stepfunctions", endpoint_url=moto, region=REGION)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
        machine = sfn.create_state_machine(
            name=f"bench-{uuid.uuid4().hex[:8]}",
            definition=state_machine_definition(
                root, {"WorkerFunctionArn": arn + "worker", "CoordinatorFunctionArn": arn + "coordinator"}
            ),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
        )["stateMachineArn"]
        env |= {"STATE_MACHINE_ARN": machine, "MAX_ROWS_PER_WORKER": str(shard_rows), "MAX_CONCURRENCY": "2"}
        worker, coordinate = (
            shard_worker(ShardWorkerSettings.from_env(env)),
            coordinator(CoordinatorSettings.from_env(env)),
        )
        step_handlers.update(
            {
                "worker": lambda e, _: worker.run(read_step(e)).model_dump(mode="json", by_alias=True),
                "coordinator": lambda e, _: coordinate.run(read_step(e)).model_dump(
                    mode="json", by_alias=True
                ),
            }
        )
        service = export_service(ExportSettings.from_env(env))
        when = datetime.combine(datetime(2026, 11, 28).date(), clock_time(2), ZoneInfo("UTC")).astimezone(UTC)
        started = time.perf_counter()
        result = service.run(
            ExportRequest.from_event(
                {"tenantId": TENANT, "exportGuid": "bench", "scheduledTime": when.isoformat()}
            )
        )
        if not isinstance(result, RunHandedOff):
            sys.exit(f"the bench run did not go distributed: {result.model_dump(mode='json')}")
        status = wait_for_execution(sfn, result.executionArn)["status"]
        wall = time.perf_counter() - started
        item = dynamodb.query(
            TableName=env["RUN_HISTORY_TABLE"],
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues={":pk": {"S": keys.export_pk(TENANT, "bench")}, ":run": {"S": "RUN#"}},
            ConsistentRead=True,
        )["Items"][0]
        return int(item["rows"]["N"]), int(item["shards"]["N"]), wall, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=40_000)
    parser.add_argument("--shard-rows", type=int, default=None)
    args = parser.parse_args(argv)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    shape = replace(SampleShape(tenant_id=TENANT), logs=args.logs, last_day=datetime(2026, 11, 27).date())
    with tempfile.TemporaryDirectory() as scratch, dynalite() as dynamo:
        path = Path(scratch) / "bench.jsonl"
        write_jsonl(dataset(shape), path)
        rows, cpu, wall = one_worker(dynamo, path, args.logs)
        per_cpu_second = rows / cpu
        print(f"one worker, one shard of {rows:,} rows: {cpu:.1f} CPU-s, {wall:.1f} s wall")
        print(
            f"  {per_cpu_second:,.0f} rows per CPU-second; {per_cpu_second * 60:,.0f} rows per worker-minute"
        )
        budget = per_cpu_second * LAMBDA_TIMEOUT_SECONDS / SAFETY
        print(
            f"  a 900 s worker at one vCPU: {per_cpu_second * LAMBDA_TIMEOUT_SECONDS:,.0f} rows; "
            f"a sixth of that (the MAX_ROWS_PER_WORKER it implies): {budget:,.0f}"
        )
        shard_rows = args.shard_rows or max(1, args.logs // 4)
        rows, shards, wall, status = distributed_run(dynamo, path, shard_rows)
        print(
            f"distributed path, shards of <= {shard_rows:,} estimated rows: {rows:,} rows, {shards} shards, "
            f"{wall:.1f} s wall ({status}; local: the shards share this machine's cores)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
