"""Writes a JSONL dataset (data-contract.md) into the tracking table (docs/table-design.md).

Records are written with ``BatchWriteItem`` (25 a call, a few calls in parallel). What a
record's key needs (type, tenantId, ids, ``startedAt`` of a log) is checked first; a record
that cannot be keyed is reported with its line and not written. Other fields are stored as
they are: the engine validates them at run time, like any record the LMS writes.

The sparse ``Unlaunched`` index: trackings are written without ``gsi2pk``/``gsi2sk``; once every
record is written, a tracking of this load that has no log — neither in this load nor
already in the table (one ``Query`` on ``ByTracking``) — gets them with ``UpdateItem``; and a
tracking already in the table that receives its first log in this load loses them. The
loader keeps the ids of the trackings it wrote and of the trackings it saw logs for (a few
bytes each), never the records.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracking_export.source import CATALOGUE_KEYS, RECORD_TYPES, InvalidLine, Raw, parse_instant, read_jsonl

from tracking_export_aws import keys
from tracking_export_aws.dynamo import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    UnstorableValueError,
    batch_get,
    batch_write,
    chunks,
    serialize,
)

# How many rejected records a report lists; the count is always exact.
MAX_LISTED_REJECTS = 1000


@dataclass(frozen=True)
class RejectedRecord:
    line: int  # 1-based position in the dataset
    kind: str | None  # the record's type, when it has one
    key: Any  # the record's id(s), as far as they could be read
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "type": self.kind, "key": self.key, "reason": self.reason}


@dataclass
class LoadReport:
    written: dict[str, int] = field(default_factory=dict)  # items per record type
    rejected_count: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    days_marked: int = 0
    unlaunched_set: int = 0  # trackings given the Unlaunched index keys
    unlaunched_cleared: int = 0  # trackings of earlier loads that got their first log

    def reject(self, record: RejectedRecord) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED_REJECTS:
            self.rejected.append(record)

    @property
    def written_total(self) -> int:
        return sum(self.written.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": dict(self.written),
            "writtenTotal": self.written_total,
            "rejectedCount": self.rejected_count,
            "rejected": [r.as_dict() for r in self.rejected],
            "daysMarked": self.days_marked,
            "unlaunchedSet": self.unlaunched_set,
            "unlaunchedCleared": self.unlaunched_cleared,
        }


class _Rejected(Exception):
    def __init__(self, kind: str | None, key: Any, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.key = key
        self.reason = reason


def _key_of(kind: str, raw: Raw) -> Any:
    names = CATALOGUE_KEYS.get(kind, ("trackingId", "logId"))
    values = [raw.get(n) for n in names]
    return values[0] if len(values) == 1 else values


def _item_for(raw: Raw) -> tuple[str, str, dict[str, Any], str | None]:
    """(tenant, type, DynamoDB item, UTC day of a log) of a record; _Rejected says why it cannot be keyed."""
    kind = raw.get("type")
    if kind not in RECORD_TYPES:
        raise _Rejected(None, None, f"unknown or missing type {kind!r}")
    assert isinstance(kind, str)
    key = _key_of(kind, raw)
    tenant = raw.get("tenantId")
    try:
        keys.validate_tenant_id(tenant)
    except keys.InvalidKeyError as exc:
        raise _Rejected(kind, key, str(exc)) from None
    assert isinstance(tenant, str)
    reserved = sorted(keys.KEY_ATTRIBUTES & raw.keys())
    if reserved:
        raise _Rejected(kind, key, f"field {reserved[0]!r} is reserved for the table's keys")
    try:
        if kind == "trackingLog":
            tracking_id: Any = raw.get("trackingId")
            log_id: Any = raw.get("logId")
            if not keys.is_int(tracking_id):
                raise _Rejected(kind, key, f"trackingId must be an integer, got {tracking_id!r}")
            if not keys.is_int(log_id):
                raise _Rejected(kind, key, f"logId must be an integer, got {log_id!r}")
            started_at = parse_instant(raw.get("startedAt"))
            if started_at is None:
                raise _Rejected(
                    kind,
                    key,
                    f"startedAt must be an ISO 8601 instant with an offset, got {raw.get('startedAt')!r}",
                )
            key_attributes = keys.log_keys(tenant, tracking_id, log_id, started_at)
            day = keys.utc_day(started_at)
        else:
            day = None
            key_attributes = keys.catalogue_key(tenant, kind, key)
        item = serialize({**raw, **key_attributes})
    except (keys.InvalidKeyError, UnstorableValueError) as exc:
        raise _Rejected(kind, key, str(exc)) from None
    return tenant, kind, item, day


class _Loader:
    def __init__(self, table_name: str, client: Any, workers: int) -> None:
        self.table = table_name
        self.client = client
        self.report = LoadReport()
        self.days: set[tuple[str, str]] = set()
        # (tenant, trackingId) -> Unlaunched index keys, for trackings written by this load.
        self.trackings: dict[tuple[str, int], dict[str, str]] = {}
        self.logged: set[tuple[str, int]] = set()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loader")
        self.max_in_flight = workers * 2
        self.in_flight: set[Future[None]] = set()

    def run(self, numbered: Iterable[tuple[int, Raw | InvalidLine]]) -> LoadReport:
        try:
            for batch in chunks(self._items(numbered), BATCH_WRITE_LIMIT):
                self._submit(batch)
            self._drain()
            self._mark_days()
            self._fix_unlaunched()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        return self.report

    def _items(self, numbered: Iterable[tuple[int, Raw | InvalidLine]]) -> Iterator[dict[str, Any]]:
        for line, raw in numbered:
            if isinstance(raw, InvalidLine):
                self.report.reject(RejectedRecord(line, None, None, raw.reason))
                continue
            try:
                tenant, kind, item, day = _item_for(raw)
            except _Rejected as exc:
                self.report.reject(RejectedRecord(line, exc.kind, exc.key, exc.reason))
                continue
            self.report.written[kind] = self.report.written.get(kind, 0) + 1
            if day is not None:
                self.days.add((tenant, day))
                self.logged.add((tenant, raw["trackingId"]))
            elif kind == "tracking":
                self.trackings[(tenant, raw["trackingId"])] = keys.unlaunched_keys(tenant, raw)
            yield {"PutRequest": {"Item": item}}

    def _submit(self, batch: list[dict[str, Any]]) -> None:
        # One batch may not hold the same key twice; the later record wins, as a sequential put would.
        unique = {(r["PutRequest"]["Item"]["pk"]["S"], r["PutRequest"]["Item"]["sk"]["S"]): r for r in batch}
        while len(self.in_flight) >= self.max_in_flight:
            done, self.in_flight = wait(self.in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        self.in_flight.add(self.pool.submit(batch_write, self.client, self.table, list(unique.values())))

    def _drain(self) -> None:
        done, _ = wait(self.in_flight)
        self.in_flight = set()
        for future in done:
            future.result()

    def _mark_days(self) -> None:
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": keys.days_pk(tenant)}, "sk": {"S": day}}}}
            for tenant, day in sorted(self.days)
        ]
        for batch in chunks(requests, BATCH_WRITE_LIMIT):
            self._submit(batch)
        self._drain()
        self.report.days_marked = len(requests)

    def _has_log_in_table(self, tenant: str, tracking_id: int) -> bool:
        response = self.client.query(
            TableName=self.table,
            IndexName=keys.BY_TRACKING_INDEX,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.by_tracking_pk(tenant, tracking_id)}},
            Limit=1,
        )
        return bool(response.get("Items"))

    def _set_unlaunched(self, tenant: str, tracking_id: int, index_keys: dict[str, str]) -> int:
        if self._has_log_in_table(tenant, tracking_id):
            return 0
        return self._update_if_exists(
            _s(keys.catalogue_key(tenant, "tracking", tracking_id)),
            "SET gsi2pk = :pk, gsi2sk = :sk",
            {":pk": {"S": index_keys["gsi2pk"]}, ":sk": {"S": index_keys["gsi2sk"]}},
        )

    def _clear_unlaunched(self, keys_batch: list[dict[str, Any]]) -> int:
        items = batch_get(self.client, self.table, keys_batch, projection="pk, sk, gsi2pk")
        return sum(
            self._update_if_exists({"pk": item["pk"], "sk": item["sk"]}, "REMOVE gsi2pk, gsi2sk")
            for item in items
            if "gsi2pk" in item
        )

    def _update_if_exists(
        self, key: dict[str, Any], expression: str, values: dict[str, Any] | None = None
    ) -> int:
        """UpdateItem that never creates an item (a tracking deleted meanwhile stays deleted)."""
        extra = {"ExpressionAttributeValues": values} if values else {}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                **extra,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return 0
        return 1

    def _fix_unlaunched(self) -> None:
        candidates = [(k, v) for k, v in self.trackings.items() if k not in self.logged]
        set_futures = [self.pool.submit(self._set_unlaunched, t, i, v) for (t, i), v in candidates]
        earlier = sorted(k for k in self.logged if k not in self.trackings)
        item_keys = (_s(keys.catalogue_key(t, "tracking", i)) for t, i in earlier)
        clear_futures = [
            self.pool.submit(self._clear_unlaunched, b) for b in chunks(item_keys, BATCH_GET_LIMIT)
        ]
        self.report.unlaunched_set = sum(f.result() for f in set_futures)
        self.report.unlaunched_cleared = sum(f.result() for f in clear_futures)


def _s(plain: dict[str, str]) -> dict[str, Any]:
    return {k: {"S": v} for k, v in plain.items()}


def load_numbered(
    numbered: Iterable[tuple[int, Raw | InvalidLine]],
    table_name: str,
    dynamodb_client: Any,
    *,
    workers: int = 4,
) -> LoadReport:
    """Load records paired with their line numbers, as ``tracking_export.source.read_jsonl`` yields them."""
    return _Loader(table_name, dynamodb_client, workers).run(numbered)


def load_dataset(
    records: Iterable[Raw], table_name: str, dynamodb_client: Any, *, workers: int = 4
) -> LoadReport:
    """Write the records into the tracking table; a record's line is its 1-based position."""
    return load_numbered(enumerate(records, start=1), table_name, dynamodb_client, workers=workers)


