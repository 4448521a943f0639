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
- ``handlers`` / ``lambda_context``: the export and config-sync handler modules, each entry point
  running as its function of template.yaml does (``Stack.function``), and a fake LambdaContext.

A function runs with exactly the environment template.yaml gives it (tools/template_functions.py:
Globals plus its own variables, pointed at the stack), and every AWS call it makes is checked
against its IAM statements in the template (tests/aws_calls.py).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from aws_calls import CallRecorder
from contract_records import Records
from function_environments import ENVIRONMENTS, SETTINGS_FUNCTIONS, handler_module
from ingest_bucket import Ingest
from notification_samples import check_delivered, check_event

from tools.local_endpoints import drain_queue, dynalite, dynalite_binary, moto_server
from tools.template_functions import Deployment
from tools.template_tables import load_template
from tracking_export_aws.aws import clients
from tracking_export_aws.aws.clients import client
from tracking_export_aws.runtime.settings import ExportSettings, FunctionSettings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
DEPLOYMENT = Deployment(TEMPLATE)
RECORDER = CallRecorder(TEMPLATE)
S = TypeVar("S", bound=FunctionSettings)


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


@pytest.fixture(scope="session", autouse=True)
def recorded_calls() -> Iterator[CallRecorder]:
    """Every client ``tracking_export_aws.aws.clients`` makes reports its calls to RECORDER."""
    original = clients._botocore_session

    def hooked(service: str) -> Any:
        session, factory = original(service)
        RECORDER.hook(session)
        return session, factory

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clients, "_botocore_session", hooked)
        clients.clear_cache()
        yield RECORDER
    clients.clear_cache()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """After the whole integration suite (every file, nothing deselected): fail on
    the grants no recorded call used (tests/aws_calls.py UNUSED_GRANTS_ALLOWED says why a grant
    may stay without one)."""
    ran = {Path(str(item.fspath)).name for item in session.items}
    wanted = {path.name for path in Path(__file__).parent.glob("test_*.py")}
    config = session.config
    if not wanted <= ran or config.option.keyword or config.option.markexpr:
        return
    unused = RECORDER.unused_grants()
    if unused:
        lines = "\n  ".join(f"{function}: {grant}" for function, grant in unused)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            # Said after a failed run too (a failed test may be why a call is missing).
            reporter.write_line(f"IAM grants no recorded call used:\n  {lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
    message_id: str | None = None  # SNS's MessageId


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
    # IngestDlq: the events of files the ingest functions gave up on.
    ingest_dlq_url: str
    rule_name: str
    export_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:it-export"
    scheduler_role_arn: str = f"arn:aws:iam::{ACCOUNT}:role/it-scheduler"
    ingest_function_name: str = "it-ingest"
    state_machine_arn: str = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:it-export"
    # Buckets a test adds (the ingest bucket): name -> the template's logical id.
    extra_buckets: dict[str, str] = dataclasses.field(default_factory=dict)

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

    def physical(self) -> dict[str, str]:
        """What the template's references name, on this stack (logical id or ``Id.Attribute``)."""
        return {
            "ConfigBucket": self.config_bucket,
            "ExportBucket": self.export_bucket,
            "TrackingTable": self.tracking_table,
            "RunHistoryTable": self.run_history_table,
            "NotificationTopic": self.topic_arn,
            "ScheduleGroup": self.schedule_group,
            "ExportFunction.Arn": self.export_function_arn,
            "SchedulerRole.Arn": self.scheduler_role_arn,
            "ExportDlq.Arn": self.schedule_dlq_arn,
            "IngestDlq": self.ingest_dlq_url,
            "IngestDlq.Arn": _queue_arn(self.client("sqs"), self.ingest_dlq_url),
            "IngestFunction": self.ingest_function_name,
            "IngestFunction.Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.ingest_function_name}",
            "ExportStateMachine": self.state_machine_arn,
            **{logical_id: name for name, logical_id in self.extra_buckets.items()},
        }

    def names(self) -> dict[str, str]:
        """This stack's names -> a template deployment's (how the IAM check reads the calls)."""
        found = {}
        for reference, value in self.physical().items():
            logical_id, _, attribute = reference.partition(".")
            found[value] = (
                DEPLOYMENT.get_att(logical_id, attribute) if attribute else DEPLOYMENT.ref(logical_id)
            )
        return found

    def env(
        self, function: str, parameters: Mapping[str, str] | None = None, **variables: str
    ) -> dict[str, str]:
        """``function``'s environment as template.yaml gives it, pointed at this stack (endpoints,
        region); ``variables`` change values the template declares for it (a test's own setting)."""
        deployment = Deployment(TEMPLATE, physical=self.physical(), parameters={**(parameters or {})})
        env = deployment.environment(function)
        undeclared = set(variables) - set(env)
        if undeclared:
            # The optional caps a function's model reads beyond its template (docs/limits.md).
            entry = DEPLOYMENT.functions()[function].rsplit(".", 1)[1]
            undeclared -= handler_module(function).SETTINGS[entry].OPTIONAL_OVERRIDES
        if undeclared:
            raise KeyError(f"template.yaml gives {function} no {sorted(undeclared)}")
        return {
            **env,
            **variables,
            "AWS_ENDPOINT_URL": self.moto,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamo,
            "AWS_REGION": REGION,
        }

    def write_env_file(self, path: Path, *functions: str, **changes: str) -> Path:
        """An env file in events/env.local.json's shape, as the operator's tools read it: each
        function's own environment on this stack (``changes`` replace the values of the variables
        a section has)."""
        sections = {}
        for function in functions:
            env = self.env(function, **LOCAL_VARIABLES.get(function, {}))
            sections[function] = {**env, **{name: value for name, value in changes.items() if name in env}}
        path.write_text(json.dumps(sections), encoding="utf-8")
        return path

    def settings(self, kind: type[S] = ExportSettings, **variables: str) -> S:  # type: ignore[assignment]
        """The settings model ``kind`` as its function gets it on this stack (what the stack
        cannot give as the local stack has it: ``LOCAL_VARIABLES``)."""
        function = SETTINGS_FUNCTIONS[kind]
        return kind.from_env(self.env(function, **{**LOCAL_VARIABLES.get(function, {}), **variables}))

    def function(
        self, function: str, parameters: Mapping[str, str] | None = None, **variables: str
    ) -> Function:
        """``function``'s handler as Lambda runs it: its own environment, its calls checked."""
        parameters = {"LogLevel": "WARNING", **(parameters or {})}
        return Function(self, function, self.env(function, parameters, **variables), parameters)

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
                message_id=envelope.get("MessageId"),
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
    ingest_dlq = sqs.create_queue(QueueName=f"it-ingest-dlq-{suffix}")["QueueUrl"]
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
        ingest_dlq_url=ingest_dlq,
        rule_name=rule,
    )


