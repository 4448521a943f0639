"""Peak memory and time of the ingest handler on the files of issue 18 that used to exhaust it.

    python bench/hostile_files.py [--cases bomb,empty-objects,long-line,valid] [--valid-bytes 2G]

Each file is generated streaming into a scratch folder, uploaded to an ingest bucket on a
moto server (its own process), then ingested by the ingest function's handler
(functions/ingest/ingest_app.py) in a fresh Python process, with the template's global
variables and its 32 MiB range per invocation; the continuations the function would send
itself are run in that same process, one after the other, so the figure is the peak of the
whole file. DynamoDB is dynalite, keeping its tables on disk (a 2 GB file holds millions of
records). Prints, for each file, its size, the outcome, records written, lines rejected,
invocations, the child's peak RSS (VmHWM) and the wall-clock seconds. Issue 18's target:
at most 512 MiB for any file.

- ``bomb``: 1 GiB of zeros, gzip-compressed (about 1 MB), under a ``.gz`` key;
- ``empty-objects``: 6,000,000 lines of ``{}`` (18 MB, one range);
- ``long-line``: a learner whose ``presentation`` is 10 MB, between two valid records;
- ``valid``: the sample tenant's records (tools/sample_data) up to ``--valid-bytes``
  (default 256M; ``--valid-bytes 2G`` is issue 18's figure).

``--sink`` replaces dynalite by a DynamoDB endpoint, in this (parent) process, that takes
every write and keeps only the ingestion's progress items: dynalite stores a few hundred
records a second on this machine, so 7 million records (2 GB) would take hours. The handler
runs the same code either way (the SDK, HTTP, the same requests); only what the table holds
afterwards differs: to it every record is new, as in a first load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
from bench_stack import REGION, create_stack
from botocore.config import Config

from tools.local_endpoints import LocalLambdaContext, dynalite, moto_server_process, repo_root
from tools.sample_data import SampleShape, catalogue, logs
from tools.template_tables import global_environment

TENANT = "bench"
MIB = 1024 * 1024
# The template's INGEST_MAX_BYTES_PER_INVOCATION.
RANGE_BYTES = 32 * MIB


def _bomb(path: Path) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    zeros = bytes(MIB)
    with path.open("wb") as out:
        for _ in range(1024):
            out.write(packer.compress(zeros))
        out.write(packer.flush())


def _empty_objects(path: Path) -> None:
    with path.open("wb") as out:
        for _ in range(60):
            out.write(b"{}\n" * 100_000)


def _record(**fields: Any) -> bytes:
    return json.dumps({"tenantId": TENANT, **fields}, separators=(",", ":")).encode() + b"\n"


def _long_line(path: Path) -> None:
    with path.open("wb") as out:
        out.write(_record(type="entity", entityId=1, parentId=None, name="root"))
        out.write(_record(type="learner", learnerId=1, entityId=1, presentation="x" * (10 * 1000 * 1000)))
        out.write(_record(type="entity", entityId=2, parentId=1, name="child"))


def _valid(size: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        # A sample log line is about 300 bytes: enough logs for the size, 20,000 a day (the
        # dates stay in this century whatever the size).
        shape = replace(SampleShape(tenant_id=TENANT), logs=size // 200 + 1, logs_per_day=20_000)
        written = 0
        with path.open("wb") as out:
            for record in catalogue(shape):
                written += out.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            for record in logs(shape):
                if written >= size:
                    return
                written += out.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")

    return write


class _Sink(BaseHTTPRequestHandler):
    """DynamoDB's JSON protocol, answered without storing records (see ``--sink``)."""

    items: ClassVar[dict[tuple[str, str], dict[str, Any]]] = {}  # the progress items, by key
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        operation = self.headers["X-Amz-Target"].rsplit(".", 1)[-1]
        answer: dict[str, Any] = {}
        with self.lock:
            if operation == "PutItem":
                item = body["Item"]
                self.items[(item["pk"]["S"], item["sk"]["S"])] = item
            elif operation == "GetItem":
                found = self.items.get((body["Key"]["pk"]["S"], body["Key"]["sk"]["S"]))
                answer = {"Item": found} if found else {}
            elif operation == "BatchGetItem":
                answer = {"Responses": {table: [] for table in body["RequestItems"]}, "UnprocessedKeys": {}}
            elif operation == "BatchWriteItem":
                answer = {"UnprocessedItems": {}}
            elif operation == "Query":
                answer = {"Items": [], "Count": 0, "ScannedCount": 0}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would be millions of lines."""


@contextmanager
def _sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _size(text: str) -> int:
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def _peak_rss_mib() -> float:
    """VmHWM: this process's peak resident memory since exec (``ru_maxrss`` would include the
    parent's at fork)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(bucket: str, key: str) -> None:
    """Ingest one object through the handler in this fresh process; print JSON figures."""
    path = repo_root() / "functions" / "ingest" / "ingest_app.py"
    spec = importlib.util.spec_from_file_location("ingest_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event: dict[str, Any] = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }
    figures: dict[str, Any] = {"invocations": 0}
    started = time.perf_counter()
    try:
        while True:
            figures["invocations"] += 1
            [result] = module.handler(event, LocalLambdaContext("bench-ingest"))["results"]
            if result["outcome"] != "continuing":
                break
            event = result["next"]
        figures.update(
            outcome=result["outcome"],
            written=result.get("writtenTotal"),
            rejected=result.get("rejectedCount"),
            reason=result.get("reason"),
        )
    except Exception as exc:  # the figure of a crash is the point of the "before" runs
        figures.update(outcome=f"raised {type(exc).__name__}", error=str(exc)[:200])
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="bomb,empty-objects,long-line,valid")
    parser.add_argument("--valid-bytes", default="256M", help="size of the valid file (K, M, G suffixes)")
    parser.add_argument("--sink", action="store_true", help="a DynamoDB that stores no record (see above)")
    parser.add_argument("--child", nargs=2, metavar=("BUCKET", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    writers: dict[str, tuple[str, Callable[[Path], None]]] = {
        "bomb": ("bomb.jsonl.gz", _bomb),
        "empty-objects": ("empty-objects.jsonl", _empty_objects),
        "long-line": ("long-line.jsonl", _long_line),
        "valid": ("valid.jsonl", _valid(_size(args.valid_bytes))),
    }
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "dynalite"
        store.mkdir()
        with moto_server_process() as moto, _sink() if args.sink else dynalite(store=store) as dynamo:
            stack = create_stack(moto, dynamo)
            bucket = "bench-ingest"
            stack.s3.create_bucket(Bucket=bucket)
            # moto assembles a multipart upload while the request waits: minutes for 2 GB.
            uploader = boto3.client(
                "s3", endpoint_url=moto, region_name=REGION, config=Config(read_timeout=1800)
            )
            env = {
                **os.environ,
                **global_environment(repo_root() / "template.yaml"),
                "AWS_ENDPOINT_URL": moto,
                "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
                "AWS_REGION": REGION,
                "CONFIG_BUCKET": stack.config_bucket,
                "EXPORT_BUCKET": stack.export_bucket,
                "INGEST_BUCKET": bucket,
                "TRACKING_TABLE": stack.tracking_table,
                "RUN_HISTORY_TABLE": stack.history_table,
                "TOPIC_ARN": stack.topic_arn,
                "INGEST_MAX_BYTES_PER_INVOCATION": str(RANGE_BYTES),
                "INGEST_CONTINUATION": "return",
                "POWERTOOLS_SERVICE_NAME": "tracking-export",
                "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            }
            table = "a DynamoDB sink (no record stored)" if args.sink else "dynalite"
            load = os.getloadavg()[0]
            print(f"load average {load:.1f}; range per invocation {RANGE_BYTES // MIB} MiB; {table}")
            for case in cases:
                file_name, write = writers[case]
                path = Path(scratch) / file_name
                write(path)
                size = path.stat().st_size
                key = f"tenants/{TENANT}/incoming/{file_name}"
                uploader.upload_file(str(path), bucket, key)
                path.unlink()
                out = subprocess.run(
                    [sys.executable, __file__, "--child", bucket, key],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{case:14} {size / MIB:9.1f} MiB: {figures['outcome']:16} "
                    f"written {figures.get('written')}, rejected {figures.get('rejected')}, "
                    f"{figures['invocations']} invocation(s); peak RSS {figures['peak_rss_mib']:7.1f} MiB; "
                    f"{figures['seconds']:.1f} s (load average {os.getloadavg()[0]:.1f})"
                )
                if figures.get("reason") or figures.get("error"):
                    print(f"{'':14} {figures.get('reason') or figures.get('error')}")


if __name__ == "__main__":
    main()
