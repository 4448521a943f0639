"""Ingestion into the local DynamoDB endpoint, versus the plain BatchWriteItem floor.

    python bench/ingest.py [--logs N] [--workers W] [--rounds R]

Writes the sample tenant (N logs, default 20,000, and its catalogue) as JSONL, then, in the
same run, into fresh tables on dynalite:
- the floor: the same items (keys already built, DynamoDB JSON already made) written with
  plain ``BatchWriteItem`` calls of 25, W in parallel — nothing else;
- the ingestion: one range of the file as the ingest function loads it — lines cut, parsed
  twice (a first pass checks every record against DynamoDB's rules and notes ids, the second
  writes), records keyed, the stored versions read (last write wins), ``BatchWriteItem``,
  day markers, ``LOGGED#`` markers, the ``Unlaunched`` index and the per-day recount;
- the same file delivered again (every record already there: reads, no writes).
Prints items per second for each and the ratio ingestion / floor (target at least 0.8), on
the records, and on every item the ingestion writes (records plus the markers derived from
them), and the CPU the ingestion's own process spent per record.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from tools.local_endpoints import dynalite, repo_root
from tools.sample_data import SampleShape, dataset, write_jsonl
from tools.template_tables import table_definitions
from tracking_export_aws.aws import clients
from tracking_export_aws.aws.dynamo import BATCH_WRITE_LIMIT, batch_write, chunks
from tracking_export_aws.ingest.loader import Loader, _item_for, parse_line
from tracking_export_aws.ingest.reader import read_range
from tracking_export_aws.ingest.service import range_lines

LINE_CAP = 1024 * 1024  # INGEST_MAX_LINE_BYTES' default

REGION = "us-east-1"


def make_table(dynamodb: Any, name: str) -> str:
    definition = table_definitions(repo_root() / "template.yaml")["TrackingTable"]
    dynamodb.create_table(TableName=name, **definition)
    return name


def floor(dynamodb: Any, table: str, items: list[dict[str, Any]], workers: int) -> float:
    """Seconds to write the prepared items with plain BatchWriteItem, ``workers`` calls at a time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        requests = (
            [{"PutRequest": {"Item": item}} for item in batch] for batch in chunks(items, BATCH_WRITE_LIMIT)
        )
        for future in [pool.submit(batch_write, dynamodb, table, r) for r in requests]:
            future.result()
    return time.perf_counter() - started


def ingestion(dynamodb: Any, table: str, data: bytes, workers: int) -> tuple[float, float, Any]:
    """Seconds and this process's CPU seconds (dynalite runs in its own) for the ingestion's
    load of one range (the whole file) into ``table``."""
    started, cpu = time.perf_counter(), time.process_time()
    chunk = read_range([data], budget=len(data), max_line=LINE_CAP)
    report = Loader(table, dynamodb, workers=workers, tenant="acme").run(range_lines(chunk, 0, LINE_CAP))
    return time.perf_counter() - started, time.process_time() - cpu, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4, help="parallel BatchWriteItem calls (both sides)")
    parser.add_argument("--rounds", type=int, default=5, help="floor and ingestion alternate; medians shown")
    args = parser.parse_args(argv)
    # Local endpoints check no signature, but botocore will not send a request without one.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    shape = replace(SampleShape(), logs=args.logs, learners=500, contents=100, trackings=3_000)
    with dynalite() as endpoint, tempfile.TemporaryDirectory() as scratch:
        # As the ingest function's loader: no client-side parameter validation.
        dynamodb = clients.client("dynamodb", endpoint_url=endpoint, region=REGION, validated=False)
        path = Path(scratch) / "acme.jsonl"
        count = write_jsonl(dataset(shape), path)
        data = path.read_bytes()
        prepared = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                raw = parse_line(number, line)
                assert isinstance(raw, dict)
                prepared.append(_item_for(number, raw, "acme", None, checked=True).item)
        print(
            f"dataset: {count:,} records ({args.logs:,} logs), {len(data) / 1e6:.1f} MB; dynalite {endpoint}"
        )

        # Alternating rounds on fresh tables: a machine shared with other work drifts less
        # between the two sides than between two separate runs.
        floors, ingests, agains, cpus = [], [], [], []
        derived = 0
        for n in range(args.rounds):
            floors.append(floor(dynamodb, make_table(dynamodb, f"floor-{n}"), prepared, args.workers))
            table = make_table(dynamodb, f"ingest-{n}")
            seconds, cpu, report = ingestion(dynamodb, table, data, args.workers)
            assert report.written_total == count and report.rejected_count == 0, report.as_dict()
            ingests.append(seconds)
            cpus.append(cpu)
            derived = report.markers_written + report.days_marked
            seconds, _, again = ingestion(dynamodb, table, data, args.workers)
            assert again.written.get("trackingLog", 0) == 0, again.as_dict()
            agains.append(seconds)
            figures = f"floor {floors[-1]:.2f} s, ingestion {ingests[-1]:.2f} s, again {agains[-1]:.2f} s"
            print(f"round {n + 1}: {figures}")

        floor_s, ingest_s, again_s = (statistics.median(v) for v in (floors, ingests, agains))
        floor_rate, ingest_rate, again_rate = count / floor_s, count / ingest_s, count / again_s
        print(f"BatchWriteItem floor: {floor_s:6.2f} s  {floor_rate:9,.0f} items/s (median)")
        print(f"ingestion:            {ingest_s:6.2f} s  {ingest_rate:9,.0f} items/s (median)")
        print(f"same file again:      {again_s:6.2f} s  {again_rate:9,.0f} items/s (nothing written)")
        # The ingestion's own CPU (reading, checking, serialising, the SDK), which the machine's
        # load moves much less than the rates above.
        cpu_s = statistics.median(cpus)
        print(f"ingestion CPU:        {cpu_s:6.2f} CPU-s  {cpu_s / count * 1e6:6.1f} µs a record (median)")
        # Each round's floor and ingestion ran back to back: the median of their ratios is the
        # figure least moved by other work on the machine.
        ratios = sorted(f / i for f, i in zip(floors, ingests, strict=True))
        print(
            f"ingestion / floor, records: {statistics.median(ratios):.2f} median of rounds "
            f"({', '.join(f'{r:.2f}' for r in ratios)}); target >= 0.8"
        )
        # The ingestion also writes the items the export relies on (LOGGED# and DAYS markers).
        with_derived = statistics.median(r * (count + derived) / count for r in ratios)
        print(
            f"ingestion / floor, items written ({count + derived:,}, {derived:,} derived): {with_derived:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