def _tear_down(stack: Stack) -> None:
    """Remove what the stack created, so a later test can reuse a fixed bucket name."""
    s3, sqs, sns, events = (stack.client(s) for s in ("s3", "sqs", "sns", "events"))
    events.remove_targets(Rule=stack.rule_name, Ids=["capture"])
    events.delete_rule(Name=stack.rule_name)
    sns.delete_topic(TopicArn=stack.topic_arn)
    for url in (stack.notification_queue_url, stack.event_queue_url, stack.dlq_url, stack.ingest_dlq_url):
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


@dataclass
class Function:
    """One function of template.yaml, run in this process as Lambda would run it: its handler is
    imported and called with exactly the function's environment, its cached settings and
    services built afresh for this stack, and every AWS call it makes checked against its IAM."""

    stack: Stack
    name: str
    env: dict[str, str]
    parameters: Mapping[str, str]

    def __post_init__(self) -> None:
        self.attribute = DEPLOYMENT.functions()[self.name].rsplit(".", 1)[1]
        self.module = handler_module(self.name)
        self.module.reset()
        clients.clear_cache()

    def __call__(self, event: Any, context: Any) -> Any:
        names = {**self.stack.names(), **self._context_names(context)}
        with ENVIRONMENTS.of(self.name, self.env), RECORDER.running(self.name, names, self.parameters):
            return getattr(self.module, self.attribute)(event, context)

    def build(self, builder: str) -> Any:
        """What the handler module builds on first use (``_service``, ``_worker_steps``…), built
        now within the function's environment (a test then patches it)."""
        with ENVIRONMENTS.of(self.name, self.env):
            return getattr(self.module, builder)()

    def _context_names(self, context: Any) -> dict[str, str]:
        """The context's own ARN (a function re-invoking itself) is this function's."""
        arn = getattr(context, "invoked_function_arn", None)
        return {arn: DEPLOYMENT.get_att(self.name, "Arn")} if isinstance(arn, str) else {}


