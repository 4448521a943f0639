"""Writes data-contract.md records into the tracking table (docs/table-design.md).

The one write path of the table: the ingestion function (``tracking_export_aws.ingest.service``) and
the developer tools (``python -m tools.load``, the local run) all go through :class:`Loader`.

Records are written with ``BatchWriteItem`` (25 a call, a few calls in parallel). What a
record's key needs (type, tenantId, ids, ``startedAt`` of a log, a readable ``updatedAt``)
is checked first; a record that cannot be keyed is reported with its line, the field and
the rule it breaks (never the value) and is not written. Other fields are stored as they
are: the engine validates them at run time, like any record the LMS writes.

Last write wins by the record's own ``updatedAt`` (trackings and logs carry one). Within a
load, only the newest version of a log or tracking is written (the first pass notes its
line). Against the table, records are written 100 at a time, after one strongly consistent
``BatchGetItem`` of the stored ``updatedAt`` of those keys: a key that is absent is written
by ``BatchWriteItem``; one whose stored version is the same or newer is left alone (counted
``notNewer``); one whose stored version is older is replaced by a ``PutItem`` conditional on
the version it read. A record without ``updatedAt`` replaces what is stored (last delivered
wins). The ``DAYS`` markers of new days are written before any log, so a day without a
marker has no log in the table: the logs of such a day skip the read (a first load of new
days costs what plain ``BatchWriteItem`` costs).

Logs get ``expiresAt`` (DynamoDB TTL, epoch seconds) = ``startedAt`` + the tenant's
``retentionDays`` when the tenant has one; trackings get the ``ByLearner`` index keys.

The sparse ``Unlaunched`` index, in two passes over the records. The first pass only
collects ids: the trackings the records hold and the trackings they have logs for. The
trackings without a log among the records are then looked up, 100 at a time with
``BatchGetItem``, among the ``LOGGED#`` marker items that earlier loads wrote for every
tracking they saw a log of; those still without a log are written, in the second pass,
with ``gsi2pk``/``gsi2sk`` already set. Every tracking with a log gets its marker, and a
tracking of an earlier load that receives its first log here leaves the index
(``UpdateItem``). Last, the ``DAYS`` markers of the days the records touched get their exact
``logCount``: counted in the table (:func:`recount_days`) for days that had logs before, the
number written for days new to this load. The loader keeps ids (a few bytes each), never the records.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tracking_export.source import CATALOGUE_KEYS, RECORD_TYPES, InvalidLine, Raw, parse_instant
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    NESTED_RULE,
    UnstorableValueError,
    batch_get,
    batch_write,
    chunks,
    deserialize,
    item_size_problem,
    query_pages,
    serialize,
    string_attributes,
)
from tracking_export_aws.aws.tracking_source import count_day_logs

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient

# How many rejected records a report lists; the count is always exact.
MAX_LISTED_REJECTS = 1000
# A conditional replace that loses a race re-reads the stored version and tries again.
MAX_REPLACE_ATTEMPTS = 5
_GUID_FIELDS = frozenset({"contentGuid", "learningObjectGuid"})
_INSTANT_RULE = "must be an ISO 8601 instant with an offset or Z"
# Made once: json.loads with arguments builds a decoder on every call.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)


@dataclass(frozen=True)
class RejectedRecord:
    """A record (or line) that was not written: where, which field, which rule. Never the value."""

    line: int  # 1-based line (position) in the dataset
    kind: str | None  # the record's type, when it has a known one
    key: Any  # the record's id(s), as far as they could be read
    field: str | None  # the field at fault; None when the line itself is (not JSON…)
    rule: str

    @property
    def reason(self) -> str:
        return f"{self.field} {self.rule}" if self.field else self.rule

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "type": self.kind,
            "key": self.key,
            "field": self.field,
            "rule": self.rule,
        }


@dataclass
class LoadReport:
    written: dict[str, int] = field(default_factory=dict)  # items per record type
    not_newer: dict[str, int] = field(default_factory=dict)  # left alone: the table's version is as new
    rejected_count: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    days_marked: int = 0
    markers_written: int = 0  # LOGGED# markers (one per tracking with a log here)
    unlaunched_set: int = 0  # trackings given the Unlaunched index keys
    unlaunched_cleared: int = 0  # trackings of earlier loads that got their first log
    days: list[tuple[str, str]] = field(default_factory=list)  # (tenant, UTC day) whose logCount was set

    def reject(self, record: RejectedRecord) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED_REJECTS:
            self.rejected.append(record)

    @property
    def written_total(self) -> int:
        return sum(self.written.values())

    def add(self, other: LoadReport) -> None:
        """Fold the report of a later part of the same dataset into this one."""
        for mine, theirs in ((self.written, other.written), (self.not_newer, other.not_newer)):
            for kind, count in theirs.items():
                mine[kind] = mine.get(kind, 0) + count
        self.rejected_count += other.rejected_count
        self.rejected.extend(other.rejected[: max(0, MAX_LISTED_REJECTS - len(self.rejected))])
        self.days_marked += other.days_marked
        self.markers_written += other.markers_written
        self.unlaunched_set += other.unlaunched_set
        self.unlaunched_cleared += other.unlaunched_cleared
        self.days = sorted(set(self.days) | set(other.days))

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": dict(self.written),
            "writtenTotal": self.written_total,
            "notNewer": dict(self.not_newer),
            "rejectedCount": self.rejected_count,
            "rejected": [r.as_dict() for r in self.rejected],
            "daysMarked": self.days_marked,
            "loggedMarkers": self.markers_written,
            "unlaunchedSet": self.unlaunched_set,
            "unlaunchedCleared": self.unlaunched_cleared,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadReport:
        """The report :meth:`as_dict` gave (the ingestion keeps it between invocations)."""
        return cls(
            written=dict(data.get("written", {})),
            not_newer=dict(data.get("notNewer", {})),
            rejected_count=int(data.get("rejectedCount", 0)),
            rejected=[
                RejectedRecord(r["line"], r.get("type"), r.get("key"), r.get("field"), r["rule"])
                for r in data.get("rejected", [])
            ],
            days_marked=int(data.get("daysMarked", 0)),
            markers_written=int(data.get("loggedMarkers", 0)),
            unlaunched_set=int(data.get("unlaunchedSet", 0)),
            unlaunched_cleared=int(data.get("unlaunchedCleared", 0)),
        )


class _Rejected(Exception):
    def __init__(self, kind: str | None, key: Any, field_name: str | None, rule: str) -> None:
        super().__init__(f"{field_name} {rule}")
        self.kind = kind
        self.key = key
        self.field = field_name
        self.rule = rule


def parse_line(number: int, text: str | bytes) -> Raw | RejectedRecord:
    """One JSONL line as a record with a known type, or why it is not one (without its content).

    Fractions and exponents are read as Decimal, so that a number is stored exactly as the file
    writes it and a value beyond DynamoDB's range is refused rather than rounded (1e-400 would
    be a float 0.0; NaN and Infinity, which Python's JSON reader accepts, are refused too)."""
    try:
        # Decoded here: json.loads would take UTF-16 and UTF-32 bytes too.
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        record = _DECODER.decode(decoded)
    except UnicodeDecodeError:
        return RejectedRecord(number, None, None, None, "is not UTF-8")
    except RecursionError:
        return RejectedRecord(number, None, None, None, NESTED_RULE)
    except json.JSONDecodeError as exc:
        return RejectedRecord(number, None, None, None, f"is not JSON ({exc.msg} at column {exc.colno})")
    except ValueError:  # Python's cap on the digits of an integer it reads
        return RejectedRecord(
            number,
            None,
            None,
            None,
            f"is not JSON this service reads (an integer of more than {sys.get_int_max_str_digits()} digits)",
        )
    if not isinstance(record, dict):
        return RejectedRecord(number, None, None, None, "is not a JSON object")
    if record.get("type") not in RECORD_TYPES:
        return RejectedRecord(number, None, None, "type", f"must be one of {', '.join(RECORD_TYPES)}")
    return record


