"""Usage per tenant and export for a month (``tracking-export-admin usage``): the basis of a bill.

For each tenant, one ``Query`` of the ``ByTenant`` index over the month (``scheduledTime`` in
``[first day 00:00 UTC, next month's first day 00:00 UTC)``), never a Scan; every tenant: the
tenants that have a definition in the config bucket. Each finished run counts (scheduled runs
and replays, succeeded or failed: a failed run read data too):

- ``rows`` and ``bytes``: of the files the runs wrote (succeeded runs);
- ``readUnits``: the DynamoDB read capacity the runs consumed, as DynamoDB reported it to the
  run (``ReturnConsumedCapacity`` on the tracking source's Query and BatchGetItem calls,
  ``aws/capacity.py``): measured, never estimated. A run that did not record it (one that failed
  before reading, or older than the measurement) is counted in ``runsWithoutReadUnits``.

A run still ``running`` is not counted: its figures are not known yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.runs.ledger import FAILED, SUCCEEDED, RunRecord


@dataclass
class ExportUsage:
    """One export's (or, ``export_guid`` None, one tenant's) figures for the month."""

    tenant_id: str
    export_guid: str | None
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    replays: int = 0
    rows: int = 0
    bytes: int = 0
    read_units: float = 0.0
    runs_without_read_units: int = 0

    def add(self, record: RunRecord) -> None:
        """Count one finished run."""
        self.runs += 1
        self.succeeded += record.status == SUCCEEDED
        self.failed += record.status == FAILED
        self.replays += record.replay_id is not None
        if record.status == SUCCEEDED:
            self.rows += record.rows or 0
            self.bytes += record.bytes_written or 0
        if record.read_units is None:
            self.runs_without_read_units += 1
        else:
            self.read_units += record.read_units

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "exportGuid": self.export_guid,
            "runs": self.runs,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "replays": self.replays,
            "rows": self.rows,
            "bytes": self.bytes,
            "readUnits": round(self.read_units, 3),
            "runsWithoutReadUnits": self.runs_without_read_units,
        }


@dataclass
class TenantUsage:
    """A tenant's month: its total and each of its exports (sorted by guid)."""

    total: ExportUsage
    exports: list[ExportUsage] = field(default_factory=list)


def month_range(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as ``[its first instant, the next month's)``, in UTC; ValueError otherwise."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ValueError(f"{month!r} is not a month YYYY-MM") from None
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (
        datetime(first.year, first.month, 1, tzinfo=UTC),
        datetime(following.year, following.month, 1, tzinfo=UTC),
    )


class Usage:
    """Sums the run records of the run-history table through its ``ByTenant`` index."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def of_tenants(self, tenants: Iterable[str], month: str) -> list[TenantUsage]:
        """Each tenant's usage in ``month`` (``YYYY-MM``), in the order given."""
        start, end = month_range(month)
        return [self.of_tenant(tenant, start, end) for tenant in tenants]

    def of_tenant(self, tenant_id: str, start: datetime, end: datetime) -> TenantUsage:
        """The tenant's finished runs scheduled in ``[start, end)``, per export and in total."""
        total = ExportUsage(tenant_id, None)
        by_export: dict[str, ExportUsage] = {}
        for record in self._runs(tenant_id, start, end):
            if not record.finished:
                continue
            guid = record.export_guid or "?"
            by_export.setdefault(guid, ExportUsage(tenant_id, guid)).add(record)
            total.add(record)
        return TenantUsage(total, [by_export[guid] for guid in sorted(by_export)])

    def _runs(self, tenant_id: str, start: datetime, end: datetime) -> Iterable[RunRecord]:
        for page in query_pages(
            self.client,
            TableName=self.table,
            IndexName=keys.BY_TENANT_INDEX,
            # BETWEEN is inclusive: the bound is the last instant (a microsecond) before ``end``.
            KeyConditionExpression="tenantId = :t AND scheduledTime BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":t": {"S": keys.validate_tenant_id(tenant_id)},
                ":from": {"S": keys.instant_key(start)},
                ":to": {"S": keys.instant_key(end - timedelta(microseconds=1))},
            },
        ):
            yield from (RunRecord.from_item(item) for item in page)
