"""Engine throughput and memory, against Python's csv.writer measured in the same run.

    python bench/engine.py [--rows N]

Prints, for N rows (default 200,000) generated in memory with the 43 columns of the
seed: the engine's rows/s (records -> filtered, formatted, ordered rows -> encoded
bytes), the rows/s of csv.writer writing N already-formatted 43-cell rows (the
baseline), their ratio, and the peak RSS of a fresh process exporting N and 5×N rows.
Rows are generated day by day as the engine asks for them, so the input is not held
in memory either: what grows, if anything, is the engine.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.sample_data import SampleShape, catalogue, logs
from tracking_export.definition import load_definition
from tracking_export.engine import run_export
from tracking_export.model import COLUMN_NAMES
from tracking_export.source import (
    InMemorySource,
    Raw,
    TimeRange,
    TrackingSource,
    parse_instant,
)

SEED_COLUMNS = COLUMN_NAMES[:43]
LOGS_PER_DAY = 2_000


def definition_xml() -> str:
    cells = []
    for name in SEED_COLUMNS:
        if name == "candidateCustomFieldGuid":
            cells.append(f'<{name} label="Department">cf-department</{name}>')
        elif name == "constantValue":
            cells.append(f'<{name} value="ACME"/>')
        elif name == "templatedValue":
            cells.append(f'<{name} templateId="1"/>')
        else:
            cells.append(f"<{name}/>")
    return (
        "<providers><trackingLogProvider><columns>"
        + "".join(cells)
        + "</columns><parameters><dateTimeFormat>YYYY-MM-DD hh:ii:ss</dateTimeFormat>"
        + '<templates><template id="1">{4} {5} ({2})</template></templates>'
        + "</parameters></trackingLogProvider></providers>"
    )


class GeneratedSource(TrackingSource):
    """The sample tenant's catalogue in memory; its logs generated one day at a time."""

    def __init__(self, shape: SampleShape, *, materialise: bool = False) -> None:
        self._catalogue = InMemorySource(shape.tenant_id, catalogue(shape))
        self._shape = shape
        # For the timed run the logs are generated beforehand, so that the engine's
        # rate is not the generator's; the memory runs generate them lazily.
        self._materialised = list(self._timed(logs(shape))) if materialise else None
        days = -(-shape.logs // shape.logs_per_day)
        self._first = datetime.combine(shape.last_day - timedelta(days=days - 1), datetime.min.time(), UTC)
        self._end = datetime.combine(shape.last_day + timedelta(days=1), datetime.min.time(), UTC)

    def log_span(self) -> TimeRange | None:
        return self._first, self._end

    def logs_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[list[Raw]]:
        # One generator over all logs, consumed in day order: generating a day's logs
        # costs the same as reading them, and nothing beyond the current day is held.
        stream = (
            iter(self._materialised) if self._materialised is not None else self._timed(logs(self._shape))
        )
        pending: tuple[datetime, Raw] | None = None
        for start, end in ranges:
            day: list[Raw] = []
            while True:
                item = pending if pending is not None else next(stream, None)
                pending = None
                if item is None:
                    break
                if item[0] >= end:
                    pending = item
                    break
                if item[0] >= start:
                    day.append(item[1])
            yield day

    @staticmethod
    def _timed(raws: Iterable[Raw]) -> Iterator[tuple[datetime, Raw]]:
        for raw in raws:
            instant = parse_instant(raw["startedAt"])
            assert instant is not None
            yield instant, raw

    def get_many(self, kind: str, keys: Iterable[Any]) -> dict[Any, Raw]:
        return self._catalogue.get_many(kind, keys)

    def logs_of_trackings(self, tracking_ids: Iterable[int]) -> dict[int, list[Raw]]:
        return {t: [] for t in tracking_ids}

    def unlaunched_trackings(self) -> Iterator[Raw]:
        return iter(())


class CountingSink:
    def __init__(self) -> None:
        self.bytes = 0
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        self.sha.update(data)
        return len(data)


def run_engine(rows: int, *, materialise: bool) -> tuple[float, int, int]:
    """(seconds, rows written, bytes) of one export of ``rows`` generated logs."""
    shape = replace(SampleShape(), logs=rows, logs_per_day=LOGS_PER_DAY)
    definition = load_definition(definition_xml(), name="bench.xml")
    source = GeneratedSource(shape, materialise=materialise)
    sink = CountingSink()
    now = datetime.combine(shape.last_day, datetime.max.time(), UTC)
    started = time.perf_counter()
    report = run_export(definition, source, sink, tenant_id="acme", timezone="UTC", now=now)
    return time.perf_counter() - started, report.rows, sink.bytes


def run_baseline(rows: int) -> float:
    """Seconds for csv.writer to write ``rows`` already-formatted 43-cell rows, encoded to UTF-8."""
    sample = [f"value {i}" if i % 5 else f"2026-11-27 10:{i:02d}:00" for i in range(len(SEED_COLUMNS))]
    variants = [[f"{cell}{n}" for cell in sample] for n in range(100)]
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    started = time.perf_counter()
    writer.writerow(SEED_COLUMNS)
    for n in range(rows):
        writer.writerow(variants[n % 100])
        if n % 10_000 == 0:  # keep the buffer bounded, as a real writer would
            text.flush()
            out.seek(0)
            out.truncate()
    text.flush()
    return time.perf_counter() - started


def peak_rss_mib(rows: int) -> float:
    """Peak RSS of a fresh interpreter exporting ``rows`` rows."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(rows)], check=True, capture_output=True, text=True
    )
    return float(json.loads(result.stdout)["peak_rss_mib"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_engine(args.child, materialise=False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"peak_rss_mib": peak}))
        return
    n = args.rows
    engine_s, written, size = run_engine(n, materialise=True)
    baseline_s = run_baseline(n)
    engine_rate, baseline_rate = written / engine_s, n / baseline_s
    print(f"rows: {n:,} generated, {written:,} written, {size / 1e6:.1f} MB, 43 columns")
    print(f"engine:   {engine_rate:12,.0f} rows/s  ({engine_s:.2f} s)")
    print(f"baseline: {baseline_rate:12,.0f} rows/s  ({baseline_s:.2f} s, csv.writer, pre-formatted rows)")
    print(f"ratio engine/baseline: {engine_rate / baseline_rate:.3f}  (target >= 0.25)")
    at_n, at_5n = peak_rss_mib(n), peak_rss_mib(5 * n)
    print(f"peak RSS at N={n:,}: {at_n:.1f} MiB; at 5N={5 * n:,}: {at_5n:.1f} MiB; ratio {at_5n / at_n:.3f}")
    print("(target: 5N within 10% of N)")


if __name__ == "__main__":
    main()