def read_lines(path: Path | str) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a JSONL file, numbered from 1 (the loader parses them)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _key_of(kind: str, raw: Raw) -> Any:
    names = CATALOGUE_KEYS.get(kind, ("trackingId", "logId"))
    values = [raw.get(n) for n in names]
    return values[0] if len(values) == 1 else values


def _check_ids(kind: str, raw: Raw, key: Any) -> None:
    for name in CATALOGUE_KEYS.get(kind, ("trackingId", "logId")):
        value = raw.get(name)
        if name in _GUID_FIELDS:
            if not keys.is_guid(value):
                raise _Rejected(
                    kind, key, name, f"must be a GUID string of 1 to {keys.MAX_GUID_LENGTH} characters"
                )
        elif not keys.is_int(value):
            raise _Rejected(kind, key, name, "must be an integer")


def _storable(kind: str, key: Any, record: Raw) -> None:
    """_Rejected naming the attribute and the rule when DynamoDB would refuse the record's item."""
    try:
        problem = item_size_problem(record)
    except UnstorableValueError as exc:
        raise _Rejected(kind, key, exc.field, exc.rule) from None
    if problem is not None:
        raise _Rejected(kind, key, *problem)


def retention_expiry(started_at: datetime, retention_days: int | None) -> int | None:
    """``expiresAt`` of a log (epoch seconds): ``startedAt`` + the retention; None keeps it."""
    if retention_days is None:
        return None
    return int((keys.as_utc(started_at) + timedelta(days=retention_days)).timestamp())


