"""``<archive>``'s pieces (runs/archive.py, aws/s3_archive.py): archive names, the archived copy's
lifecycle tag, and the move — conditional copy (single and in parts), the move's own earlier
copy recognised, names taken — over moto in-process. The runs themselves: tests/integration/
test_archive.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tracking_export_aws.aws.s3_archive import ObjectHead, head, move_object
from tracking_export_aws.aws.s3_sink import MIB, RUN_METADATA
from tracking_export_aws.runs.archive import archive_names, archive_tags, split_extension

BUCKET = "exports"
NOW = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
RUN = "acme/daily/2026-03-03T01:00:00.000000Z"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _put(s3: Any, key: str, body: bytes, run: str | None = RUN, **extra: Any) -> ObjectHead:
    metadata = {RUN_METADATA: run} if run else {}
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata, **extra)
    found = head(s3, BUCKET, key)
    assert found is not None
    return found


def _calls(s3: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` call the client makes from now on."""
    seen: list[dict[str, Any]] = []
    s3.meta.events.register(
        f"before-parameter-build.s3.{operation}", lambda params, **_: seen.append(dict(params))
    )
    return seen


def _tags(s3: Any, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_archive_names_keep_the_name_then_add_the_run_time_then_a_number() -> None:
    names = archive_names("daily.csv.gz", "2026-03-04T01:00:00.000000Z")
    assert names[:3] == ["daily.csv.gz", "daily-20260304T010000Z.csv.gz", "daily-20260304T010000Z-2.csv.gz"]
    assert names[-1] == "daily-20260304T010000Z-9.csv.gz" and len(names) == len(set(names)) == 10


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("a.csv", ("a", ".csv")),
        ("a.tsv.gz", ("a", ".tsv.gz")),
        ("a.gz", ("a", ".gz")),
        ("done", ("done", "")),
        ("export.v2.done", ("export.v2", ".done")),
    ],
)
def test_split_extension(name: str, parts: tuple[str, str]) -> None:
    assert split_extension(name) == parts


@pytest.mark.parametrize(
    ("age", "tag"),
    [
        (timedelta(hours=3), "30"),  # none of the 30 days used
        (timedelta(days=10, hours=12), "20"),  # 10 whole days used: 20 left
        (timedelta(days=29, hours=23), "1"),  # less than one day left: at least 1
        (timedelta(days=40), "1"),  # overdue (the rule had not run yet): at least 1
        (timedelta(days=-1), "30"),  # a clock behind S3's: nothing used
    ],
)
def test_an_archived_copy_keeps_the_days_its_original_had_left(age: timedelta, tag: str) -> None:
    source = ObjectHead("k", '"e"', 1, NOW - age, "text/csv", {})
    tags = {"tenant": "acme", "export": "daily", "clean-older-than": "30"}
    assert archive_tags(tags, source, NOW) == {**tags, "clean-older-than": tag}


def test_the_days_left_are_rounded_up_to_a_lifecycle_rule() -> None:
    source = ObjectHead("k", '"e"', 1, NOW - timedelta(days=50), "text/csv", {})
    # 90 - 50 = 40 days left; the next rule is 45 days: never earlier than asked.
    assert archive_tags({"clean-older-than": "90"}, source, NOW) == {"clean-older-than": "45"}
    # No cleanFolder: no tag, the copy is kept.
    assert archive_tags({"tenant": "acme"}, source, NOW) == {"tenant": "acme"}


def test_a_move_copies_only_if_absent_and_only_the_object_looked_at(s3: Any) -> None:
    source = _put(s3, "tenants/acme/out/a.csv", b"rows", ContentType="text/csv")
    copies = _calls(s3, "CopyObject")
    moved = move_object(
        s3, BUCKET, source, ["tenants/acme/out/archive/a.csv"], tags={"clean-older-than": "7"}
    )
    assert moved == "tenants/acme/out/archive/a.csv"
    [copy] = copies
    assert copy["IfNoneMatch"] == "*" and copy["CopySourceIfMatch"] == source.etag
    assert (copy["MetadataDirective"], copy["TaggingDirective"]) == ("COPY", "REPLACE")
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    archived = head(s3, BUCKET, moved)
    assert archived is not None and archived.run_id == RUN and archived.content_type == "text/csv"
    assert s3.get_object(Bucket=BUCKET, Key=moved)["Body"].read() == b"rows"
    assert _tags(s3, moved) == {"clean-older-than": "7"}


