"""AWS adapters (architecture.md, docs/table-design.md) against moto in-process.

Keys, settings, config store, S3 sink, run ledger, notifier, schedules and the loader's
bookkeeping. The DynamoDB round trip on a real local endpoint is in
tests/integration/test_dynamo_source.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from function_environments import DEPLOYMENT, template_settings
from moto import mock_aws
from notification_samples import failed_run, succeeded_run

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.clients import clear_cache, client
from tracking_export_aws.aws.s3_sink import MIB, MultipartSink, SinkClosedError
from tracking_export_aws.aws.scheduler import ScheduleManager, schedule_name
from tracking_export_aws.aws.tracking_source import DynamoTrackingSource
from tracking_export_aws.config.store import (
    ConfigInvalid,
    ConfigNotFound,
    ConfigStore,
    InvalidConfigKey,
    parse_config_key,
)
from tracking_export_aws.ingest.loader import load_dataset, load_jsonl
from tracking_export_aws.notify.notifier import NotificationError, Notifier
from tracking_export_aws.runs.ledger import LeaseLostError, RunLedger
from tracking_export_aws.runtime.settings import ConfigSyncSettings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    clear_cache()
    with mock_aws():
        yield
    clear_cache()


def create_table(logical_id: str, name: str) -> Any:
    from tools.template_tables import table_definitions

    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName=name, **table_definitions(ROOT / "template.yaml")[logical_id])
    return dynamodb


# -- keys (docs/table-design.md) ----------------------------------------------


@pytest.mark.parametrize("tenant", ["acme", "a1", "acme-eu-2", "a" * 63])
def test_valid_tenant_ids(tenant: str) -> None:
    assert keys.validate_tenant_id(tenant) == tenant


@pytest.mark.parametrize(
    "tenant", ["a", "A", "Acme", "-acme", "acme#x", "acme/x", "acme_x", "", "a" * 64, None, 7]
)
def test_invalid_tenant_ids(tenant: Any) -> None:
    with pytest.raises(keys.InvalidKeyError):
        keys.validate_tenant_id(tenant)


@pytest.mark.parametrize("guid", ["daily-tracking-log", "7F3A-11", "export_2020.v2", "x"])
def test_valid_export_guids(guid: str) -> None:
    assert keys.validate_export_guid(guid) == guid


@pytest.mark.parametrize("guid", ["", "../x", "a/b", "a#b", ".hidden", "-x", "a b", "x" * 65])
def test_invalid_export_guids(guid: str) -> None:
    with pytest.raises(keys.InvalidKeyError):
        keys.validate_export_guid(guid)


def test_log_keys_follow_the_table_design() -> None:
    started = datetime(2020, 2, 10, 9, 30, tzinfo=UTC)
    assert keys.log_keys("acme", 501, 9001, started) == {
        "pk": "T#acme#L#2020-02-10#1",  # 9001 % 4 == 1
        "sk": "2020-02-10T09:30:00.000000Z#00000000000000009001",
        "gsi1pk": "T#acme#TRK#501",
        "gsi1sk": "2020-02-10T09:30:00.000000Z#00000000000000009001",
    }


def test_log_day_is_the_utc_day_of_started_at() -> None:
    paris_half_past_midnight = datetime.fromisoformat("2020-02-10T00:30:00+01:00")
    assert keys.utc_day(paris_half_past_midnight) == "2020-02-09"
    assert keys.log_keys("acme", 1, 8, paris_half_past_midnight)["pk"] == "T#acme#L#2020-02-09#0"


def test_sort_key_bounds_select_start_inclusive_end_exclusive() -> None:
    low, high = keys.log_sk_bounds(datetime(2020, 2, 10, tzinfo=UTC), datetime(2020, 2, 11, tzinfo=UTC))
    assert (low, high) == ("2020-02-10T00:00:00.000000Z#", "2020-02-10T23:59:59.999999Z#~")
    assert low <= "2020-02-10T00:00:00.000000Z#00000000000000000000" <= high
    assert low <= "2020-02-10T23:59:59.999999Z#99999999999999999999" <= high
    assert not low <= "2020-02-11T00:00:00.000000Z#00000000000000000000" <= high
    assert not low <= "2020-02-09T23:59:59.999999Z#99999999999999999999" <= high


def test_utc_days_of_a_paris_day() -> None:
    # 2020-02-10 in Paris (UTC+1) is [2020-02-09T23:00Z, 2020-02-10T23:00Z).
    start = datetime(2020, 2, 9, 23, tzinfo=UTC)
    assert keys.utc_days(start, start + timedelta(days=1)) == ["2020-02-09", "2020-02-10"]
    assert keys.utc_days(datetime(2020, 2, 10, tzinfo=UTC), datetime(2020, 2, 11, tzinfo=UTC)) == [
        "2020-02-10"
    ]
    assert keys.utc_days(start, start) == []


def test_catalogue_keys() -> None:
    assert keys.catalogue_key("acme", "learner", 1) == {"pk": "T#acme#learner#1", "sk": "R"}
    assert keys.catalogue_pk("acme", "content", "c-1") == "T#acme#content#c-1"
    assert keys.catalogue_pk("acme", "trainingContent", (7, "lo-1")) == "T#acme#trainingContent#7#lo-1"
    for kind, bad in [("learner", "1"), ("learner", True), ("content", "c" * 41), ("content", ""), ("x", 1)]:
        with pytest.raises(keys.InvalidKeyError):
            keys.catalogue_pk("acme", kind, bad)


def test_unlaunched_keys() -> None:
    tracking = {"trackingId": 501, "learnerId": 1, "sessionId": 10, "contentGuid": "c-1"}
    assert keys.unlaunched_keys("acme", tracking) == {
        "gsi2pk": "T#acme#UNL#1",  # 501 % 4 == 1
        "gsi2sk": "000000000001#000000000010#c-1",
    }


def test_run_history_keys() -> None:
    assert keys.export_pk("acme", "daily-tracking-log") == "T#acme#E#daily-tracking-log"
    assert (
        keys.run_sk(datetime.fromisoformat("2024-03-01T07:00:00+01:00")) == "RUN#2024-03-01T06:00:00.000000Z"
    )


# -- settings and clients ------------------------------------------------------

TOPIC = "arn:aws:sns:eu-west-1:123456789012:export-runs"


def test_settings_from_env_read_empty_as_unset() -> None:
    settings = template_settings(ConfigSyncSettings, AWS_ENDPOINT_URL="", EMAIL_SENDER="")
    assert settings.config_bucket == DEPLOYMENT.environment("ConfigSyncFunction")["CONFIG_BUCKET"]
    assert settings.event_bus_name == "default"
    assert settings.region == "eu-west-1"
    assert (settings.endpoint_url, settings.email_sender) == (None, None)


def test_settings_name_the_bad_variables() -> None:
    with pytest.raises(SettingsError, match="TOPIC_ARN: Field required"):
        ConfigSyncSettings.from_env({"CONFIG_BUCKET": "acme-config", "AWS_REGION": "eu-west-1"})
    with pytest.raises(SettingsError, match="SCHEDULER_ROLE_ARN: Value error, expected an ARN"):
        template_settings(ConfigSyncSettings, SCHEDULER_ROLE_ARN="role")
    with pytest.raises(SettingsError, match="AWS_ENDPOINT_URL: Value error, expected an http"):
        template_settings(ConfigSyncSettings, AWS_ENDPOINT_URL="localhost:4566")


def test_client_factory_takes_the_endpoint_from_settings_and_caches() -> None:
    settings = template_settings(ConfigSyncSettings, AWS_ENDPOINT_URL="http://127.0.0.1:4566")
    local = client("s3", settings)
    assert local.meta.endpoint_url == "http://127.0.0.1:4566"
    assert local.meta.config.retries["mode"] == "standard"
    assert local.meta.config.max_pool_connections >= 16
    assert client("s3", settings) is local
    assert client("s3") is not local
    assert client("s3").meta.endpoint_url == "https://s3.amazonaws.com"


# -- config store ---------------------------------------------------------------


@pytest.fixture
def config_bucket() -> Any:
    s3 = client("s3")
    s3.create_bucket(Bucket="acme-config")
    return s3


def test_tenant_settings(config_bucket: Any) -> None:
    store = ConfigStore(config_bucket, "acme-config")
    assert store.tenant_settings("acme").timezone == "UTC"  # no tenant.json: the defaults
    document = {"timezone": "Europe/Paris", "notificationEmails": ["ops@example.com"], "retentionDays": 30}
    config_bucket.put_object(Bucket="acme-config", Key="tenants/acme/tenant.json", Body=json.dumps(document))
    settings = store.tenant_settings("acme")
    assert (settings.timezone, settings.notification_emails, settings.retention_days) == (
        "Europe/Paris",
        ["ops@example.com"],
        30,
    )
    assert settings.zone.key == "Europe/Paris"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"timezone": "Mars/Olympus"}', "Mars/Olympus"),
        ('{"notificationEmails": ["not-an-address"]}', "notificationEmails: item 0 is not an e-mail"),
        ('{"retentionDays": 0}', "retentionDays"),
        ("[1]", "not a JSON object"),
        ("{", "not JSON"),
    ],
)
def test_invalid_tenant_settings_name_the_key(config_bucket: Any, body: str, problem: str) -> None:
    config_bucket.put_object(Bucket="acme-config", Key="tenants/acme/tenant.json", Body=body)
    with pytest.raises(ConfigInvalid, match=re.escape("tenants/acme/tenant.json")) as info:
        ConfigStore(config_bucket, "acme-config").tenant_settings("acme")
    assert problem in str(info.value)


def test_export_definition(config_bucket: Any) -> None:
    store = ConfigStore(config_bucket, "acme-config")
    with pytest.raises(ConfigNotFound, match=re.escape("tenants/acme/exports/nightly.xml")):
        store.export_definition("acme", "nightly")
    config_bucket.put_object(
        Bucket="acme-config", Key="tenants/acme/exports/nightly.xml", Body=b"<export-config/>"
    )
    assert store.export_definition("acme", "nightly") == b"<export-config/>"


def test_parse_config_key() -> None:
    assert parse_config_key("tenants/acme/exports/daily-tracking-log.xml") == ("acme", "daily-tracking-log")
    for bad in [
        "tenants/Acme/exports/x.xml",
        "tenants/acme/exports/sub/x.xml",
        "tenants/acme/x.xml",
        "tenants/acme/exports/.xml",
        "tenants/acme/exports/x.json",
        "other/acme/exports/x.xml",
    ]:
        with pytest.raises(InvalidConfigKey):
            parse_config_key(bad)


# -- S3 multipart sink ----------------------------------------------------------


@pytest.fixture
def export_bucket() -> Any:
    s3 = client("s3")
    s3.create_bucket(Bucket="acme-exports")
    return s3


def object_keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket="acme-exports").get("Contents", [])]


def test_small_file_is_one_put_with_type_and_tags(export_bucket: Any) -> None:
    sink = MultipartSink(export_bucket, "acme-exports", "tenants/acme/a.csv", tags={"tenantId": "acme"})
    sink.write(b"a,b\r\n")
    sink.write(b"1,2\r\n")
    etag, sha256, size = sink.complete()
    body = export_bucket.get_object(Bucket="acme-exports", Key="tenants/acme/a.csv")
    assert body["Body"].read() == b"a,b\r\n1,2\r\n"
    assert body["ContentType"] == "text/csv"
    assert (etag, sha256, size) == (body["ETag"], hashlib.sha256(b"a,b\r\n1,2\r\n").hexdigest(), 10)
    tags = export_bucket.get_object_tagging(Bucket="acme-exports", Key="tenants/acme/a.csv")["TagSet"]
    assert tags == [{"Key": "tenantId", "Value": "acme"}]


def test_zero_byte_file(export_bucket: Any) -> None:
    with MultipartSink(export_bucket, "acme-exports", "tenants/acme/empty.csv") as sink:
        _, sha256, size = sink.complete()
    assert (sha256, size) == (EMPTY_SHA256, 0)
    assert (
        export_bucket.head_object(Bucket="acme-exports", Key="tenants/acme/empty.csv")["ContentLength"] == 0
    )


@pytest.mark.parametrize("overlap", [True, False])
def test_multipart_upload(export_bucket: Any, overlap: bool) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    data = b"".join(bytes([n]) + chunk[1:] for n in range(12))  # 12 MiB, each MiB different
    sink = MultipartSink(
        export_bucket, "acme-exports", "tenants/acme/big.csv", part_size=5 * MIB, overlap=overlap
    )
    for n in range(12):
        sink.write(data[n * MIB : (n + 1) * MIB])
    etag, sha256, size = sink.complete()
    assert etag.endswith('-3"')  # parts of 5, 5 and 2 MiB
    assert size == 12 * MIB
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert export_bucket.get_object(Bucket="acme-exports", Key="tenants/acme/big.csv")["Body"].read() == data


class FailingPartClient:
    """Delegates to the S3 client but fails the n-th upload_part."""

    def __init__(self, s3: Any, fail_at: int) -> None:
        self._s3 = s3
        self._fail_at = fail_at
        self.parts = 0

    def upload_part(self, **kwargs: Any) -> Any:
        self.parts += 1
        if self.parts == self._fail_at:
            raise ConnectionError("network down")
        return self._s3.upload_part(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


@pytest.mark.parametrize("overlap", [True, False])
def test_failed_part_aborts_the_upload(export_bucket: Any, overlap: bool) -> None:
    failing = FailingPartClient(export_bucket, fail_at=2)
    sink = MultipartSink(failing, "acme-exports", "tenants/acme/x.csv", part_size=5 * MIB, overlap=overlap)
    with pytest.raises(ConnectionError):
        for _ in range(4):
            sink.write(b"x" * (3 * MIB))
        sink.complete()
    assert object_keys(export_bucket) == []
    assert export_bucket.list_multipart_uploads(Bucket="acme-exports").get("Uploads", []) == []
    with pytest.raises(SinkClosedError):
        sink.write(b"more")


def test_context_manager_aborts_on_exception_and_without_complete(export_bucket: Any) -> None:
    with (
        pytest.raises(RuntimeError),
        MultipartSink(export_bucket, "acme-exports", "k1", part_size=5 * MIB) as sink,
    ):
        sink.write(b"y" * (6 * MIB))  # one part uploaded
        raise RuntimeError("render failed")
    with MultipartSink(export_bucket, "acme-exports", "k2", part_size=5 * MIB) as sink:
        sink.write(b"z" * (6 * MIB))
    assert object_keys(export_bucket) == []
    assert export_bucket.list_multipart_uploads(Bucket="acme-exports").get("Uploads", []) == []


# -- run ledger -------------------------------------------------------------------


@pytest.fixture
def ledger() -> RunLedger:
    return RunLedger(create_table("RunHistoryTable", "runs"), "runs")


def test_claim_then_duplicate_while_running(ledger: RunLedger) -> None:
    first = ledger.claim("acme", "nightly", T0, now=T0 + timedelta(seconds=5), lease_seconds=900)
    assert (first.claimed, first.run_number, first.attempt) == (True, 1, 1)
    again = ledger.claim("acme", "nightly", T0, now=T0 + timedelta(minutes=5), lease_seconds=900)
    assert not again.claimed
    assert again.existing is not None
    assert (again.existing.status, again.existing.run_number) == ("running", 1)


def test_duplicate_of_a_succeeded_run_does_nothing(ledger: RunLedger) -> None:
    claim = ledger.claim("acme", "nightly", T0, now=T0, lease_seconds=900)
    window = {"kind": "all", "firstDay": None, "lastDay": None, "start": None, "end": None}
    moved = ledger.record_success(
        claim,
        finished_at=T0 + timedelta(seconds=3),
        window=window,
        rows=2,
        bytes_written=120,
        object_key="tenants/acme/a.csv",
        sha256="ab" * 32,
        duration_ms=3000,
        skipped=1,
        skipped_records=[{"kind": "tracking", "key": 7, "reason": "learner 3 does not exist"}],
    )
    assert moved
    # Hours later, well past the lease, the same scheduled run is delivered again.
    again = ledger.claim("acme", "nightly", T0, now=T0 + timedelta(hours=5), lease_seconds=900)
    assert not again.claimed
    assert again.existing is not None
    record = again.existing
    assert (record.status, record.rows, record.bytes_written, record.object_key) == (
        "succeeded",
        2,
        120,
        "tenants/acme/a.csv",
    )
    assert (record.sha256, record.duration_ms, record.skipped, record.window) == ("ab" * 32, 3000, 1, window)
    assert record.skipped_records == [{"kind": "tracking", "key": 7, "reason": "learner 3 does not exist"}]
    assert ledger.previous_success_start("acme", "nightly") == T0


def test_failed_run_is_final(ledger: RunLedger) -> None:
    claim = ledger.claim("acme", "nightly", T0, now=T0, lease_seconds=900)
    ledger.record_failure(
        claim, finished_at=T0 + timedelta(seconds=1), error="S3 unavailable", duration_ms=1000
    )
    assert ledger.runs("acme", "nightly")[0].error == "S3 unavailable"
    # A repeated delivery must not produce a second notification: the failed run stays failed.
    again = ledger.claim("acme", "nightly", T0, now=T0 + timedelta(minutes=1), lease_seconds=900)
    assert not again.claimed and again.existing is not None and again.existing.status == "failed"
    assert ledger.previous_success_start("acme", "nightly") is None  # a failure never moves the window


def test_expired_lease_is_taken_over(ledger: RunLedger) -> None:
    stale = ledger.claim("acme", "nightly", T0, now=T0, lease_seconds=60)
    assert not ledger.claim("acme", "nightly", T0, now=T0 + timedelta(seconds=59), lease_seconds=60).claimed
    takeover = ledger.claim("acme", "nightly", T0, now=T0 + timedelta(seconds=61), lease_seconds=60)
    assert (takeover.claimed, takeover.run_number) == (True, 1)
    with pytest.raises(LeaseLostError):
        ledger.record_failure(stale, finished_at=T0 + timedelta(seconds=70), error="late", duration_ms=70_000)


def test_run_numbers_and_window_only_move_forward(ledger: RunLedger) -> None:
    day1 = ledger.claim("acme", "nightly", T0, now=T0, lease_seconds=900)
    day2 = ledger.claim(
        "acme", "nightly", T0 + timedelta(days=1), now=T0 + timedelta(days=1), lease_seconds=900
    )
    other = ledger.claim("acme", "weekly", T0, now=T0, lease_seconds=900)
    assert (day1.run_number, day2.run_number, other.run_number) == (1, 2, 1)
    done: dict[str, Any] = {
        "rows": 0,
        "bytes_written": 0,
        "object_key": None,
        "sha256": None,
        "duration_ms": 1,
        "window": {},
    }
    assert ledger.record_success(day2, finished_at=T0 + timedelta(days=1, seconds=1), **done)
    # The older run finishing later must not move the window back.
    assert not ledger.record_success(day1, finished_at=T0 + timedelta(days=1, seconds=2), **done)
    assert ledger.previous_success_start("acme", "nightly") == T0 + timedelta(days=1)
    runs = ledger.runs("acme", "nightly")
    assert [r.scheduled_time for r in runs] == [T0 + timedelta(days=1), T0]
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert ledger.runs("acme", "weekly")[0].status == "running"


# -- notifier ---------------------------------------------------------------------


def queue_for_topic(topic_arn: str, filter_policy: dict[str, Any] | None = None) -> str:
    sqs, sns = client("sqs"), client("sns")
    name = f"q{abs(hash(json.dumps(filter_policy)))}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


def test_notification_attributes_and_event() -> None:
    sns, events, sqs = client("sns"), client("events"), client("sqs")
    topic = sns.create_topic(Name="export-runs")["TopicArn"]
    everything = queue_for_topic(topic)
    other_tenant = queue_for_topic(topic, {"tenantId": ["globex"]})
    event_queue = sqs.create_queue(QueueName="events")["QueueUrl"]
    event_queue_arn = sqs.get_queue_attributes(QueueUrl=event_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="runs", EventPattern=json.dumps({"source": ["tracking-log-export"]}))
    events.put_targets(Rule="runs", Targets=[{"Id": "q", "Arn": event_queue_arn}])

    message = failed_run(error="S3 unavailable")
    Notifier.for_aws(sns, events, topic, "default").publish(message)

    received = sqs.receive_message(QueueUrl=everything, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1
    envelope = json.loads(received[0]["Body"])
    assert json.loads(envelope["Message"]) == message
    assert {k: v["Value"] for k, v in envelope["MessageAttributes"].items()} == {
        "tenantId": "acme",
        "exportGuid": "nightly",
        "outcome": "failed",
    }
    assert sqs.receive_message(QueueUrl=other_tenant).get("Messages", []) == []
    event = json.loads(sqs.receive_message(QueueUrl=event_queue)["Messages"][0]["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "tracking-log-export",
        "Export Run Failed",
        message,
    )


class RefusingEvents:
    def put_events(self, **_: Any) -> dict[str, Any]:
        return {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try later"}],
        }


def test_notifier_checks_failed_entries_and_outcomes() -> None:
    sns = client("sns")
    topic = sns.create_topic(Name="export-runs")["TopicArn"]
    notifier = Notifier.for_aws(sns, RefusingEvents(), topic)
    with pytest.raises(NotificationError, match="InternalFailure"):
        notifier.publish(succeeded_run())
    with pytest.raises(ValueError, match="outcome"):
        notifier.publish({**succeeded_run(), "outcome": "ok"})


# -- schedules --------------------------------------------------------------------

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:export"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
DLQ = "arn:aws:sqs:us-east-1:123456789012:schedule-dlq"


def test_schedule_names() -> None:
    assert schedule_name("acme", "nightly") == "acme--nightly"
    tenant, guid = "t" * 63, "g" * 60
    long_a, long_b = schedule_name(tenant, guid + "aaaa"), schedule_name(tenant, guid + "bbbb")
    assert len(long_a) == len(long_b) == 64
    assert long_a != long_b


def test_schedule_upsert_get_delete() -> None:
    scheduler = client("scheduler")
    scheduler.create_schedule_group(Name="exports")
    manager = ScheduleManager(scheduler, "exports", TARGET, ROLE, DLQ)
    assert manager.upsert("acme", "nightly", "cron(0 6 * * ? *)", "Europe/Paris") == "acme--nightly"
    schedule = manager.get("acme", "nightly")
    assert schedule is not None
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 6 * * ? *)",
        "Europe/Paris",
    )
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"], target["DeadLetterConfig"]) == (TARGET, ROLE, {"Arn": DLQ})
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert json.loads(target["Input"]) == {
        "tenantId": "acme",
        "exportGuid": "nightly",
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }
    manager.upsert("acme", "nightly", "cron(30 7 * * ? *)", "America/New_York")
    schedule = manager.get("acme", "nightly")
    assert schedule is not None
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(30 7 * * ? *)",
        "America/New_York",
    )
    assert manager.delete("acme", "nightly")
    assert not manager.delete("acme", "nightly")
    assert manager.get("acme", "nightly") is None


# -- loader bookkeeping (moto in-process) --------------------------------------------


def log(tenant: str, tracking_id: int, log_id: int, started_at: str) -> dict[str, Any]:
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
    }


def tracking(tenant: str, tracking_id: int, learner_id: int = 1) -> dict[str, Any]:
    return {
        "type": "tracking",
        "tenantId": tenant,
        "trackingId": tracking_id,
        "guid": f"trk-{tracking_id}",
        "learnerId": learner_id,
        "sessionId": 10,
        "contentGuid": "c-1",
        "registrationGuid": "reg-1",
        "registrationImported": False,
        "updatedAt": "2020-02-01T00:00:00Z",
    }


def test_loader_reports_records_it_cannot_key() -> None:
    dynamodb = create_table("TrackingTable", "tracking")
    records: list[dict[str, Any]] = [
        {"type": "learner", "tenantId": "acme", "learnerId": 1, "name": "Laurie"},
        {"tenantId": "acme", "learnerId": 2},
        {"type": "learner", "tenantId": "Acme!", "learnerId": 3},
        {"type": "learner", "tenantId": "acme", "learnerId": "4"},
        log("acme", 501, 9001, "yesterday"),
        {"type": "content", "tenantId": "acme", "contentGuid": "c-1", "pk": "T#other#content#c-1"},
        {"type": "entity", "tenantId": "acme", "entityId": 5, "weight": float("nan")},
        log("acme", 501, 9002, "2020-02-10T17:00:00Z"),
    ]
    report = load_dataset(records, "tracking", dynamodb)
    assert report.written == {"learner": 1, "trackingLog": 1}
    assert report.rejected_count == 6
    assert [(r.line, r.kind, r.key) for r in report.rejected] == [
        (2, None, None),
        (3, "learner", 3),
        (4, "learner", "4"),
        (5, "trackingLog", [501, 9001]),
        (6, "content", "c-1"),
        (7, "entity", 5),
    ]
    assert "startedAt" in report.rejected[3].reason
    assert "reserved" in report.rejected[4].reason
    assert report.days_marked == 1


def test_loader_reports_unreadable_jsonl_lines(tmp_path: Path) -> None:
    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"type":"smartgroup","tenantId":"acme","smartgroupId":1,"name":"A"}\n\nnot json\n')
    report = load_jsonl(dataset, "tracking", create_table("TrackingTable", "tracking"))
    assert report.written == {"smartgroup": 1}
    assert [(r.line, r.kind) for r in report.rejected] == [(3, None)]


def test_loader_keeps_the_unlaunched_index_right() -> None:
    dynamodb = create_table("TrackingTable", "tracking")
    source = DynamoTrackingSource("acme", "tracking", dynamodb)

    def unlaunched() -> list[int]:
        return sorted(t["trackingId"] for t in source.unlaunched_trackings())

    first = load_dataset(
        [
            tracking("acme", 501),
            tracking("acme", 502),
            tracking("acme", 503),
            log("acme", 501, 1, "2020-02-10T09:30:00Z"),
        ],
        "tracking",
        dynamodb,
    )
    assert (first.unlaunched_set, first.unlaunched_cleared) == (2, 0)
    assert unlaunched() == [502, 503]
    # A later load brings the first log of 502: it leaves the index.
    second = load_dataset([log("acme", 502, 2, "2020-02-11T09:30:00Z")], "tracking", dynamodb)
    assert (second.unlaunched_set, second.unlaunched_cleared) == (0, 1)
    assert unlaunched() == [503]
    # Reloading trackings whose logs came in earlier loads does not put them back.
    third = load_dataset([tracking("acme", 501), tracking("acme", 502)], "tracking", dynamodb)
    assert (third.unlaunched_set, third.unlaunched_cleared) == (0, 0)
    assert unlaunched() == [503]
    source.close()


def test_loader_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tools.load import main

    create_table("TrackingTable", "tracking")
    dataset = tmp_path / "d.jsonl"
    dataset.write_text(json.dumps(log("acme", 501, 1, "2020-02-10T09:30:00Z")) + "\nnot json\n")
    assert main([str(dataset), "--table", "tracking", "--region", "us-east-1"]) == 0
    out = json.load(io.StringIO(capsys.readouterr().out))
    assert (out["written"], out["rejectedCount"], out["daysMarked"]) == ({"trackingLog": 1}, 1, 1)
    assert main([str(dataset), "--table", "tracking", "--region", "us-east-1", "--strict"]) == 1