@dataclass
class _Keyed:
    line: int
    tenant: str
    kind: str
    key: Any  # the record's id(s)
    item: dict[str, Any]
    day: str | None  # UTC day of a log
    version: datetime | None  # updatedAt
    fresh: bool = False  # a log of a day that had no log before this load: it cannot be in the table

    @property
    def tracking(self) -> tuple[str, int]:
        """(tenant, trackingId) of a log or a tracking."""
        return self.tenant, int(self.key[0] if self.kind == "trackingLog" else self.key)


def _item_for(
    line: int, raw: Raw, expected_tenant: str | None, retention_days: int | None, *, checked: bool = False
) -> _Keyed:
    """The DynamoDB item of a record; _Rejected says why it cannot be keyed or stored.

    Unless ``checked`` (a record this load's first pass accepted), the item is only measured
    against DynamoDB's rules, not built (``item`` is empty): the first pass needs no more."""
    kind = raw.get("type")
    if kind not in RECORD_TYPES:
        raise _Rejected(None, None, "type", f"must be one of {', '.join(RECORD_TYPES)}")
    assert isinstance(kind, str)
    key = _key_of(kind, raw)
    tenant = raw.get("tenantId")
    if not isinstance(tenant, str) or not keys.TENANT_ID_RE.fullmatch(tenant):
        raise _Rejected(kind, key, "tenantId", "must match ^[a-z0-9][a-z0-9-]{1,62}$")
    if expected_tenant is not None and tenant != expected_tenant:
        raise _Rejected(kind, key, "tenantId", "must be the tenant the object was delivered for")
    reserved = sorted((keys.KEY_ATTRIBUTES | {keys.EXPIRES_AT}) & raw.keys())
    if reserved:
        raise _Rejected(kind, key, reserved[0], "is reserved for the table's keys")
    _check_ids(kind, raw, key)
    day = None
    extra: dict[str, Any] = {}
    started_at = parse_instant(raw.get("startedAt"))
    if kind == "trackingLog" and started_at is None:
        raise _Rejected(kind, key, "startedAt", _INSTANT_RULE)
    version = None
    if raw.get("updatedAt") is not None:
        version = parse_instant(raw["updatedAt"])
        if version is None:
            raise _Rejected(kind, key, "updatedAt", _INSTANT_RULE)
    if kind == "trackingLog":
        assert started_at is not None
        key_attributes = keys.log_keys(tenant, raw["trackingId"], raw["logId"], started_at)
        day = keys.utc_day(started_at)
        expires = retention_expiry(started_at, retention_days)
        if expires is not None:
            extra[keys.EXPIRES_AT] = expires
    else:
        key_attributes = keys.catalogue_key(tenant, kind, key)
        if kind == "tracking" and keys.is_int(raw.get("learnerId")):
            key_attributes.update(keys.by_learner_keys(tenant, raw["trackingId"], raw["learnerId"]))
    record = {**raw, **key_attributes, **extra}
    if not checked:
        _storable(kind, key, record)
        return _Keyed(line, tenant, kind, key, {}, day, version)
    return _Keyed(line, tenant, kind, key, serialize(record), day, version)


# Records (or lines to parse) with their line numbers, in increasing order.
Numbered = Iterable[tuple[int, Raw | bytes | RejectedRecord | InvalidLine]]
REFUSED_RULE = "was refused by DynamoDB (ValidationException)"


