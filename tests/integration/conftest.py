"""Local AWS endpoints for the integration tests, started once per session.

- ``moto_endpoint``: a moto server in a thread (S3, SNS, SQS, EventBridge, ...), on a free port.
- ``dynamo_endpoint``: dynalite (a DynamoDB implementation in node) as a subprocess on a free port;
  `make dynalite` installs it under .local/node.
- ``dynamo_tables``: the tracking and run-history tables created on dynalite from template.yaml,
  so the tests cannot drift from the infrastructure.
- ``make_stack`` / ``stack``: per test, every resource the functions use (buckets, both tables,
  topic, schedule group) with unique names, plus an SQS queue subscribed to the topic and an
  EventBridge rule on the default bus that targets a second queue, to capture notifications;
  removed after the test.
- ``records``: builders of data-contract.md records (a small catalogue and tracking logs).
- ``handlers`` / ``lambda_context``: the two Lambda handler modules with their environment pointed
  at a stack (cached services and clients reset), and a fake LambdaContext.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from contract_records import Records
from ingest_bucket import Ingest
from notification_samples import check_delivered, check_event

from tools.local_endpoints import drain_queue, dynalite, dynalite_binary, moto_server
from tracking_export_aws.aws.clients import client

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def aws_credentials() -> Iterator[None]:
    """Fake credentials and region: local endpoints sign-check nothing, but botocore insists."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def dynamo_endpoint() -> Iterator[str]:
    binary = dynalite_binary(ROOT)
    if not binary.exists():
        pytest.fail(f"dynalite is not installed at {binary}: `make test` installs it (`make dynalite`)")
    with dynalite(binary) as url:
        yield url


@pytest.fixture(scope="session")
def dynamo_tables(dynamo_endpoint: str) -> dict[str, str]:
    """{logical id: table name} of the template's tables, created on dynalite."""
    from tools.template_tables import table_definitions

    dynamodb = client("dynamodb", endpoint_url=dynamo_endpoint, region="us-east-1")
    names = {}
    for logical_id, definition in table_definitions(ROOT / "template.yaml").items():
        name = f"it-{logical_id}"
        dynamodb.create_table(TableName=name, **definition)
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        names[logical_id] = name
    return names


# --- A whole service stack per test (buckets, tables, topic, queues, schedule group) -------------

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOTIFICATION_SOURCE = "tracking-log-export"


@dataclass(frozen=True)
class Notification:
    """One SNS message as a subscribed SQS queue receives it (raw delivery off)."""

    attributes: dict[str, str]
    subject: str | None
    message: dict[str, Any]


