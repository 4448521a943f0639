"""What one shard worker renders per minute, and the default MAX_ROWS_PER_WORKER derived from it.

    python bench/distributed.py [--logs N] [--shard-rows M] [--baseline REV|none] [--repeat K]

Loads N logs (default 40,000) of the sample tenant into dynalite through the loader, then:
1. one worker renders every day of the window as ONE shard (``ShardWorker.render``, the code a
   distributed run's worker runs), in a fresh process (``worker_child.py``), DynamoDB and
   S3 (moto server) in their own processes, so the child's CPU time (``time.process_time``
   around the render) is the worker's own: rows per CPU-second and per worker-minute (a
   1,769 MB Lambda has one vCPU). With ``--baseline REV`` (default ``c8ed320``, main when
   issue 15 was filed; ``none`` skips it) the same render of the same data also runs on that
   revision's code (extracted with ``git archive``), K times each (default 3), alternating
   (current 1, baseline 1, current 2, ...); each run's figures, the medians and their ratio;
2. the same export on the distributed path (this checkout's code), end to end on moto's Step
   Functions interpreter (in-process), shards of at most M estimated rows (default N/4):
   wall time, shards.
Prints the figures and the MAX_ROWS_PER_WORKER they imply: the rows a worker renders in a
sixth of its 900 s timeout (room for slower days, DynamoDB throttling and cold starts).
No assertion: docs/capacity.md quotes the figures.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench_stack import DEFINITION, REGION, create_stack
from revisions import DEFAULT_BASELINE, code_environment, extracted

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
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.ingest.loader import load_jsonl
from tracking_export_aws.runs.outcomes import RunHandedOff
from tracking_export_aws.runs.payloads import read_step
from tracking_export_aws.runs.service import ExportRequest
from tracking_export_aws.runtime.settings import CoordinatorSettings, ExportSettings, ShardWorkerSettings
from tracking_export_aws.runtime.wiring import coordinator, export_service, shard_worker

ACCOUNT = "123456789012"
TENANT = "bench"
LAMBDA_TIMEOUT_SECONDS = 900
SAFETY = 6  # a worker's budget is a sixth of its timeout
CHILD = Path(__file__).resolve().with_name("worker_child.py")


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


def worker_runs(
    dynamo: str, dataset_path: Path, trees: dict[str, Path], repeat: int
) -> dict[str, list[dict[str, Any]]]:
    """Each side's renders of every day as one shard (``worker_child.py``), alternating."""
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in trees}
    with moto_server_process() as moto:
        env = _create(moto, dynamo)
        dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION, validated=False)
        load_jsonl(dataset_path, env["TRACKING_TABLE"], dynamodb)
        definition = base64.b64encode(DEFINITION.encode()).decode()
        run_number = 0
        for number in range(1, repeat + 1):
            for side, tree in trees.items():
                run_number += 1  # each render its own work prefix
                out = subprocess.run(
                    [
                        sys.executable,
                        str(CHILD),
                        str(tree),
                        TENANT,
                        str(run_number),
                        "2026-11-28T02:00:00Z",
                        definition,
                    ],
                    env=code_environment(tree, {**os.environ, **env}),
                    check=False,
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    sys.exit(f"the {side} worker exited with {out.returncode}:\n{out.stderr[-4000:]}")
                figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
                body = clients.client("s3", endpoint_url=moto, region=REGION).get_object(
                    Bucket=env["EXPORT_BUCKET"], Key=figures["key"]
                )["Body"]
                figures["sha256"] = hashlib.sha256(body.read()).hexdigest()
                runs[side].append(figures)
                rate = figures["rows"] / figures["cpu_s"]
                print(
                    f"  {side:8} run {number}: {figures['rows']:,} rows, {figures['cpu_s']:.2f} CPU-s "
                    f"({figures['wall_s']:.1f} s wall): {rate:,.0f} rows per CPU-second, "
                    f"{rate * 60:,.0f} per worker-minute"
                )
    return runs


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
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="REV", help="or none")
    parser.add_argument("--repeat", type=int, default=3, help="worker runs of each side (default 3)")
    args = parser.parse_args(argv)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    shape = replace(SampleShape(tenant_id=TENANT), logs=args.logs, last_day=datetime(2026, 11, 27).date())
    root = repo_root().resolve()
    with ExitStack() as stack:
        trees = {"current": root}
        if args.baseline != "none":
            commit, tree = stack.enter_context(extracted(root, args.baseline))
            trees["baseline"] = tree
            print(f"baseline: {args.baseline} = {commit[:12]}, its worker in the same way")
        scratch = stack.enter_context(tempfile.TemporaryDirectory())
        dynamo = stack.enter_context(dynalite())
        path = Path(scratch) / "bench.jsonl"
        write_jsonl(dataset(shape), path)
        print(f"one worker renders the {args.logs:,} logs as one shard, {args.repeat} time(s) per side:")
        runs = worker_runs(dynamo, path, trees, args.repeat)
        medians = {
            side: statistics.median(r["rows"] / r["cpu_s"] for r in side_runs)
            for side, side_runs in runs.items()
        }
        per_cpu_second = medians["current"]
        line = (
            f"  median: current {per_cpu_second:,.0f} rows per CPU-second "
            f"({per_cpu_second * 60:,.0f} per worker-minute)"
        )
        if "baseline" in medians:
            line += (
                f"; baseline {medians['baseline']:,.0f} ({medians['baseline'] * 60:,.0f} per worker-minute): "
                f"{per_cpu_second / medians['baseline']:.2f}x"
            )
        print(line)
        files = {(r["rows"], r["sha256"]) for side_runs in runs.values() for r in side_runs}
        if len(files) != 1:
            print(f"WARNING: the workers did not all write the same shard: {files}")
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
