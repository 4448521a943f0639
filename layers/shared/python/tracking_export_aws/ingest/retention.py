"""Retention of tracking logs: ``expiresAt`` (DynamoDB TTL) follows the tenant's ``retentionDays``.

A log's ``expiresAt`` is its ``startedAt`` plus ``retentionDays`` (tenant.json), in epoch
seconds; without ``retentionDays`` logs carry none and are kept. The loader and the ingestion
set it when they write a log; when the setting changes, :func:`apply_retention` rewrites it on
every log of the tenant (the ingest function runs it when ``tenants/{tenant}/tenant.json`` is
uploaded; operators run ``python -m tools.apply_retention --tenant acme``). DynamoDB
deletes expired items within days; the export never reads a log whose ``expiresAt`` has passed.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from pydantic import BaseModel, ConfigDict, Field

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.ingest.loader import retention_expiry

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient

TENANT_SETTINGS_KEY_RE = re.compile(r"^tenants/([^/]+)/tenant\.json$")


def retention_event(bucket: str, key: str) -> dict[str, Any]:
    """The S3 notification of ``tenants/{tenant}/tenant.json`` in the config bucket ``bucket``:
    what config-sync sends the ingest function so that it applies the tenant's retention."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/")}},
            }
        ]
    }


def settings_tenant(key: str) -> str | None:
    """The tenant of a ``tenants/{tenant}/tenant.json`` key; None for any other key."""
    match = TENANT_SETTINGS_KEY_RE.fullmatch(key)
    return match.group(1) if match and keys.TENANT_ID_RE.fullmatch(match.group(1)) else None


def _days(client: DynamoDBClient, table: str, tenant: str) -> list[str]:
    return [
        item["sk"]["S"]
        for page in query_pages(
            client,
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.days_pk(tenant)}},
            ProjectionExpression="sk",
        )
        for item in page
    ]


def _apply_to_partition(
    client: DynamoDBClient, table: str, pk: str, retention_days: int | None
) -> tuple[int, int]:
    """(logs seen, logs updated) of one day x shard partition."""
    seen = updated = 0
    for page in query_pages(
        client,
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ProjectionExpression="pk, sk, expiresAt",
        ConsistentRead=True,
    ):
        for item in page:
            seen += 1
            started_at = keys.parse_instant_key(item["sk"]["S"].split("#")[0])
            wanted = retention_expiry(started_at, retention_days)
            current = item.get(keys.EXPIRES_AT, {}).get("N")
            if current == (None if wanted is None else str(wanted)):
                continue
            update: dict[str, Any] = (
                {"UpdateExpression": "REMOVE expiresAt"}
                if wanted is None
                else {
                    "UpdateExpression": "SET expiresAt = :e",
                    "ExpressionAttributeValues": {":e": {"N": str(wanted)}},
                }
            )
            try:
                client.update_item(
                    TableName=table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    ConditionExpression="attribute_exists(pk)",
                    **update,
                )
                updated += 1
            except client.exceptions.ConditionalCheckFailedException:
                pass  # erased meanwhile: not brought back
    return seen, updated


class RetentionSummary(BaseModel):
    """What applying a tenant's retention did (every field may be logged: counts, no data)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    tenant_id: str = Field(alias="tenantId")
    retention_days: int | None = Field(alias="retentionDays")
    logs_seen: int = Field(alias="logsSeen", ge=0)
    logs_updated: int = Field(alias="logsUpdated", ge=0)

    def as_dict(self) -> dict[str, Any]:
        """The summary as the handler returns it and the command line prints it."""
        return self.model_dump(by_alias=True)

    def logged(self) -> dict[str, Any]:
        """The fields a log line may carry (all of them)."""
        return self.as_dict()


def apply_retention(
    client: DynamoDBClient, table: str, tenant_id: str, retention_days: int | None, *, workers: int = 8
) -> RetentionSummary:
    """Set every log's ``expiresAt`` of the tenant from ``retention_days`` (None removes it)."""
    tenant = keys.validate_tenant_id(tenant_id)
    partitions = [
        keys.log_pk(tenant, d, s) for d in _days(client, table, tenant) for s in range(keys.LOG_SHARDS)
    ]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retention") as pool:
        results = list(
            pool.map(lambda pk: _apply_to_partition(client, table, pk, retention_days), partitions)
        )
    return RetentionSummary(
        tenantId=tenant,
        retentionDays=retention_days,
        logsSeen=sum(r[0] for r in results),
        logsUpdated=sum(r[1] for r in results),
    )


class RetentionService:
    """Applies a tenant's current ``retentionDays`` (read from tenant.json) to its logs."""

    def __init__(self, *, config: ConfigStore, dynamodb: DynamoDBClient, table: str) -> None:
        self.config = config
        self.dynamodb = dynamodb
        self.table = table

    def apply(self, tenant_id: str) -> RetentionSummary:
        days = self.config.tenant_settings(tenant_id).retention_days
        return apply_retention(self.dynamodb, self.table, tenant_id, days)
