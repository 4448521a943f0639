"""The adapters offboarding reads and removes a tenant's things with, over fake clients that
answer in several pages (the local stack answers these in one): S3 versions and uploads, a
tenant's schedules, the prefix Scan."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tracking_export_aws.aws.s3_versions import (
    NULL_VERSION,
    PendingUpload,
    StoredVersion,
    VersionsNotDeleted,
    delete_versions,
    listed_versions,
    pending_uploads,
)
from tracking_export_aws.aws.scheduler import schedule_name, tenant_schedule_names
from tracking_export_aws.aws.table_scan import delete_items, scan_prefix


class _Errors:
    class NoSuchBucket(Exception):
        pass

    class ResourceNotFoundException(Exception):
        pass


class S3:
    exceptions = _Errors

    def __init__(self) -> None:
        self.listed: list[dict[str, Any]] = []
        self.deleted: list[list[dict[str, str]]] = []
        self.refuse: set[str] = set()

    def list_object_versions(self, **request: Any) -> dict[str, Any]:
        self.listed.append(request)
        if "KeyMarker" not in request:
            return {
                "Versions": [{"Key": "tenants/acme/a.csv", "VersionId": "null"}],
                "DeleteMarkers": [{"Key": "tenants/acme/b.xml", "VersionId": "v9"}],
                "IsTruncated": True,
                "NextKeyMarker": "tenants/acme/b.xml",
                "NextVersionIdMarker": "v9",
            }
        return {"Versions": [{"Key": "tenants/acme/c.xml", "VersionId": "v2"}], "IsTruncated": False}

    def list_multipart_uploads(self, **request: Any) -> dict[str, Any]:
        if "KeyMarker" not in request:
            return {
                "Uploads": [{"Key": "tenants/acme/x", "UploadId": "u1"}],
                "IsTruncated": True,
                "NextKeyMarker": "tenants/acme/x",
                "NextUploadIdMarker": "u1",
            }
        assert request["UploadIdMarker"] == "u1"
        return {"Uploads": [{"Key": "tenants/acme/y", "UploadId": "u2"}], "IsTruncated": False}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.deleted.append(Delete["Objects"])
        errors = [{**o, "Code": "AccessDenied"} for o in Delete["Objects"] if o["Key"] in self.refuse]
        return {"Errors": errors} if errors else {}


def test_every_version_and_delete_marker_is_listed_across_pages() -> None:
    s3 = S3()
    assert list(listed_versions(s3, "b", "tenants/acme/")) == [
        StoredVersion("tenants/acme/a.csv", NULL_VERSION),
        StoredVersion("tenants/acme/b.xml", "v9", delete_marker=True),
        StoredVersion("tenants/acme/c.xml", "v2"),
    ]
    assert s3.listed[1] == {
        "Bucket": "b",
        "Prefix": "tenants/acme/",
        "KeyMarker": "tenants/acme/b.xml",
        "VersionIdMarker": "v9",
    }
    assert pending_uploads(s3, "b", "tenants/acme/") == [
        PendingUpload("tenants/acme/x", "u1"),
        PendingUpload("tenants/acme/y", "u2"),
    ]


def test_versions_are_deleted_by_id_a_thousand_a_request_and_a_refusal_is_raised() -> None:
    s3 = S3()
    versions = [StoredVersion(f"tenants/acme/{n}", f"v{n}") for n in range(2500)]
    assert delete_versions(s3, "b", [StoredVersion("tenants/acme/plain", NULL_VERSION), *versions]) == 2501
    assert [len(batch) for batch in s3.deleted] == [1000, 1000, 501]
    # An unversioned bucket's object is deleted by its key (its version id is "null").
    assert s3.deleted[0][:2] == [{"Key": "tenants/acme/plain"}, {"Key": "tenants/acme/0", "VersionId": "v0"}]
    s3.refuse = {"tenants/acme/7"}
    with pytest.raises(
        VersionsNotDeleted, match=r"1 version\(s\) not deleted: tenants/acme/7 \(v7\): AccessDenied"
    ):
        delete_versions(s3, "b", versions[:10])


class Scheduler:
    exceptions = _Errors

    def __init__(self, schedules: dict[str, str | None]) -> None:
        self.schedules = schedules  # name -> the tenant its input names
        self.prefixes: list[str] = []

    def list_schedules(self, GroupName: str, NamePrefix: str, NextToken: str | None = None) -> dict[str, Any]:
        self.prefixes.append(NamePrefix)
        names = sorted(n for n in self.schedules if n.startswith(NamePrefix))
        page, rest = (names[:2], names[2:]) if NextToken is None else (names[2:], [])
        return {"Schedules": [{"Name": n} for n in page], **({"NextToken": "2"} if rest else {})}

    def get_schedule(self, Name: str, GroupName: str) -> dict[str, Any]:
        tenant = self.schedules[Name]
        if tenant == "gone":
            raise _Errors.ResourceNotFoundException()
        return {"Name": Name, "Target": {"Input": json.dumps({"tenantId": tenant}) if tenant else "not json"}}


def test_a_tenants_schedules_are_those_whose_input_names_it() -> None:
    scheduler = Scheduler(
        {
            "acme--daily": "acme",
            "acme--weekly": "acme",
            "acme--b--x": "acme--b",  # another tenant whose names start like acme's
            "acme--broken": None,  # no readable input: not provably acme's
            "acme--deleted": "gone",  # deleted between the listing and the read
            "acme-2--daily": "acme-2",
        }
    )
    assert tenant_schedule_names(scheduler, "g", "acme") == ["acme--daily", "acme--weekly"]
    assert set(scheduler.prefixes) == {"acme--"}
    # A long tenant id: the listing prefix is the part a hashed name keeps (47 characters).
    long_tenant = "t" * 60
    hashed = schedule_name(long_tenant, "nightly")
    assert len(hashed) == 64 and long_tenant not in hashed
    scheduler = Scheduler({hashed: long_tenant})
    assert tenant_schedule_names(scheduler, "g", long_tenant) == [hashed]
    assert scheduler.prefixes == ["t" * 47]


class Table:
    """A table of ``pk``/``sk`` items Scan answers in pages of two, per segment."""

    def __init__(self, pks: list[str]) -> None:
        self.items = [{"pk": {"S": pk}, "sk": {"S": "R"}} for pk in pks]
        self.requests: list[dict[str, Any]] = []
        self.written: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def scan(self, **request: Any) -> dict[str, Any]:
        with self.lock:
            self.requests.append(request)
        mine = self.items[request["Segment"] :: request["TotalSegments"]]
        start = int(request.get("ExclusiveStartKey", {}).get("n", 0))
        page = mine[start : start + 2]
        prefix = request["ExpressionAttributeValues"][":prefix"]["S"]
        answer: dict[str, Any] = {
            "Items": [i for i in page if i["pk"]["S"].startswith(prefix)],
            "ScannedCount": len(page),
            "ConsumedCapacity": {"CapacityUnits": 1.0},
        }
        if start + 2 < len(mine):
            answer["LastEvaluatedKey"] = {"n": start + 2}
        return answer

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (requests,) = RequestItems.values()
        self.written.append(requests)
        return {}


def test_the_prefix_scan_reads_every_segment_to_its_end_and_keeps_only_the_prefix() -> None:
    table = Table([f"T#acme#L#{n}" for n in range(7)] + [f"T#acme-2#L#{n}" for n in range(5)])
    pages: list[list[str]] = []
    lock = threading.Lock()

    def keep(items: list[dict[str, Any]]) -> None:
        with lock:
            pages.append([i["pk"]["S"] for i in items])

    stats = scan_prefix(table, "t", "T#acme#", keep, segments=3)
    assert sorted(pk for page in pages for pk in page) == sorted(f"T#acme#L#{n}" for n in range(7))
    assert (stats.scanned, stats.matched) == (12, 7)
    assert stats.read_units == len(table.requests)
    request = table.requests[0]
    assert (
        request["FilterExpression"] == "begins_with(#a0, :prefix)"
        and request["ExpressionAttributeNames"]["#a0"] == "pk"
    )
    assert request["ConsistentRead"] is True and request["TotalSegments"] == 3
    assert {r["Segment"] for r in table.requests} == {0, 1, 2}


def test_items_are_deleted_by_key_25_a_request() -> None:
    table = Table([])
    items = [{"pk": {"S": f"T#acme#{n}"}, "sk": {"S": "R"}, "other": {"S": "x"}} for n in range(60)]
    assert delete_items(table, "t", items) == 60
    assert [len(batch) for batch in table.written] == [25, 25, 10]
    assert table.written[0][0] == {"DeleteRequest": {"Key": {"pk": {"S": "T#acme#0"}, "sk": {"S": "R"}}}}
