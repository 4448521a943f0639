"""The export end to end against the local DynamoDB endpoint, versus the read floor and a baseline.

    python bench/export_e2e.py [--logs N] [--repeat K] [--baseline REV|none]

Loads N logs (default 200,000) of the sample tenant into dynalite through the loader,
then, in the same run:
- the read floor: every log of the window paged through with a plain boto3 client's
  ``Query``, one day and shard after another, nothing else done with the items (and the
  same through the project's own client, whose DynamoDB parser is faster);
- the export, K times (default 3): the export service (ledger claim, DynamoDB reads,
  catalogue batches, rendering, S3 multipart upload to moto server, run record,
  notification); each run is a full first run over the same window (K deltaMode exports
  with the same definition under the guids ``bench``, ``bench-2``, ...);
- the baseline (default ``9b63348``, the code when issue 7 was filed; ``none`` skips it):
  that revision extracted with ``git archive`` into a temporary directory, with a symlink to
  this checkout's ``.local`` (its dynalite), and its own ``bench/export_e2e.py`` run in a
  subprocess by ``bench/baseline_driver.py``. The driver imports the old revision's layer,
  not this checkout's (it checks where every project module came from, and fails
  otherwise), and times the old ``ExportService.run`` as this script times the current one.
  The old bench loads its own data, of the same shape, into its own dynalite and moto
  server, while this process loads; then the K baseline runs are interleaved with the
  current ones (current 1, baseline 1, current 2, ...), the other side idle during each, so
  that a drift of the machine's load touches both alike.
Prints both rates, their ratio (target: export time at most 1.5 x the read floor's), the
peak RSS of this process, and rows per CPU-second (``time.process_time()`` of this process,
DynamoDB being in its own) of the export next to two floors measured in the same run: the
project client's bare Query paging (pages of the export's size) and ``json.loads`` of the
same response bodies. The export's figures in those lines are the median of its K runs.
Then each run's rows per CPU-second, the medians, and the ratio of the current median to
the baseline's (issue 7 asks for at least 2x); and a warning if any run's rows or file
sha256 differ from the others' (both sides must render the same file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import boto3
from bench_stack import DEFINITION, REGION, create_stack
from botocore.config import Config

from tools.local_endpoints import dynalite, moto_server_process, repo_root
from tools.sample_data import SampleShape, dataset, write_jsonl
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.aws.tracking_source import LOG_PAGE_SIZE, DynamoTrackingSource
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.ingest.loader import load_jsonl
from tracking_export_aws.notify.notifier import Notifier
from tracking_export_aws.runs.ledger import RunLedger
from tracking_export_aws.runs.outcomes import RunSucceeded
from tracking_export_aws.runs.service import ExportRequest, ExportService


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


@dataclass(frozen=True)
class Run:
    """One timed export: what it wrote and what it cost."""

    rows: int
    bytes: int
    sha256: str
    cpu_s: float
    wall_s: float


def timed_export(service: ExportService, guid: str, run_at: datetime) -> Run:
    """One export of ``guid`` (exits with its message if it fails), timed like the baseline's."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = service.run(ExportRequest("acme", guid, run_at=run_at))
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    if not isinstance(result, RunSucceeded) or result.sha256 is None:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        sys.exit(1)
    return Run(result.rows, result.bytes, result.sha256, cpu_s, wall_s)


