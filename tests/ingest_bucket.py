"""The ingest bucket of a local stack and the ingest functions pointed at it, for the tests that
drop files (tests/integration/test_ingestion.py, test_hostile_ingestion.py); the fixture
``ingest_for`` (tests/integration/conftest.py) makes one: ``app.handler`` runs as IngestFunction,
``app.on_failure`` as IngestRecoveryFunction, each with its own template environment."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from function_environments import ENVIRONMENTS

from tracking_export_aws.aws import keys


@dataclass
class Ingest:
    """The ingest bucket of a stack and the handler pointed at it."""

    stack: Any
    bucket: str
    app: Any
    context: Any

    def drop(self, tenant: str, name: str, body: bytes | str) -> str:
        key = f"tenants/{tenant}/incoming/{name}"
        data = body.encode() if isinstance(body, str) else body
        self.stack.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def event(self, key: str, bucket: str | None = None) -> dict[str, Any]:
        """The S3 notification of ``key``, its key URL-encoded as S3 encodes it (form encoding:
        a space is '+'; '/' is left as is)."""
        return {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": bucket or self.bucket},
                        "object": {"key": quote_plus(key, safe="/")},
                    },
                }
            ]
        }

    def invoke(self, event: Any) -> dict[str, Any]:
        [result] = self.app.handler(event, self.context)["results"]
        return dict(result)

    def run(self, key: str) -> list[dict[str, Any]]:
        """The S3 event, then each continuation the function would send itself; every result."""
        results = [self.invoke(self.event(key))]
        while results[-1]["outcome"] == "continuing":
            results.append(self.invoke(results[-1]["next"]))
        return results

    def keys(self, prefix: str) -> list[str]:
        listing = self.stack.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def operator(self, main: Callable[[list[str]], int], argv: list[str]) -> int:
        """An operator's command line (tools/), run with the ingest function's environment as its
        documentation says (its own credentials: no IAM check)."""
        with ENVIRONMENTS.of("IngestFunction", self.app.handler.env):
            return main(argv)


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def table_items(stack: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the tracking table but the ingestion's progress items (a test-only Scan)."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in stack.dynamodb.get_paginator("scan").paginate(TableName=stack.tracking_table):
        for item in page["Items"]:
            if "#INGEST" not in item["pk"]["S"]:
                items[(item["pk"]["S"], item["sk"]["S"])] = item
    return items


def day_counts(stack: Any, tenant: str) -> dict[str, int]:
    response = stack.dynamodb.query(
        TableName=stack.tracking_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.days_pk(tenant)}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"]: int(item["logCount"]["N"]) for item in response["Items"]}