def load_jsonl(path: Path | str, table_name: str, dynamodb_client: Any, *, workers: int = 4) -> LoadReport:
    """Write a JSONL dataset file; unreadable lines are reported like unkeyable records."""
    return load_numbered(read_jsonl(path), table_name, dynamodb_client, workers=workers)


def main(argv: list[str] | None = None) -> int:
    from tracking_export_aws.clients import client

    parser = argparse.ArgumentParser(
        prog="python -m tracking_export_aws.loader",
        description="Load a JSONL dataset into the tracking table.",
    )
    parser.add_argument("dataset", type=Path, help="JSONL file (data-contract.md)")
    parser.add_argument("--table", required=True, help="tracking table name")
    parser.add_argument(
        "--endpoint-url", default=None, help="DynamoDB endpoint (moto server, dynalite); AWS if absent"
    )
    parser.add_argument("--region", default=None)
    parser.add_argument("--workers", type=int, default=4, help="parallel BatchWriteItem calls")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a record was rejected")
    args = parser.parse_args(argv)
    dynamodb = client("dynamodb", endpoint_url=args.endpoint_url, region=args.region)
    report = load_jsonl(args.dataset, args.table, dynamodb, workers=args.workers)
    json.dump(report.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 1 if args.strict and report.rejected_count else 0


if __name__ == "__main__":
    sys.exit(main())