def test_a_large_object_is_copied_in_parts_with_its_metadata(s3: Any) -> None:
    body = bytes(range(256)) * (6 * MIB // 256 + 3)
    source = _put(s3, "tenants/acme/out/big.csv", body, ContentType="text/csv")
    completes = _calls(s3, "CompleteMultipartUpload")
    moved = move_object(
        s3, BUCKET, source, ["tenants/acme/out/archive/big.csv"], tags={"t": "1"}, max_single_copy=MIB
    )
    assert moved is not None
    [complete] = completes
    assert complete["IfNoneMatch"] == "*"
    assert s3.get_object(Bucket=BUCKET, Key=moved)["Body"].read() == body
    archived = head(s3, BUCKET, moved)
    assert archived is not None and archived.run_id == RUN and archived.content_type == "text/csv"
    assert _tags(s3, moved) == {"t": "1"}
    assert head(s3, BUCKET, source.key) is None
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_the_moves_own_earlier_copy_is_recognised_and_only_the_delete_is_left(s3: Any) -> None:
    source = _put(s3, "tenants/acme/out/a.csv", b"rows")
    _put(s3, "tenants/acme/out/archive/a.csv", b"rows")  # a crash came between copy and delete
    copies = _calls(s3, "CopyObject")
    assert move_object(s3, BUCKET, source, ["tenants/acme/out/archive/a.csv"], tags={}) == (
        "tenants/acme/out/archive/a.csv"
    )
    assert copies == [] and head(s3, BUCKET, source.key) is None


def test_a_taken_name_is_never_replaced(s3: Any) -> None:
    source = _put(s3, "tenants/acme/out/a.csv", b"rows")
    # Another run's file, and one of the same run but other bytes: neither is this move's copy.
    _put(s3, "tenants/acme/out/archive/a.csv", b"older", run="acme/daily/2026-03-01T01:00:00.000000Z")
    _put(s3, "tenants/acme/out/archive/a-2.csv", b"rows and more")
    candidates = ["tenants/acme/out/archive/a.csv", "tenants/acme/out/archive/a-2.csv"]
    assert move_object(s3, BUCKET, source, candidates, tags={}) is None
    assert s3.get_object(Bucket=BUCKET, Key=source.key)["Body"].read() == b"rows"  # stays
    moved = move_object(s3, BUCKET, source, [*candidates, "tenants/acme/out/archive/a-3.csv"], tags={})
    assert moved == "tenants/acme/out/archive/a-3.csv"
    assert s3.get_object(Bucket=BUCKET, Key=candidates[0])["Body"].read() == b"older"
    assert s3.get_object(Bucket=BUCKET, Key=candidates[1])["Body"].read() == b"rows and more"


def test_the_functions_count_archive_failures_in_the_service_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from emf_documents import emf_documents, metric
    from function_environments import template_settings

    from tracking_export_aws.runtime import wiring
    from tracking_export_aws.runtime.metrics import count_archive_failures
    from tracking_export_aws.runtime.settings import CoordinatorSettings, ExportSettings

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tracking-export")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TrackingExport")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    count_archive_failures(2)
    documents = emf_documents(capsys.readouterr().out)
    assert metric(documents, "ArchiveFailures") == [{"service": "tracking-export", "value": 2}]
    assert documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TrackingExport"
    # Both functions that finish runs are wired to it.
    export = wiring.export_service(template_settings(ExportSettings, region="us-east-1"))
    assert export.on_archive_failures is count_archive_failures
    coordinator = wiring.coordinator(template_settings(CoordinatorSettings, region="us-east-1"))
    assert coordinator.on_archive_failures is count_archive_failures


def test_an_earlier_replays_file_is_archived_by_the_time_it_replays() -> None:
    """A replay's objects name their run ``{tenant}/{export}/{time}/replay/{id}``: a later run
    archives them as any earlier run's; a later time's, another export's or the same time's stay."""
    from tracking_export_aws.runs.archive import _older_run_time

    this_run = "2026-03-05T01:00:00.000000Z"

    def older(run: str) -> str | None:
        source = ObjectHead("k", '"e"', 1, NOW, "text/csv", {RUN_METADATA: run})
        return _older_run_time(source, "acme", "daily", this_run)

    assert older("acme/daily/2026-03-04T01:00:00.000000Z/replay/r1") == "2026-03-04T01:00:00.000000Z"
    assert older("acme/daily/2026-03-04T01:00:00.000000Z") == "2026-03-04T01:00:00.000000Z"
    assert older("acme/daily/2026-03-05T01:00:00.000000Z/replay/r1") is None
    assert older("acme/daily/2026-03-06T01:00:00.000000Z/replay/r1") is None
    assert older("acme/weekly/2026-03-04T01:00:00.000000Z/replay/r1") is None
