"""Peak memory of one export against the size of its one local day and of the catalogue it touches.

    python bench/export_memory.py [--days-of 10000,200000] [--million] [--logs-per-tracking 5]
                                  [--baseline REV|none] [--repeat K]

For each N, a tenant whose N logs all fall on one UTC day is loaded into dynalite through
the loader. Its catalogue grows with the day: N / 5 trackings (``--logs-per-tracking``) and
a tenth as many learners, so a day of 200,000 logs touches 20 times the trackings and
learners of a day of 10,000 (issue 15: what grew was the catalogue a run keeps, not the day).
``--million`` adds the day of 1,000,000 logs touching 200,000 trackings (loading it takes
several minutes). Then the export handler (``functions/export/export_app.py``) runs that
tenant's export in a fresh Python process (``export_handler_child.py``), with the template's
global environment, DynamoDB (dynalite) and S3/SNS (moto server) in their own processes.

With ``--baseline REV`` (default ``c8ed320``, main when issue 15 was filed; ``none`` skips
it) the same export of the same data also runs on that revision's code (extracted with
``git archive``), alternating with the current code, ``--repeat`` times each (default 1;
the 1,000,000-log day once).
Prints each run's rows, peak RSS and CPU seconds, the distinct trackings and learners the
day's logs touch, and for each side the ratio of the largest day's peak (of the
``--days-of`` sizes) to the smallest's (target ≤ 1.3 between 10,000 and 200,000); the
1,000,000-log day's peak is checked against its own target (≤ 256 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from bench_stack import DEFINITION, REGION, create_stack
from revisions import DEFAULT_BASELINE, code_environment, extracted

from tools.local_endpoints import dynalite, moto_server_process, repo_root
from tools.sample_data import SampleShape, dataset, write_jsonl
from tools.template_tables import global_environment
from tracking_export_aws.aws import keys
from tracking_export_aws.ingest.loader import load_jsonl

EXPORT_GUID = "bench"
MILLION = 1_000_000
MILLION_TARGET_MIB = 256
CHILD = Path(__file__).resolve().with_name("export_handler_child.py")


def day_shape(tenant: str, logs: int, logs_per_tracking: int) -> SampleShape:
    """One UTC day of ``logs`` logs over a catalogue proportional to it."""
    trackings = max(1, logs // logs_per_tracking)
    return replace(
        SampleShape(tenant_id=tenant),
        logs=logs,
        logs_per_day=logs,
        trackings=trackings,
        learners=max(1, trackings // 10),
    )


def touched(records: Iterator[dict[str, Any]], counts: dict[str, set[Any]]) -> Iterator[dict[str, Any]]:
    """The records, passed through, noting the trackings the logs name and those trackings' learners."""
    learner_of: dict[Any, Any] = {}
    for record in records:
        if record["type"] == "tracking":
            learner_of[record["trackingId"]] = record["learnerId"]
        elif record["type"] == "trackingLog":
            counts["trackings"].add(record["trackingId"])
            counts["learners"].add(learner_of.get(record["trackingId"]))
        yield record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days-of", default="10000,200000", help="comma-separated logs per day")
    parser.add_argument("--million", action="store_true", help="also the 1,000,000-log day (slow to load)")
    parser.add_argument("--logs-per-tracking", type=int, default=5)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="REV", help="or none")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side per day (default 1)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.days_of.split(",")]
    if args.million:
        sizes.append(MILLION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    root = repo_root().resolve()
    with ExitStack() as stack:
        trees = {"current": root}
        if args.baseline != "none":
            commit, tree = stack.enter_context(extracted(root, args.baseline))
            trees["baseline"] = tree
            print(f"baseline: {args.baseline} = {commit[:12]}, its export handler in the same way")
        measure(sizes, args.logs_per_tracking, args.repeat, trees)


def measure(sizes: list[int], logs_per_tracking: int, repeat: int, trees: dict[str, Path]) -> None:
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
        peaks: dict[str, dict[int, float]] = {side: {} for side in trees}
        for size in sizes:
            tenant = f"day-{size}"
            shape = day_shape(tenant, size, logs_per_tracking)
            stack.s3.put_object(
                Bucket=stack.config_bucket, Key=keys.tenant_settings_key(tenant), Body=b'{"timezone":"UTC"}'
            )
            path = Path(scratch) / f"{tenant}.jsonl"
            counts: dict[str, set[Any]] = {"trackings": set(), "learners": set()}
            write_jsonl(touched(dataset(shape), counts), path)
            started = time.perf_counter()
            load_jsonl(path, stack.tracking_table, stack.dynamodb)
            path.unlink()
            print(
                f"loaded one day of {size:,} logs for tenant {tenant} "
                f"in {time.perf_counter() - started:.1f} s: "
                f"its logs touch {len(counts['trackings']):,} trackings of {shape.trackings:,} "
                f"and {len(counts['learners']):,} learners of {shape.learners:,}"
            )
            run_at = datetime.combine(shape.last_day + timedelta(days=1), clock_time(2), UTC).isoformat()
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in trees}
            # The million-log day once per side: it is there for its own target, not a ratio.
            for number in range(1 if size == MILLION else repeat):
                for side, tree in trees.items():
                    # A first deltaMode run each time: a fresh export guid per run.
                    guid = f"{EXPORT_GUID}-{side}-{number}"
                    stack.s3.put_object(
                        Bucket=stack.config_bucket,
                        Key=keys.export_config_key(tenant, guid),
                        Body=DEFINITION.replace('guid="bench"', f'guid="{guid}"'),
                    )
                    figures = run_child(tree, env, tenant, guid, run_at)
                    runs[side].append(figures)
                    print(
                        f"  {side:8} one day of {size:>9,} logs: {figures['rows']:>9,} rows, "
                        f"peak RSS {figures['peak_rss_mib']:6.1f} MiB "
                        f"({figures['rss_after_import_mib']:.1f} MiB after imports), "
                        f"{figures['cpu_s']:.2f} CPU-s"
                    )
            for side, side_runs in runs.items():
                peaks[side][size] = statistics.median(run["peak_rss_mib"] for run in side_runs)
            files = {(run["rows"], run["sha256"]) for side_runs in runs.values() for run in side_runs}
            if len(files) != 1:
                print(f"WARNING: the runs of the {size:,}-log day did not all write the same file: {files}")
        report(sizes, peaks)


def run_child(tree: Path, env: dict[str, str], tenant: str, guid: str, run_at: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(CHILD), str(tree), tenant, guid, run_at],
        env=code_environment(tree, env),
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"the export of {tenant} ({tree}) exited with {out.returncode}:\n{out.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["outcome"] != "succeeded":
        sys.exit(f"export of {tenant} ({tree}) failed: {figures['error']}")
    return figures


def report(sizes: list[int], peaks: dict[str, dict[int, float]]) -> None:
    ratio_sizes = [size for size in sizes if size != MILLION] or sizes
    small, large = min(ratio_sizes), max(ratio_sizes)
    for side, side_peaks in peaks.items():
        if small != large:
            print(
                f"{side}: peak RSS ratio, {large:,} vs {small:,} logs a day: "
                f"{side_peaks[large] / side_peaks[small]:.2f} (target <= 1.3)"
            )
        if MILLION in side_peaks:
            print(
                f"{side}: peak RSS at {MILLION:,} logs a day: {side_peaks[MILLION]:.1f} MiB "
                f"(target <= {MILLION_TARGET_MIB})"
            )


if __name__ == "__main__":
    main()
