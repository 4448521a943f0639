"""Peak memory of one export against the size of its one local day.

    python bench/export_memory.py [--days-of 10000,200000]

For each N, a tenant whose logs all fall on one UTC day (N logs, the same catalogue of
2,000 learners and 20,000 trackings for every N) is loaded into dynalite through the loader;
then the export handler (functions/export/export_app.py) runs that tenant's export in a fresh
Python process, with DynamoDB (dynalite) and S3/SNS (moto server) in their own processes.
Prints each run's rows, the child's peak RSS and CPU seconds, and the ratio of the largest
day's peak to the smallest's (issue 7 asks for at most 1.3 between 10,000 and 200,000).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from bench_stack import DEFINITION, REGION, create_stack

from tools.local_endpoints import dynalite, moto_server_process, repo_root
from tools.sample_data import SampleShape, dataset, write_jsonl
from tools.template_tables import global_environment
from tracking_export_aws.aws import keys
from tracking_export_aws.ingest.loader import load_jsonl

EXPORT_GUID = "bench"


class _Context:
    function_name = "bench-export"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:bench-export"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _peak_rss_mib() -> float:
    """This process's peak RSS. Linux's VmHWM, because ``ru_maxrss`` of a forked-then-exec'd
    child starts from the parent's RSS at the fork (the bench parent holds the loaded dataset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(tenant: str, run_at: str) -> None:
    """Run one export through the handler in this (fresh) process; print JSON figures."""
    path = repo_root() / "functions" / "export" / "export_app.py"
    spec = importlib.util.spec_from_file_location("export_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rss_imported = _peak_rss_mib()
    cpu = time.process_time()
    result = module.handler({"tenantId": tenant, "exportGuid": EXPORT_GUID, "runAt": run_at}, _Context())
    figures = {
        "outcome": result["outcome"],
        "sha256": result.get("sha256"),
        "rows": result.get("rows"),
        "error": result.get("error"),
        "cpu_s": time.process_time() - cpu,
        "rss_after_import_mib": rss_imported,
        "peak_rss_mib": _peak_rss_mib(),
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days-of", default="10000,200000", help="comma-separated logs per day")
    parser.add_argument("--child", nargs=2, metavar=("TENANT", "RUN_AT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(n) for n in args.days_of.split(",")]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    with moto_server_process() as moto, dynalite() as dynamo, tempfile.TemporaryDirectory() as scratch:
        stack = create_stack(moto, dynamo)
        env = {
            **os.environ,
            # As in Lambda: the template's fixed variables (MALLOC_ARENA_MAX among them) …
            **global_environment(repo_root() / "template.yaml"),
            # … then this machine's endpoints and resources.
            "AWS_ENDPOINT_URL": moto,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
            "AWS_REGION": REGION,
            "CONFIG_BUCKET": stack.config_bucket,
            "EXPORT_BUCKET": stack.export_bucket,
            "TRACKING_TABLE": stack.tracking_table,
            "RUN_HISTORY_TABLE": stack.history_table,
            "TOPIC_ARN": stack.topic_arn,
            "POWERTOOLS_SERVICE_NAME": "tracking-export",
            "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        runs: list[tuple[int, dict[str, Any]]] = []
        for size in sizes:
            tenant = f"day-{size}"
            shape = replace(SampleShape(tenant_id=tenant), logs=size, logs_per_day=size)
            stack.s3.put_object(
                Bucket=stack.config_bucket, Key=keys.tenant_settings_key(tenant), Body=b'{"timezone":"UTC"}'
            )
            stack.s3.put_object(
                Bucket=stack.config_bucket, Key=keys.export_config_key(tenant, EXPORT_GUID), Body=DEFINITION
            )
            path = Path(scratch) / f"{tenant}.jsonl"
            write_jsonl(dataset(shape), path)
            started = time.perf_counter()
            load_jsonl(path, stack.tracking_table, stack.dynamodb)
            print(
                f"loaded one day of {size:,} logs for tenant {tenant} "
                f"in {time.perf_counter() - started:.1f} s"
            )
            run_at = datetime.combine(shape.last_day + timedelta(days=1), clock_time(2), UTC).isoformat()
            out = subprocess.run(
                [sys.executable, __file__, "--child", tenant, run_at],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            if figures["outcome"] != "succeeded":
                sys.exit(f"export of {tenant} failed: {figures['error']}")
            runs.append((size, figures))
            print(
                f"one day of {size:>9,} logs: {figures['rows']:>9,} rows, "
                f"peak RSS {figures['peak_rss_mib']:6.1f} MiB "
                f"({figures['rss_after_import_mib']:.1f} MiB after imports), {figures['cpu_s']:.2f} CPU-s"
            )
        smallest, largest = runs[0][1]["peak_rss_mib"], runs[-1][1]["peak_rss_mib"]
        print(
            f"peak RSS ratio, {runs[-1][0]:,} vs {runs[0][0]:,} logs a day: "
            f"{largest / smallest:.2f} (target <= 1.3)"
        )


if __name__ == "__main__":
    main()
