"""Tracking data on a real local DynamoDB (dynalite) and the other adapters on a moto server.

The dataset is loaded with the loader and read back with DynamoTrackingSource: what comes
back must be the records that went in (data-contract.md), one tenant's only, by the access
patterns of docs/table-design.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contract_records import log_id_of, log_value
from notification_samples import failed_run, succeeded_run

from tracking_export.records import PARSERS, RECORD_FIELDS, parse_tracking_log
from tracking_export_aws.aws.clients import client, item_read_parsers
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.aws.keys import days_pk
from tracking_export_aws.aws.s3_sink import MIB, MultipartSink
from tracking_export_aws.aws.tracking_source import DynamoTrackingSource
from tracking_export_aws.ingest.loader import LoadReport, load_dataset
from tracking_export_aws.notify.notifier import Notifier
from tracking_export_aws.runs.ledger import LeaseLostError, RunLedger


def log(tenant: str, tracking_id: int, log_id: int, started_at: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "trackingLog",
        "tenantId": tenant,
        "trackingId": tracking_id,
        "logId": log_id,
        "startedAt": started_at,
        "lastAccessAt": started_at,
        "completedAt": None,
        "progression": 40,
        "score": None,
        "status": "incomplete",
        "timeSpentSeconds": 180,
        "updatedAt": started_at,
        **fields,
    }


def tracking(tenant: str, tracking_id: int, learner_id: int) -> dict[str, Any]:
    return {
        "type": "tracking",
        "tenantId": tenant,
        "trackingId": tracking_id,
        "guid": f"{tenant}-trk-{tracking_id}",
        "learnerId": learner_id,
        "sessionId": 10,
        "contentGuid": "c-1",
        "registrationGuid": "reg-1",
        "registrationImported": False,
        "updatedAt": "2020-02-01T08:00:00Z",
    }


# Log times around Paris midnights (UTC+1 in February): the engine asks for one UTC range per
# Paris day, and each such range touches two UTC days.
ACME_LOG_TIMES = {
    9001: (501, "2020-02-09T22:59:59.999999Z"),  # Paris 9 Feb 23:59:59.999999
    9002: (501, "2020-02-09T23:00:00Z"),  # Paris 10 Feb 00:00
    9003: (501, "2020-02-10T00:30:00+01:00"),  # Paris 10 Feb 00:30, UTC day 9 Feb
    9004: (502, "2020-02-10T17:00:00Z"),  # Paris 10 Feb 18:00
    9005: (502, "2020-02-10T22:59:59Z"),  # Paris 10 Feb 23:59:59
    9006: (501, "2020-02-10T23:00:00Z"),  # Paris 11 Feb 00:00
    9007: (502, "2020-02-11T12:00:00Z"),  # Paris 11 Feb 13:00
}
LAURIE = {
    "type": "learner",
    "tenantId": "acme",
    "learnerId": 1,
    "guid": "L-1",
    "name": "Martin",
    "firstname": "Laurie",
    "login": "laurie",
    "email": "laurie@example.com",
    "refNumber": "",
    "timezone": "Europe/Paris",
    "entityId": 1,
    "smartgroupIds": [1, 2],
    "customFields": {"cf-1": "Sales"},
    "presentation": None,
}


def dataset() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [LAURIE]
    records += [
        {"type": "learner", "tenantId": "acme", "learnerId": n, "name": f"Learner {n}", "smartgroupIds": []}
        for n in range(2, 251)
    ]
    records += [
        {"type": "learner", "tenantId": "globex", "learnerId": 1, "name": "Globex One"},
        {
            "type": "content",
            "tenantId": "acme",
            "contentGuid": "c-1",
            "learningObjectGuid": "lo-1",
            "title": "Welcome",
        },
        {
            "type": "trainingContent",
            "tenantId": "acme",
            "trainingId": 7,
            "learningObjectGuid": "lo-1",
            "mandatory": True,
        },
        tracking("acme", 501, 1),
        tracking("acme", 502, 2),
        tracking("acme", 503, 3),  # never launched
        tracking("globex", 503, 1),  # same id, launched in globex
        tracking("globex", 504, 1),  # never launched
    ]
    for log_id, (tracking_id, started_at) in ACME_LOG_TIMES.items():
        extra = (
            {"score": 4.5, "progression": 100, "status": "completed", "completedAt": started_at}
            if log_id == 9004
            else {}
        )
        records.append(log("acme", tracking_id, log_id, started_at, **extra))
        # Same log ids and times in another tenant: never part of acme's data.
        records.append(log("globex", 503, log_id, started_at, timeSpentSeconds=999))
    return records


@pytest.fixture(scope="module")
def loaded(dynamo_endpoint: str, dynamo_tables: dict[str, str]) -> tuple[Any, str, LoadReport]:
    dynamodb = client("dynamodb", endpoint_url=dynamo_endpoint, region="us-east-1")
    table = dynamo_tables["TrackingTable"]
    report = load_dataset(dataset(), table, dynamodb)
    return dynamodb, table, report


@pytest.fixture
def acme(loaded: tuple[Any, str, LoadReport]) -> Any:
    dynamodb, table, _ = loaded
    with DynamoTrackingSource("acme", table, dynamodb, read_ahead=2) as source:
        yield source


def paris_day(day: int) -> tuple[datetime, datetime]:
    start = datetime(2020, 2, day, tzinfo=UTC) - timedelta(hours=1)
    return start, start + timedelta(days=1)


def test_load_report(loaded: tuple[Any, str, LoadReport]) -> None:
    report = loaded[2]
    assert report.rejected_count == 0
    assert report.written == {
        "learner": 251,
        "content": 1,
        "trainingContent": 1,
        "tracking": 5,
        "trackingLog": 14,
    }
    assert report.days_marked == 6  # 2020-02-09, -10, -11 in each tenant
    assert report.unlaunched_set == 2  # acme 503, globex 504


def test_log_span_covers_whole_utc_days(
    acme: DynamoTrackingSource, loaded: tuple[Any, str, LoadReport]
) -> None:
    assert acme.log_span() == (datetime(2020, 2, 9, tzinfo=UTC), datetime(2020, 2, 12, tzinfo=UTC))
    with DynamoTrackingSource("initech", loaded[1], loaded[0]) as empty:
        assert empty.log_span() is None


@pytest.mark.parametrize("read_ahead", [1, 2, 5])
def test_logs_by_paris_day_cross_utc_midnight(loaded: tuple[Any, str, LoadReport], read_ahead: int) -> None:
    dynamodb, table, _ = loaded
    with DynamoTrackingSource("acme", table, dynamodb, read_ahead=read_ahead) as source:
        ranges = [paris_day(9), paris_day(10), paris_day(11), paris_day(12)]
        found = list(source.logs_in_ranges(ranges))
    assert [sorted(log_id_of(r) for r in logs) for logs in found] == [
        [9001],
        [9002, 9003, 9004, 9005],
        [9006, 9007],
        [],
    ]


def test_logs_come_back_as_they_were_loaded(acme: DynamoTrackingSource) -> None:
    (logs,) = acme.logs_in_ranges([paris_day(10)])
    by_id = {log_id_of(r): r for r in logs}
    # A valid log comes as the TrackingLog the engine would make of its record; 9003's start
    # has an offset other than Z, so it comes as its record, which the engine checks itself.
    assert by_id[9004] == parse_tracking_log(
        log(
            "acme",
            502,
            9004,
            "2020-02-10T17:00:00Z",
            score=4.5,
            progression=100,
            status="completed",
            completedAt="2020-02-10T17:00:00Z",
        )
    )
    assert by_id[9003]["startedAt"] == "2020-02-10T00:30:00+01:00"  # stored as given
    assert type(by_id[9003]["progression"]) is int
    assert type(by_id[9004].score) is float


def test_reading_can_stop_early(acme: DynamoTrackingSource) -> None:
    reader = acme.logs_in_ranges([paris_day(d) for d in range(1, 29)])
    assert next(reader) == []
    assert isinstance(reader, Generator)
    reader.close()  # cancels the read-ahead still in flight


class CountingClient:
    """Counts the Query calls made through a DynamoDB client."""

    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.queries = 0

    def query(self, **kwargs: Any) -> Any:
        self.queries += 1
        return self._dynamodb.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dynamodb, name)


def test_days_without_logs_cost_no_query(loaded: tuple[Any, str, LoadReport]) -> None:
    dynamodb, table, _ = loaded
    counting = CountingClient(dynamodb)
    with DynamoTrackingSource("acme", table, counting) as source:
        found = list(source.logs_in_ranges([paris_day(d) for d in range(1, 29)]))
    assert sum(len(logs) for logs in found) == 7
    # One query for the DAYS items, then 4 shards for each marked UTC day a range touches:
    # Paris 9 Feb touches UTC 9 Feb; 10 Feb touches 9 and 10; 11 Feb: 10 and 11; 12 Feb: 11.
    assert counting.queries == 1 + 4 * (1 + 2 + 2 + 1)


def test_instant_ranges_are_start_inclusive_end_exclusive(acme: DynamoTrackingSource) -> None:
    exact = datetime(2020, 2, 9, 23, tzinfo=UTC)
    (logs,) = acme.logs_in_ranges([(exact - timedelta(microseconds=1), exact)])
    assert [log_id_of(r) for r in logs] == [9001]


def test_get_many_in_batches_of_more_than_100(acme: DynamoTrackingSource) -> None:
    found = acme.get_many("learner", range(1, 261))
    assert sorted(found) == list(range(1, 251))
    assert found[1] == LAURIE
    assert found[250]["name"] == "Learner 250"
    assert acme.get_many("learner", ["1", None]) == {}
    assert acme.get_many("content", ["c-1", "c-2"])["c-1"]["title"] == "Welcome"
    assert acme.get_many("trainingContent", [(7, "lo-1")])[(7, "lo-1")]["mandatory"] is True


def test_get_records_reads_several_kinds_in_shared_calls(acme: DynamoTrackingSource) -> None:
    """What the engine asks per level: the fields it parses (RECORD_FIELDS) of every kind,
    trackings in calls of their own, the others together; absent keys absent."""
    wanted: dict[str, list[Any]] = {
        "learner": [*range(1, 151), "1", None],
        "content": ["c-1", "c-2"],
        "trainingContent": [(7, "lo-1")],
        "tracking": [501, 502, 999],
    }
    # The source's client counts its reads (aws/capacity.py) around the client made here.
    calls = item_read_parsers(acme.client.wrapped)  # type: ignore[attr-defined]
    assert calls is not None
    before = calls.fast_answers + calls.standard_answers

    found = acme.get_records(wanted)

    # 3 trackings: one call; 150 learners + 2 contents + 1 training content: two calls of <= 100.
    assert calls.fast_answers + calls.standard_answers - before == 3
    assert set(found) == set(wanted)
    assert sorted(found["learner"]) == list(range(1, 151))
    assert found["learner"][1] == {k: v for k, v in LAURIE.items() if k in RECORD_FIELDS["learner"]}
    assert found["content"] == {
        "c-1": {"contentGuid": "c-1", "learningObjectGuid": "lo-1", "title": "Welcome"}
    }
    assert found["trainingContent"] == {
        (7, "lo-1"): {"trainingId": 7, "learningObjectGuid": "lo-1", "mandatory": True}
    }
    full = tracking("acme", 501, 1)
    assert found["tracking"] == {
        501: {k: v for k, v in full.items() if k in RECORD_FIELDS["tracking"]},
        502: {k: v for k, v in tracking("acme", 502, 2).items() if k in RECORD_FIELDS["tracking"]},
    }
    # Each parser reads the same values from these as from get_many's whole records.
    for kind, records in found.items():
        whole = acme.get_many(kind, records)
        assert {key: PARSERS[kind](raw) for key, raw in records.items()} == {
            key: PARSERS[kind](raw) for key, raw in whole.items()
        }


def test_tenants_with_equal_ids_stay_apart(loaded: tuple[Any, str, LoadReport]) -> None:
    dynamodb, table, _ = loaded
    with DynamoTrackingSource("globex", table, dynamodb) as globex:
        assert globex.get_many("learner", [1, 2]) == {
            1: {"type": "learner", "tenantId": "globex", "learnerId": 1, "name": "Globex One"}
        }
        (logs,) = globex.logs_in_ranges([paris_day(10)])
        # globex's logs with the same ids and times as acme's: their time is globex's (999).
        assert sorted((log_id_of(r), log_value(r, "timeSpentSeconds")) for r in logs) == [
            (9002, 999),
            (9003, 999),
            (9004, 999),
            (9005, 999),
        ]
        assert [t["trackingId"] for t in globex.unlaunched_trackings()] == [504]


def test_unlaunched_trackings(acme: DynamoTrackingSource) -> None:
    assert list(acme.unlaunched_trackings()) == [tracking("acme", 503, 3)]


def test_logs_of_trackings(acme: DynamoTrackingSource) -> None:
    found = acme.logs_of_trackings([501, 502, 999])
    assert sorted(r["logId"] for r in found[501]) == [9001, 9002, 9003, 9006]
    assert sorted(r["logId"] for r in found[502]) == [9004, 9005, 9007]
    assert found[999] == []
    # The ByTracking index projects what cumulative time needs.
    assert {r["logId"]: r for r in found[502]}[9004] == {
        "type": "trackingLog",
        "tenantId": "acme",
        "trackingId": 502,
        "logId": 9004,
        "startedAt": "2020-02-10T17:00:00Z",
        "timeSpentSeconds": 180,
    }


def test_queries_follow_pages(loaded: tuple[Any, str, LoadReport]) -> None:
    dynamodb, table, _ = loaded
    pages = list(
        query_pages(
            dynamodb,
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": days_pk("acme")}},
            Limit=2,
        )
    )
    assert len(pages) >= 2
    assert [i["sk"]["S"] for page in pages for i in page] == ["2020-02-09", "2020-02-10", "2020-02-11"]


# -- run ledger on dynalite ------------------------------------------------------------

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ledger(dynamo_endpoint: str, dynamo_tables: dict[str, str]) -> RunLedger:
    dynamodb = client("dynamodb", endpoint_url=dynamo_endpoint, region="us-east-1")
    return RunLedger(dynamodb, dynamo_tables["RunHistoryTable"])


def test_ledger_claim_duplicate_retry_and_lease(ledger: RunLedger) -> None:
    first = ledger.claim("acme", "it-ledger", T0, now=T0, lease_seconds=60)
    assert (first.claimed, first.run_number) == (True, 1)
    duplicate = ledger.claim("acme", "it-ledger", T0, now=T0 + timedelta(seconds=30), lease_seconds=60)
    assert not duplicate.claimed
    assert duplicate.existing is not None and duplicate.existing.status == "running"
    # The lease expires: another delivery takes the run over; the stale one can no longer record.
    takeover = ledger.claim("acme", "it-ledger", T0, now=T0 + timedelta(seconds=61), lease_seconds=60)
    assert (takeover.claimed, takeover.run_number, takeover.attempt) == (True, 1, 2)
    with pytest.raises(LeaseLostError):
        ledger.record_failure(first, finished_at=T0 + timedelta(seconds=62), error="late", duration_ms=1)
    # The takeover dies too; a delivery after its lease takes the run over again.
    retry = ledger.claim("acme", "it-ledger", T0, now=T0 + timedelta(minutes=5), lease_seconds=60)
    assert (retry.claimed, retry.run_number, retry.attempt) == (True, 1, 3)
    assert ledger.previous_success_start("acme", "it-ledger") is None
    assert ledger.record_success(
        retry,
        finished_at=T0 + timedelta(minutes=6),
        window={"kind": "all"},
        rows=3,
        bytes_written=99,
        object_key="tenants/acme/x.csv",
        sha256="0" * 64,
        duration_ms=60_000,
    )
    assert ledger.previous_success_start("acme", "it-ledger") == T0 + timedelta(minutes=5)
    late = ledger.claim("acme", "it-ledger", T0, now=T0 + timedelta(hours=1), lease_seconds=60)
    assert not late.claimed
    assert late.existing is not None and late.existing.status == "succeeded"
    nxt = ledger.claim(
        "acme", "it-ledger", T0 + timedelta(days=1), now=T0 + timedelta(days=1), lease_seconds=60
    )
    assert nxt.run_number == 2


# -- S3 sink and notifier on a moto server ---------------------------------------------------


def test_multipart_sink_on_moto_server(moto_endpoint: str) -> None:
    s3 = client("s3", endpoint_url=moto_endpoint, region="us-east-1")
    s3.create_bucket(Bucket="it-exports")
    data = bytes(range(251)) * (6 * MIB // 251 + 1)  # a little over 6 MiB: a 5 MiB part and the rest
    with MultipartSink(s3, "it-exports", "tenants/acme/big.csv", part_size=5 * MIB) as sink:
        for offset in range(0, len(data), 64 * 1024):
            sink.write(data[offset : offset + 64 * 1024])
        etag, sha256, size = sink.complete()
    assert etag.endswith('-2"')
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert s3.get_object(Bucket="it-exports", Key="tenants/acme/big.csv")["Body"].read() == data

    aborted = MultipartSink(s3, "it-exports", "tenants/acme/aborted.csv", part_size=5 * MIB)
    aborted.write(data)  # one part uploaded, the rest buffered
    assert aborted.upload_id is not None
    aborted.abort()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="it-exports").get("Contents", [])]
    assert keys == ["tenants/acme/big.csv"]
    assert s3.list_multipart_uploads(Bucket="it-exports").get("Uploads", []) == []


def test_notifier_on_moto_server(moto_endpoint: str) -> None:
    sns = client("sns", endpoint_url=moto_endpoint, region="us-east-1")
    sqs = client("sqs", endpoint_url=moto_endpoint, region="us-east-1")
    events = client("events", endpoint_url=moto_endpoint, region="us-east-1")
    topic = sns.create_topic(Name="it-export-runs")["TopicArn"]
    queue = sqs.create_queue(QueueName="it-acme")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"tenantId": ["acme"], "outcome": ["succeeded"]})},
    )
    notifier = Notifier.for_aws(sns, events, topic, "default")
    notifier.publish(succeeded_run(tenantId="globex", rows=1))
    notifier.publish(failed_run(error="x"))
    notifier.publish(succeeded_run(rows=2))
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert json.loads(envelope["Message"]) == succeeded_run(rows=2)
    assert {k: (v["Type"], v["Value"]) for k, v in envelope["MessageAttributes"].items()} == {
        "tenantId": ("String", "acme"),
        "exportGuid": ("String", "nightly"),
        "outcome": ("String", "succeeded"),
    }
