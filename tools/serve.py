"""``make serve``: the local stack that ``sam local invoke --env-vars events/env.local.json`` talks to.

Starts moto server (S3, SNS, SQS, EventBridge, Scheduler) and dynalite (DynamoDB) on the
ports of ``events/env.local.json``, listening on every interface so that the Lambda
containers of ``sam local invoke`` reach them; creates exactly the resources that file
names (what each variable names — bucket, table, topic, queue, schedule group — is read
from template.yaml, so the file, the template and this stack cannot drift apart); loads
the sample tenant; uploads its settings, the local run's two definitions and the invalid
definition ``events/s3-config-upload-invalid.json`` points at; schedules the two through
config-sync; prints the endpoints and the ``sam local invoke`` commands; then stays up,
printing every notification the topic receives, until Ctrl-C or SIGTERM.

The stack is an object (:class:`ServeStack`) with a non-blocking ``start``/``stop``, so
the tests run it in-process on free ports. Development only: nothing here is in a layer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tools.local_endpoints import dynalite_binary
from tools.local_run import DAILY_XML, TENANT, TENANT_ZONE, WEEKLY_XML
from tools.sample_data import SampleShape, dataset
from tools.template_tables import load_template, table_definitions
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.aws.s3_events import S3ObjectEvent
from tracking_export_aws.ingest.loader import load_dataset
from tracking_export_aws.runtime.settings import ConfigSyncSettings
from tracking_export_aws.runtime.wiring import config_sync_service

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
ENV_FILE = EVENTS / "env.local.json"
TEMPLATE = ROOT / "template.yaml"
DEFAULT_LOGS = 2_000
STARTUP_TIMEOUT_SECONDS = 30

# The variables of env.local.json that point the functions at this stack's two servers.
MOTO_URL_VARIABLE = "AWS_ENDPOINT_URL"
DYNAMODB_URL_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
# On Linux with Docker Engine, host.docker.internal does not resolve in a container unless
# mapped; 172.17.0.1 is the host's address on Docker's default bridge (docker0).
LINUX_BRIDGE_ADDRESS = "172.17.0.1"

# Which function each sample event is for (events/README.md documents their outcomes).
EVENT_FUNCTIONS = {
    "scheduler-payload.json": "ExportFunction",
    "eventbridge-scheduled.json": "ExportFunction",
    "replay-run-at.json": "ExportFunction",
    "s3-config-upload-valid.json": "ConfigSyncFunction",
    "s3-config-upload-invalid.json": "ConfigSyncFunction",
    "s3-config-delete.json": "ConfigSyncFunction",
    "ingest-file-dropped.json": "IngestFunction",
    "erasure-requested.json": "IngestFunction",
}
SAMPLE_DEFINITIONS = {"daily-tracking-log": DAILY_XML, "weekly-completions": WEEKLY_XML}
TENANT_SETTINGS = {"timezone": TENANT_ZONE, "notificationEmails": ["training@acme.example"]}
# Two errors (an unknown column, a yes/no parameter set to "maybe"): config-sync refuses it.
INVALID_DEFINITION = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="{guid}">
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <bogusColumn/>
        </columns>
        <parameters>
          <deltaMode>maybe</deltaMode>
        </parameters>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""
# The sample tenant's catalogue, kept small so the load takes seconds, not minutes.
SAMPLE_SHAPE = SampleShape(tenant_id=TENANT, learners=100, contents=30, trackings=300, logs=DEFAULT_LOGS)

# Resource type -> (kind, the property that holds its name).
_KINDS = {
    "AWS::S3::Bucket": ("bucket", "BucketName"),
    "AWS::DynamoDB::Table": ("table", "TableName"),
    "AWS::SNS::Topic": ("topic", "TopicName"),
    "AWS::SQS::Queue": ("queue", "QueueName"),
    "AWS::Scheduler::ScheduleGroup": ("schedule_group", "Name"),
}
# Named in the functions' environment but nothing to run here: `sam local invoke` runs the
# function itself, and moto's Scheduler takes a role ARN without the role existing. The export
# state machine is not run either: the sample's runs stay under MAX_ROWS_PER_WORKER (single
# path); `make local` runs the distributed path on moto's interpreter.
_NOT_LOCAL = {
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
    "AWS::IAM::Role",
    "AWS::Serverless::StateMachine",
}


class ServeError(RuntimeError):
    """The local stack cannot be built as asked; the message says what and where."""


@dataclass(frozen=True)
class LocalResource:
    """One resource of the local stack, as env.local.json names it."""

    kind: str  # bucket, table, topic, queue or schedule_group
    name: str  # the bucket, table, topic, queue or group name
    arn: str | None  # for topics and queues: the ARN the functions are given
    logical_id: str  # the template resource it stands for
    variables: tuple[str, ...]  # "Function.VARIABLE" entries of env.local.json that name it


def read_env_file(path: Path = ENV_FILE) -> dict[str, dict[str, str]]:
    """env.local.json: function logical id -> {variable: value}, every value a string."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ServeError(f"{path}: cannot read it as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ServeError(f"{path}: expected an object keyed by function logical id")
    for function, variables in data.items():
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise ServeError(f"{path}: {function}: expected an object of string values")
    return data


