"""Run listing for operators (``tracking-export-admin runs`` and ``run show``), never a Scan.

Which read serves which question (docs/table-design.md, "Run listing"):

- one export's runs: a ``Query`` of its ``RUN#`` items (the table itself, strongly consistent,
  every attribute);
- one tenant's runs: the ``ByTenant`` index, ``tenantId = T AND scheduledTime BETWEEN``;
- every tenant's runs of one status ("what failed since T"): the ``ByStatus`` index,
  ``status = S AND scheduledTime BETWEEN``; without a status, one such Query per status.

A status filter on the first two is a ``FilterExpression``; each result is newest scheduled
time first. Runs claimed before the indexes existed carry no ``tenantId``: they are listed
per export (and by status), the tenant read from their key.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.aws.pauses import Pause, PauseRecords
from tracking_export_aws.runs.ledger import FAILED, RUNNING, SUCCEEDED, RunLedger, RunRecord

STATUSES = (RUNNING, SUCCEEDED, FAILED)


class ListingError(ValueError):
    """The filter asks for something no index serves (an export without its tenant)."""


@dataclass(frozen=True)
class RunFilter:
    """Which runs: of a tenant and export (or all tenants), of a status, scheduled in [since, until]."""

    since: datetime
    until: datetime | None = None
    tenant_id: str | None = None
    export_guid: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.export_guid is not None and self.tenant_id is None:
            raise ListingError("--export needs --tenant: an export guid is unique within its tenant only")
        if self.status is not None and self.status not in STATUSES:
            raise ListingError(f"status {self.status!r}: expected one of {', '.join(STATUSES)}")
        if self.until is not None and self.until < self.since:
            raise ListingError("--until is before --since")


@dataclass(frozen=True)
class ListedRun:
    """A run as listed: its record, and where it belongs (from its attributes, else its key)."""

    tenant_id: str
    export_guid: str
    record: RunRecord


class RunListing:
    """Lists runs and shows one; ``pauses`` says which exports are paused (``ops/pause.py``'s query)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name
        self.ledger = RunLedger(client, table_name)
        self.pauses = PauseRecords(client, table_name)

    def runs(self, wanted: RunFilter) -> list[ListedRun]:
        """The runs ``wanted`` selects, newest scheduled time first."""
        low = keys.instant_key(wanted.since)
        # "~" sorts after every instant key's characters: no upper bound.
        high = keys.instant_key(wanted.until) if wanted.until is not None else "~"
        if wanted.tenant_id is not None and wanted.export_guid is not None:
            items = self._export_items(wanted.tenant_id, wanted.export_guid, low, high, wanted.status)
            return [_listed(item) for item in items]
        if wanted.tenant_id is not None:
            items = self._index_items(
                keys.BY_TENANT_INDEX, "tenantId", wanted.tenant_id, low, high, wanted.status
            )
            return [_listed(item) for item in items]
        statuses = (wanted.status,) if wanted.status is not None else STATUSES
        streams = [
            [_listed(item) for item in self._index_items(keys.BY_STATUS_INDEX, "status", s, low, high, None)]
            for s in statuses
        ]
        return list(heapq.merge(*streams, key=lambda run: run.record.scheduled_time, reverse=True))

    def show(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, replay_id: str | None = None
    ) -> RunRecord | None:
        """One run's whole record (strongly consistent), or None when there is none."""
        return self.ledger.get(tenant_id, export_guid, scheduled_time, replay_id)

    def record_item(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, replay_id: str | None = None
    ) -> dict[str, Any] | None:
        """One run's item as stored, every attribute (``run show``)."""
        response = self.client.get_item(
            TableName=self.table,
            Key={
                "pk": {"S": keys.export_pk(tenant_id, export_guid)},
                "sk": {"S": keys.run_sk(scheduled_time, replay_id)},
            },
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def pauses_of(self, exports: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], Pause]:
        """The pause that holds each of ``exports`` (``(tenant, None)``: the tenant's own), for
        those paused: two GetItems an export at most."""
        found: dict[tuple[str, str | None], Pause] = {}
        for tenant_id, export_guid in dict.fromkeys(exports):
            pause = (
                self.pauses.get(tenant_id)
                if export_guid is None
                else self.pauses.paused(tenant_id, export_guid)
            )
            if pause is not None:
                found[(tenant_id, export_guid)] = pause
        return found

    def _export_items(
        self, tenant_id: str, export_guid: str, low: str, high: str, status: str | None
    ) -> Iterator[dict[str, Any]]:
        values: dict[str, Any] = {
            ":pk": {"S": keys.export_pk(tenant_id, export_guid)},
            ":from": {"S": f"{keys.RUN_SK_PREFIX}{low}"},
            # A replay's key continues its time's: "#R#…" sorts before "~".
            ":to": {"S": f"{keys.RUN_SK_PREFIX}{high}~"},
        }
        extra: dict[str, Any] = {}
        if status is not None:
            values[":status"] = {"S": status}
            extra = {"FilterExpression": "#s = :status", "ExpressionAttributeNames": {"#s": "status"}}
        for page in query_pages(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            ConsistentRead=True,
            **extra,
        ):
            yield from page

    def _index_items(
        self, index: str, attribute: str, value: str, low: str, high: str, status: str | None
    ) -> Iterator[dict[str, Any]]:
        values: dict[str, Any] = {":v": {"S": value}, ":from": {"S": low}, ":to": {"S": high}}
        names = {"#k": attribute}
        extra: dict[str, Any] = {}
        if status is not None:
            values[":status"] = {"S": status}
            names["#s"] = "status"
            extra = {"FilterExpression": "#s = :status"}
        for page in query_pages(
            self.client,
            TableName=self.table,
            IndexName=index,
            KeyConditionExpression="#k = :v AND scheduledTime BETWEEN :from AND :to",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            **extra,
        ):
            yield from page


def _listed(item: dict[str, Any]) -> ListedRun:
    record = RunRecord.from_item(item)
    tenant, guid = record.tenant_id, record.export_guid
    if tenant is None or guid is None:
        # Claimed before the ledger wrote them: the key says it (T#{tenant}#E#{guid}).
        _, tenant, _, guid = str(item["pk"]["S"]).split("#", 3)
    return ListedRun(tenant, guid, record)


def window_text(window: dict[str, Any] | None) -> str:
    """A run's window as one token: ``2026-03-01..2026-03-02`` (local days), ``all``, or ``-``."""
    if not window:
        return "-"
    first, last = window.get("firstDay"), window.get("lastDay")
    if first is None and last is None:
        return str(window.get("kind") or "all")
    return f"{first or '*'}..{last or '*'}"
