"""Streams an export file into one S3 object: multipart parts as the rows come, never a partial object.

The object appears only on ``complete()``; any failure aborts the multipart upload. While
one part uploads in a background thread the next one fills, so memory holds at most two
parts (a full part is handed to the upload as it is, not copied). A file smaller than one
part (zero bytes included) is written with one ``PutObject``.

Nothing is ever overwritten: ``PutObject`` and ``CompleteMultipartUpload`` carry
``If-None-Match: *``, so S3 refuses (412) to create an object whose key exists; the sink then
raises :class:`ObjectExists` after aborting its upload. Objects carry metadata naming the run
that wrote them (``export-run``), so a retry of that run can recognise its own object.

Adopting one's own earlier object lives here, once (:func:`adopt_own_object`): a write that
S3 refused because the key is taken looks at the object's ``export-run``; when it names the
same run (an attempt that died after writing it), the object is the run's, reported with the
digest and size of the bytes S3 holds. Anyone else's object raises ObjectExists. The sink
(:meth:`MultipartSink.store`), the end file (:func:`put_object_once`) and the distributed
run's assembly (``s3_objects.assemble_object``) all go through it.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
# Parts of S3's minimum size: the sink holds about two (one filling, one in flight), so this is
# most of the memory an export's upload takes; 10,000 of them still make a 48 GiB object.
PART_SIZE = MIN_PART_SIZE


RUN_METADATA = "export-run"  # x-amz-meta-export-run: the run that wrote the object


class SinkClosedError(RuntimeError):
    """write/complete after the sink was completed or aborted."""


class ObjectExists(RuntimeError):
    """The key already holds an object; it was left untouched."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"s3://{bucket}/{key} already exists; it is never overwritten")


@dataclass(frozen=True)
class StoredObject:
    """An object a run wrote: its key, the SHA-256 and size of the bytes S3 holds, and whether it
    was adopted (an earlier attempt of the same run had written it)."""

    key: str
    sha256: str
    size: int
    adopted: bool = False


def is_precondition_failed(error: BaseException) -> bool:
    """S3 refused a conditional write (``If-None-Match: *``): the key holds an object."""
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "412") or status == 412


def put_if_absent(client: S3Client, bucket: str, key: str, body: bytes, **extra: Any) -> str:
    """``PutObject`` (``extra``: ContentType, Metadata, Tagging…) that never replaces an object;
    returns the ETag, or raises ObjectExists when the key is taken."""
    try:
        response = client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", **extra)
    except Exception as error:
        if is_precondition_failed(error):
            raise ObjectExists(bucket, key) from None
        raise
    return str(response["ETag"])


def put_object_once(
    client: S3Client, bucket: str, key: str, body: bytes, *, run_id: str, tags: dict[str, str] | None = None
) -> StoredObject:
    """Write a small object (an end file) for run ``run_id``, with ``tags`` (its lifecycle tag),
    never over another object: this run's own earlier object is adopted, anyone else's raises
    ObjectExists."""
    extra: dict[str, Any] = {"Tagging": urlencode(tags)} if tags else {}
    try:
        put_if_absent(client, bucket, key, body, Metadata={RUN_METADATA: run_id}, **extra)
    except ObjectExists:
        return adopt_own_object(client, bucket, key, run_id)
    return StoredObject(key, hashlib.sha256(body).hexdigest(), len(body))


def free_for_run(client: S3Client, bucket: str, key: str, run_id: str) -> bool:
    """Whether run ``run_id`` may write ``key``: no object holds it, or this run's own does."""
    metadata = object_metadata(client, bucket, key)
    return metadata is None or metadata.get(RUN_METADATA) == run_id


def adopt_own_object(client: S3Client, bucket: str, key: str, run_id: str) -> StoredObject:
    """After S3 refused to create ``key`` (it exists): the object, adopted when its ``export-run``
    metadata names ``run_id`` (its stored bytes' digest and size); ObjectExists otherwise."""
    metadata = object_metadata(client, bucket, key)
    if metadata is None or metadata.get(RUN_METADATA) != run_id:
        raise ObjectExists(bucket, key)  # gone again, or anyone else's: never replaced
    sha256, size = stored_digest(client, bucket, key)
    return StoredObject(key, sha256, size, adopted=True)


