"""The ingestion use case: one data-contract JSONL object of the ingest bucket into the tracking table.

An object ``tenants/{tenantId}/incoming/{name}`` (gzip accepted) is loaded through the
loader (:class:`tracking_export_aws.ingest.loader.Loader`, restricted to the key's tenant), one
byte range of at most ``max_bytes`` per invocation, cut on a line boundary. A small
progress item per object content (``T#{tenant}#INGEST`` / ``E#{etag}``) records how far the
load went, under a lease, so that:

- the next range is handed to ``continue_with`` (the function invokes itself
  asynchronously) — or returned as ``next`` when there is no continuation;
- a crashed range is done again by Lambda's retry, or by the same S3 event delivered again
  once the lease has expired (records are written with last-write-wins, so a range written
  twice leaves the table as once);
- a delivery of an object whose content was already ingested writes nothing.

When the last range is written, the object is moved (``CopyObject`` with ``If-None-Match``,
then ``DeleteObject``) to ``processed/`` (every line written) or ``rejected/`` (a line was
rejected, or the object was refused as a whole), and one notification is published:
``ingested`` or ``ingest-rejected``, with the records written by type and the rejected
lines (line number, type, field, rule — never the value). An error publishes
``ingest-failed`` and is raised (Lambda retries, then the DLQ); the object stays in
``incoming/`` to be re-driven. See docs/ingestion.md.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import string_attributes
from tracking_export_aws.config.store import ConfigError, ConfigStore
from tracking_export_aws.ingest.loader import Loader, LoadReport, RejectedRecord, parse_line
from tracking_export_aws.notify.notifier import Notifier

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

INCOMING_KEY_RE = re.compile(r"^tenants/([^/]+)/incoming/(.+)$")
# The notification and the progress item list this many rejected lines; the count is exact.
MAX_NOTIFIED_REJECTS = 100
PROCESSED, REJECTED = "processed", "rejected"
OUTCOME_TAG = "ingest-outcome"  # the ingest bucket's lifecycle rules expire tagged copies
# Progress items leave the table (TTL) this long after their last change; a content uploaded
# again later is loaded again, which last-write-wins makes harmless.
PROGRESS_KEPT_SECONDS = 90 * 86_400
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class IngestRequest:
    """One object to ingest; ``etag`` and ``offset`` are set on a continuation."""

    bucket: str
    key: str
    etag: str | None = None
    offset: int | None = None

    def as_event(self) -> dict[str, Any]:
        """The event that hands this request to the ingest function."""
        return {"ingest": {"bucket": self.bucket, "key": self.key, "etag": self.etag, "offset": self.offset}}


def ingest_requests(event: dict[str, Any]) -> Iterator[IngestRequest]:
    """The objects an S3 notification (``Records``), an EventBridge S3 event or a continuation names."""
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        # S3 notifications URL-encode keys (a space arrives as '+').
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
        yield IngestRequest(str((s3.get("bucket") or {}).get("name", "")), key)
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict):
        detail = event["detail"]
        yield IngestRequest(
            str((detail.get("bucket") or {}).get("name", "")),
            str((detail.get("object") or {}).get("key", "")),
        )
    continuation = event.get("ingest")
    if isinstance(continuation, dict):
        offset = continuation.get("offset")
        yield IngestRequest(
            str(continuation.get("bucket", "")),
            str(continuation.get("key", "")),
            continuation.get("etag"),
            offset if isinstance(offset, int) else None,
        )


def incoming_tenant(key: str) -> tuple[str, str] | None:
    """(tenant, name) of ``tenants/{tenant}/incoming/{name}``; None for any other key."""
    match = INCOMING_KEY_RE.fullmatch(key)
    if not match or not keys.TENANT_ID_RE.fullmatch(match.group(1)):
        return None
    return match.group(1), match.group(2)


@dataclass
class _Progress:
    """The progress item of one object content."""

    tenant: str
    etag: str
    object_key: str
    status: str = "loading"  # loading -> loaded (every range written) -> done (notified, moved)
    offset: int = 0  # next byte to load
    line: int = 0  # lines consumed before ``offset``
    invocations: int = 0
    report: LoadReport = field(default_factory=LoadReport)
    refused: str | None = None  # why the object was refused as a whole
    duplicate_of: str | None = None  # set when this content was ingested before (nothing to write)


class ObjectChanged(RuntimeError):
    """The object under the key is no longer the content being ingested."""


class ContentInProgress(RuntimeError):
    """The same content, under another key, is being ingested: this one waits (Lambda retries it)."""


class IngestService:
    """Ingests objects of the ingest bucket into the tracking table."""

    def __init__(
        self,
        *,
        s3: S3Client,
        dynamodb: DynamoDBClient,
        table: str,
        config: ConfigStore,
        notifier: Notifier,
        max_bytes: int,
        continue_with: Callable[[dict[str, Any]], None] | None = None,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3
        self.dynamodb = dynamodb
        self.table = table
        self.config = config
        self.notifier = notifier
        self.max_bytes = max_bytes
        self.continue_with = continue_with
        self.workers = workers
        self.clock = clock

    # -- one request ----------------------------------------------------------

    def ingest(self, request: IngestRequest, *, lease_seconds: float = 900.0) -> dict[str, Any]:
        """Load the next byte range of the object; finish it (move + notify) after its last range.

        Returns ``{"outcome": …}``: ``ignored`` (not an incoming key), ``gone`` (already moved),
        ``busy`` (another invocation holds the object), ``continuing`` (with ``next``, the
        event of the next range), ``ingested`` or ``ingest-rejected``.
        """
        named = incoming_tenant(request.key)
        if named is None:
            return {"outcome": "ignored", "objectKey": request.key}
        tenant, _ = named
        head = self._head(request.bucket, request.key)
        if head is None:
            return {"outcome": "gone", "objectKey": request.key}
        etag = str(head["ETag"]).strip('"')
        if request.etag is not None and request.etag != etag:
            # Replaced by a new upload, which has its own event.
            return {"outcome": "gone", "objectKey": request.key, "reason": "replaced by a newer upload"}
        progress = self._claim(tenant, etag, request, lease_seconds)
        if progress is None:
            return {"outcome": "busy", "objectKey": request.key}
        try:
            if progress.status == "loading":
                self._load_range(request, head, progress)
            if progress.status == "loading":
                follow = IngestRequest(request.bucket, request.key, etag, progress.offset)
                if self.continue_with is not None:
                    self.continue_with(follow.as_event())
                return {
                    "outcome": "continuing",
                    "objectKey": request.key,
                    "offset": progress.offset,
                    "next": follow.as_event(),
                }
            return self._finish(request, progress)
        except Exception as exc:
            self._fail(request, tenant, progress, exc)
            raise

    # -- progress item --------------------------------------------------------

    def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.s3.head_object(Bucket=bucket, Key=key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                return None
            raise

    def _claim(
        self, tenant: str, etag: str, request: IngestRequest, lease_seconds: float
    ) -> _Progress | None:
        """The object's progress, under a lease held by this invocation; None if someone else holds it."""
        key = keys.ingest_progress_key(tenant, etag)
        now = self.clock()
        lease = {":now": {"N": str(int(now))}, ":until": {"N": str(int(now + lease_seconds))}}
        found = self.dynamodb.get_item(
            TableName=self.table, Key=string_attributes(key), ConsistentRead=True
        ).get("Item")
        if found is None:
            progress = _Progress(tenant, etag, request.key)
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={**self._progress_item(progress), "leaseUntil": lease[":until"]},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                return None
            return progress
        progress = _progress_from(tenant, etag, found)
        if progress.status == "done":
            # This content was ingested before (a re-upload, or an event delivered again while
            # the delete of the moved object failed): it is finished again with nothing written.
            progress = _Progress(tenant, etag, request.key, status="loaded", duplicate_of=progress.object_key)
            return progress
        if progress.status == "loading" and progress.object_key != request.key:
            raise ContentInProgress(
                f"{request.key} has the content of {progress.object_key}, which is being ingested"
            )
        if progress.status == "loading" and request.offset is not None and request.offset != progress.offset:
            return None  # a continuation delivered twice: that range is done
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=string_attributes(key),
                UpdateExpression="SET leaseUntil = :until",
                ConditionExpression="#o = :offset AND leaseUntil < :now",
                ExpressionAttributeNames={"#o": "offset"},
                ExpressionAttributeValues={**lease, ":offset": {"N": str(progress.offset)}},
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return progress

    def _progress_item(self, progress: _Progress) -> dict[str, Any]:
        report = progress.report.as_dict()
        report["rejected"] = report["rejected"][:MAX_NOTIFIED_REJECTS]
        item = {
            **string_attributes(keys.ingest_progress_key(progress.tenant, progress.etag)),
            "objectKey": {"S": progress.object_key},
            "status": {"S": progress.status},
            "offset": {"N": str(progress.offset)},
            "line": {"N": str(progress.line)},
            "invocations": {"N": str(progress.invocations)},
            "report": {"S": json.dumps(report)},
            "days": {"S": json.dumps(progress.report.days)},
            "leaseUntil": {"N": "0"},
            keys.EXPIRES_AT: {"N": str(int(self.clock()) + PROGRESS_KEPT_SECONDS)},
        }
        if progress.refused:
            item["refused"] = {"S": progress.refused}
        return item

    def _save(self, progress: _Progress, expected_offset: int) -> None:
        """Store the progress, releasing the lease; fails if another invocation moved it on."""
        self.dynamodb.put_item(
            TableName=self.table,
            Item=self._progress_item(progress),
            ConditionExpression="#o = :offset",
            ExpressionAttributeNames={"#o": "offset"},
            ExpressionAttributeValues={":offset": {"N": str(expected_offset)}},
        )

    def _release(self, progress: _Progress) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=string_attributes(keys.ingest_progress_key(progress.tenant, progress.etag)),
            UpdateExpression="SET leaseUntil = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    # -- loading --------------------------------------------------------------

    def _load_range(self, request: IngestRequest, head: dict[str, Any], progress: _Progress) -> None:
        size = int(head["ContentLength"])
        started_at = progress.offset
        progress.invocations += 1
        settings = self.config.tenant_settings(progress.tenant)
        loader = Loader(
            self.table,
            self.dynamodb,
            workers=self.workers,
            tenant=progress.tenant,
            retention_days=settings.retention_days,
        )
        if _is_gzip(request.key, head) and started_at == 0:
            if size > self.max_bytes:
                progress.refused = (
                    f"gzip object of {size} bytes is above the {self.max_bytes}-byte limit of one invocation "
                    "(a gzip stream cannot be split): upload it uncompressed or in smaller files"
                )
            else:
                body = self._get(request.bucket, request.key, progress.etag, None)
                first = progress.line
                progress.report.add(loader.run(lambda: _gzip_lines(body, first)))
                progress.line = first + sum(1 for _ in _gzip_lines(body, first, every=True))
            progress.offset = size
            progress.status = "loaded"
        else:
            end = min(size, started_at + self.max_bytes)
            data = (
                self._get(request.bucket, request.key, progress.etag, (started_at, end))
                if end > started_at
                else b""
            )
            if end < size:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than the limit: skipped and reported
                    cut = self._skip_long_line(request, progress, end, size) - started_at
                    data = b""
                else:
                    data = data[:cut]
            else:
                cut = len(data)
            first = progress.line
            if data:
                progress.report.add(load_range(loader, data, first, at_start=started_at == 0))
                progress.line = first + _count_lines(data)
            progress.offset = started_at + cut
            if progress.offset >= size:
                progress.status = "loaded"
        self._save(progress, started_at)

    def _skip_long_line(self, request: IngestRequest, progress: _Progress, start: int, size: int) -> int:
        """The offset after the next newline from ``start`` (or the end); the line is reported."""
        progress.line += 1
        progress.report.reject(
            RejectedRecord(progress.line, None, None, None, f"is longer than the {self.max_bytes}-byte limit")
        )
        position = start
        while position < size:
            end = min(size, position + self.max_bytes)
            data = self._get(request.bucket, request.key, progress.etag, (position, end))
            newline = data.find(b"\n")
            if newline >= 0:
                return position + newline + 1
            position = end
        return size

    def _get(self, bucket: str, key: str, etag: str, byte_range: tuple[int, int] | None) -> bytes:
        try:
            if byte_range:
                response = self.s3.get_object(
                    Bucket=bucket, Key=key, IfMatch=etag, Range=f"bytes={byte_range[0]}-{byte_range[1] - 1}"
                )
            else:
                response = self.s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("PreconditionFailed", "412"):
                raise ObjectChanged(f"s3://{bucket}/{key} was replaced while it was being ingested") from None
            raise
        return bytes(response["Body"].read())

    # -- the end of an object -------------------------------------------------

    def _finish(self, request: IngestRequest, progress: _Progress) -> dict[str, Any]:
        """Notify, move, mark the content done: a crash in between notifies twice, never zero times."""
        report = progress.report
        folder = REJECTED if progress.refused or report.rejected_count else PROCESSED
        moved_to = self._target(request, progress.tenant, progress.etag, folder)
        outcome = "ingest-rejected" if folder == REJECTED else "ingested"
        message: dict[str, Any] = {
            "tenantId": progress.tenant,
            "outcome": outcome,
            "objectKey": request.key,
            "etag": progress.etag,
            "movedTo": moved_to,
            "written": dict(sorted(report.written.items())),
            "writtenTotal": report.written_total,
            "notNewer": dict(sorted(report.not_newer.items())),
            "rejectedCount": report.rejected_count,
            "rejected": [
                {"line": r.line, "type": r.kind, "field": r.field, "rule": r.rule}
                for r in report.rejected[:MAX_NOTIFIED_REJECTS]
            ],
            "daysRecounted": len(report.days),
            "invocations": progress.invocations,
        }
        if progress.refused:
            message["reason"] = progress.refused
        if progress.duplicate_of is not None:
            message["duplicateOf"] = progress.duplicate_of
        message["messageId"] = self.notifier.publish(message)
        self._move(request, progress.etag, folder, moved_to)
        if progress.duplicate_of is None:
            progress.status = "done"
            self._save(progress, progress.offset)
        return message

    def _targets(self, request: IngestRequest, tenant: str, etag: str, folder: str) -> tuple[str, str]:
        named = incoming_tenant(request.key)
        assert named is not None
        return f"tenants/{tenant}/{folder}/{named[1]}", f"tenants/{tenant}/{folder}/{etag}/{named[1]}"

    def _target(self, request: IngestRequest, tenant: str, etag: str, folder: str) -> str:
        """``{folder}/{name}``, or ``{folder}/{etag}/{name}`` when another file has that name."""
        first, second = self._targets(request, tenant, etag, folder)
        existing = self._head(request.bucket, first)
        if existing is None or existing.get("Metadata", {}).get("source-etag") == etag:
            return first
        return second

    def _move(self, request: IngestRequest, etag: str, folder: str, target: str) -> None:
        """Copy the object to ``target`` (never over another file) and delete it from incoming/."""
        try:
            self.s3.copy_object(
                Bucket=request.bucket,
                Key=target,
                CopySource={"Bucket": request.bucket, "Key": request.key},
                CopySourceIfMatch=etag,
                IfNoneMatch="*",
                MetadataDirective="REPLACE",
                Metadata={"source-etag": etag},
                TaggingDirective="REPLACE",
                Tagging=f"{OUTCOME_TAG}={folder}",
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("PreconditionFailed", "412"):
                raise
            existing = self._head(request.bucket, target)
            # Our own copy from an earlier attempt is fine; another file is never overwritten.
            if existing is None or existing.get("Metadata", {}).get("source-etag") != etag:
                raise RuntimeError(f"cannot move {request.key}: {target} holds another file") from None
        self.s3.delete_object(Bucket=request.bucket, Key=request.key)

    def _fail(self, request: IngestRequest, tenant: str, progress: _Progress, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, (ConfigError, ObjectChanged)) else f"{type(exc).__name__}: {exc}"
        try:
            self._release(progress)
        finally:
            self.notifier.publish(
                {
                    "tenantId": tenant,
                    "outcome": "ingest-failed",
                    "objectKey": request.key,
                    "etag": progress.etag,
                    "offset": progress.offset,
                    "reason": reason,
                    "retry": "the object stays in incoming/; Lambda retries it, then the DLQ keeps the event",
                }
            )


def _progress_from(tenant: str, etag: str, item: dict[str, Any]) -> _Progress:
    report = LoadReport.from_dict(json.loads(item["report"]["S"]))
    report.days = [tuple(d) for d in json.loads(item.get("days", {}).get("S", "[]"))]
    # A content already ingested: nothing to load again (the loaded report stays the earlier one's).
    return _Progress(
        tenant=tenant,
        etag=etag,
        object_key=item["objectKey"]["S"],
        status=item["status"]["S"],
        offset=int(item["offset"]["N"]),
        line=int(item["line"]["N"]),
        invocations=int(item["invocations"]["N"]),
        report=report,
        refused=item.get("refused", {}).get("S"),
    )


def _is_gzip(key: str, head: dict[str, Any]) -> bool:
    return key.endswith(".gz") or str(head.get("ContentEncoding", "")).lower() == "gzip"


def load_range(loader: Loader, data: bytes, first_line: int, *, at_start: bool) -> LoadReport:
    """Load one byte range (whole lines) whose first line is ``first_line + 1``.

    Its lines are parsed once and kept for the loader's two passes (a range is bounded by
    the per-invocation limit; parsing twice would cost more than the memory).
    """
    lines = list(_lines(data, first_line, at_start))
    return loader.run(lambda: lines)


def _lines(data: bytes, first_line: int, at_start: bool) -> Iterator[tuple[int, Any]]:
    if at_start and data.startswith(_BOM):
        data = data[len(_BOM) :]
    for number, line in enumerate(data.split(b"\n"), start=first_line + 1):
        if line.strip():
            yield number, parse_line(number, line)


def _gzip_lines(body: bytes, first_line: int, *, every: bool = False) -> Iterator[tuple[int, Any]]:
    """The numbered records of a gzip body; ``every`` also yields blank lines (to count them)."""
    if not body.startswith(_GZIP_MAGIC):
        yield (
            first_line + 1,
            RejectedRecord(first_line + 1, None, None, None, "is not gzip data (the key ends in .gz)"),
        )
        return
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        for number, line in enumerate(stream, start=first_line + 1):
            if number == first_line + 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if every:
                yield number, None
            elif line.strip():
                yield number, parse_line(number, line)


def _count_lines(data: bytes) -> int:
    """Lines in a range that ends on a line boundary (a last line without newline counts)."""
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
