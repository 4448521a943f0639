"""S3 objects beyond the export sink: the keys under a prefix, an object assembled server-side
from pieces (a distributed run's shards), the distributed run's small work objects, and the
clean-up of a run's work prefix and of an assembly's leftover multipart uploads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tracking_export_aws.aws.s3_sink import (
    MIB,
    MIN_PART_SIZE,
    RUN_METADATA,
    StoredObject,
    adopt_own_object,
    is_precondition_failed,
    stored_digest,
)

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

# The export bucket's internal area (distributed runs' manifests and shards), never under the
# tenants' ``tenants/``: the only prefix delete_prefix removes.
WORK_PREFIX = "_work/"
MAX_COPY_PART = 5 * 1024 * MIB  # UploadPartCopy's largest part
READ_CHUNK = 8 * MIB


# Defined beside the work objects it is raised for, and raised by runs/ (manifest, steps) too:
# one type, whose name a failure reason may quote.
class DistributedRunError(RuntimeError):
    """A step of a distributed run cannot go on; the message says what is wrong."""


def part_plan(pieces: Sequence[tuple[str, int]]) -> list[list[tuple[str, int, int]]]:
    """The parts of the final object: each a list of (source key, first byte, end byte) ranges.

    A part made of one range of at least 5 MiB is copied server-side (UploadPartCopy); ranges
    shorter than that are gathered with the following bytes until the part reaches 5 MiB (they
    are downloaded and uploaded as one part). Only the last part may be shorter than 5 MiB.
    """
    parts: list[list[tuple[str, int, int]]] = []
    gathering: list[tuple[str, int, int]] = []
    gathered = 0
    for key, size in pieces:
        offset = 0
        if gathering:
            take = min(size, MIN_PART_SIZE - gathered)
            if take:
                gathering.append((key, 0, take))
                gathered += take
                offset = take
            if gathered >= MIN_PART_SIZE:
                parts.append(gathering)
                gathering, gathered = [], 0
        remaining = size - offset
        if remaining <= 0:
            continue
        if remaining >= MIN_PART_SIZE:
            count = -(-remaining // MAX_COPY_PART)
            step = -(-remaining // count)
            for start in range(offset, size, step):
                parts.append([(key, start, min(start + step, size))])
        else:
            gathering.append((key, offset, size))
            gathered += remaining
    if gathering:
        parts.append(gathering)
    return parts


def assemble_object(
    s3: S3Client,
    bucket: str,
    key: str,
    pieces: Sequence[tuple[str, int]],
    *,
    content_type: str,
    tags: Mapping[str, str],
    run_id: str,
) -> StoredObject:
    """Write ``key`` as the concatenation of the ``pieces`` (source key, size), atomically and only
    if it does not exist yet (If-None-Match), for run ``run_id``; returns what S3 holds (its
    SHA-256 streamed once). The run's own object (a retried step, a later attempt) is adopted;
    anyone else's raises ObjectExists."""
    total = sum(size for _, size in pieces)
    extra: dict[str, Any] = {"ContentType": content_type, "Metadata": {RUN_METADATA: run_id}}
    if tags:
        extra["Tagging"] = urlencode(dict(tags))
    try:
        if total < MIN_PART_SIZE:
            body = b"".join(_read_range(s3, bucket, k, 0, size) for k, size in pieces if size)
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", **extra)
            return StoredObject(key, hashlib.sha256(body).hexdigest(), total)
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, ranges in enumerate(part_plan(pieces), start=1):
                if len(ranges) == 1 and ranges[0][2] - ranges[0][1] >= MIN_PART_SIZE:
                    source, start, end = ranges[0]
                    response = s3.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": bucket, "Key": source},
                        CopySourceRange=f"bytes={start}-{end - 1}",
                    )
                    etag = response["CopyPartResult"]["ETag"]
                else:
                    body = b"".join(_read_range(s3, bucket, k, start, end) for k, start, end in ranges)
                    etag = s3.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                    )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
            )
        except BaseException:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
    except Exception as exc:
        if not is_precondition_failed(exc):
            raise
        return adopt_own_object(s3, bucket, key, run_id)
    # Assembled server-side, the file is never in memory whole: its digest is read back as a stream.
    return StoredObject(key, stored_digest(s3, bucket, key, READ_CHUNK)[0], total)


def _read_range(s3: S3Client, bucket: str, key: str, start: int, end: int) -> bytes:
    if end <= start:
        return b""
    body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()
    if len(body) != end - start:
        raise DistributedRunError(
            f"s3://{bucket}/{key}: expected {end - start} bytes at {start}, got {len(body)}"
        )
    return bytes(body)


def read_work_object(s3: S3Client, bucket: str, key: str) -> bytes | None:
    """The bytes of a work object (a shard's report, a step's error); None when it is absent."""
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def listed_keys(s3: S3Client, bucket: str, prefix: str) -> Iterator[str]:
    token: dict[str, Any] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
        yield from (item["Key"] for item in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return
        token = {"ContinuationToken": page["NextContinuationToken"]}


def delete_prefix(s3: S3Client, bucket: str, prefix: str) -> int:
    """Delete every object under a work prefix; returns how many."""
    if not prefix.startswith(WORK_PREFIX):
        raise DistributedRunError(f"refusing to delete outside {WORK_PREFIX}: {prefix!r}")
    deleted = 0
    batch: list[ObjectIdentifierTypeDef] = []
    for key in listed_keys(s3, bucket, prefix):
        batch.append({"Key": key})
        if len(batch) == 1000:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            deleted += len(batch)
            batch = []
    if batch:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        deleted += len(batch)
    return deleted


def abort_uploads(s3: S3Client, bucket: str, key: str) -> None:
    """Abort any multipart upload left on ``key`` (an assemble step that died half-way)."""
    response = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in response.get("Uploads", []):
        if upload.get("Key") == key:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