# What the test stack cannot give: moto runs no Lambda function for config-sync to ask for a
# retention, so config-sync runs as under `make serve` (events/env.local.json): no request.
LOCAL_VARIABLES = {"ConfigSyncFunction": {"INGEST_FUNCTION_NAME": ""}}


class HandlerModule:
    """A handler module whose entry points run as their functions (``Stack.function``); every
    other attribute is the module's."""

    def __init__(self, stack: Stack, module_name: str) -> None:
        self._functions = {
            handler.rsplit(".", 1)[1]: stack.function(function, **LOCAL_VARIABLES.get(function, {}))
            for function, handler in DEPLOYMENT.functions().items()
            if handler.rsplit(".", 1)[0] == module_name
        }
        self._module = next(iter(self._functions.values())).module

    def __getattr__(self, name: str) -> Any:
        if name in self._functions:
            return self._functions[name]
        return getattr(self._module, name)


@pytest.fixture
def handlers() -> Callable[[Stack], tuple[Any, Any]]:
    """``handlers(stack)``: ``(export_app, config_sync_app)``, each entry point running as its
    function of template.yaml on ``stack`` (``export_app.handler`` as ExportFunction,
    ``export_app.on_failure`` as RunRecoveryFunction…)."""

    def use(stack: Stack) -> tuple[Any, Any]:
        return HandlerModule(stack, "export_app"), HandlerModule(stack, "config_sync_app")

    return use


@dataclass
class _IngestFunctions:
    """The ingest handler module's entry points, each running as its function of template.yaml."""

    handler: Function
    on_failure: Function


@pytest.fixture
def ingest_for(lambda_context: Any) -> Iterator[Callable[..., Ingest]]:
    """``ingest_for(stack, max_bytes=…, **variables)``: an ingest bucket on the stack, and the
    ingest function and ingest recovery function on it, each with its own template environment
    (``variables``: a test's values of the ingest function's variables or optional caps; the test
    sends each continuation back itself)."""
    made: list[Ingest] = []

    def make(stack: Stack, max_bytes: int = 64 * 1024 * 1024, **variables: str) -> Ingest:
        bucket = f"it-ingest-{uuid.uuid4().hex[:10]}"
        stack.s3.create_bucket(Bucket=bucket)
        stack.extra_buckets[bucket] = "IngestBucket"
        functions = _IngestFunctions(
            handler=stack.function(
                "IngestFunction",
                INGEST_MAX_BYTES_PER_INVOCATION=str(max_bytes),
                INGEST_CONTINUATION="return",
                **variables,
            ),
            on_failure=stack.function("IngestRecoveryFunction"),
        )
        made.append(Ingest(stack, bucket, functions, lambda_context))
        return made[-1]

    yield make
    for ingest in made:
        s3 = ingest.stack.s3
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ingest.bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=ingest.bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=ingest.bucket)