def function_environment(template: Mapping[str, Any], function: str) -> dict[str, Any]:
    """The variables a function declares (Globals first, then its own), as the template writes them.

    ``sam local invoke --env-vars`` only overrides these: a variable the template does not
    declare is silently dropped.
    """
    resource = template["Resources"].get(function)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        raise ServeError(f"template.yaml has no AWS::Serverless::Function {function!r}")
    declared = dict(
        (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables")
        or {}
    )
    declared.update(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
    return declared


def template_values(template: Mapping[str, Any], function: str) -> dict[str, str]:
    """The values sam gives a function's variables before --env-vars: plain values as written,
    a parameter's !Ref as the parameter's default; variables naming resources are left out
    (env.local.json must set them: sam cannot resolve them to a local name)."""
    parameters = template.get("Parameters") or {}
    values: dict[str, str] = {}
    for variable, value in function_environment(template, function).items():
        if isinstance(value, bool):
            values[variable] = str(value).lower()
        elif isinstance(value, str | int | float):
            values[variable] = str(value)
        elif isinstance(value, dict) and value.get("Ref") in parameters:
            values[variable] = str(parameters[value["Ref"]].get("Default", ""))
    return values


def _named_resource(value: Any, resources: Mapping[str, Any]) -> str | None:
    """The logical id of the resource a template value refers to, or None for a plain value."""
    if not isinstance(value, dict):
        return None
    if "Ref" in value:
        return value["Ref"] if value["Ref"] in resources else None
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0]) if isinstance(target, list) and target[0] in resources else None
    if "Fn::Sub" in value:
        # A name written out (the config bucket's, to avoid a circular dependency): the
        # resource whose name property is the same expression.
        for logical_id, resource in resources.items():
            kind = _KINDS.get(resource.get("Type", ""))
            if kind and (resource.get("Properties") or {}).get(kind[1]) == value:
                return str(logical_id)
    return None