class Baseline:
    """An older revision's export bench in a subprocess (``bench/baseline_driver.py``), one
    timed export per ``run()``."""

    def __init__(self, process: subprocess.Popen[str], results: Any, log: Path) -> None:
        self.process = process
        self.results = results
        self.log = log

    def _answer(self, waiting_for: str) -> dict[str, Any]:
        line = self.results.readline()
        if not line:
            self.process.wait()
            output = self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
            raise RuntimeError(
                f"the baseline bench exited (status {self.process.returncode}) before {waiting_for}; "
                f"the end of its output:\n{output}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self) -> str:
        """Block until the old bench has loaded its data and reached its export; returns
        the file its ``ExportService`` was loaded from."""
        return str(self._answer("reaching its export")["service"])

    def run(self) -> Run:
        """One export by the old code; exits with its message if it did not succeed."""
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        answer = self._answer("answering a run")
        if answer["outcome"] != "succeeded":
            print("baseline export failed:", json.dumps(answer, indent=2, default=str))
            sys.exit(1)
        return Run(answer["rows"], answer["bytes"], answer["sha256"], answer["cpu_s"], answer["wall_s"])


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@contextmanager
def baseline_bench(revision: str, logs: int, repeat: int) -> Iterator[Baseline]:
    """Extract ``revision``, start its bench under the driver; stop it and clean up after."""
    root = repo_root().resolve()
    try:
        commit = git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
    except subprocess.CalledProcessError:
        sys.exit(f"--baseline {revision!r}: not a commit of the repository at {root}")
    with tempfile.TemporaryDirectory(prefix="export-e2e-baseline-") as scratch:
        old_root = Path(scratch) / "tree"
        old_root.mkdir()
        archive = subprocess.Popen(["git", "-C", str(root), "archive", commit], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(old_root)], stdin=archive.stdout, check=True)
        assert archive.stdout is not None
        archive.stdout.close()
        if archive.wait() != 0:
            sys.exit(f"--baseline {revision!r}: git archive {commit} failed")
        # Its repo_root()/.local/node/... is where it looks for dynalite.
        (old_root / ".local").symlink_to(root / ".local")
        script = old_root / "bench" / "export_e2e.py"
        if not script.is_file():
            sys.exit(f"--baseline {revision!r}: {commit} has no bench/export_e2e.py")
        old_args = ["--logs", str(logs)]
        if "--baseline" in script.read_text(encoding="utf-8"):
            old_args += ["--baseline", "none", "--repeat", "1"]  # a later revision must not recurse
        print(f"baseline: {revision} = {commit[:12]}, its own bench in a subprocess (own dynalite and moto)")
        read_end, write_end = os.pipe()
        log = Path(scratch) / "baseline.log"
        driver = Path(__file__).resolve().with_name("baseline_driver.py")
        command = [sys.executable, str(driver), str(old_root), str(write_end), str(repeat), "--", *old_args]
        with open(log, "w", encoding="utf-8") as output, open(read_end, encoding="utf-8") as results:
            process = subprocess.Popen(
                command,
                cwd=old_root,
                env={**os.environ, "TRACKING_EXPORT_ROOT": str(old_root)},
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                text=True,
            )
            os.close(write_end)  # the child holds it: its exit ends our reads
            try:
                yield Baseline(process, results, log)
            finally:
                assert process.stdin is not None
                try:
                    process.stdin.write("stop\n")
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # it exited already
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def rates(runs: list[Run]) -> list[float]:
    return [run.rows / run.cpu_s for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="export runs of each side (default 3)")
    parser.add_argument(
        "--baseline",
        default="9b63348",
        metavar="REV",
        help="revision to measure in the same run (default 9b63348, issue 7's 'today'); none skips it",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    shape = replace(SampleShape(tenant_id="acme"), logs=args.logs, trackings=max(20_000, args.logs // 5))
    with ExitStack() as stack:
        # Started first: the old bench loads its data while this process loads its own.
        baseline = (
            None
            if args.baseline == "none"
            else stack.enter_context(baseline_bench(args.baseline, args.logs, args.repeat))
        )
        measure(args.logs, args.repeat, shape, baseline)


def measure(logs: int, repeat: int, shape: SampleShape, baseline: Baseline | None) -> None:
    """Load, read the floors, run the exports (interleaved with the baseline's), print."""
    # moto runs in its own process, so that the stored file does not count in our peak RSS.
    with moto_server_process() as moto, dynalite() as dynamo, tempfile.TemporaryDirectory() as scratch:
        stack = create_stack(moto, dynamo)
        dynamodb, s3, tracking = stack.dynamodb, stack.s3, stack.tracking_table
        s3.put_object(
            Bucket=stack.config_bucket, Key=keys.tenant_settings_key("acme"), Body=b'{"timezone":"UTC"}'
        )
        guids = ["bench", *(f"bench-{number}" for number in range(2, repeat + 1))]
        for guid in guids:
            body = DEFINITION.replace('guid="bench"', f'guid="{guid}"')
            s3.put_object(Bucket=stack.config_bucket, Key=keys.export_config_key("acme", guid), Body=body)

        path = Path(scratch) / "acme.jsonl"
        write_jsonl(dataset(shape), path)
        started = time.perf_counter()
        report = load_jsonl(path, tracking, dynamodb)
        load_s = time.perf_counter() - started
        print(
            f"loaded {report.written_total:,} items ({logs:,} logs) in {load_s:.1f} s"
            + ("" if baseline is None else " (the baseline loading its own at the same time)")
        )
        if baseline is not None:
            # Idle from now on but for its runs: the floors are ours alone.
            print(f"baseline code: {baseline.wait_ready()} (every project module checked to be from there)")

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
            config=ConfigStore(s3, stack.config_bucket),
            ledger=RunLedger(dynamodb, stack.history_table),
            notifier=Notifier.for_aws(
                clients.client("sns", endpoint_url=moto, region=REGION),
                clients.client("events", endpoint_url=moto, region=REGION),
                stack.topic_arn,
            ),
            s3=s3,
            export_bucket=stack.export_bucket,
            source_for=lambda tenant: DynamoTrackingSource(tenant, tracking, dynamodb),
        )
        rss_before_export = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run_at = datetime.combine(shape.last_day + timedelta(days=1), clock_time(2), UTC)
        current: list[Run] = []
        old: list[Run] = []
        for guid in guids:
            current.append(timed_export(service, guid, run_at))
            if baseline is not None:
                old.append(baseline.run())
        rows = current[0].rows
        export_s = statistics.median(run.wall_s for run in current)
        export_cpu = statistics.median(run.cpu_s for run in current)
        export_rate = statistics.median(rates(current))  # = rows / export_cpu when K is odd
        print(
            f"read floor: {floor_items / floor_s:10,.0f} items/s "
            f"({floor_items:,} items, {floor_s:.2f} s, sequential Query)"
        )
        print(
            f"export:     {rows / export_s:10,.0f} rows/s  "
            f"({rows:,} rows, {export_s:.2f} s, {current[0].bytes:,} bytes)"
        )
        print(
            f"read floor through the project's client: {floor_items / fast_floor_s:10,.0f} items/s "
            f"({fast_floor_s:.2f} s)"
        )
        print("rows (items) per CPU-second of this process:")
        print(f"  export:                          {export_rate:10,.0f}  ({export_cpu:.2f} CPU-s)")
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
    report_runs(current, old)


def figures(run: Run) -> str:
    return f"{run.rows / run.cpu_s:10,.0f}  ({run.cpu_s:5.2f} CPU-s, {run.wall_s:5.2f} s)"


def report_runs(current: list[Run], old: list[Run]) -> None:
    """Each run's rows per CPU-second, the medians, the ratio; a warning if the files differ."""
    order = "current 1, baseline 1, current 2, ..." if old else "current only, --baseline none"
    print(f"export rows per CPU-second, run by run ({order}):")
    for number, run in enumerate(current, start=1):
        line = f"  {f'run {number}:':8} current {figures(run)}"
        if old:
            line += f"   baseline {figures(old[number - 1])}"
        print(line)
    median_current = statistics.median(rates(current))
    line = f"  {'median:':8} current {median_current:10,.0f}"
    if old:
        median_old = statistics.median(rates(old))
        line += " " * (len(figures(current[0])) - 10) + f"   baseline {median_old:10,.0f}"
    print(line)
    if old:
        ratio = median_current / median_old
        print(f"ratio (median current / median baseline): {ratio:.2f}x  (issue 7 asks >= 2x)")
    files = {(run.rows, run.bytes, run.sha256) for run in [*current, *old]}
    if len(files) == 1:
        rows, size, sha256 = files.pop()
        sides = "every run of both sides" if old else "every run"
        print(f"same file from {sides}: {rows:,} rows, {size:,} bytes, sha256 {sha256}")
    else:
        print("WARNING: the runs did not all write the same file; the rates compare different work:")
        for side, runs in (("current", current), ("baseline", old)):
            for number, run in enumerate(runs, start=1):
                print(f"  {side} run {number}: {run.rows:,} rows, {run.bytes:,} bytes, sha256 {run.sha256}")


if __name__ == "__main__":
    main()
