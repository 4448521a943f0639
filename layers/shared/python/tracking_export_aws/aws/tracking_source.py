"""The engine's TrackingSource on the tracking table (docs/table-design.md). Never scans.

Logs of a range are read as one ``Query`` per UTC day x shard, for the days the ``DAYS``
items mark (one ``Query`` learns them for the whole request), and handed out page by page
as they arrive, while later pages and ranges are fetched in the background within a
bounded number of pages (``paged_reads``): memory does not grow with the size of a day.
Logs whose TTL (``expiresAt``) has passed are skipped. A valid log comes back as the engine's
``TrackingLog`` (``log_of_item``), any other as a plain dict that looks like its JSONL record,
so the engine validates and reports it exactly as it does a dataset's; catalogue records come
back as plain dicts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from tracking_export.records import RECORD_FIELDS, TrackingLog, valid_tracking_log
from tracking_export.source import CATALOGUE_KEYS, Raw, TimeRange, TrackingSource
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.capacity import MeteredReads
from tracking_export_aws.aws.dynamo import (
    BATCH_GET_LIMIT,
    batch_get,
    chunks,
    deserialize,
    expired,
    plain_item,
    plain_value,
    query_pages,
)
from tracking_export_aws.aws.paged_reads import PagedQuery, PagedReads, pages_of

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient

# Logs per Query page. A page is decoded whole before its items become logs, and a few
# pages are in flight at once: pages of a bounded size keep that memory small (a page of
# 1,000 projected logs is about 270 KB on the wire and 3 MB of Python objects). Request
# overhead (botocore's work, a round trip) is paid per page, read units are not (they are
# counted on the bytes read, rounded up to 4 KB per request).
LOG_PAGE_SIZE = 1_000
# What is read of a log: the fields the export uses, in the order of
# records.valid_tracking_log's arguments, and its TTL. Not read: the table's key attributes
# (pk, sk and the ByTracking keys: a third of a log item's bytes); ``type`` and ``tenantId``,
# which the log's partition key is made of (the loader and the ingestion put a record in
# ``T#{tenantId}#L#…`` because its type is trackingLog); ``updatedAt``, which only the
# ingestion's last-write-wins reads. Fewer attributes cost no fewer read units, but less
# decoding: the answer is about 30 % smaller.
LOG_FIELDS = (
    "trackingId",
    "logId",
    "startedAt",
    "lastAccessAt",
    "completedAt",
    "progression",
    "score",
    "status",
    "timeSpentSeconds",
)
LOG_ATTRIBUTES = (*LOG_FIELDS, "expiresAt")
_LOG_NAMES = {f"#a{n}": name for n, name in enumerate(LOG_ATTRIBUTES)}
_LOG_PROJECTION = ", ".join(_LOG_NAMES)


def log_of_item(item: Mapping[str, Any], now: float) -> TrackingLog | Raw | None:
    """A log item of a Query page (low-level format) as the engine takes it; None once expired.

    A log whose fields are right in their common form comes back as the ``TrackingLog``
    ``records.valid_tracking_log`` makes of the same values ``plain_item`` gives, so the engine
    uses it without a record dict in between. Any other log comes back as its plain record,
    which the engine checks field by field and reports exactly as a dataset's record.
    """
    get = item.get
    values = [None if (attribute := get(name)) is None else plain_value(attribute) for name in LOG_FIELDS]
    expires = get("expiresAt")
    if expires is not None and expired(plain_value(expires), now):
        return None
    log = valid_tracking_log(*values)
    return log if log is not None else plain_item(item, keys.KEY_ATTRIBUTES)


def _fraction(number: str) -> bool:
    """Whether ``_from_attribute`` reads this N text (with a point) as ``float(text)``: no
    exponent, and a fractional part that is not all zeros."""
    return "e" not in number and "E" not in number and bool(number.partition(".")[2].rstrip("0"))


def logs_of_items(items: Iterable[Mapping[str, Any]], now: float) -> list[TrackingLog | Raw]:
    """``log_of_item`` of each item of a page, expired ones left out, in the page's order.

    The same values, read inline for the common shape (every id and duration a plain whole
    ``N``, start and status an ``S``): a page's logs cost one loop, not a call per field. An
    item of any other shape goes through ``log_of_item`` itself.
    """
    logs: list[TrackingLog | Raw] = []
    append = logs.append
    valid = valid_tracking_log
    for item in items:
        get = item.get
        try:
            tracking_id = item["trackingId"]["N"]
            log_id = item["logId"]["N"]
            spent = item["timeSpentSeconds"]["N"]
            progression = item["progression"]
            started = item["startedAt"]["S"]
            status = item["status"]["S"]
        except (KeyError, TypeError):
            tracking_id = None
        if tracking_id is None or not (tracking_id.isdecimal() and log_id.isdecimal() and spent.isdecimal()):
            found = log_of_item(item, now)
            if found is not None:
                append(found)
            continue
        expires = get("expiresAt")
        if expires is not None and expired(plain_value(expires), now):
            continue
        # Each field as plain_value reads it (None when absent or NULL), its common forms inline:
        # a whole N is an int, a fraction without exponent a float (what _from_attribute does).
        number = progression.get("N")
        progression_value: Any
        if number is not None and number.isdecimal():
            progression_value = int(number)
        elif number is not None and "." in number and _fraction(number):
            progression_value = float(number)
        else:
            progression_value = plain_value(progression)
        score = get("score")
        if score is not None:
            number = score.get("N")
            if number is not None and number.isdecimal():
                score = int(number)
            elif number is not None and "." in number and _fraction(number):
                score = float(number)
            else:
                score = None if "NULL" in score else plain_value(score)
        last = get("lastAccessAt")
        if last is not None:
            last = last.get("S") or (None if "NULL" in last else plain_value(last))
        completed = get("completedAt")
        if completed is not None:
            completed = completed.get("S") or (None if "NULL" in completed else plain_value(completed))
        log = valid(
            int(tracking_id),
            int(log_id),
            started,
            last,
            completed,
            progression_value,
            score,
            status,
            int(spent),
        )
        append(log if log is not None else plain_item(item, keys.KEY_ATTRIBUTES))
    return logs


class DynamoTrackingSource(TrackingSource):
    """The tracking data of one tenant, read from the tracking table."""

    def __init__(
        self,
        tenant_id: str,
        table_name: str,
        client: DynamoDBClient,
        *,
        read_ahead: int = 4,
        read_ahead_logs: int = 4_000,
        page_size: int = LOG_PAGE_SIZE,
        max_workers: int | None = None,
        now: float | None = None,
    ) -> None:
        """``read_ahead`` ranges (local days) are fetched ahead of the one being read, their
        first pages only and while fewer than ``read_ahead_logs`` logs wait in memory.
        ``now`` (epoch seconds, default: the wall clock at construction) is the instant at and
        after which a log whose ``expiresAt`` has passed is no longer read. ``page_size`` is the
        ``Limit`` of a log Query page."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if read_ahead < 1:
            raise ValueError("read_ahead must be at least 1")
        self.tenant_id = keys.validate_tenant_id(tenant_id)
        self.table_name = table_name
        # Every read of the run is counted in DynamoDB's own capacity units (usage).
        self._metered = MeteredReads(client)
        # It stands in for the client: query and batch_get_item counted, every other call passed on.
        self.client = cast("DynamoDBClient", self._metered)
        self.read_ahead = read_ahead
        self.read_ahead_logs = read_ahead_logs
        self.now = time.time() if now is None else now
        self.page_size = page_size
        workers = max_workers or min(32, read_ahead * keys.LOG_SHARDS)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tracking-source")

    @property
    def read_units(self) -> float:
        """The read capacity this source has consumed (DynamoDB's ConsumedCapacity, summed)."""
        return self._metered.read_units

    # -- logs by day ----------------------------------------------------------

    def _edge_day(self, *, first: bool) -> str | None:
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.days_pk(self.tenant_id)}},
            ScanIndexForward=first,
            Limit=1,
        )
        items = response.get("Items", [])
        return str(items[0]["sk"]["S"]) if items else None

    def log_span(self) -> TimeRange | None:
        first = self._edge_day(first=True)
        last = self._edge_day(first=False)
        if first is None or last is None:
            return None
        return keys.day_start(first), keys.day_start(last) + timedelta(days=1)

    def _log_page(self, request: dict[str, Any]) -> tuple[list[TrackingLog | Raw], dict[str, Any] | None]:
        """One page of a day-and-shard Query: its unexpired logs (``log_of_item``), and the next request."""
        response = self.client.query(**request)
        logs = logs_of_items(response.get("Items", ()), self.now)
        last = response.get("LastEvaluatedKey")
        return logs, ({**request, "ExclusiveStartKey": last} if last else None)

    def _days_with_logs(self, ranges: Sequence[TimeRange]) -> set[str]:
        """The marked log days between the first and last range: days without logs cost no query."""
        spans = [(start, end) for start, end in ranges if end > start]
        if not spans:
            return set()
        first = keys.utc_day(min(start for start, _ in spans))
        last = keys.utc_day(max(end for _, end in spans) - timedelta(microseconds=1))
        days: set[str] = set()
        for page in query_pages(
            self.client,
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": keys.days_pk(self.tenant_id)},
                ":first": {"S": first},
                ":last": {"S": last},
            },
        ):
            days.update(str(item["sk"]["S"]) for item in page)
        return days

    def _range_queries(self, time_range: TimeRange, marked: set[str]) -> list[dict[str, Any]]:
        """The first request of each day-and-shard Query of a range, in reading order."""
        start, end = time_range
        low, high = keys.log_sk_bounds(start, end)
        return [
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":pk": {"S": keys.log_pk(self.tenant_id, day, shard)},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
                "ProjectionExpression": _LOG_PROJECTION,
                "ExpressionAttributeNames": _LOG_NAMES,
                "Limit": self.page_size,
            }
            for day in keys.utc_days(start, end)
            if day in marked
            for shard in range(keys.LOG_SHARDS)
        ]

    def log_pages_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[Iterator[list[Raw]]]:
        """Each range's logs as pages, in a fixed order (day, shard, page), streamed.

        Pages are fetched in the background (``paged_reads``): up to two ahead of the reader
        for the Query being read, one for the other Queries of its range, and the first pages
        of the next ``read_ahead`` ranges while fewer than ``read_ahead_logs`` logs wait. So
        memory holds a bounded number of pages whatever the size of a day, and small days are
        not read one round trip at a time.
        """
        marked = self._days_with_logs(ranges)
        reads = PagedReads(self._pool, self._log_page, self.read_ahead_logs, self.page_size)
        upcoming = iter(ranges)
        in_flight: deque[list[PagedQuery]] = deque()

        def submit_next() -> None:
            for time_range in upcoming:
                in_flight.append([reads.add(request) for request in self._range_queries(time_range, marked)])
                return

        try:
            for _ in range(self.read_ahead + 1):
                submit_next()
            while in_flight:
                current = in_flight.popleft()
                reads.make_current(current)
                yield pages_of(reads, current)
                submit_next()
        finally:
            # The consumer stopped early or a query failed: start no further page.
            reads.close()

    def logs_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[list[Raw]]:
        for pages in self.log_pages_in_ranges(ranges):
            yield [log for page in pages for log in page]

    # -- row estimate (routing a run, planning its shards) -----------------------

    def estimated_logs(self, ranges: Sequence[TimeRange]) -> list[int]:
        """An estimate of the logs in each range, from the ``logCount`` of the ``DAYS`` markers.

        A range's estimate is the sum, over the UTC days it touches, of the day's count times
        the share of that day the range covers (a local day straddles two UTC days). Summed over
        the local days of a window this gives every touched UTC day's logs once, so it is exact
        for whole days and an over-estimate only by the uncovered hours at the window's ends.
        A marker written before counts existed is counted on the spot (``Select=COUNT``).
        """
        spans = [(start, end) for start, end in ranges if end > start]
        if not spans:
            return [0 for _ in ranges]
        first = keys.utc_day(min(start for start, _ in spans))
        last = keys.utc_day(max(end for _, end in spans) - timedelta(microseconds=1))
        counts: dict[str, int] = {}
        for page in query_pages(
            self.client,
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": keys.days_pk(self.tenant_id)},
                ":first": {"S": first},
                ":last": {"S": last},
            },
        ):
            for item in page:
                day = str(item["sk"]["S"])
                count = item.get("logCount", {}).get("N")
                counts[day] = (
                    int(count)
                    if count is not None
                    else count_day_logs(self.client, self.table_name, self.tenant_id, day)
                )
        day_seconds = 86_400.0
        estimates = []
        for start, end in ranges:
            total = 0.0
            for day in keys.utc_days(start, end):
                if day not in counts:
                    continue
                day_begin = keys.day_start(day)
                covered = min(end, day_begin + timedelta(days=1)) - max(start, day_begin)
                total += counts[day] * covered.total_seconds() / day_seconds
            estimates.append(round(total))
        return estimates

    # -- catalogue by id ------------------------------------------------------

    def _get_chunk(self, chunk: list[str], projection: tuple[str, ...] = ()) -> list[Raw]:
        """The items of these catalogue keys; with ``projection``, those attributes and ``pk`` only."""
        item_keys = [{"pk": {"S": pk}, "sk": {"S": keys.RECORD_SK}} for pk in chunk]
        if not projection:
            found = batch_get(self.client, self.table_name, item_keys)
            return [deserialize(item, keep_keys=True) for item in found]
        names = {f"#a{n}": name for n, name in enumerate(("pk", *projection))}
        found = batch_get(self.client, self.table_name, item_keys, projection=", ".join(names), names=names)
        return [plain_item(item, ()) for item in found]

    def _catalogue_pks(self, kind: str, keys_wanted: Iterable[Any]) -> dict[str, Any]:
        """pk -> key of each wanted key of ``kind`` (a key of the wrong type cannot exist: left out)."""
        if kind not in CATALOGUE_KEYS:
            raise ValueError(f"unknown catalogue kind {kind!r}")
        by_pk: dict[str, Any] = {}
        for key in keys_wanted:
            try:
                pk = keys.catalogue_pk(self.tenant_id, kind, key)
            except keys.InvalidKeyError:
                continue
            by_pk.setdefault(pk, tuple(key) if isinstance(key, list) else key)
        return by_pk

    def _batches(self, batches: list[tuple[list[str], tuple[str, ...]]]) -> list[list[Raw]]:
        """``_get_chunk`` of each batch, in parallel on the pool when there are several."""
        if len(batches) == 1:
            return [self._get_chunk(*batches[0])]
        return [f.result() for f in [self._pool.submit(self._get_chunk, *batch) for batch in batches]]

    def get_many(self, kind: str, keys_wanted: Iterable[Any]) -> dict[Any, Raw]:
        by_pk = self._catalogue_pks(kind, keys_wanted)
        found: dict[Any, Raw] = {}
        for items in self._batches([(chunk, ()) for chunk in chunks(by_pk, BATCH_GET_LIMIT)]):
            for item in items:
                pk = item.pop("pk")
                for name in keys.KEY_ATTRIBUTES:
                    item.pop(name, None)
                found[by_pk[pk]] = item
        return found

    def get_records(self, wanted: Mapping[str, Collection[Any]]) -> dict[str, dict[Any, Raw]]:
        """Records of several kinds in shared ``BatchGetItem`` calls of up to 100 keys, each
        reading only the fields the engine parses (``records.RECORD_FIELDS``): trackings, the
        bulk of a run's catalogue, in calls of their own; the other kinds together."""
        by_pk: dict[str, tuple[str, Any]] = {}
        for kind, kind_keys in wanted.items():
            for pk, key in self._catalogue_pks(kind, kind_keys).items():
                by_pk[pk] = (kind, key)
        trackings = [pk for pk, (kind, _) in by_pk.items() if kind == "tracking"]
        others = [pk for pk, (kind, _) in by_pk.items() if kind != "tracking"]
        batches = [(chunk, RECORD_FIELDS["tracking"]) for chunk in chunks(trackings, BATCH_GET_LIMIT)]
        for chunk in chunks(others, BATCH_GET_LIMIT):
            kinds = dict.fromkeys(by_pk[pk][0] for pk in chunk)
            fields = tuple(dict.fromkeys(field for kind in kinds for field in RECORD_FIELDS[kind]))
            batches.append((chunk, fields))
        found: dict[str, dict[Any, Raw]] = {kind: {} for kind in wanted}
        for items in self._batches(batches) if batches else []:
            for item in items:
                kind, key = by_pk[item.pop("pk")]
                found[kind][key] = item
        return found

    # -- logs of a tracking, trackings without logs ------------------------------

    def _logs_of(self, tracking_id: int) -> list[Raw]:
        found: list[Raw] = []
        for page in query_pages(
            self.client,
            TableName=self.table_name,
            IndexName=keys.BY_TRACKING_INDEX,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.by_tracking_pk(self.tenant_id, tracking_id)}},
        ):
            # The index projects trackingId, logId, startedAt and timeSpentSeconds only.
            found.extend(
                {"type": "trackingLog", "tenantId": self.tenant_id, **deserialize(item)} for item in page
            )
        return found

    def logs_of_trackings(self, tracking_ids: Iterable[int]) -> dict[int, list[Raw]]:
        """Every log of each tracking, as the ``ByTracking`` index projects it.

        A log here carries ``type``, ``tenantId``, ``trackingId``, ``logId``, ``startedAt`` and
        ``timeSpentSeconds`` — what cumulative time needs — not the whole record.
        """
        wanted = list(dict.fromkeys(tracking_ids))
        futures = {tid: self._pool.submit(self._logs_of, tid) for tid in wanted if keys.is_int(tid)}
        return {tid: futures[tid].result() if tid in futures else [] for tid in wanted}

    def unlaunched_trackings(self) -> Iterator[Raw]:
        for shard in range(keys.LOG_SHARDS):
            for page in query_pages(
                self.client,
                TableName=self.table_name,
                IndexName=keys.UNLAUNCHED_INDEX,
                KeyConditionExpression="gsi2pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.unlaunched_pk(self.tenant_id, shard)}},
            ):
                yield from (deserialize(item) for item in page)

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        # Queued reads are dropped; running ones (one HTTP call each) end before close returns.
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DynamoTrackingSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def count_day_logs(client: DynamoDBClient, table_name: str, tenant_id: str, day: str) -> int:
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