def stack_resources(env: Mapping[str, Mapping[str, str]], template: Mapping[str, Any]) -> list[LocalResource]:
    """Every resource env.local.json names, with its kind read from the template.

    Raises ServeError when the file sets a variable the template does not declare (sam
    would ignore it), names something this stack cannot create, or gives one resource two
    names.
    """
    resources = template["Resources"]
    found: dict[str, LocalResource] = {}
    for function, variables in env.items():
        declared = function_environment(template, function)
        for variable, value in variables.items():
            where = f"env.local.json {function}.{variable}"
            if variable not in declared:
                raise ServeError(
                    f"{where} is not declared in template.yaml's environment of {function}: "
                    "sam local invoke would ignore it"
                )
            logical_id = _named_resource(declared[variable], resources)
            if logical_id is None:
                continue
            resource_type = resources[logical_id]["Type"]
            if resource_type in _NOT_LOCAL:
                continue
            if resource_type not in _KINDS:
                raise ServeError(
                    f"{where} names {logical_id} ({resource_type}), which make serve cannot create"
                )
            kind = _KINDS[resource_type][0]
            arn = value if value.startswith("arn:") else None
            # A queue is named by its ARN or by its URL (http://host:port/account/name).
            name = value.rsplit(":", 1)[-1] if arn else value.rsplit("/", 1)[-1] if kind == "queue" else value
            entry = LocalResource(kind, name, arn, logical_id, (f"{function}.{variable}",))
            known = found.get(logical_id)
            if known is not None and (known.name, known.arn) != (name, arn):
                raise ServeError(f"{where} names {logical_id} {value!r}, {known.variables[0]} {known.name!r}")
            found[logical_id] = replace(entry, variables=(known.variables if known else ()) + entry.variables)
    return list(found.values())


def stack_region(resources: list[LocalResource]) -> str:
    """The region of the ARNs in env.local.json, where the stack is created; they must share
    one region and one account."""
    places = {tuple(r.arn.split(":")[3:5]) for r in resources if r.arn}
    if len(places) != 1:
        raise ServeError(f"env.local.json's ARNs should share one region and account, found {sorted(places)}")
    return places.pop()[0]


def _endpoint(env: Mapping[str, Mapping[str, str]], variable: str) -> tuple[str, int]:
    """(host, port) of an endpoint variable; every function that sets it must agree."""
    urls = {variables[variable] for variables in env.values() if variable in variables}
    if len(urls) != 1:
        raise ServeError(f"env.local.json should give {variable} one value, found {sorted(urls)}")
    parts = urlsplit(urls.pop())
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ServeError(f"env.local.json {variable}: expected http://host:port, got {parts.geturl()!r}")
    return parts.hostname, parts.port


def event_key(name: str) -> str:
    """The object key an S3 sample event in events/ carries."""
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return str(event["Records"][0]["s3"]["object"]["key"])


@dataclass(frozen=True)
class Notification:
    """One message of the notification topic, as its tap queue received it."""

    attributes: dict[str, str]
    message: dict[str, Any]