@dataclass
class _Outcome:
    """What one worker task did (gathered on the loader's thread)."""

    written: Counter[str] = field(default_factory=Counter)
    not_newer: Counter[str] = field(default_factory=Counter)
    unlaunched: int = 0
    logged: set[tuple[str, int]] = field(default_factory=set)  # trackings a log was written for
    fresh: Counter[tuple[str, str]] = field(default_factory=Counter)  # logs written on new days
    refused: list[RejectedRecord] = field(default_factory=list)  # items DynamoDB refused

    def wrote(self, keyed: _Keyed) -> None:
        self.written[keyed.kind] += 1
        self.unlaunched += "gsi2pk" in keyed.item
        if keyed.kind == "trackingLog":
            self.logged.add(keyed.tracking)
            if keyed.fresh:
                self.fresh[(keyed.tenant, keyed.day or "")] += 1


class Loader:
    """One load into the tracking table; :meth:`run` may be called once.

    ``tenant`` restricts the records to one tenant (others are rejected); ``retention_days``
    gives logs their ``expiresAt``.
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        workers: int = 4,
        tenant: str | None = None,
        retention_days: int | None = None,
    ) -> None:
        self.table = table_name
        self.client = client
        self.tenant = keys.validate_tenant_id(tenant) if tenant is not None else None
        self.retention_days = retention_days
        self.report = LoadReport()
        self.accepted = array("q")  # lines the first pass found storable, in order
        self.days: set[tuple[str, str]] = set()
        self.fresh_days: set[tuple[str, str]] = set()  # days without a DAYS marker before this load
        self.fresh_counts: Counter[tuple[str, str]] = Counter()  # logs written on each of them
        # (tenant, type, id) of each log and tracking -> (updatedAt, line) of its newest version here
        self.newest: dict[tuple[str, str, int], tuple[datetime | None, int]] = {}
        self.trackings: set[tuple[str, int]] = set()  # (tenant, trackingId) written by this load
        self.logged: set[tuple[str, int]] = set()  # ... that this load has a storable log of
        self.logged_written: set[tuple[str, int]] = set()  # ... that a log was written for
        self.unlaunched: set[tuple[str, int]] = set()  # written with the Unlaunched index keys
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loader")
        self.max_in_flight = workers * 2
        self.in_flight: set[Future[_Outcome | None]] = set()

    def run(self, numbered: Callable[[], Numbered]) -> LoadReport:
        """Load the records that ``numbered()`` yields (called twice: once to check every record
        and note ids, once to write the records the first pass accepted)."""
        try:
            self._survey(numbered())
            self.unlaunched = self._without_logs_in_table(
                sorted(k for k in self.trackings if k not in self.logged)
            )
            # Day markers first: "a day without a marker has no log" then always holds, and the
            # logs of such a day are written without reading their stored version.
            self._mark_days()
            for group in chunks(self._items(numbered()), BATCH_GET_LIMIT):
                self._submit(self._write_records, group)
            self._drain()
            self._write_markers()
            self._clear_earlier_unlaunched()
            self._restore_unlaunched()
            self._count_days()
            self.report.days = sorted(self.days)
            self.report.rejected.sort(key=lambda r: r.line)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        return self.report

    def _check(self, line: int, raw: Raw | bytes | RejectedRecord | InvalidLine) -> _Keyed | None:
        """The record's item; None (and the line reported) when it cannot be stored."""
        if isinstance(raw, bytes):
            raw = parse_line(line, raw)
        if isinstance(raw, InvalidLine):
            self.report.reject(RejectedRecord(line, None, None, None, raw.reason))
            return None
        if isinstance(raw, RejectedRecord):
            self.report.reject(raw)
            return None
        try:
            return _item_for(line, raw, self.tenant, self.retention_days)
        except _Rejected as exc:
            self.report.reject(RejectedRecord(line, exc.kind, exc.key, exc.field, exc.rule))
            return None

    def _survey(self, numbered: Numbered) -> None:
        """First pass: every record checked (a line that cannot be stored is reported here and
        derives nothing); of those accepted, the trackings written and those that have a log,
        the days of the logs, and the line of the newest version of each log and tracking."""
        for line, raw in numbered:
            keyed = self._check(line, raw)
            if keyed is None:
                continue
            self.accepted.append(line)
            if keyed.kind == "tracking":
                self.trackings.add(keyed.tracking)
                self._keep_newest((keyed.tenant, keyed.kind, keyed.tracking[1]), keyed.version, line)
            elif keyed.kind == "trackingLog":
                self.logged.add(keyed.tracking)
                self.days.add((keyed.tenant, keyed.day or ""))
                self._keep_newest((keyed.tenant, keyed.kind, keyed.key[1]), keyed.version, line)

    def _keep_newest(self, identity: tuple[str, str, int], version: datetime | None, line: int) -> None:
        before = self.newest.get(identity)
        if before is None or not _older(version, before[0]):
            self.newest[identity] = (version, line)

    def _without_logs_in_table(self, candidates: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """The candidates that no earlier load saw a log of (no ``LOGGED#`` marker)."""
        by_pk = {keys.logged_marker_key(t, i)["pk"]: (t, i) for t, i in candidates}
        batches = [
            [string_attributes({"pk": pk, "sk": keys.RECORD_SK}) for pk in batch]
            for batch in chunks(by_pk, BATCH_GET_LIMIT)
        ]
        # Strongly consistent: a marker written by a load that just finished must be seen.
        futures = [
            self.pool.submit(batch_get, self.client, self.table, b, projection="pk", consistent=True)
            for b in batches
        ]
        marked = {by_pk[item["pk"]["S"]] for future in futures for item in future.result()}
        return {k for k in candidates if k not in marked}

    def _items(self, numbered: Numbered) -> Iterator[_Keyed]:
        """Second pass: the items of the accepted lines (the others are not even parsed again)."""
        accepted, next_accepted = self.accepted, 0
        for line, raw in numbered:
            if next_accepted == len(accepted) or accepted[next_accepted] != line:
                continue
            next_accepted += 1
            record = parse_line(line, raw) if isinstance(raw, bytes) else raw
            assert isinstance(record, dict)  # the first pass accepted it
            keyed = _item_for(line, record, self.tenant, self.retention_days, checked=True)
            if keyed.kind in ("trackingLog", "tracking"):
                identity = keyed.key[1] if keyed.kind == "trackingLog" else keyed.key
                newest = self.newest.get((keyed.tenant, keyed.kind, identity))
                if newest is not None and newest[1] != line:  # a newer version comes in this load
                    self.report.not_newer[keyed.kind] = self.report.not_newer.get(keyed.kind, 0) + 1
                    continue
            if keyed.day is not None:
                keyed.fresh = (keyed.tenant, keyed.day) in self.fresh_days
            elif keyed.kind == "tracking" and keyed.tracking in self.unlaunched:
                keyed.item.update(string_attributes(keys.unlaunched_keys(keyed.tenant, record)))
            yield keyed

    def _write_records(self, group: list[_Keyed]) -> _Outcome:
        """Write up to 100 records, each only if it is newer than what the table holds."""
        outcome = _Outcome()
        latest: dict[tuple[str, str], _Keyed] = {}
        for keyed in group:  # the same key twice: the newer version, else the later line
            key = (keyed.item["pk"]["S"], keyed.item["sk"]["S"])
            before = latest.get(key)
            if before is None or not _older(keyed.version, before.version):
                latest[key] = keyed
        versioned = [
            string_attributes({"pk": pk, "sk": sk})
            for (pk, sk), k in latest.items()
            if k.version is not None and not k.fresh
        ]
        stored = {
            (item["pk"]["S"], item["sk"]["S"]): item.get("updatedAt", {}).get("S")
            for item in (
                batch_get(self.client, self.table, versioned, projection="pk, sk, updatedAt", consistent=True)
                if versioned
                else []
            )
        }
        puts: list[_Keyed] = []
        for key, keyed in latest.items():
            if keyed.version is None or keyed.fresh or key not in stored:
                puts.append(keyed)
                continue
            replaced = self._replace(keyed, stored[key], outcome)
            if replaced:
                outcome.wrote(keyed)
            elif replaced is False:
                outcome.not_newer[keyed.kind] += 1
        for batch in chunks(puts, BATCH_WRITE_LIMIT):
            self._put_batch(batch, outcome)
        return outcome

    def _put_batch(self, batch: list[_Keyed], outcome: _Outcome) -> None:
        """BatchWriteItem; a batch DynamoDB refuses is halved until the refused item is found."""
        try:
            batch_write(self.client, self.table, [{"PutRequest": {"Item": k.item}} for k in batch])
        except ClientError as exc:
            if not _refused(exc):
                raise
            if len(batch) == 1:
                [keyed] = batch
                outcome.refused.append(RejectedRecord(keyed.line, keyed.kind, keyed.key, None, REFUSED_RULE))
                return
            middle = len(batch) // 2
            self._put_batch(batch[:middle], outcome)
            self._put_batch(batch[middle:], outcome)
            return
        for keyed in batch:
            outcome.wrote(keyed)

    def _replace(self, keyed: _Keyed, seen: str | None, outcome: _Outcome) -> bool | None:
        """Put the record over a stored one that is older; False when the stored one is as new,
        None when DynamoDB refused the item (reported in ``outcome``)."""
        key = {"pk": keyed.item["pk"], "sk": keyed.item["sk"]}
        for _ in range(MAX_REPLACE_ATTEMPTS):
            if not _older(parse_instant(seen), keyed.version):
                return False
            if seen is None:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(updatedAt)"}
            else:
                condition = {
                    "ConditionExpression": "updatedAt = :seen",
                    "ExpressionAttributeValues": {":seen": {"S": seen}},
                }
            try:
                self.client.put_item(TableName=self.table, Item=keyed.item, **condition)
                return True
            except self.client.exceptions.ConditionalCheckFailedException:
                found = self.client.get_item(
                    TableName=self.table, Key=key, ConsistentRead=True, ProjectionExpression="updatedAt"
                ).get("Item")
                if found is None:  # deleted meanwhile (erasure): not brought back
                    return False
                seen = found.get("updatedAt", {}).get("S")
            except ClientError as exc:
                if not _refused(exc):
                    raise
                outcome.refused.append(RejectedRecord(keyed.line, keyed.kind, keyed.key, None, REFUSED_RULE))
                return None
        raise RuntimeError(f"record {key['pk']['S']} kept changing during {MAX_REPLACE_ATTEMPTS} attempts")

    def _submit(self, task: Callable[[Any], _Outcome | None], argument: Any) -> None:
        while len(self.in_flight) >= self.max_in_flight:
            done, self.in_flight = wait(self.in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                self._gather(future.result())
        self.in_flight.add(self.pool.submit(task, argument))

    def _gather(self, outcome: _Outcome | None) -> None:
        if outcome is None:
            return
        for mine, theirs in (
            (self.report.written, outcome.written),
            (self.report.not_newer, outcome.not_newer),
        ):
            for kind, count in theirs.items():
                mine[kind] = mine.get(kind, 0) + count
        self.report.unlaunched_set += outcome.unlaunched
        self.logged_written |= outcome.logged
        self.fresh_counts.update(outcome.fresh)
        for refused in outcome.refused:
            self.report.reject(refused)

    def _drain(self) -> None:
        done, _ = wait(self.in_flight)
        self.in_flight = set()
        for future in done:
            self._gather(future.result())

    def _write_plain(self, requests: list[dict[str, Any]]) -> None:
        batch_write(self.client, self.table, requests)

    def _mark_days(self) -> None:
        """Write the DAYS markers of the days that have none yet (those keep their logCount)."""
        marked = {
            (tenant, item["sk"]["S"])
            for tenant in {t for t, _ in self.days}
            for page in query_pages(
                self.client,
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.days_pk(tenant)}},
                ProjectionExpression="sk",
                ConsistentRead=True,
            )
            for item in page
        }
        self.fresh_days = self.days - marked
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": keys.days_pk(tenant)}, "sk": {"S": day}}}}
            for tenant, day in sorted(self.fresh_days)
        ]
        for batch in chunks(requests, BATCH_WRITE_LIMIT):
            self._submit(self._write_plain, batch)
        self._drain()
        self.report.days_marked = len(requests)

    def _count_days(self) -> None:
        """The exact ``logCount`` of every day touched.

        A day new to this load held no log before it and got each of its logs from it exactly
        once (one version per log, written without condition), so its count is the number
        written; a new day none of whose logs DynamoDB took loses its marker again. The other
        days are counted in the table (:func:`recount_days`).
        """
        for tenant, day in sorted(self.fresh_days):
            key = {"pk": {"S": keys.days_pk(tenant)}, "sk": {"S": day}}
            count = self.fresh_counts[(tenant, day)]
            if count == 0:
                self.client.delete_item(TableName=self.table, Key=key)
                self.days.discard((tenant, day))
                self.report.days_marked -= 1
                continue
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET logCount = :n",
                ExpressionAttributeValues={":n": {"N": str(count)}},
            )
        for tenant in sorted({t for t, _ in self.days}):
            known = sorted(d for t, d in self.days - self.fresh_days if t == tenant)
            if known:
                recount_days(self.client, self.table, tenant, known)

    def _write_markers(self) -> None:
        requests = [
            {"PutRequest": {"Item": string_attributes(keys.logged_marker_key(t, i))}}
            for t, i in sorted(self.logged_written)
        ]
        for batch in chunks(requests, BATCH_WRITE_LIMIT):
            self._submit(self._write_plain, batch)
        self._drain()
        self.report.markers_written = len(requests)

    def _clear_unlaunched(self, keys_batch: list[dict[str, Any]]) -> int:
        items = batch_get(self.client, self.table, keys_batch, projection="pk, sk, gsi2pk")
        return sum(
            self._update_if_exists({"pk": item["pk"], "sk": item["sk"]}, "REMOVE gsi2pk, gsi2sk")
            for item in items
            if "gsi2pk" in item
        )

    def _update_if_exists(self, key: dict[str, Any], expression: str, **values: Any) -> int:
        """UpdateItem that never creates an item (a tracking deleted meanwhile stays deleted)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                **values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return 0
        return 1

    def _clear_earlier_unlaunched(self) -> None:
        """Trackings of earlier loads that got their first log in this one leave the index."""
        earlier = sorted(k for k in self.logged_written if k not in self.trackings)
        item_keys = (string_attributes(keys.catalogue_key(t, "tracking", i)) for t, i in earlier)
        futures = [self.pool.submit(self._clear_unlaunched, b) for b in chunks(item_keys, BATCH_GET_LIMIT)]
        self.report.unlaunched_cleared = sum(f.result() for f in futures)

    def _restore_unlaunched(self) -> None:
        """Trackings written without the Unlaunched keys because a log of theirs was coming, when
        DynamoDB then refused every such log: they join the index (unless an earlier load logged them)."""
        missed = sorted((self.trackings & self.logged) - self.logged_written)
        for tenant, tracking_id in sorted(self._without_logs_in_table(missed)):
            key = string_attributes(keys.catalogue_key(tenant, "tracking", tracking_id))
            found = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            if found is None:
                continue
            index = keys.unlaunched_keys(tenant, deserialize(found))
            self.report.unlaunched_set += self._update_if_exists(
                key,
                "SET gsi2pk = :pk, gsi2sk = :sk",
                ExpressionAttributeValues={":pk": {"S": index["gsi2pk"]}, ":sk": {"S": index["gsi2sk"]}},
            )


def _refused(exc: ClientError) -> bool:
    """DynamoDB refused the request's content (not a throttle, not a fault of its own)."""
    return str(exc.response.get("Error", {}).get("Code")) == "ValidationException"


