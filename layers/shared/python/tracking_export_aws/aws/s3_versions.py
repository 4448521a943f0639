"""Every stored version of the objects under a prefix, and their removal for good.

Lists with ListObjectVersions, which answers for a versioned bucket (each version and delete
marker) and for an unversioned one (each object once, version ``null``) alike; removes with
DeleteObjects naming each version, so nothing is left behind (no delete marker is created).
Unfinished multipart uploads under the prefix are found and aborted too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws.dynamo import chunks

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

DELETE_OBJECTS_LIMIT = 1000
# The version id S3 gives the objects of a bucket that was never versioned.
NULL_VERSION = "null"


class BucketMissing(LookupError):
    """The bucket does not exist."""


class VersionsNotDeleted(RuntimeError):
    """S3 refused to delete some versions; the message names the first few and why."""


@dataclass(frozen=True)
class StoredVersion:
    """One version of one object, or one delete marker."""

    key: str
    version_id: str
    delete_marker: bool = False


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str


def listed_versions(s3: S3Client, bucket: str, prefix: str) -> Iterator[StoredVersion]:
    """Every version and delete marker of every key under ``prefix``; BucketMissing without the bucket."""
    marker: dict[str, Any] = {}
    while True:
        try:
            page = s3.list_object_versions(Bucket=bucket, Prefix=prefix, **marker)
        except s3.exceptions.NoSuchBucket:
            raise BucketMissing(bucket) from None
        for item in page.get("Versions", []):
            yield StoredVersion(item["Key"], str(item.get("VersionId") or NULL_VERSION))
        for marked in page.get("DeleteMarkers", []):
            yield StoredVersion(marked["Key"], str(marked["VersionId"]), delete_marker=True)
        if not page.get("IsTruncated"):
            return
        marker = {"KeyMarker": page["NextKeyMarker"]}
        if page.get("NextVersionIdMarker"):
            marker["VersionIdMarker"] = page["NextVersionIdMarker"]


def delete_versions(s3: S3Client, bucket: str, versions: Iterable[StoredVersion]) -> int:
    """Delete each version for good (1,000 a request); returns how many. VersionsNotDeleted when
    S3 refuses some (after the others of the request are gone)."""
    deleted = 0
    for batch in chunks(versions, DELETE_OBJECTS_LIMIT):
        objects: list[ObjectIdentifierTypeDef] = [
            {"Key": v.key} if v.version_id == NULL_VERSION else {"Key": v.key, "VersionId": v.version_id}
            for v in batch
        ]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        errors = response.get("Errors") or []
        if errors:
            shown = "; ".join(f"{e.get('Key')} ({e.get('VersionId')}): {e.get('Code')}" for e in errors[:5])
            raise VersionsNotDeleted(f"s3://{bucket}: {len(errors)} version(s) not deleted: {shown}")
        deleted += len(batch)
    return deleted


def pending_uploads(s3: S3Client, bucket: str, prefix: str) -> list[PendingUpload]:
    """The multipart uploads started under ``prefix`` and neither completed nor aborted."""
    found: list[PendingUpload] = []
    marker: dict[str, Any] = {}
    while True:
        try:
            page = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, **marker)
        except s3.exceptions.NoSuchBucket:
            raise BucketMissing(bucket) from None
        found.extend(PendingUpload(u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
        if not page.get("IsTruncated"):
            return found
        marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}


def abort_uploads(s3: S3Client, bucket: str, uploads: Iterable[PendingUpload]) -> int:
    """Abort each upload (its parts are freed); returns how many."""
    aborted = 0
    for upload in uploads:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=upload.key, UploadId=upload.upload_id)
        except s3.exceptions.NoSuchUpload:
            continue  # completed or aborted since it was listed
        aborted += 1
    return aborted