def object_metadata(client: S3Client, bucket: str, key: str) -> dict[str, str] | None:
    """The object's user metadata; None when there is no object at ``key``."""
    try:
        response = client.head_object(Bucket=bucket, Key=key)
    except Exception as error:
        status = (getattr(error, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            return None
        # S3 answers 403 for a missing key unless the caller may list the bucket without a
        # prefix; a listing of the key's own prefix tells whether it exists.
        if status == 403 and not _key_is_listed(client, bucket, key):
            return None
        raise
    return {k.lower(): v for k, v in (response.get("Metadata") or {}).items()}


def _key_is_listed(client: S3Client, bucket: str, key: str) -> bool:
    response = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item.get("Key") == key for item in response.get("Contents", []))


def stored_digest(client: S3Client, bucket: str, key: str, chunk: int = MIB) -> tuple[str, int]:
    """SHA-256 hex and size of the bytes S3 holds at ``key``, read as a stream."""
    digest = hashlib.sha256()
    size = 0
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    for piece in iter(lambda: body.read(chunk), b""):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


class MultipartSink:
    """A write-only file object backed by an S3 multipart upload.

    It completes only if the key is absent (If-None-Match), unless ``if_absent=False``: an
    internal work file that a retried step rewrites (the distributed path's ``_work/`` shards).
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        part_size: int = PART_SIZE,
        content_type: str = "text/csv",
        tags: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        overlap: bool = True,
        if_absent: bool = True,
        run_id: str | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part size)")
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.content_type = content_type
        self.tagging = urlencode(tags) if tags else None
        self.metadata = dict(metadata or {})
        # The run that writes the object: named in its metadata, so a retry recognises it.
        self.run_id = run_id
        if run_id is not None:
            self.metadata[RUN_METADATA] = run_id
        self.upload_id: str | None = None
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._parts: list[CompletedPartTypeDef] = []
        self._pending: Future[CompletedPartTypeDef] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part") if overlap else None
        self._closed = False
        self._condition: dict[str, Any] = {"IfNoneMatch": "*"} if if_absent else {}

    @property
    def bytes_written(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        if self._closed:
            raise SinkClosedError(f"s3://{self.bucket}/{self.key} is already completed or aborted")
        self._sha256.update(data)
        self._size += len(data)
        self._buffer += data
        try:
            while len(self._buffer) >= self.part_size:
                # The buffer itself becomes the part; only what overflows it (less than one
                # write) is copied into the next buffer.
                part = self._buffer
                with memoryview(part) as view:
                    self._buffer = bytearray(view[self.part_size :])
                del part[self.part_size :]
                self._upload(part)
        except BaseException as error:
            self._fail(error)
            raise
        return len(data)

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"ContentType": self.content_type, "Metadata": self.metadata}
        if self.tagging:
            extra["Tagging"] = self.tagging
        return extra

    def _upload_part(self, number: int, body: bytes | bytearray) -> CompletedPartTypeDef:
        assert self.upload_id is not None
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,  # type: ignore[arg-type]  # a bytearray is sent as bytes are (no copy)
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _collect(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._parts.append(pending.result())

    def _upload(self, body: bytes | bytearray) -> None:
        if self.upload_id is None:
            response = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self._extra())
            self.upload_id = response["UploadId"]
        self._collect()  # at most one part in flight
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"more than {MAX_PARTS} parts: raise part_size")
        if self._pool is None:
            self._parts.append(self._upload_part(number, body))
        else:
            self._pending = self._pool.submit(self._upload_part, number, body)

    def complete(self) -> tuple[str, str, int]:
        """Finish the object; returns (ETag, SHA-256 hex of the whole object, size in bytes).

        ObjectExists (after aborting) when the key was taken meanwhile: nothing is replaced.
        """
        if self._closed:
            raise SinkClosedError(f"s3://{self.bucket}/{self.key} is already completed or aborted")
        try:
            if self.upload_id is None:
                body = bytes(self._buffer)
                if self._condition:
                    etag = put_if_absent(self.client, self.bucket, self.key, body, **self._extra())
                else:
                    etag = self.client.put_object(
                        Bucket=self.bucket, Key=self.key, Body=body, **self._extra()
                    )["ETag"]
            else:
                if self._buffer:
                    self._upload(bytes(self._buffer))
                self._collect()
                response = self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self._parts},
                    **self._condition,
                )
                etag = response["ETag"]
        except BaseException as error:
            self._fail(error)
            if is_precondition_failed(error):
                raise ObjectExists(self.bucket, self.key) from None
            raise
        self._buffer = bytearray()
        self._close()
        return etag, self._sha256.hexdigest(), self._size

    def store(self) -> StoredObject:
        """:meth:`complete`, as the run's object: when the key already holds this run's own
        object (``run_id``), that object is adopted; anyone else's raises ObjectExists."""
        try:
            _, sha256, size = self.complete()
        except ObjectExists:
            if self.run_id is None:
                raise
            return adopt_own_object(self.client, self.bucket, self.key, self.run_id)
        return StoredObject(self.key, sha256, size)

    def abort(self) -> None:
        """Drop everything written so far; the object never appears. Safe to call twice."""
        if self._closed:
            return
        self._close()
        if self._pending is not None:
            # Let the in-flight part finish (or fail) so the abort really removes every part.
            self._pending.exception()
            self._pending = None
        self._buffer = bytearray()
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)

    def _fail(self, error: BaseException) -> None:
        """Abort after a failure; the original error stays the one raised."""
        try:
            self.abort()
        except Exception as abort_error:
            # The bucket's AbortIncompleteMultipartUpload lifecycle rule cleans up what is left.
            error.add_note(f"aborting the multipart upload failed too: {abort_error}")

    def _close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> MultipartSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Leaving without complete() is a failure too: nothing half-written becomes visible.
        if not self._closed:
            self.abort()