def _older(version: datetime | None, than: datetime | None) -> bool:
    """A missing version is older than any; two missing ones are equal."""
    if than is None:
        return False
    return version is None or version < than


def recount_days(
    client: DynamoDBClient, table_name: str, tenant_id: str, days: Iterable[str]
) -> dict[str, int]:
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


def load_numbered(
    numbered: Numbered,
    table_name: str,
    dynamodb_client: DynamoDBClient,
    *,
    workers: int = 4,
) -> LoadReport:
    """Load records paired with their line numbers (as :func:`read_lines` yields them)."""
    records = numbered if isinstance(numbered, Sequence) else list(numbered)
    return Loader(table_name, dynamodb_client, workers=workers).run(lambda: records)


def load_dataset(
    records: Iterable[Raw], table_name: str, dynamodb_client: DynamoDBClient, *, workers: int = 4
) -> LoadReport:
    """Write the records into the tracking table; a record's line is its 1-based position."""
    return load_numbered(enumerate(records, start=1), table_name, dynamodb_client, workers=workers)


def load_jsonl(
    path: Path | str,
    table_name: str,
    dynamodb_client: DynamoDBClient,
    *,
    workers: int = 4,
    retention_days: int | None = None,
) -> LoadReport:
    """Write a JSONL dataset file; unreadable lines are reported like unkeyable records."""
    # Read twice (ids first, then records) rather than held in memory.
    loader = Loader(table_name, dynamodb_client, workers=workers, retention_days=retention_days)
    return loader.run(lambda: read_lines(path))
