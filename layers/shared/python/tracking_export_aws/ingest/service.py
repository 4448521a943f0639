"""The ingestion use case: one data-contract JSONL object of the ingest bucket into the tracking table.

An object ``tenants/{tenantId}/incoming/{name}`` (plain or gzip) is read as a stream
(:mod:`tracking_export_aws.ingest.reader`) and loaded through the loader
(:class:`tracking_export_aws.ingest.loader.Loader`, restricted to the key's tenant), one range of
whole lines of at most ``max_bytes`` per invocation. A small progress item per object
content (``T#{tenant}#INGEST`` / ``E#{etag}``) records how far the load went, under a lease, so that:

- the next range is handed to ``continue_with`` (the function invokes itself
  asynchronously) — or returned as ``next`` when there is no continuation;
- a range cut short by an AWS error is done again by Lambda's retry, or by the same S3
  event delivered again once the lease has expired (records are written with
  last-write-wins, so a range written twice leaves the table as once);
- a delivery of an object whose content was already ingested writes nothing.

Every file ends somewhere, with one notification: after its last range it is moved
(``CopyObject`` with ``If-None-Match``, then ``DeleteObject``) to ``processed/`` (every line
written) or ``rejected/`` (a line was rejected, or the file was refused as a whole: it
cannot be decoded, or its name could resolve elsewhere), notified ``ingested`` or
``ingest-rejected`` with the records written by type and the rejected lines (line number,
type, field, rule — never the value). Only AWS-side transient errors are raised (Lambda
retries; when the retries are over, :meth:`IngestService.give_up` tells the tenant once,
``ingest-failed``); any other failure gives up at once. The object then stays in
``incoming/`` to be re-driven. See docs/ingestion.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from tracking_export.limits import shown
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.clients import is_transient
from tracking_export_aws.aws.dynamo import string_attributes
from tracking_export_aws.aws.s3_events import IgnoredRecord, S3ObjectEvent, problems, read_s3_event
from tracking_export_aws.config.store import ConfigError, ConfigStore
from tracking_export_aws.ingest.loader import Loader, LoadReport, RejectedRecord
from tracking_export_aws.ingest.reader import (
    GZIP_MAGIC,
    UTF8_BOM,
    Gunzip,
    Range,
    Refused,
    content_problem,
    numbered_lines,
    peek,
    read_range,
    skip,
)
from tracking_export_aws.notify.notifier import Notifier, SnsChannel

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

INCOMING_KEY_RE = re.compile(r"^tenants/([^/]+)/incoming/(.+)$", re.DOTALL)
# The notification and the progress item list this many rejected lines; the count is exact.
MAX_NOTIFIED_REJECTS = 100
PROCESSED, REJECTED = "processed", "rejected"
OUTCOME_TAG = "ingest-outcome"  # the ingest bucket's lifecycle rules expire tagged copies
# Progress items leave the table (TTL) this long after their last change; a content uploaded
# again later is loaded again, which last-write-wins makes harmless.
PROGRESS_KEPT_SECONDS = 90 * 86_400
READ_CHUNK = 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_UNSAFE_CHARACTERS = re.compile(r"[\\\x00-\x1f\x7f]")
UNSAFE_NAME = (
    "the object's name has a '.' or '..' segment, a backslash or a control character; "
    "it was not read (moved under a safe name)"
)
NOT_GZIP = "the key ends in .gz (or the object's Content-Encoding is gzip) but its content is not gzip data"
RETRY_NOTE = "the object stays in incoming/; re-drive the event the ingest dead-letter queue keeps"


class IngestSettings(BaseModel):
    """The ingestion's own parameters (docs/limits.md, "Tracking files"); the ingest function
    reads them from its environment (runtime/settings.py, ``IngestFunctionSettings``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The only bucket whose objects are ingested; events naming another are ignored.
    bucket: str = Field(min_length=3, max_length=63)
    # Bytes of lines loaded by one invocation (decompressed bytes for gzip).
    max_bytes_per_invocation: int = Field(default=32 * 1024 * 1024, ge=64)
    # A longer line is rejected, read past without being held.
    max_line_bytes: int = Field(default=1024 * 1024, ge=64)
    # gzip: the decompressed size of a file, and how many times its compressed size it may be.
    max_decompressed_bytes: int = Field(default=4 * 1024**3, ge=1)
    max_compression_ratio: float = Field(default=200.0, gt=1)


class IngestRequest(BaseModel):
    """One object to ingest; ``etag`` and ``offset`` are set on a continuation."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: StrictStr = Field(max_length=255)
    key: StrictStr = Field(min_length=1, max_length=1024)
    etag: StrictStr | None = Field(default=None, max_length=128)
    offset: StrictInt | None = Field(default=None, ge=0)

    def as_event(self) -> dict[str, Any]:
        """The event that hands this request to the ingest function."""
        return {"ingest": self.model_dump()}


def read_ingest_event(event: Any) -> list[IngestRequest | S3ObjectEvent | IgnoredRecord]:
    """What an event asks of the ingest function: S3 object events (either form, read by the
    one S3 event reader), a continuation ``{"ingest": {...}}``, or records to ignore."""
    if isinstance(event, Mapping) and "ingest" in event:
        try:
            return [IngestRequest.model_validate(event["ingest"])]
        except ValidationError as exc:
            return [IgnoredRecord(None, problems(exc, "ingest"))]
    return list(read_s3_event(event))


def incoming_name(key: str) -> tuple[str, str] | None:
    """(tenant, name) of ``tenants/{tenant}/incoming/{name}``; None for any other key."""
    match = INCOMING_KEY_RE.fullmatch(key)
    if not match or not keys.TENANT_ID_RE.fullmatch(match.group(1)):
        return None
    return match.group(1), match.group(2)


def safe_name(name: str) -> str | None:
    """The name itself when no tool could resolve it elsewhere; else None."""
    unsafe = _UNSAFE_CHARACTERS.search(name) or any(s and not s.strip(".") for s in name.split("/"))
    return None if unsafe else name


def sanitised_name(name: str) -> str:
    """A name that resolves nowhere but where it is: each segment of dots becomes as many
    underscores, each backslash and control character one underscore."""
    segments = ("_" * len(s) if s and not s.strip(".") else s for s in name.split("/"))
    return _UNSAFE_CHARACTERS.sub("_", "/".join(segments))


class RejectedLine(BaseModel):
    """A line that was not stored: where, which record type, which field, which rule."""

    model_config = ConfigDict(frozen=True)

    line: int
    type: str | None
    field: str | None
    rule: str


Outcome = Literal[
    "ignored",
    "gone",
    "busy",
    "continuing",
    "ingested",
    "ingest-rejected",
    "ingest-failed",
    "retention-applied",
]


class IngestResult(BaseModel):
    """What one request did. The notification is :meth:`message`; :meth:`logged` is what a
    log line may carry (the rejected lines and the continuation event stay out)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    LOGGED: ClassVar[frozenset[str]] = frozenset(
        {
            "outcome", "objectKey", "record", "reason", "offset", "etag", "movedTo", "written",
            "writtenTotal", "notNewer", "rejectedCount", "daysRecounted", "invocations",
            "duplicateOf", "messageId",
        }
    )  # fmt: skip

    outcome: Outcome
    object_key: str | None = Field(default=None, alias="objectKey")
    record: int | None = Field(default=None, description="the ignored record's index in Records")
    reason: str | None = None
    offset: int | None = None
    next: dict[str, Any] | None = Field(default=None, description="the continuation event")
    tenant_id: str | None = Field(default=None, alias="tenantId")
    etag: str | None = None
    moved_to: str | None = Field(default=None, alias="movedTo")
    written: dict[str, int] | None = None
    written_total: int | None = Field(default=None, alias="writtenTotal")
    not_newer: dict[str, int] | None = Field(default=None, alias="notNewer")
    rejected_count: int | None = Field(default=None, alias="rejectedCount")
    rejected: list[RejectedLine] | None = None
    days_recounted: int | None = Field(default=None, alias="daysRecounted")
    invocations: int | None = None
    duplicate_of: str | None = Field(default=None, alias="duplicateOf")
    retry: str | None = None
    # The SNS message id of the notification (None when SNS did not take it).
    message_id: str | None = Field(default=None, alias="messageId")

    def as_dict(self) -> dict[str, Any]:
        """The result as the handler returns it (JSON names; fields without a value left out, while
        a rejected line keeps its null type or field)."""
        return {k: v for k, v in self.model_dump(by_alias=True).items() if v is not None}

    def logged(self) -> dict[str, Any]:
        """The fields a log line may carry."""
        return {k: v for k, v in self.as_dict().items() if k in self.LOGGED}

    def message(self) -> dict[str, Any]:
        """The notification of a finished or failed object (notify/messages.py's contract)."""
        return {k: v for k, v in self.as_dict().items() if k not in ("messageId", "next", "record")}


@dataclass
class _Progress:
    """The progress item of one object content."""

    tenant: str
    etag: str
    object_key: str
    status: str = "loading"  # loading -> loaded (every range written) -> done (notified, moved)
    encoding: str = "plain"  # or "gzip": then ``offset`` counts decompressed bytes
    offset: int = 0  # next byte to load
    line: int = 0  # lines consumed before ``offset``
    invocations: int = 0
    report: LoadReport = field(default_factory=LoadReport)
    refused: str | None = None  # why the object was refused as a whole
    duplicate_of: str | None = None  # set when this content was ingested before (nothing to write)


class ContentInProgress(RuntimeError):
    """The same content, under another key, is being ingested: this one waits (Lambda retries it)."""


class _ObjectChanged(Exception):
    """The object under the key is no longer the content being ingested."""


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
        settings: IngestSettings,
        continue_with: Callable[[dict[str, Any]], None] | None = None,
        dead_letter: Callable[[dict[str, Any]], None] | None = None,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3
        self.dynamodb = dynamodb
        self.table = table
        self.config = config
        self.notifier = notifier
        self.settings = settings
        self.continue_with = continue_with
        self.dead_letter = dead_letter
        self.workers = workers
        self.clock = clock

    # -- one request ----------------------------------------------------------

    def ingest(self, request: IngestRequest, *, lease_seconds: float = 900.0) -> IngestResult:
        """Load the next range of the object; finish it (move + notify) after its last range.

        Outcomes: ``ignored`` (another bucket, not an incoming key), ``gone`` (already moved,
        or replaced), ``busy`` (another invocation holds the object), ``continuing`` (with
        ``next``, the event of the next range), ``ingested``, ``ingest-rejected``, or
        ``ingest-failed`` (a failure no retry would cure: the tenant is told at once).
        """
        if request.bucket != self.settings.bucket:
            return IngestResult(
                outcome="ignored",
                objectKey=request.key,
                reason=f"bucket {shown(request.bucket)} is not the ingest bucket",
            )
        named = incoming_name(request.key)
        if named is None:
            return IngestResult(
                outcome="ignored",
                objectKey=request.key,
                reason="not a key under tenants/{tenantId}/incoming/",
            )
        tenant, _ = named
        head = self._head(request.bucket, request.key)
        if head is None:
            return IngestResult(outcome="gone", objectKey=request.key)
        etag = str(head["ETag"]).strip('"')
        if request.etag is not None and request.etag != etag:
            # Replaced by a new upload, which has its own event.
            return IngestResult(outcome="gone", objectKey=request.key, reason="replaced by a newer upload")
        progress = self._claim(tenant, etag, request, lease_seconds)
        if progress is None:
            return IngestResult(outcome="busy", objectKey=request.key)
        try:
            if progress.status == "loading":
                self._load_range(request, head, progress)
            if progress.status == "loading":
                follow = IngestRequest(
                    bucket=request.bucket, key=request.key, etag=etag, offset=progress.offset
                )
                if self.continue_with is not None:
                    self.continue_with(follow.as_event())
                return IngestResult(
                    outcome="continuing",
                    objectKey=request.key,
                    offset=progress.offset,
                    next=follow.as_event(),
                )
            return self._finish(request, progress)
        except _ObjectChanged:
            self._release(progress)
            return IngestResult(
                outcome="gone", objectKey=request.key, reason="replaced while it was being ingested"
            )
        except Exception as exc:
            self._release(progress)
            if is_transient(exc):
                raise  # Lambda retries; give_up tells the tenant once the retries are over
            return self.give_up(request, failure_reason(exc), etag=etag, offset=progress.offset)

    def give_up(
        self, request: IngestRequest, reason: str, *, etag: str | None = None, offset: int | None = None
    ) -> IngestResult:
        """Tell the tenant, once, that the object could not be ingested (``ingest-failed``),
        and keep its event in the dead-letter queue to be re-driven."""
        named = incoming_name(request.key)
        if named is None or request.bucket != self.settings.bucket:
            return IngestResult(
                outcome="ignored", objectKey=request.key, reason="not an ingestion of the ingest bucket"
            )
        tenant, _ = named
        etag = etag or request.etag or ""
        if offset is None:
            found = (
                self.dynamodb.get_item(
                    TableName=self.table,
                    Key=string_attributes(keys.ingest_progress_key(tenant, etag)),
                    ConsistentRead=True,
                ).get("Item")
                if etag
                else None
            )
            offset = int(found["offset"]["N"]) if found else 0
        result = IngestResult(
            outcome="ingest-failed",
            tenantId=tenant,
            objectKey=request.key,
            etag=etag,
            offset=offset,
            reason=reason,
            retry=RETRY_NOTE,
        )
        message_id = self._publish(result)
        if self.dead_letter is not None:
            self.dead_letter(
                IngestRequest(bucket=request.bucket, key=request.key, etag=etag or None).as_event()
            )
        return result.model_copy(update={"message_id": message_id})

    def _publish(self, result: IngestResult) -> str | None:
        """Notify ``result``; the SNS message id (the handler returns it as ``messageId``)."""
        answers: dict[str, Any] = {}
        self.notifier.publish(result.message(), on_delivered=answers.__setitem__)
        answer = answers.get(SnsChannel.name)
        return answer if isinstance(answer, str) else None

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
            return _Progress(tenant, etag, request.key, status="loaded", duplicate_of=progress.object_key)
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
            "encoding": {"S": progress.encoding},
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
        """Load the next range of whole lines (or refuse the object) and store the progress."""
        started_at = progress.offset
        progress.invocations += 1
        named = incoming_name(request.key)
        if named is None or safe_name(named[1]) is None:
            progress.refused = UNSAFE_NAME
            progress.status = "loaded"
            self._save(progress, started_at)
            return
        settings = self.config.tenant_settings(progress.tenant)
        stored = self._chunks(request, progress.etag, started_at if progress.encoding == "plain" else 0)
        with closing(stored):
            try:
                lines, skipped = self._lines(request, head, progress, stored)
                chunk = read_range(
                    lines,
                    budget=self.settings.max_bytes_per_invocation,
                    max_line=self.settings.max_line_bytes,
                )
            except Refused as refusal:  # the object as a whole, before its first line
                progress.refused = refusal.reason
                progress.status = "loaded"
                self._save(progress, started_at)
                return
        first = progress.line
        if chunk.lines:
            loader = Loader(
                self.table,
                self.dynamodb,
                workers=self.workers,
                tenant=progress.tenant,
                retention_days=settings.retention_days,
            )
            progress.report.add(loader.run(range_lines(chunk, first, self.settings.max_line_bytes)))
        progress.line = first + chunk.lines
        progress.offset = started_at + skipped + chunk.consumed
        if chunk.refused:
            progress.refused = chunk.refused
        if chunk.done:
            progress.status = "loaded"
        self._save(progress, started_at)

    def _lines(
        self, request: IngestRequest, head: dict[str, Any], progress: _Progress, stored: Iterator[bytes]
    ) -> tuple[Iterator[bytes], int]:
        """The decoded stream from the progress' offset, and the bytes a byte order mark took.

        At the object's start the content decides: gzip data is decompressed, whatever the
        key; a key or header announcing gzip over other content is refused, as is text that
        is not UTF-8 or an archive (:func:`content_problem`)."""
        start = progress.offset
        stream: Iterator[bytes] = stored
        if start == 0:
            magic, stream = peek(stream, len(GZIP_MAGIC))
            if magic == GZIP_MAGIC:
                progress.encoding = "gzip"
            elif request.key.endswith(".gz") or str(head.get("ContentEncoding", "")).lower() == "gzip":
                raise Refused(NOT_GZIP)
        if progress.encoding == "gzip":
            gunzip = Gunzip(self.settings.max_decompressed_bytes, self.settings.max_compression_ratio)
            stream = skip(gunzip.chunks(stream), start)
        if start:
            return stream, 0
        first, stream = peek(stream, 4)
        problem = content_problem(first)
        if problem:
            raise Refused(problem)
        if first.startswith(UTF8_BOM):
            return skip(stream, len(UTF8_BOM)), len(UTF8_BOM)
        return stream, 0

    def _chunks(self, request: IngestRequest, etag: str, start: int) -> Generator[bytes, None, None]:
        """The stored bytes of the object from ``start``, a chunk at a time (the connection is
        closed when the generator is)."""
        try:
            if start:
                response = self.s3.get_object(
                    Bucket=request.bucket, Key=request.key, IfMatch=etag, Range=f"bytes={start}-"
                )
            else:
                response = self.s3.get_object(Bucket=request.bucket, Key=request.key, IfMatch=etag)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("PreconditionFailed", "412"):
                raise _ObjectChanged() from None
            raise
        body = response["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    # -- the end of an object -------------------------------------------------

    def _finish(self, request: IngestRequest, progress: _Progress) -> IngestResult:
        """Notify, move, mark the content done: a crash in between notifies twice, never zero times."""
        report = progress.report
        folder = REJECTED if progress.refused or report.rejected_count else PROCESSED
        moved_to = self._target(request, progress.tenant, progress.etag, folder)
        result = IngestResult(
            outcome="ingest-rejected" if folder == REJECTED else "ingested",
            tenantId=progress.tenant,
            objectKey=request.key,
            etag=progress.etag,
            movedTo=moved_to,
            written=dict(sorted(report.written.items())),
            writtenTotal=report.written_total,
            notNewer=dict(sorted(report.not_newer.items())),
            rejectedCount=report.rejected_count,
            rejected=[
                RejectedLine(line=r.line, type=r.kind, field=r.field, rule=r.rule)
                for r in report.rejected[:MAX_NOTIFIED_REJECTS]
            ],
            daysRecounted=len(report.days),
            invocations=progress.invocations,
            reason=progress.refused,
            duplicateOf=progress.duplicate_of,
        )
        message_id = self._publish(result)
        self._move(request, progress.etag, folder, moved_to)
        if progress.duplicate_of is None:
            progress.status = "done"
            self._save(progress, progress.offset)
        return result.model_copy(update={"message_id": message_id})

    def _targets(self, request: IngestRequest, tenant: str, etag: str, folder: str) -> tuple[str, str]:
        named = incoming_name(request.key)
        assert named is not None
        name = safe_name(named[1]) or sanitised_name(named[1])
        return f"tenants/{tenant}/{folder}/{name}", f"tenants/{tenant}/{folder}/{etag}/{name}"

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


def range_lines(
    chunk: Range, first_line: int, max_line: int
) -> Callable[[], Iterator[tuple[int, bytes | RejectedRecord]]]:
    """The numbered lines of a range as the loader takes them (it reads them once per pass);
    a line over the line cap is a rejection of its own."""
    too_long = {first_line + n for n in chunk.too_long}
    rule = f"is longer than the {max_line}-byte limit (setting INGEST_MAX_LINE_BYTES)"

    def numbered() -> Iterator[tuple[int, bytes | RejectedRecord]]:
        for number, text in numbered_lines(chunk.data, first_line, too_long):
            yield number, RejectedRecord(number, None, None, None, rule) if number in too_long else text

    return numbered


def failure_reason(exc: BaseException) -> str:
    """What the tenant is told of a failure: a configuration problem in its own words, any
    other error by its type alone (its text may hold an endpoint, a path or a value)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ClientError):
        return f"AWS error {exc.response.get('Error', {}).get('Code')} in {exc.operation_name}"
    return f"internal error ({type(exc).__name__})"


def _progress_from(tenant: str, etag: str, item: dict[str, Any]) -> _Progress:
    report = LoadReport.from_dict(json.loads(item["report"]["S"]))
    report.days = [tuple(d) for d in json.loads(item.get("days", {}).get("S", "[]"))]
    # A content already ingested: nothing to load again (the loaded report stays the earlier one's).
    return _Progress(
        tenant=tenant,
        etag=etag,
        object_key=item["objectKey"]["S"],
        status=item["status"]["S"],
        encoding=item.get("encoding", {}).get("S", "plain"),
        offset=int(item["offset"]["N"]),
        line=int(item["line"]["N"]),
        invocations=int(item["invocations"]["N"]),
        report=report,
        refused=item.get("refused", {}).get("S"),
    )