@dataclass
class ServeStack:
    """moto server and dynalite with the resources of env.local.json and the sample tenant.

    ``moto_port`` / ``dynamodb_port`` default to the ports of env.local.json; pass others
    (e.g. free ports in tests) and :meth:`container_environment` gives the file to use.
    """

    moto_port: int | None = None
    dynamodb_port: int | None = None
    bind: str = "0.0.0.0"  # what moto server listens on; dynalite always listens on all interfaces
    logs: int = DEFAULT_LOGS
    env_file: Path = ENV_FILE
    template_path: Path = TEMPLATE
    say: Any = field(default=print, repr=False)

    def __post_init__(self) -> None:
        self.env = read_env_file(self.env_file)
        self.template = load_template(self.template_path)
        self.resources = stack_resources(self.env, self.template)
        self.region = stack_region(self.resources)
        self.container_host, file_moto_port = _endpoint(self.env, MOTO_URL_VARIABLE)
        _, file_dynamodb_port = _endpoint(self.env, DYNAMODB_URL_VARIABLE)
        self.moto_port = self.moto_port or file_moto_port
        self.dynamodb_port = self.dynamodb_port or file_dynamodb_port
        self._servers: dict[str, subprocess.Popen[bytes]] = {}
        self.tap_queue_url = ""
        self.config_sync_results: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def moto_url(self) -> str:
        """moto server as this process reaches it."""
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def dynamodb_url(self) -> str:
        """dynalite as this process reaches it."""
        return f"http://127.0.0.1:{self.dynamodb_port}"

    def start(self) -> ServeStack:
        """Start both servers, create the resources, load and configure the sample tenant; returns at once."""
        try:
            self._start_servers()
            self._create_resources()
            self._load_sample_tenant()
            self._configure_sample_tenant()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what :meth:`start` started (safe to call twice)."""
        while self._servers:
            _, process = self._servers.popitem()
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> ServeStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_servers(self) -> None:
        assert self.moto_port and self.dynamodb_port
        _check_port_free(self.bind, self.moto_port, "moto server", "--moto-port")
        _check_port_free("0.0.0.0", self.dynamodb_port, "dynalite", "--dynamodb-port")
        binary = dynalite_binary(ROOT)
        if not binary.exists():
            raise ServeError(f"dynalite is not installed at {binary}: run `make dynalite`")
        # moto in its own process: its state is per process, so each stack starts empty.
        self._spawn(
            "moto server", [sys.executable, "-m", "moto.server", "-H", self.bind, "-p", str(self.moto_port)]
        )
        flags = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
        self._spawn("dynalite", [str(binary), "--port", str(self.dynamodb_port), *flags])
        _wait_until_listening(self.moto_port, self._servers["moto server"], "moto server")
        _wait_until_listening(self.dynamodb_port, self._servers["dynalite"], "dynalite")

    def _spawn(self, name: str, command: list[str]) -> None:
        # Output discarded: a pipe nobody reads would block the server once full, and one
        # access-log line per request would bury the notifications this prints. Its own
        # session: Ctrl-C reaches only this process, which then stops the servers itself.
        self._servers[name] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    # ------------------------------------------------------------------ environment

    def environment(self, function: str) -> dict[str, str]:
        """The function's environment in this process: env.local.json with this stack's URLs,
        plus the region ``sam local invoke --region`` gives the container."""
        env = {**template_values(self.template, function), **self.env[function]}
        if MOTO_URL_VARIABLE in env:
            env[MOTO_URL_VARIABLE] = self.moto_url
        if DYNAMODB_URL_VARIABLE in env:
            env[DYNAMODB_URL_VARIABLE] = self.dynamodb_url
        return {**env, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def container_environment(self) -> dict[str, dict[str, str]]:
        """What ``--env-vars`` must hold for this stack: env.local.json with this stack's ports."""
        urls = {
            MOTO_URL_VARIABLE: f"http://{self.container_host}:{self.moto_port}",
            DYNAMODB_URL_VARIABLE: f"http://{self.container_host}:{self.dynamodb_port}",
        }
        return {
            function: {name: urls.get(name, value) for name, value in env.items()}
            for function, env in self.env.items()
        }

    def config_sync_settings(self) -> ConfigSyncSettings:
        """Config-sync's settings as ``sam local invoke`` gives them (the sample's schedules)."""
        return ConfigSyncSettings.from_env(self.environment("ConfigSyncFunction"))

    def client(self, service: str) -> Any:
        url = self.dynamodb_url if service == "dynamodb" else self.moto_url
        return clients.client(service, endpoint_url=url, region=self.region)

    def named(self, kind: str) -> list[LocalResource]:
        return [r for r in self.resources if r.kind == kind]

    # ------------------------------------------------------------------ provisioning

    def _create_resources(self) -> None:
        definitions = table_definitions(self.template_path)
        for resource in self.resources:
            if resource.kind == "bucket":
                location = {} if self.region == "us-east-1" else {"LocationConstraint": self.region}
                self.client("s3").create_bucket(Bucket=resource.name, CreateBucketConfiguration=location)
            elif resource.kind == "table":
                self.client("dynamodb").create_table(
                    TableName=resource.name, **definitions[resource.logical_id]
                )
            elif resource.kind == "topic":
                arn = self.client("sns").create_topic(Name=resource.name)["TopicArn"]
                self._same_arn(resource, arn)
            elif resource.kind == "queue":
                sqs = self.client("sqs")
                url = sqs.create_queue(QueueName=resource.name)["QueueUrl"]
                if resource.arn is not None:
                    self._same_arn(resource, _queue_arn(sqs, url))
            elif resource.kind == "schedule_group":
                self.client("scheduler").create_schedule_group(Name=resource.name)
        # Not in env.local.json: a queue subscribed to the topic, so `make serve` (and the
        # tests) can show what the functions notified.
        [topic] = self.named("topic")
        sqs = self.client("sqs")
        self.tap_queue_url = sqs.create_queue(QueueName=f"{topic.name}-tap")["QueueUrl"]
        self.client("sns").subscribe(
            TopicArn=topic.arn, Protocol="sqs", Endpoint=_queue_arn(sqs, self.tap_queue_url)
        )

    def _same_arn(self, resource: LocalResource, created: str) -> None:
        if created != resource.arn:
            raise ServeError(
                f"env.local.json {resource.variables[0]} is {resource.arn}, but moto named it {created}: "
                "use moto's account 123456789012"
            )

    def _load_sample_tenant(self) -> None:
        table = self.env["ExportFunction"]["TRACKING_TABLE"]
        started = time.monotonic()
        report = load_dataset(dataset(replace(SAMPLE_SHAPE, logs=self.logs)), table, self.client("dynamodb"))
        if report.rejected_count:
            raise ServeError(f"the sample tenant was not loaded whole: {report.as_dict()}")
        self.say(
            f"loaded tenant {TENANT!r}: {self.logs:,} logs on {SAMPLE_SHAPE.last_day} (UTC) and its "
            f"catalogue into {table} in {time.monotonic() - started:.1f} s"
        )

    def _configure_sample_tenant(self) -> None:
        settings = self.config_sync_settings()
        s3 = self.client("s3")
        s3.put_object(
            Bucket=settings.config_bucket,
            Key=keys.tenant_settings_key(TENANT),
            Body=json.dumps(TENANT_SETTINGS).encode(),
        )
        uploaded = [keys.export_config_key(TENANT, guid) for guid in SAMPLE_DEFINITIONS]
        for key, xml in zip(uploaded, SAMPLE_DEFINITIONS.values(), strict=True):
            s3.put_object(Bucket=settings.config_bucket, Key=key, Body=xml.encode())
        # Left for events/s3-config-upload-invalid.json to find; not synced here.
        invalid_key = event_key("s3-config-upload-invalid.json")
        invalid_guid = invalid_key.rsplit("/", 1)[-1].removesuffix(".xml")
        s3.put_object(
            Bucket=settings.config_bucket,
            Key=invalid_key,
            Body=INVALID_DEFINITION.format(guid=invalid_guid).encode(),
        )
        service = config_sync_service(settings)
        self.config_sync_results = [
            service.apply(S3ObjectEvent(bucket=settings.config_bucket, key=key)).as_json() for key in uploaded
        ]
        self.say(
            f"uploaded to s3://{settings.config_bucket}/tenants/{TENANT}/: tenant.json, {', '.join(uploaded)}"
        )
        for result in self.config_sync_results:
            self.say(
                f"config-sync {result['key']}: {result['action']} {result.get('expression', '')} "
                f"{result.get('timezone', '')}".rstrip()
            )

    # ------------------------------------------------------------------ running

    def notifications(self, wait_seconds: int = 0) -> list[Notification]:
        """The topic's messages since the last call (read from its tap queue, then deleted)."""
        sqs = self.client("sqs")
        found: list[Notification] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                found.append(Notification(attributes, json.loads(envelope["Message"])))
                sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])
            wait_seconds = 0

    def invoke_commands(self, env_vars: str, add_host: str | None) -> list[str]:
        """One ``sam local invoke`` command per sample event."""
        options = f"--env-vars {env_vars} --region {self.region}"
        if add_host:
            options += f" --add-host {self.container_host}:{add_host}"
        return [
            f"sam local invoke {function} -e events/{name} {options}"
            for name, function in EVENT_FUNCTIONS.items()
        ]

    def serve_forever(self, stop: threading.Event) -> None:
        """Print each notification as it arrives until ``stop`` is set."""
        while not stop.is_set():
            for name, process in self._servers.items():
                if process.poll() is not None:
                    raise ServeError(f"{name} exited with status {process.returncode}")
            # SQS long polling: returns as soon as a message arrives, or after a second.
            for note in self.notifications(wait_seconds=1):
                summary = {
                    k: note.message[k] for k in ("outcome", "objectKey", "rows", "error") if k in note.message
                }
                self.say(f"notification {json.dumps(note.attributes)}: {json.dumps(summary)}")


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _check_port_free(host: str, port: int, name: str, option: str) -> None:
    """Fail with a clear message now rather than inside the server's thread or process."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers themselves do
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServeError(
                f"{name} cannot listen on {host}:{port} ({exc.strerror}): stop what uses it, or pick "
                f"another port with {option} (the commands printed then use .local/serve/env.json)"
            ) from None


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(f"{name} exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # poll interval while the process binds its port
    raise ServeError(f"{name} did not listen on port {port} within {STARTUP_TIMEOUT_SECONDS}s")


def _env_vars_file(stack: ServeStack) -> str:
    """The --env-vars file for this stack: events/env.local.json, or a copy with other ports."""
    wanted = stack.container_environment()
    if wanted == stack.env:
        return str(stack.env_file.relative_to(ROOT))
    path = ROOT / ".local" / "serve" / "env.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return str(path.relative_to(ROOT))


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.serve [--moto-port N] [--dynamodb-port N] [--bind ADDR] [--logs N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--moto-port", type=int, help="default: the port of AWS_ENDPOINT_URL in env.local.json"
    )
    parser.add_argument(
        "--dynamodb-port", type=int, help="default: the port of AWS_ENDPOINT_URL_DYNAMODB in env.local.json"
    )
    parser.add_argument("--bind", default="0.0.0.0", help="address moto server listens on (default: all)")
    parser.add_argument("--logs", type=int, default=DEFAULT_LOGS, help="sample tracking logs to load")
    args = parser.parse_args(argv)

    # Local endpoints check no signature, but botocore will not send a request without one.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    stack = ServeStack(
        moto_port=args.moto_port, dynamodb_port=args.dynamodb_port, bind=args.bind, logs=args.logs
    )
    try:
        stack.start()
    except ServeError as exc:
        print(f"make serve: {exc}")
        return 1
    try:
        _print_usage(stack)
        stack.serve_forever(stop)
    except ServeError as exc:
        print(f"make serve: {exc}")
        return 1
    finally:
        stack.stop()
        print("\nmoto server and dynalite stopped")
    return 0


def _print_usage(stack: ServeStack) -> None:
    env_vars = _env_vars_file(stack)
    on_linux = platform.system() == "Linux"
    print(f"\nmoto server  http://{stack.bind}:{stack.moto_port}  (S3, SNS, SQS, EventBridge, Scheduler)")
    print(f"dynalite     http://0.0.0.0:{stack.dynamodb_port}  (DynamoDB)")
    print(f"region {stack.region}; containers reach both as {stack.container_host} ({env_vars})")
    for resource in stack.resources:
        print(f"  {resource.kind:<15} {resource.arn or resource.name}")
    print("\nWith Docker and the SAM CLI, in another shell at the repository root: `sam build` once, then")
    for command in stack.invoke_commands(env_vars, LINUX_BRIDGE_ADDRESS if on_linux else None):
        print(f"  {command}")
    if on_linux:
        print(
            f"(--add-host maps {stack.container_host} to the docker0 bridge address {LINUX_BRIDGE_ADDRESS}; "
            "drop it on Docker Desktop, where the name resolves by itself)"
        )
    else:
        print(f"(on Linux with Docker Engine add --add-host {stack.container_host}:{LINUX_BRIDGE_ADDRESS})")
    print("\nEach invocation's notification is printed below. Ctrl-C stops the stack.")


if __name__ == "__main__":
    raise SystemExit(main())