@dataclass
class Stack:
    """Every resource the functions use, on moto server and dynalite, with unique names.

    Notifications are captured by an SQS queue subscribed to the topic and an EventBridge
    rule on the default bus that targets a second queue.
    """

    moto: str
    dynamo: str
    config_bucket: str
    export_bucket: str
    tracking_table: str
    run_history_table: str
    topic_arn: str
    schedule_group: str
    schedule_dlq_arn: str
    notification_queue_url: str
    event_queue_url: str
    dlq_url: str
    rule_name: str
    export_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:it-export"
    scheduler_role_arn: str = f"arn:aws:iam::{ACCOUNT}:role/it-scheduler"

    def client(self, service: str) -> Any:
        endpoint = self.dynamo if service == "dynamodb" else self.moto
        return _test_client(service, endpoint)

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def scheduler(self) -> Any:
        return self.client("scheduler")

    def env(self) -> dict[str, str]:
        """The functions' environment (template.yaml variables) pointed at the local endpoints."""
        return {
            "AWS_ENDPOINT_URL": self.moto,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamo,
            "AWS_REGION": REGION,
            "CONFIG_BUCKET": self.config_bucket,
            "EXPORT_BUCKET": self.export_bucket,
            "TRACKING_TABLE": self.tracking_table,
            "RUN_HISTORY_TABLE": self.run_history_table,
            "TOPIC_ARN": self.topic_arn,
            "EVENT_BUS_NAME": "default",
            "SCHEDULE_GROUP": self.schedule_group,
            "EXPORT_FUNCTION_ARN": self.export_function_arn,
            "SCHEDULER_ROLE_ARN": self.scheduler_role_arn,
            "SCHEDULE_DLQ_ARN": self.schedule_dlq_arn,
        }

    def settings(self) -> Any:
        from tracking_export_aws.runtime.settings import AwsSettings

        return AwsSettings.from_env(self.env())

    def ledger(self) -> Any:
        from tracking_export_aws.runs.ledger import RunLedger

        return RunLedger(self.dynamodb, self.run_history_table)

    def put_tenant(self, tenant_id: str, settings: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.config_bucket, Key=f"tenants/{tenant_id}/tenant.json", Body=json.dumps(settings)
        )

    def put_definition(self, tenant_id: str, export_guid: str, definition: str | bytes) -> str:
        key = f"tenants/{tenant_id}/exports/{export_guid}.xml"
        body = definition.encode("utf-8") if isinstance(definition, str) else definition
        self.s3.put_object(Bucket=self.config_bucket, Key=key, Body=body)
        return key

    def load(self, records: list[dict[str, Any]]) -> None:
        """Write records through the loader; every one must be accepted."""
        from tracking_export_aws.ingest.loader import load_dataset

        report = load_dataset(records, self.tracking_table, self.dynamodb, workers=2)
        assert report.rejected_count == 0, report.as_dict()

    def object_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.export_bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.export_bucket, Key=key)["Body"].read())

    def pending_uploads(self) -> list[dict[str, Any]]:
        uploads: list[dict[str, Any]] = self.s3.list_multipart_uploads(Bucket=self.export_bucket).get(
            "Uploads", []
        )
        return uploads

    def _drain(self, url: str) -> list[dict[str, Any]]:
        return drain_queue(self.client("sqs"), url)

    def notifications(self) -> list[Notification]:
        """The SNS messages published since the last call (the queue is drained); each one
        checked against the published contract (messages.py, docs/schemas/)."""
        received = [
            Notification(
                attributes={k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()},
                subject=envelope.get("Subject"),
                message=json.loads(envelope["Message"]),
            )
            for envelope in self._drain(self.notification_queue_url)
        ]
        for notification in received:
            check_delivered(notification.message)
        return received

    def events(self) -> list[dict[str, Any]]:
        """The EventBridge events (whole envelopes) put since the last call, each checked
        against the published event schema."""
        received = self._drain(self.event_queue_url)
        for envelope in received:
            check_event(envelope)
        return received


_session: boto3.session.Session | None = None
_test_clients: dict[tuple[str, str], Any] = {}


def _test_client(service: str, endpoint: str) -> Any:
    """The tests' own clients: one session (service models load once), a cache of their own that
    ``tracking_export_aws.aws.clients.clear_cache()`` (called between handler tests) leaves alone."""
    global _session
    found = _test_clients.get((service, endpoint))
    if found is None:
        _session = _session or boto3.session.Session()
        make: Any = _session.client
        found = _test_clients[(service, endpoint)] = make(service, endpoint_url=endpoint, region_name=REGION)
    return found


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def _build_stack(moto: str, dynamo: str, config_bucket: str | None) -> Stack:
    from tools.template_tables import table_definitions

    suffix = uuid.uuid4().hex[:10]
    s3, sqs, sns, events, scheduler = (
        _test_client(s, moto) for s in ("s3", "sqs", "sns", "events", "scheduler")
    )
    dynamodb = _test_client("dynamodb", dynamo)

    config_bucket = config_bucket or f"it-config-{suffix}"
    export_bucket = f"it-exports-{suffix}"
    for bucket in (config_bucket, export_bucket):
        s3.create_bucket(Bucket=bucket)
    # As in template.yaml: config-sync points runs at the last valid version of each object.
    s3.put_bucket_versioning(Bucket=config_bucket, VersioningConfiguration={"Status": "Enabled"})
    tables = {}
    for logical_id, definition in table_definitions(ROOT / "template.yaml").items():
        name = f"it-{logical_id}-{suffix}"
        dynamodb.create_table(TableName=name, **definition)
        tables[logical_id] = name
    for name in tables.values():
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    topic_arn = sns.create_topic(Name=f"it-notifications-{suffix}")["TopicArn"]
    notification_queue = sqs.create_queue(QueueName=f"it-notifications-{suffix}")["QueueUrl"]
    event_queue = sqs.create_queue(QueueName=f"it-events-{suffix}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"it-schedule-dlq-{suffix}")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=_queue_arn(sqs, notification_queue),
        Attributes={"RawMessageDelivery": "false"},
    )
    rule = f"it-runs-{suffix}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [NOTIFICATION_SOURCE]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "capture", "Arn": _queue_arn(sqs, event_queue)}])
    group = f"it-schedules-{suffix}"
    scheduler.create_schedule_group(Name=group)
    return Stack(
        moto=moto,
        dynamo=dynamo,
        config_bucket=config_bucket,
        export_bucket=export_bucket,
        tracking_table=tables["TrackingTable"],
        run_history_table=tables["RunHistoryTable"],
        topic_arn=topic_arn,
        schedule_group=group,
        schedule_dlq_arn=_queue_arn(sqs, dlq),
        notification_queue_url=notification_queue,
        event_queue_url=event_queue,
        dlq_url=dlq,
        rule_name=rule,
    )


