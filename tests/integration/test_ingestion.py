"""Ingestion (issue 9, architecture.md "Data in and out") over moto server and dynalite.

A data-contract JSONL file dropped under ``tenants/{tenant}/incoming/`` of the ingest
bucket is loaded by the ingest function's handler (the S3 event it receives in AWS), then
moved to ``processed/`` or ``rejected/`` with one notification. Expected figures are
counted by hand from the records each test writes.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ingest_bucket import Ingest, day_counts, jsonl, table_items

from tools.sample_data import SampleShape, dataset, write_jsonl
from tracking_export import cli
from tracking_export_aws.aws.s3_events import S3ObjectEvent
from tracking_export_aws.config.results import SettingsApplied
from tracking_export_aws.ingest.retention import retention_event
from tracking_export_aws.runs.service import ExportRequest
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import ConfigSyncSettings

SEED_XML = Path(__file__).resolve().parents[1] / "fixtures" / "seed-example.xml"
PARIS = {"timezone": "Europe/Paris"}


def export(stack: Any, guid: str, run_at: str) -> bytes:
    service = wiring.export_service(stack.settings())
    result = service.run(ExportRequest.from_event({"tenantId": "acme", "exportGuid": guid, "runAt": run_at}))
    assert result.outcome == "succeeded" and result.objectKey is not None, result
    return bytes(stack.read(result.objectKey))


def render(tmp_path: Path, dataset_path: Path, run_at: str) -> bytes:
    out = tmp_path / "preview.csv"
    argv = ["render", "--definition", str(SEED_XML), "--dataset", str(dataset_path), "--tenant", "acme"]
    argv += ["--timezone", "Europe/Paris", "--now", run_at, "--output", str(out)]
    assert cli.main(argv) == 0
    return out.read_bytes()


# --- the ingested data exports exactly like the preview ------------------------------------------


def test_a_file_split_into_ranges_exports_exactly_what_render_gives(
    stack: Any, ingest_for: Callable[..., Ingest], tmp_path: Path
) -> None:
    shape = SampleShape(
        learners=40,
        trainings=3,
        contents=12,
        trackings=300,
        logs=900,
        logs_per_day=150,
        last_day=date(2020, 2, 20),
        unlaunched_every=10,
    )
    path = tmp_path / "acme.jsonl"
    count = write_jsonl(dataset(shape), path)
    size = path.stat().st_size
    ingest = ingest_for(stack, max_bytes=size // 5 + 1)  # ranges end on a line: six of them
    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "seed-example", SEED_XML.read_bytes())
    key = ingest.drop("acme", "2020-02-20.jsonl", path.read_bytes())

    results = ingest.run(key)

    assert [r["outcome"] for r in results] == ["continuing"] * 5 + ["ingested"]
    offsets = [r["offset"] for r in results[:-1]]
    assert offsets == sorted(offsets) and offsets[-1] < size
    final = results[-1]
    # sample_data: 1 root + 10 entities + 20 teams, 5 groups, 40 learners, 3 trainings x 3 sessions,
    # 12 contents, trackings and logs as shaped.
    assert final["writtenTotal"] == count
    assert final["written"]["trackingLog"] == 900
    assert final["written"]["tracking"] == 300
    assert (final["rejectedCount"], final["invocations"]) == (0, 6)
    assert final["movedTo"] == "tenants/acme/processed/2020-02-20.jsonl"
    assert ingest.keys("tenants/acme/incoming/") == []
    assert ingest.keys("tenants/acme/processed/") == [final["movedTo"]]
    # Six days of 150 logs each (UTC days: sample_data starts logs at midnight UTC).
    assert sorted(day_counts(stack, "acme").values()) == [150] * 6
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "outcome": "ingested"}
    assert note.message["writtenTotal"] == count
    assert final["messageId"] == note.message_id and note.message_id  # the SNS message's id

    run_at = "2020-02-21T07:00:00Z"
    assert export(stack, "seed-example", run_at) == render(tmp_path, path, run_at)


# --- duplicates and updates ------------------------------------------------------------------------


def test_the_same_file_twice_leaves_the_table_as_one_delivery(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    body = jsonl([*records.catalogue("acme"), *records.seed_logs("acme")])
    key = ingest.drop("acme", "day.jsonl", body)
    event = ingest.event(key)

    first = ingest.invoke(event)
    assert first["outcome"] == "ingested" and first["writtenTotal"] == 10
    after_one = table_items(stack)
    # S3 delivers the same event again: the object has moved on, nothing happens.
    assert ingest.invoke(event)["outcome"] == "gone"
    # The platform uploads the same content again (same ETag), under another name.
    again = ingest.drop("acme", "day-again.jsonl", body)
    second = ingest.invoke(ingest.event(again))
    assert second["outcome"] == "ingested"
    assert (second["writtenTotal"], second["duplicateOf"]) == (0, key)
    assert table_items(stack) == after_one
    assert day_counts(stack, "acme") == {"2020-02-10": 2}
    assert ingest.keys("tenants/acme/processed/") == [
        "tenants/acme/processed/day-again.jsonl",
        "tenants/acme/processed/day.jsonl",
    ]
    assert [n.attributes["outcome"] for n in stack.notifications()] == ["ingested", "ingested"]


def test_the_same_content_under_another_name_waits_while_the_first_is_loading(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    from tracking_export_aws.ingest.service import ContentInProgress

    body = jsonl([*records.catalogue("acme"), *records.seed_logs("acme")])
    ingest = ingest_for(stack, max_bytes=len(body) // 2)
    first, second = ingest.drop("acme", "a.jsonl", body), ingest.drop("acme", "b.jsonl", body)
    started = ingest.invoke(ingest.event(first))
    assert started["outcome"] == "continuing"
    # Raised, so that Lambda retries the event later.
    with pytest.raises(ContentInProgress):
        ingest.invoke(ingest.event(second))
    results = [ingest.invoke(started["next"])]
    while results[-1]["outcome"] == "continuing":
        results.append(ingest.invoke(results[-1]["next"]))
    assert (results[-1]["outcome"], results[-1]["writtenTotal"]) == ("ingested", 10)
    [retried] = ingest.run(second)
    assert (retried["outcome"], retried["writtenTotal"], retried["duplicateOf"]) == ("ingested", 0, first)
    assert ingest.keys("tenants/acme/incoming/") == []


def test_a_later_version_of_a_record_wins_whatever_the_delivery_order(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    old = records.log("acme", 9001, "2020-02-10T09:30:00Z", 180)
    new = {**old, "progression": 100, "status": "completed", "updatedAt": "2020-02-10T10:00:00Z"}
    ingest.run(ingest.drop("acme", "new.jsonl", jsonl([new])))
    # The older version arrives last: it does not replace the newer one.
    [late] = ingest.run(ingest.drop("acme", "old.jsonl", jsonl([old])))
    assert (late["written"], late["notNewer"]) == ({}, {"trackingLog": 1})
    [(_, item)] = [(k, v) for k, v in table_items(stack).items() if "#L#" in k[0]]
    assert (item["progression"]["N"], item["updatedAt"]["S"]) == ("100", "2020-02-10T10:00:00Z")
    # A newer one replaces it.
    newest = {**new, "score": 5, "updatedAt": "2020-02-10T11:00:00+01:00"}  # 10:00Z: same instant
    [same] = ingest.run(ingest.drop("acme", "same.jsonl", jsonl([newest])))
    assert same["notNewer"] == {"trackingLog": 1}
    newest["updatedAt"] = "2020-02-10T10:00:01Z"
    [later] = ingest.run(ingest.drop("acme", "later.jsonl", jsonl([newest])))
    assert later["written"] == {"trackingLog": 1}
    [(_, item)] = [(k, v) for k, v in table_items(stack).items() if "#L#" in k[0]]
    assert item["score"]["N"] == "5"
    assert day_counts(stack, "acme") == {"2020-02-10": 1}


def test_two_versions_in_one_file_keep_the_newer_even_when_it_comes_first(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    old = records.log("acme", 9001, "2020-02-10T09:30:00Z", 180)
    new = {**old, "progression": 100, "updatedAt": "2020-02-10T10:00:00Z"}
    filler = [records.log("acme", 9100 + n, "2020-02-10T12:00:00Z", 5) for n in range(150)]
    # More than 100 records between them: they are written in different batches.
    [result] = ingest.run(ingest.drop("acme", "both.jsonl", jsonl([new, *filler, old])))
    assert (result["written"], result["notNewer"]) == ({"trackingLog": 151}, {"trackingLog": 1})
    [item] = [v for k, v in table_items(stack).items() if k[1].endswith("#00000000000000009001")]
    assert item["progression"]["N"] == "100"
    assert day_counts(stack, "acme") == {"2020-02-10": 151}


# --- bad lines and other tenants -------------------------------------------------------------------


def test_bad_lines_are_reported_by_line_field_and_rule_without_their_values(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    good = records.seed_logs("acme")
    lines = [
        json.dumps(good[0]),  # 1
        "{not json at all: secret-value-1",  # 2
        "",  # 3: blank, ignored
        json.dumps({**good[1], "startedAt": "secret-value-2"}),  # 4
        json.dumps({"type": "learner", "tenantId": "acme", "learnerId": "secret-value-3"}),  # 5
        json.dumps({"type": "gossip", "tenantId": "acme", "text": "secret-value-4"}),  # 6
        json.dumps({**good[1], "updatedAt": "secret-value-5"}),  # 7
        json.dumps({**records.catalogue("other")[2], "name": "secret-value-6"}),  # 8: another tenant
        json.dumps(good[1]),  # 9
    ]
    key = ingest.drop("acme", "mixed.jsonl", "\n".join(lines))  # no newline after the last line

    [result] = ingest.run(key)

    assert result["outcome"] == "ingest-rejected"
    assert result["written"] == {"trackingLog": 2}
    assert result["rejectedCount"] == 6
    assert [(r["line"], r["type"], r["field"]) for r in result["rejected"]] == [
        (2, None, None),
        (4, "trackingLog", "startedAt"),
        (5, "learner", "learnerId"),
        (6, None, "type"),
        (7, "trackingLog", "updatedAt"),
        (8, "learner", "tenantId"),
    ]
    rules = {r["line"]: r["rule"] for r in result["rejected"]}
    assert rules[4] == "must be an ISO 8601 instant with an offset or Z"
    assert rules[5] == "must be an integer"
    assert rules[8] == "must be the tenant the object was delivered for"
    assert ingest.keys("tenants/acme/rejected/") == ["tenants/acme/rejected/mixed.jsonl"]
    assert ingest.keys("tenants/acme/incoming/") == []
    [note] = stack.notifications()
    assert note.attributes["outcome"] == "ingest-rejected"
    assert "secret-value" not in json.dumps(note.message)
    # Nothing of the other tenant was written, under either tenant.
    assert not [k for k in table_items(stack) if k[0].startswith("T#other#")]
    assert not [k for k in table_items(stack) if "#learner#" in k[0]]


def test_a_key_outside_incoming_is_ignored_and_a_bad_tenant_in_the_key_too(
    stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    assert ingest.invoke(ingest.event("tenants/acme/processed/x.jsonl"))["outcome"] == "ignored"
    assert ingest.invoke(ingest.event("tenants/Not_A_Tenant/incoming/x.jsonl"))["outcome"] == "ignored"
    assert stack.notifications() == []


# --- large files: ranges, a crash in the middle, gzip ---------------------------------------------


def _drain(stack: Any, url: str) -> list[dict[str, Any]]:
    from tools.local_endpoints import drain_queue

    return drain_queue(stack.client("sqs"), url)


def test_an_aws_error_is_retried_and_the_tenant_told_once_when_the_retries_are_over(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest], monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = [records.log("acme", 9000 + n, f"2020-02-1{n % 3}T09:{n:02d}:00Z", 60) for n in range(30)]
    body = jsonl([*records.catalogue("acme"), *logs])
    ingest = ingest_for(stack, max_bytes=len(body) // 3 + 1)
    key = ingest.drop("acme", "big.jsonl", body)
    first = ingest.invoke(ingest.event(key))
    assert first["outcome"] == "continuing"

    from tracking_export_aws.ingest import loader

    real_run = loader.Loader.run

    def throttled(self: Any, numbered: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "BatchWriteItem",
        )

    monkeypatch.setattr(loader.Loader, "run", throttled)
    # Raised for Lambda's retries; nobody is told yet.
    for _ in range(3):
        with pytest.raises(ClientError):
            ingest.invoke(first["next"])
    assert stack.notifications() == []
    # Lambda gives up: its OnFailure destination record reaches on_failure.
    record = {
        "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": first["next"],
        "responsePayload": {"errorType": "ClientError", "errorMessage": "An error occurred (…)"},
    }
    [given_up] = ingest.app.on_failure(record, ingest.context)["results"]
    assert given_up["outcome"] == "ingest-failed"
    [failed] = stack.notifications()
    assert failed.attributes == {"tenantId": "acme", "outcome": "ingest-failed"}
    assert failed.message["offset"] == first["offset"]
    assert failed.message["reason"] == "not ingested after Lambda's retries: RetriesExhausted (ClientError)"
    assert ingest.keys("tenants/acme/incoming/") == [key]
    [kept] = _drain(stack, stack.ingest_dlq_url)

    # Re-driven from the dead-letter queue once DynamoDB answers: it goes on where it stopped.
    monkeypatch.setattr(loader.Loader, "run", real_run)
    results = [ingest.invoke(kept)]
    while results[-1]["outcome"] == "continuing":
        results.append(ingest.invoke(results[-1]["next"]))
    final = results[-1]
    assert (final["outcome"], final["writtenTotal"]) == ("ingested", 38)
    assert final["written"]["trackingLog"] == 30
    assert day_counts(stack, "acme") == {"2020-02-10": 10, "2020-02-11": 10, "2020-02-12": 10}
    [done] = stack.notifications()
    assert done.attributes["outcome"] == "ingested"


def test_an_erasure_lambda_gave_up_on_goes_to_the_dead_letter_queue_as_it_is(
    stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    erase = {"erase": {"tenantId": "acme", "learnerId": 1}}
    record = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": erase}

    assert ingest.app.on_failure(record, ingest.context) == {"results": []}

    assert _drain(stack, stack.ingest_dlq_url) == [erase]
    assert stack.notifications() == []  # no file to tell a tenant about


def test_a_failure_no_retry_would_cure_is_told_at_once_and_not_retried(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracking_export_aws.ingest import loader

    ingest = ingest_for(stack)
    key = ingest.drop("acme", "day.jsonl", jsonl(records.seed_logs("acme")))

    def broken(self: Any, numbered: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(loader.Loader, "run", broken)
    result = ingest.invoke(ingest.event(key))  # returned, not raised: Lambda does not retry it

    assert (result["outcome"], result["reason"]) == ("ingest-failed", "internal error (KeyError)")
    [failed] = stack.notifications()
    assert failed.attributes["outcome"] == "ingest-failed"
    assert result["messageId"] == failed.message_id and failed.message_id
    assert "a bug" not in json.dumps(failed.message)
    assert ingest.keys("tenants/acme/incoming/") == [key]
    assert _drain(stack, stack.ingest_dlq_url) == [
        {"ingest": {"bucket": ingest.bucket, "key": key, "etag": result["etag"], "offset": None}}
    ]


def test_a_line_longer_than_the_limit_is_rejected_and_the_rest_loaded(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    logs = records.seed_logs("acme")
    huge = json.dumps({**records.catalogue("acme")[2], "presentation": "x" * 600})
    body = jsonl([logs[0]]) + huge + "\n" + jsonl([logs[1]])
    ingest = ingest_for(stack, max_bytes=400, INGEST_MAX_LINE_BYTES="400")
    results = ingest.run(ingest.drop("acme", "long.jsonl", body))
    final = results[-1]
    assert final["outcome"] == "ingest-rejected"
    assert final["written"] == {"trackingLog": 2}
    assert final["rejected"] == [
        {
            "line": 2,
            "type": None,
            "field": None,
            "rule": "is longer than the 400-byte limit (setting INGEST_MAX_LINE_BYTES)",
        }
    ]


def test_gzip_files_are_loaded_in_ranges_of_decompressed_lines_like_any_file(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    body = jsonl([*records.catalogue("acme"), *records.seed_logs("acme")]).encode()
    packed = gzip.compress(body)
    ingest = ingest_for(stack, max_bytes=len(body) // 2)
    results = ingest.run(ingest.drop("acme", "day.jsonl.gz", packed))
    assert [r["outcome"] for r in results] == ["continuing", "continuing", "ingested"]
    assert results[-1]["writtenTotal"] == 10
    assert ingest.keys("tenants/acme/processed/") == ["tenants/acme/processed/day.jsonl.gz"]


# --- retention ------------------------------------------------------------------------------------


def test_logs_carry_their_expiry_from_the_tenants_retention(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    stack.put_tenant("acme", {**PARIS, "retentionDays": 30})
    ingest = ingest_for(stack)
    ingest.run(
        ingest.drop("acme", "day.jsonl", jsonl([*records.catalogue("acme"), *records.seed_logs("acme")]))
    )
    items = table_items(stack)
    expiries = {item["logId"]["N"]: int(item["expiresAt"]["N"]) for k, item in items.items() if "#L#" in k[0]}
    # 2020-02-10T09:30:00Z + 30 days = 2020-03-11T09:30:00Z; 17:00 likewise.
    assert expiries == {
        "9001": int(datetime(2020, 3, 11, 9, 30, tzinfo=UTC).timestamp()),
        "9002": int(datetime(2020, 3, 11, 17, 0, tzinfo=UTC).timestamp()),
    }
    # Only logs expire: the catalogue stays.
    assert all("expiresAt" not in item for k, item in items.items() if "#L#" not in k[0])


def test_without_retention_logs_do_not_expire(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    ingest.run(ingest.drop("acme", "day.jsonl", jsonl(records.seed_logs("acme"))))
    assert all("expiresAt" not in item for item in table_items(stack).values())


def test_a_new_retention_setting_is_applied_to_the_logs_already_stored(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    ingest.run(ingest.drop("acme", "day.jsonl", jsonl(records.seed_logs("acme"))))
    stack.put_tenant("acme", {**PARIS, "retentionDays": 365})
    # Config-sync validates the upload, then asks the ingest function to apply it: the payload
    # of its asynchronous Invoke is captured here and handed to the ingest handler.
    requested: list[dict[str, Any]] = []
    sync = dataclasses.replace(
        wiring.config_sync_service(stack.settings(ConfigSyncSettings)),
        request_retention=lambda bucket, key: requested.append(retention_event(bucket, key)),
    )
    settings_change = S3ObjectEvent(stack.config_bucket, "tenants/acme/tenant.json")
    applied = sync.apply(settings_change)
    assert isinstance(applied, SettingsApplied) and applied.retention_requested
    [event] = requested
    assert event["Records"][0]["s3"] == {
        "bucket": {"name": stack.config_bucket},
        "object": {"key": "tenants/acme/tenant.json"},
    }
    result = ingest.invoke(event)
    assert result == {
        "outcome": "retention-applied",
        "tenantId": "acme",
        "retentionDays": 365,
        "logsSeen": 2,
        "logsUpdated": 2,
    }
    # 2020-02-10T09:30:00Z + 365 days = 2021-02-09T09:30:00Z (2020 is a leap year).
    expiries = sorted(int(i["expiresAt"]["N"]) for k, i in table_items(stack).items() if "#L#" in k[0])
    assert expiries == [
        int(datetime(2021, 2, 9, 9, 30, tzinfo=UTC).timestamp()),
        int(datetime(2021, 2, 9, 17, 0, tzinfo=UTC).timestamp()),
    ]
    # An invalid tenant.json asks for nothing; the ingest function keeps the last valid one.
    stack.put_tenant("acme", {**PARIS, "retentionDays": "forever"})
    assert sync.apply(settings_change).action == "invalid"
    assert len(requested) == 1
    assert ingest.invoke(event)["retentionDays"] == 365
    # Back to no retention (config-sync records it valid), applied by an operator: the attribute goes.
    from tools.apply_retention import main

    stack.put_tenant("acme", PARIS)
    unrequested = dataclasses.replace(sync, request_retention=None).apply(settings_change)
    assert isinstance(unrequested, SettingsApplied) and not unrequested.retention_requested
    assert ingest.operator(main, ["--tenant", "acme"]) == 0
    assert all("expiresAt" not in item for item in table_items(stack).values())


# --- erasure of a learner -------------------------------------------------------------------------


def two_learners(records: Any) -> list[dict[str, Any]]:
    """Laurie (learner 1: tracking 501 with the seed's two logs, tracking 601 never launched) and
    Sam (learner 2: tracking 502 with one log) in the same session and content."""
    catalogue = records.catalogue("acme")
    laurie, tracking = catalogue[2], catalogue[-1]
    sam = {
        **laurie,
        "learnerId": 2,
        "guid": "lrn-0002",
        "name": "Durand",
        "firstname": "Sam",
        "login": "sam",
        "email": "sam@acme.example",
        "refNumber": "EMP002",
    }
    unlaunched = {**tracking, "trackingId": 601, "guid": "trk-0601", "registrationGuid": "reg-0601"}
    sams_tracking = {
        **tracking,
        "trackingId": 502,
        "learnerId": 2,
        "guid": "trk-0502",
        "registrationGuid": "reg-0502",
    }
    sams_log = {**records.log("acme", 9003, "2020-02-10T11:00:00Z", 300), "trackingId": 502}
    return [*catalogue, sam, unlaunched, sams_tracking, *records.seed_logs("acme"), sams_log]


def test_erasure_removes_every_trace_of_the_learner_and_lists_the_files_delivered(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    from tracking_export_aws.aws.tracking_source import DynamoTrackingSource

    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "seed-example", SEED_XML.read_bytes())
    ingest = ingest_for(stack)
    ingest.run(ingest.drop("acme", "day.jsonl", jsonl(two_learners(records))))
    before = export(stack, "seed-example", "2020-02-11T07:00:00Z")
    assert b"Laurie" in before and b"Sam" in before
    delivered = stack.object_keys("tenants/acme/")
    stack.notifications()

    report = ingest.app.handler(
        {
            "detail-type": "Learner Erasure Requested",
            "source": "tracking-log-export.operator",
            "detail": {"tenantId": "acme", "learnerId": 1},
        },
        ingest.context,
    )

    assert report["mode"] == "deleted"
    assert report["learnerFound"] is True
    # Learner 1, trackings 501 and 601, the seed's two logs, 501's LOGGED marker, 601's index entry.
    assert report["removed"] == {
        "learner": 1,
        "loggedMarker": 1,
        "tracking": 2,
        "trackingLog": 2,
        "unlaunchedEntry": 1,
    }
    assert report["pseudonymised"] == {}
    assert report["daysRecounted"] == ["2020-02-10"]
    assert report["deliveredFiles"] == delivered
    assert day_counts(stack, "acme") == {"2020-02-10": 1}
    left = table_items(stack)
    assert not [k for k in left if k[0] in ("T#acme#learner#1", "T#acme#tracking#501", "T#acme#tracking#601")]
    assert not [k for k in left if k[0] == "T#acme#LOGGED#501"]
    source = DynamoTrackingSource("acme", stack.tracking_table, stack.dynamodb)
    assert [t["trackingId"] for t in source.unlaunched_trackings()] == []
    source.close()
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "outcome": "learner-erased"}

    after = export(stack, "seed-example", "2020-02-11T08:00:00Z")
    for trace in (b"Laurie", b"Martin", b"laurie@acme.example", b"lrn-0001", b"EMP001", b"reg-0501"):
        assert trace not in after, trace
    assert b"Sam" in after and b"reg-0502" in after

    # Again: nothing left to remove.
    again = ingest.app.handler({"erase": {"tenantId": "acme", "learnerId": 1}}, ingest.context)
    assert (again["learnerFound"], again["removed"]) == (False, {})


def test_erasure_pseudonymises_when_the_tenant_keeps_anonymous_statistics(
    stack: Any, records: Any, ingest_for: Callable[..., Ingest]
) -> None:
    from tools.erase_learner import main

    stack.put_tenant("acme", {**PARIS, "keepAnonymousStatistics": True})
    stack.put_definition("acme", "seed-example", SEED_XML.read_bytes())
    ingest = ingest_for(stack)
    ingest.run(ingest.drop("acme", "day.jsonl", jsonl(two_learners(records))))
    before = _rows(export(stack, "seed-example", "2020-02-11T07:00:00Z"))

    assert ingest.operator(main, ["--tenant", "acme", "--learner", "1"]) == 0

    after = _rows(export(stack, "seed-example", "2020-02-11T08:00:00Z"))
    assert len(after) == len(before)
    laurie = [r for r in before if r["candidateId"] == "1"]
    anonymous = [r for r in after if r["candidateId"] not in ("1", "2")]
    assert len(anonymous) == len(laurie) == 2
    # Statistics stay: times, progressions, statuses, scores, the session and the content.
    kept = ("firstLaunchDate", "progression", "status", "score", "timeGlobal", "sessionTitle", "contentTitle")
    assert sorted(tuple(r[c] for c in kept) for r in anonymous) == sorted(
        tuple(r[c] for c in kept) for r in laurie
    )
    # Nothing that names or points to Laurie does.
    for row in anonymous:
        assert row["candidateName"] == row["candidateFirstname"] == row["candidateEmail"] == ""
        assert row["candidateGuid"] == row["registrationGuid"] == row["candidateRefNumber"] == ""
        assert int(row["candidateId"]) < 0
    left = table_items(stack)
    assert not [k for k in left if k[0] in ("T#acme#learner#1", "T#acme#tracking#501", "T#acme#tracking#601")]
    assert not [k for k in left if "#ERASURE#" in k[0]]  # the salt is gone: the link is gone
    assert day_counts(stack, "acme") == {"2020-02-10": 3}


def _rows(data: bytes) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
