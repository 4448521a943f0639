"""Writes a JSONL dataset (data-contract.md) into the tracking table (docs/table-design.md).

Records are written with ``BatchWriteItem`` (25 a call, a few calls in parallel). What a
record's key needs (type, tenantId, ids, ``startedAt`` of a log) is checked first; a record
that cannot be keyed is reported with its line and not written. Other fields are stored as
they are: the engine validates them at run time, like any record the LMS writes.

The sparse ``Unlaunched`` index, in two passes over the dataset. The first pass only
collects ids: the trackings the dataset holds and the trackings it has logs for. The
trackings without a log in the dataset are then looked up, 100 at a time with
``BatchGetItem``, among the ``LOGGED#`` marker items that earlier loads wrote for every
tracking they saw a log of; those still without a log are written, in the second pass,
with ``gsi2pk``/``gsi2sk`` already set. Every tracking with a log gets its marker, and a
tracking of an earlier load that receives its first log here leaves the index
(``UpdateItem``). The loader keeps ids (a few bytes each), never the records.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
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
        self.trackings: set[tuple[str, int]] = set()  # (tenant, trackingId) written by this load
        self.logged: set[tuple[str, int]] = set()  # ... that this load has a log of
        self.unlaunched: set[tuple[str, int]] = set()  # written with the Unlaunched index keys
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loader")
        self.max_in_flight = workers * 2
        self.in_flight: set[Future[None]] = set()

    def run(self, numbered: Callable[[], Iterable[tuple[int, Raw | InvalidLine]]]) -> LoadReport:
        """Load the dataset that ``numbered()`` yields (called twice: once for ids, once to write)."""
        try:
            self._survey(numbered())
            self.unlaunched = self._without_logs_in_table(
                sorted(k for k in self.trackings if k not in self.logged)
            )
            for batch in chunks(self._items(numbered()), BATCH_WRITE_LIMIT):
                self._submit(batch)
            self._drain()
            self._mark_days()
            self._write_markers()
            self._clear_earlier_unlaunched()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        return self.report

    def _survey(self, numbered: Iterable[tuple[int, Raw | InvalidLine]]) -> None:
        """First pass: the (tenant, trackingId) pairs written, and those that have a log."""
        for _, raw in numbered:
            if isinstance(raw, InvalidLine):
                continue
            tenant, kind, tracking_id = raw.get("tenantId"), raw.get("type"), raw.get("trackingId")
            if not isinstance(tracking_id, int) or not keys.is_int(tracking_id):
                continue
            if not isinstance(tenant, str) or not keys.TENANT_ID_RE.fullmatch(tenant):
                continue
            if kind == "tracking":
                self.trackings.add((tenant, tracking_id))
            elif (
                kind == "trackingLog"
                and keys.is_int(raw.get("logId"))
                and parse_instant(raw.get("startedAt"))
            ):
                self.logged.add((tenant, tracking_id))

    def _without_logs_in_table(self, candidates: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """The candidates that no earlier load saw a log of (no ``LOGGED#`` marker)."""
        by_pk = {keys.logged_marker_key(t, i)["pk"]: (t, i) for t, i in candidates}
        batches = [
            [_s({"pk": pk, "sk": keys.RECORD_SK}) for pk in batch] for batch in chunks(by_pk, BATCH_GET_LIMIT)
        ]
        # Strongly consistent: a marker written by a load that just finished must be seen.
        futures = [
            self.pool.submit(batch_get, self.client, self.table, b, projection="pk", consistent=True)
            for b in batches
        ]
        marked = {by_pk[item["pk"]["S"]] for future in futures for item in future.result()}
        return {k for k in candidates if k not in marked}

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
            elif kind == "tracking" and (tenant, raw["trackingId"]) in self.unlaunched:
                item.update(_s(keys.unlaunched_keys(tenant, raw)))
                self.report.unlaunched_set += 1
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
        """Each day this load wrote logs on gets its marker, with the day's exact log count."""
        by_tenant: dict[str, list[str]] = {}
        for tenant, day in sorted(self.days):
            by_tenant.setdefault(tenant, []).append(day)
        futures = [
            self.pool.submit(recount_days, self.client, self.table, tenant, [day])
            for tenant, days in by_tenant.items()
            for day in days
        ]
        for future in futures:
            future.result()
        self.report.days_marked = len(futures)

    def _write_markers(self) -> None:
        requests = [
            {"PutRequest": {"Item": _s(keys.logged_marker_key(t, i))}} for t, i in sorted(self.logged)
        ]
        for batch in chunks(requests, BATCH_WRITE_LIMIT):
            self._submit(batch)
        self._drain()

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

    def _clear_earlier_unlaunched(self) -> None:
        """Trackings of earlier loads that got their first log in this one leave the index."""
        earlier = sorted(k for k in self.logged if k not in self.trackings)
        item_keys = (_s(keys.catalogue_key(t, "tracking", i)) for t, i in earlier)
        futures = [self.pool.submit(self._clear_unlaunched, b) for b in chunks(item_keys, BATCH_GET_LIMIT)]
        self.report.unlaunched_cleared = sum(f.result() for f in futures)


def count_day_logs(client: Any, table_name: str, tenant_id: str, day: str) -> int:
    """The logs stored on one UTC day (``YYYY-MM-DD``), counted over its shards with strongly
    consistent ``Select=COUNT`` queries (keys only: a count reads no item into memory)."""
    total = 0
    for shard in range(keys.LOG_SHARDS):
        request: dict[str, Any] = {
            "TableName": table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.log_pk(tenant_id, day, shard)}},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        while True:
            response = client.query(**request)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
    return total


def recount_days(client: Any, table_name: str, tenant_id: str, days: Iterable[str]) -> dict[str, int]:
    """Set each ``DAYS`` marker of ``tenant_id`` (``sk`` = UTC day) to its day's exact ``logCount``.

    Idempotent: the count is read from the logs themselves, so loading the same records twice,
    or calling it again after any writer (the loader, an ingestion function), gives the same
    count. The marker is created when missing. Returns the counts by day. A distributed run
    estimates its rows from these counts (``DynamoTrackingSource.estimated_logs``).
    """
    tenant = keys.validate_tenant_id(tenant_id)
    counts: dict[str, int] = {}
    for day in days:
        keys.day_start(day)  # a malformed day raises here, before anything is written
        counts[day] = count = count_day_logs(client, table_name, tenant, day)
        client.update_item(
            TableName=table_name,
            Key={"pk": {"S": keys.days_pk(tenant)}, "sk": {"S": day}},
            UpdateExpression="SET logCount = :n",
            ExpressionAttributeValues={":n": {"N": str(count)}},
        )
    return counts


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
    records = numbered if isinstance(numbered, Sequence) else list(numbered)
    return _Loader(table_name, dynamodb_client, workers).run(lambda: records)


def load_dataset(
    records: Iterable[Raw], table_name: str, dynamodb_client: Any, *, workers: int = 4
) -> LoadReport:
    """Write the records into the tracking table; a record's line is its 1-based position."""
    return load_numbered(enumerate(records, start=1), table_name, dynamodb_client, workers=workers)


def load_jsonl(path: Path | str, table_name: str, dynamodb_client: Any, *, workers: int = 4) -> LoadReport:
    """Write a JSONL dataset file; unreadable lines are reported like unkeyable records."""
    # Read twice (ids first, then records) rather than held in memory.
    return _Loader(table_name, dynamodb_client, workers).run(lambda: read_jsonl(path))


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
