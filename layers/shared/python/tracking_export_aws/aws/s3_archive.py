"""Moving an export bucket object to another key: a copy that never replaces an object, then the
delete of the original (``<archive>``, runs/archive.py).

S3 has no rename. :func:`move_object` copies with ``If-None-Match: *`` (S3 refuses, 412, to
create a key that exists) and ``x-amz-copy-source-if-match`` (the copy is of the object that
was looked at), then deletes the original. The move is idempotent: a copy already at a
candidate key that names the same run (``export-run`` metadata) and has the same size is the
move's own earlier copy (a crash between copy and delete, a concurrent move of the same
object), so only the delete is left to do. A key that holds anything else is never
replaced: the next candidate is tried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tracking_export_aws.aws.s3_objects import part_plan
from tracking_export_aws.aws.s3_sink import MIB, RUN_METADATA, ObjectExists, is_precondition_failed

# CopyObject's largest source; a larger object is copied in parts (UploadPartCopy).
MAX_SINGLE_COPY = 5 * 1024 * MIB


@dataclass(frozen=True)
class ObjectHead:
    """What HeadObject says of an object: enough to copy it and to recognise a copy of it."""

    key: str
    etag: str
    size: int
    last_modified: datetime
    content_type: str | None
    metadata: dict[str, str]

    @property
    def run_id(self) -> str | None:
        """The run that wrote the object (``export-run``); None for an object no run wrote."""
        return self.metadata.get(RUN_METADATA)


def head(s3: Any, bucket: str, key: str) -> ObjectHead | None:
    """The object at ``key``; None when there is none."""
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except Exception as error:
        status = (getattr(error, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            return None
        raise
    return ObjectHead(
        key=key,
        etag=str(response["ETag"]),
        size=int(response["ContentLength"]),
        last_modified=response["LastModified"],
        content_type=response.get("ContentType"),
        metadata={k.lower(): v for k, v in (response.get("Metadata") or {}).items()},
    )


def child_keys(s3: Any, bucket: str, folder: str) -> list[str]:
    """The keys directly in ``folder`` (a prefix ending in ``/``), not those of its sub-folders."""
    found: list[str] = []
    token: dict[str, Any] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=folder, Delimiter="/", **token)
        found.extend(item["Key"] for item in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return found
        token = {"ContinuationToken": page["NextContinuationToken"]}


def move_object(
    s3: Any,
    bucket: str,
    source: ObjectHead,
    candidates: Sequence[str],
    *,
    tags: Mapping[str, str],
    max_single_copy: int = MAX_SINGLE_COPY,
) -> str | None:
    """Move ``source`` to the first of ``candidates`` that is free (or already holds this move's
    copy) and delete the original; returns the key it went to, or None when every candidate
    holds another object (``source`` then stays where it is). The copy keeps the metadata and
    Content-Type and carries ``tags`` (its lifecycle tag) instead of the original's."""
    for candidate in candidates:
        if _copied(s3, bucket, source, candidate, tags, max_single_copy):
            # A key already gone (a concurrent move deleted it) is no error for DeleteObject.
            s3.delete_object(Bucket=bucket, Key=source.key)
            return candidate
    return None


def _copied(
    s3: Any, bucket: str, source: ObjectHead, key: str, tags: Mapping[str, str], max_single_copy: int
) -> bool:
    """Whether ``key`` now holds the copy of ``source``: copied now, or by an earlier attempt."""
    existing = head(s3, bucket, key)
    if existing is None:
        try:
            copy_if_absent(s3, bucket, source, key, tags=tags, max_single_copy=max_single_copy)
            return True
        except ObjectExists:
            existing = head(s3, bucket, key)  # taken meanwhile: by whom?
            if existing is None:
                raise
    return _same_object(existing, source)


def _same_object(copy: ObjectHead, source: ObjectHead) -> bool:
    return copy.run_id is not None and copy.run_id == source.run_id and copy.size == source.size


def copy_if_absent(
    s3: Any,
    bucket: str,
    source: ObjectHead,
    key: str,
    *,
    tags: Mapping[str, str],
    max_single_copy: int = MAX_SINGLE_COPY,
) -> None:
    """Copy ``source`` to ``key`` only if ``key`` holds no object (ObjectExists otherwise) and
    only while ``source`` is the object looked at (its ETag): one CopyObject, or a multipart
    copy above ``max_single_copy`` bytes, completed with If-None-Match."""
    copy_source = {"Bucket": bucket, "Key": source.key}
    tagging = urlencode(dict(tags))
    try:
        if source.size <= max_single_copy:
            s3.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource=copy_source,
                CopySourceIfMatch=source.etag,
                IfNoneMatch="*",
                MetadataDirective="COPY",
                TaggingDirective="REPLACE",
                Tagging=tagging,
            )
            return
        _copy_in_parts(s3, bucket, source, key, tagging)
    except Exception as error:
        if not is_precondition_failed(error):
            raise
        if head(s3, bucket, key) is None:
            raise  # the source changed (or went) since it was looked at: nothing was copied
        raise ObjectExists(bucket, key) from None


def _copy_in_parts(s3: Any, bucket: str, source: ObjectHead, key: str, tagging: str) -> None:
    extra: dict[str, Any] = {"Metadata": source.metadata}
    if source.content_type:
        extra["ContentType"] = source.content_type
    if tagging:
        extra["Tagging"] = tagging
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    try:
        parts = []
        for number, ranges in enumerate(part_plan([(source.key, source.size)]), start=1):
            (_, start, end) = ranges[0]  # one source: every part is one range of it
            response = s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": bucket, "Key": source.key},
                CopySourceIfMatch=source.etag,
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
            parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
