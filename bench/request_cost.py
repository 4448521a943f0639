"""Where the CPU of the export's DynamoDB reads goes, per request and per item (issue 15).

    python bench/request_cost.py [--logs N] [--requests K]

Loads N logs (default 20,000; trackings: at least 20,000, as ``export_e2e.py``) of the sample
tenant into dynalite through the loader, then times, with ``time.process_time()`` (this
process only; dynalite runs in its own), one request after another through the functions'
unvalidated DynamoDB client (its fast answer parser on):

- ``BatchGetItem`` of 100 tracking keys with the source's projection — how the catalogue is
  read: the whole call; botocore's serialisation of the request alone (the shape walk) and
  ``json.dumps`` of the same parameters; ``json.loads`` of the answers' bodies; the source's
  decoding of the items (``plain_item``);
- ``Query`` pages of ``LOG_PAGE_SIZE`` logs with the source's projection — how a day is
  read: the whole call, ``json.loads`` of the bodies, and ``logs_of_items``.

Each figure is the median of K requests (default 100) in µs, and per item. What is left of a
whole call once ``json.loads`` is taken out is botocore's and the HTTP client's own work per
request (signing, serialising, hooks, headers), which a page of 1,000 logs shares among its
items and a batch of 100 catalogue keys among its 100.

For each kind, the same request is also sent the leanest way Python can: ``json.dumps`` of the
parameters, signed by botocore's ``SigV4Auth`` with the client's credentials, POSTed on a kept-alive
urllib3 connection, the answer ``json.loads``-ed (no retries, no error handling, no hooks). Its
median, interleaved with the client's calls, is the floor of any request path: the whole call less
that is what botocore adds per request (``what botocore adds``), the most a path of one's own
could save.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import urllib3
from bench_stack import REGION, create_stack
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from tools.local_endpoints import dynalite, moto_server_process
from tools.sample_data import SampleShape, dataset, write_jsonl
from tracking_export.records import RECORD_FIELDS
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import plain_item
from tracking_export_aws.aws.tracking_source import (
    _LOG_NAMES,
    _LOG_PROJECTION,
    LOG_PAGE_SIZE,
    logs_of_items,
)
from tracking_export_aws.ingest.loader import load_jsonl


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """CPU seconds of ``call(*args, **kwargs)``, and what it returned."""
    started = time.process_time()
    result = call(*args, **kwargs)
    return time.process_time() - started, result


def report(title: str, figures: list[tuple[str, list[float]]], per_request: float, unit: str) -> None:
    """Each figure's median in µs and per ``unit``; then the request's own cost: the whole call
    (the first figure) less ``json.loads`` of its answer; and what botocore adds to the leanest
    signed request (the whole call less the ``minimal signed request`` figure)."""
    print(f"{title}, CPU µs:")
    medians = {label.strip(): median_us(samples) for label, samples in figures}
    for label, samples in figures:
        value = median_us(samples)
        print(f"  {label:42} {value:8.0f}   {value / per_request:6.1f} per {unit}")
    whole = medians["whole call"]
    lines = [("request overhead (call - json.loads)", whole - medians["json.loads of the answer"])]
    if "minimal signed request" in medians:
        lines.append(("what botocore adds (call - minimal)", whole - medians["minimal signed request"]))
    for label, value in lines:
        print(f"  {label:42} {value:8.0f}   {value / per_request:6.1f} per {unit}")


class MinimalRequests:
    """DynamoDB requests the leanest way: ``json.dumps``, botocore's ``SigV4Auth`` with the
    client's credentials (the environment's), a kept-alive urllib3 pool, ``json.loads``. A
    floor, not a client: no retries, no error handling (the bench checks each answer's size
    against the client's)."""

    def __init__(self, endpoint: str) -> None:
        found = botocore.session.get_session().get_credentials()
        if found is None:
            raise RuntimeError("no AWS credentials in the environment")
        credentials = found.get_frozen_credentials()
        self._signer = SigV4Auth(credentials, "dynamodb", REGION)
        self._pool = urllib3.PoolManager(maxsize=1)
        self._url = endpoint

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = {
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
        }
        request = AWSRequest(method="POST", url=self._url, data=body, headers=headers)
        self._signer.add_auth(request)
        answer = self._pool.request("POST", self._url, body=body, headers=dict(request.headers.items()))
        if answer.status != 200:
            raise RuntimeError(f"the minimal {operation} failed ({answer.status}): {answer.data[:300]!r}")
        decoded: dict[str, Any] = json.loads(answer.data)
        return decoded


def decode_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalogue items as the source decodes a projected batch (``_get_chunk``)."""
    return [plain_item(item, ()) for item in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    shape = replace(SampleShape(tenant_id="acme"), logs=args.logs, trackings=max(20_000, args.logs // 5))
    with moto_server_process() as moto, dynalite() as dynamo, tempfile.TemporaryDirectory() as scratch:
        stack = create_stack(moto, dynamo)
        client, table = stack.dynamodb, stack.tracking_table
        path = Path(scratch) / "acme.jsonl"
        write_jsonl(dataset(shape), path)
        load_jsonl(path, table, client)
        operation = client.meta.service_model.operation_model("BatchGetItem")
        serializer = client._serializer  # botocore's, as the client uses it
        bodies: list[bytes] = []
        client.meta.events.register(
            "after-call.dynamodb", lambda http_response, **_: bodies.append(http_response.content)
        )

        # BatchGetItem of 100 tracking keys, as DynamoTrackingSource._get_chunk asks.
        names = {f"#a{n}": name for n, name in enumerate(("pk", *RECORD_FIELDS["tracking"]))}
        pks = [keys.catalogue_pk("acme", "tracking", t) for t in range(1, shape.trackings + 1)]
        batches = [pks[i : i + 100] for i in range(0, len(pks), 100)]
        count = min(args.requests, len(batches) - 1)

        def batch_params(chunk: list[str]) -> dict[str, Any]:
            request = {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": keys.RECORD_SK}} for pk in chunk],
                "ConsistentRead": False,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
            return {"RequestItems": {table: request}, "ReturnConsumedCapacity": "TOTAL"}

        minimal = MinimalRequests(dynamo)
        client.batch_get_item(**batch_params(batches[-1]))  # warm: connection, caches
        minimal.call("BatchGetItem", batch_params(batches[-1]))
        calls, serialized, dumped, decoded, items_decoded, lean, items = [], [], [], [], [], [], 0
        for chunk in batches[:count]:
            params = batch_params(chunk)
            serialized.append(timed(serializer.serialize_to_request, params, operation)[0])
            dumped.append(timed(json.dumps, params)[0])
            bodies.clear()
            seconds, answer = timed(client.batch_get_item, **params)
            calls.append(seconds)
            found = answer["Responses"][table]
            items += len(found)
            decoded.append(timed(json.loads, bodies[-1])[0])
            items_decoded.append(timed(decode_items, found)[0])
            seconds, lean_answer = timed(minimal.call, "BatchGetItem", params)
            lean.append(seconds)
            if len(lean_answer["Responses"][table]) != len(found):
                raise RuntimeError("the minimal BatchGetItem read other items than the client's")
        per_batch = items / count
        report(
            f"BatchGetItem of 100 tracking keys ({count} requests, {per_batch:.0f} items each)",
            [
                ("whole call", calls),
                ("  of which serialising (botocore's walk)", serialized),
                ("  json.dumps of the same parameters", dumped),
                ("  json.loads of the answer", decoded),
                ("decoding the items (plain_item)", items_decoded),
                ("minimal signed request", lean),
            ],
            per_batch,
            "item",
        )

        # Query pages of LOG_PAGE_SIZE logs, as DynamoTrackingSource._log_page asks.
        day = shape.last_day.isoformat()
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.log_pk("acme", day, 0)}},
            "ProjectionExpression": _LOG_PROJECTION,
            "ExpressionAttributeNames": _LOG_NAMES,
            "Limit": LOG_PAGE_SIZE,
            "ReturnConsumedCapacity": "TOTAL",
        }
        pages: list[float] = []
        page_decoded: list[float] = []
        page_logs: list[float] = []
        page_lean: list[float] = []
        logs = 0
        now = time.time()
        minimal.call("Query", request)
        for _ in range(count):
            bodies.clear()
            seconds, answer = timed(client.query, **request)
            found = answer["Items"]
            if not found:
                break
            pages.append(seconds)
            logs += len(found)
            page_decoded.append(timed(json.loads, bodies[-1])[0])
            page_logs.append(timed(logs_of_items, found, now)[0])
            seconds, lean_answer = timed(minimal.call, "Query", request)
            page_lean.append(seconds)
            if len(lean_answer["Items"]) != len(found):
                raise RuntimeError("the minimal Query read other items than the client's")
            last = answer.get("LastEvaluatedKey")
            if last is None:
                request.pop("ExclusiveStartKey", None)  # read the partition again
            else:
                request["ExclusiveStartKey"] = last
        per_page = logs / len(pages)
        report(
            f"Query pages of up to {LOG_PAGE_SIZE} logs ({len(pages)} pages, {per_page:.0f} logs each)",
            [
                ("whole call", pages),
                ("  json.loads of the answer", page_decoded),
                ("logs_of_items", page_logs),
                ("minimal signed request", page_lean),
            ],
            per_page,
            "log",
        )


if __name__ == "__main__":
    main()