def _tear_down(stack: Stack) -> None:
    """Remove what the stack created, so a later test can reuse a fixed bucket name."""
    s3, sqs, sns, events = (stack.client(s) for s in ("s3", "sqs", "sns", "events"))
    events.remove_targets(Rule=stack.rule_name, Ids=["capture"])
    events.delete_rule(Name=stack.rule_name)
    sns.delete_topic(TopicArn=stack.topic_arn)
    for url in (stack.notification_queue_url, stack.event_queue_url, stack.dlq_url):
        sqs.delete_queue(QueueUrl=url)
    stack.scheduler.delete_schedule_group(Name=stack.schedule_group)
    for bucket in (stack.config_bucket, stack.export_bucket):
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
        s3.delete_bucket(Bucket=bucket)
    for table in (stack.tracking_table, stack.run_history_table):
        stack.dynamodb.delete_table(TableName=table)


@pytest.fixture
def make_stack(moto_endpoint: str, dynamo_endpoint: str) -> Iterator[Callable[..., Stack]]:
    """``make_stack(config_bucket=None)``: a fresh stack, removed after the test."""
    made: list[Stack] = []

    def make(config_bucket: str | None = None) -> Stack:
        stack = _build_stack(moto_endpoint, dynamo_endpoint, config_bucket)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        _tear_down(stack)


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


# --- Records (data-contract.md) ------------------------------------------------------------------


@pytest.fixture
def records() -> type[Records]:
    return Records


# --- Lambda handlers --------------------------------------------------------------------------------


@dataclass
class FakeLambdaContext:
    """The parts of a LambdaContext the handlers (and Powertools) read."""

    function_name: str = "tracking-export-it"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tracking-export-it"
    aws_request_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Callable[[Stack], tuple[Any, Any]]:
    """``handlers(stack)``: the functions' environment pointed at ``stack``; returns the modules
    ``(export_app, config_sync_app)`` with their cached services and boto3 clients reset."""
    from tracking_export_aws.aws import clients

    def use(stack: Stack) -> tuple[Any, Any]:
        for name, value in stack.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tracking-export")
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TrackingExport")
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
        # Imported once the environment is set: Powertools reads it when the module loads.
        export_app = importlib.import_module("export_app")
        config_sync_app = importlib.import_module("config_sync_app")
        monkeypatch.setattr(export_app, "_service", None)
        monkeypatch.setattr(config_sync_app, "_service", None)
        clients.clear_cache()
        return export_app, config_sync_app

    return use


@pytest.fixture
def ingest_for(monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Iterator[Callable[..., Ingest]]:
    """``ingest_for(stack, max_bytes=…, **environment)``: an ingest bucket on the stack and the
    ingest handler module, its environment pointed at both (extra variables by keyword)."""
    from tracking_export_aws.aws import clients

    made: list[Ingest] = []

    def make(stack: Stack, max_bytes: int = 64 * 1024 * 1024, **environment: str) -> Ingest:
        bucket = f"it-ingest-{uuid.uuid4().hex[:10]}"
        stack.s3.create_bucket(Bucket=bucket)
        for name, value in {**stack.env(), **environment}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("INGEST_BUCKET", bucket)
        monkeypatch.setenv("INGEST_MAX_BYTES_PER_INVOCATION", str(max_bytes))
        monkeypatch.setenv("INGEST_CONTINUATION", "return")
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tracking-export")
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TrackingExport")
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
        app = importlib.import_module("ingest_app")
        monkeypatch.setattr(app, "_service", None)
        clients.clear_cache()
        made.append(Ingest(stack, bucket, app, lambda_context))
        return made[-1]

    yield make
    for ingest in made:
        s3 = ingest.stack.s3
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ingest.bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=ingest.bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=ingest.bucket)
