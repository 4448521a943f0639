"""The whole export, locally, in one command (``make local``).

Starts moto server and dynalite, creates every resource of template.yaml, uploads a
sample tenant (settings + two definitions, one in deltaMode), drops a generated sample
dataset into the ingest bucket and runs the ingest handler on its S3 event (and on each
continuation), lets the config-sync handler create the schedules, fires each schedule's
target payload at the export handler as Scheduler would, prints what came out (files,
notifications, run records and the e-mails moto's SES accepted), and stops
everything it started.

The export state machine (statemachine/export.asl.json) runs on moto's Step Functions
interpreter, its Lambda tasks on the real handlers in this process: a run estimated above
``--max-rows-per-worker`` rows goes distributed. Each run prints one line
``export=<guid> path=<single|distributed> shards=<K> sha256=<hex of the file>``.

What it uploaded and loaded (tenant.json, the definitions, the dataset as JSONL) stays under
``.local/run/``; after each run a line ``preview: <command>`` gives the ``tracking-export
render … --output -`` command, runnable from the repository root, that writes the same
bytes as the object the run stored.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from tools.local_endpoints import (
    drain_queue,
    dynalite,
    local_state_machines,
    moto_server,
    repo_root,
    sent_emails,
    state_machine_definition,
    wait_for_execution,
)
from tools.sample_data import SampleShape, dataset, write_jsonl
from tools.template_functions import Deployment
from tools.template_tables import resource_names, table_definitions
from tracking_export_aws.aws import clients, keys
from tracking_export_aws.aws.scheduler import SCHEDULED_TIME
from tracking_export_aws.runs.handoff import DEFAULT_MAX_ROWS_PER_WORKER
from tracking_export_aws.runs.ledger import RunLedger

REGION = "eu-west-1"
ACCOUNT = "123456789012"
PREFIX = "tracking-export-local"
TENANT = "acme"
TENANT_ZONE = "Europe/Paris"
# Small enough that the sample file takes more than one invocation (the continuation path).
INGEST_MAX_BYTES = 8 * 1024 * 1024
# The run e-mails' From address, verified in moto's SES (docs/email.md).
EMAIL_SENDER = "exports@tracking-export.example"
EMAIL_LINES = 16

DAILY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="daily-tracking-log">
    <schedule timezone="Europe/Paris">cron(0 2 * * ? *)</schedule>
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate label="Day"/>
          <candidateId label="Learner id"/>
          <candidateName label="Surname"/>
          <candidateFirstname label="First name"/>
          <candidateCustomFieldGuid label="Department">cf-department</candidateCustomFieldGuid>
          <candidateEntityAncestors label="Entity path"/>
          <trainingTitle label="Training"/>
          <sessionTitle label="Session"/>
          <contentTitle label="Content"/>
          <firstLaunchDate label="Started"/>
          <progression label="Progress"/>
          <score label="Score"/>
          <status label="Status"/>
          <timeGlobal label="Time spent"/>
        </columns>
        <parameters>
          <deltaMode>yes</deltaMode>
          <dateTimeFormat>YYYY-MM-DD hh:ii:ss</dateTimeFormat>
          <timeGlobalFormat>paddedhh</timeGlobalFormat>
        </parameters>
      </trackingLogProvider>
    </providers>
    <actions>
      <fileExportAction>
        <format>CSV</format>
        <encoding>UTF-8</encoding>
        <delimiter>semicolon</delimiter>
      </fileExportAction>
    </actions>
    <consolidators>
      <moveToFolder>
        <folderPath>daily</folderPath>
        <fileName>tracking_log_%Y%m%d_%i.csv</fileName>
      </moveToFolder>
      <emailReport>
        <targetEmail>lms-admin@acme.example</targetEmail>
        <includeDownloadLink>yes</includeDownloadLink>
      </emailReport>
      <generateEndFile>
        <fileName>tracking_log.done</fileName>
        <fileContent>OK</fileContent>
      </generateEndFile>
    </consolidators>
  </export>
</export-config>
"""

WEEKLY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="weekly-completions">
    <schedule>cron(30 3 ? * MON *)</schedule>
    <providers>
      <trackingLogProvider>
        <columns>
          <candidateEmail/>
          <trainingPathCode/>
          <contentRefNumber/>
          <completionTime/>
          <status/>
          <timeGlobal label="Time (ISO 8601)"/>
          <templatedValue label="Summary" templateId="1"/>
        </columns>
        <parameters>
          <timeFrames>7</timeFrames>
          <timeFramesScale>less_than_n_days</timeFramesScale>
          <reportStatus><completed/></reportStatus>
          <statusFormat><completed>Done</completed></statusFormat>
          <timeGlobalFormat>iso-8601</timeGlobalFormat>
          <templates><template id="1">{0} finished {2} on {3}</template></templates>
        </parameters>
      </trackingLogProvider>
    </providers>
    <actions>
      <fileExportAction>
        <format>TSV</format>
        <compression>gzip</compression>
      </fileExportAction>
    </actions>
  </export>
</export-config>
"""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _load_handler(root: Path, folder: str, module: str) -> ModuleType:
    """Import a function's handler module from functions/, as Lambda would find it."""
    path = root / "functions" / folder / f"{module}.py"
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


class _Context:
    """The parts of a LambdaContext the handlers read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1769
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.aws_request_id = f"local-{time.time_ns()}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _create_resources(root: Path, moto: str, dynamo: str) -> dict[str, str]:
    """Every resource of template.yaml, named ``tracking-export-local-*``; returns the environment."""
    names = resource_names(root / "template.yaml")
    s3 = clients.client("s3", endpoint_url=moto, region=REGION)
    sns = clients.client("sns", endpoint_url=moto, region=REGION)
    sqs = clients.client("sqs", endpoint_url=moto, region=REGION)
    events = clients.client("events", endpoint_url=moto, region=REGION)
    scheduler = clients.client("scheduler", endpoint_url=moto, region=REGION)
    dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION)

    config_bucket, export_bucket = f"{PREFIX}-config", f"{PREFIX}-exports"
    for bucket in (config_bucket, export_bucket, f"{PREFIX}-ingest"):
        location: Any = {"LocationConstraint": REGION}  # a region name, not the stubs' literal
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
    # As in template.yaml: runs read the last valid version of each configuration object.
    s3.put_bucket_versioning(Bucket=config_bucket, VersioningConfiguration={"Status": "Enabled"})
    tables = {}
    for logical_id, definition in table_definitions(root / "template.yaml").items():
        name = f"{PREFIX}-{logical_id}"
        dynamodb.create_table(TableName=name, **definition)
        tables[logical_id] = name
    topic_arn = sns.create_topic(Name=f"{PREFIX}-notifications")["TopicArn"]
    queues = {
        q: sqs.create_queue(QueueName=f"{PREFIX}-{q}")["QueueUrl"]
        for q in ("notifications", "events", "dlq", "ingest-dlq")
    }
    attrs = {
        q: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for q, url in queues.items()
    }
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attrs["notifications"])
    events.put_rule(Name=f"{PREFIX}-runs", EventPattern=json.dumps({"source": ["tracking-log-export"]}))
    events.put_targets(Rule=f"{PREFIX}-runs", Targets=[{"Id": "print", "Arn": attrs["events"]}])
    group = f"{PREFIX}-schedules"
    scheduler.create_schedule_group(Name=group)
    clients.client("sesv2", endpoint_url=moto, region=REGION).create_email_identity(
        EmailIdentity=EMAIL_SENDER
    )

    tracking_table = next(v for k, v in tables.items() if "Tracking" in k)
    history_table = next(v for k, v in tables.items() if "History" in k)
    # The settings the template takes from its parameters, at their defaults.
    parameters = Deployment.of(root / "template.yaml")
    _say(f"  template resources: {', '.join(sorted(n for group in names.values() for n in group))}")
    _say(f"  buckets {config_bucket}, {export_bucket}; tables {tracking_table}, {history_table}")
    return {
        "AWS_ENDPOINT_URL": moto,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "CONFIG_BUCKET": config_bucket,
        "EXPORT_BUCKET": export_bucket,
        "INGEST_BUCKET": f"{PREFIX}-ingest",
        "INGEST_MAX_BYTES_PER_INVOCATION": str(INGEST_MAX_BYTES),
        # The local run plays Lambda's part: it sends each continuation back to the handler.
        "INGEST_CONTINUATION": "return",
        "INGEST_DLQ_URL": queues["ingest-dlq"],
        "TRACKING_TABLE": tracking_table,
        "RUN_HISTORY_TABLE": history_table,
        "TOPIC_ARN": topic_arn,
        "EVENT_BUS_NAME": "default",
        "SCHEDULE_GROUP": group,
        "EXPORT_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-export",
        "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-scheduler",
        "SCHEDULE_DLQ_ARN": attrs["dlq"],
        "EMAIL_SENDER": EMAIL_SENDER,
        "DOWNLOAD_LINK_SECONDS": parameters.parameter("DownloadLinkSeconds"),
        "EVENTS_INCLUDE_LINKS_AND_RECIPIENTS": parameters.parameter("EventsIncludeLinksAndRecipients"),
        "NOTIFICATION_QUEUE_URL": queues["notifications"],
        "EVENT_QUEUE_URL": queues["events"],
        "POWERTOOLS_SERVICE_NAME": "tracking-export",
        "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def _first_rows(body: bytes, key: str, count: int) -> list[str]:
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    text = body.decode("utf-8-sig")
    return text.split("\r\n")[:count]


def _create_state_machine(root: Path, moto: str) -> str:
    """The export state machine, as template.yaml deploys it; returns its ARN."""
    sfn = clients.client("stepfunctions", endpoint_url=moto, region=REGION)
    functions = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}"
    definition = state_machine_definition(
        root,
        {
            "WorkerFunctionArn": f"{functions}-export-worker",
            "CoordinatorFunctionArn": f"{functions}-export-coordinator",
        },
    )
    response = sfn.create_state_machine(
        name=f"{PREFIX}-export",
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-state-machine",
        type="STANDARD",
    )
    return str(response["stateMachineArn"])


def _run_line(s3: Any, dynamodb: Any, env: dict[str, str], guid: str, object_key: str | None) -> str:
    """``export=<guid> path=<single|distributed> shards=<K> sha256=<hex of the file>``."""
    record = RunLedger(dynamodb, env["RUN_HISTORY_TABLE"]).runs(TENANT, guid, limit=1)[0]
    digest = "-"
    if object_key is not None:
        body = s3.get_object(Bucket=env["EXPORT_BUCKET"], Key=object_key)["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
    return f"export={guid} path={record.path or 'single'} shards={record.shards or 1} sha256={digest}"


def _artifacts(root: Path) -> Path:
    """``.local/run/``, emptied: what this run uploads and loads, kept for the preview commands."""
    folder = root / ".local" / "run"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _preview_command(
    root: Path,
    artifacts: Path,
    guid: str,
    run_time: datetime,
    run_number: int | None,
    previous_success: datetime | None,
) -> str:
    """The ``tracking-export render`` command that previews this run's file on standard output."""
    program = Path(sys.executable).parent / "tracking-export"
    arguments = [
        str(program.relative_to(root)) if program.is_relative_to(root) else str(program),
        "render",
        f"--definition {(artifacts / f'{guid}.xml').relative_to(root)}",
        f"--dataset {(artifacts / f'{TENANT}.jsonl').relative_to(root)}",
        f"--tenant {TENANT}",
        f"--timezone {TENANT_ZONE}",
        f"--now {_iso(run_time)}",
    ]
    if previous_success is not None:
        arguments.append(f"--previous-run-start {previous_success.astimezone(UTC).isoformat()}")
    if run_number is not None:
        arguments.append(f"--run-number {run_number}")
    arguments.append("--output -")
    return " ".join(arguments)


def run(logs: int, rows_to_show: int, max_rows_per_worker: int | None) -> None:
    root = repo_root()
    artifacts = _artifacts(root)
    started = time.monotonic()
    # A small tenant's catalogue (500 learners, 100 contents, 3,000 trackings) with a busy month
    # of activity: the load is most of the run's time, so the catalogue is kept small.
    shape = replace(SampleShape(tenant_id=TENANT), logs=logs, learners=500, contents=100, trackings=3_000)
    paris = ZoneInfo(TENANT_ZONE)
    # Scheduler's first fire after the data: 02:00 Paris on the day after the last day.
    scheduled = datetime.combine(shape.last_day + timedelta(days=1), clock_time(2), paris).astimezone(UTC)
    # Local endpoints check no signature, but botocore will not send a request without one.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    # Filled once the environment is set: Powertools reads it when a handler module loads.
    step_handlers: dict[str, Any] = {}
    with (
        moto_server() as moto,
        dynalite() as dynamo,
        local_state_machines(moto, step_handlers),
    ):
        _say(f"local endpoints: moto server {moto}, dynalite {dynamo}")
        env = _create_resources(root, moto, dynamo)
        env["STATE_MACHINE_ARN"] = _create_state_machine(root, moto)
        env["MAX_ROWS_PER_WORKER"] = str(max_rows_per_worker or DEFAULT_MAX_ROWS_PER_WORKER)
        env["MAX_CONCURRENCY"] = "4"
        _say(
            f"  state machine {env['STATE_MACHINE_ARN']} (moto executes it; its Lambda tasks run here); "
            f"a run above {int(env['MAX_ROWS_PER_WORKER']):,} estimated rows goes distributed"
        )
        os.environ.update(env)
        clients.clear_cache()
        export = _load_handler(root, "export", "export_app")
        steps = _load_handler(root, "export_steps", "export_steps_app")
        step_handlers.update(
            {f"{PREFIX}-export-worker": steps.worker, f"{PREFIX}-export-coordinator": steps.coordinator}
        )
        s3 = clients.client("s3", endpoint_url=moto, region=REGION)
        sqs = clients.client("sqs", endpoint_url=moto, region=REGION)
        scheduler = clients.client("scheduler", endpoint_url=moto, region=REGION)
        dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION)

        config_bucket = env["CONFIG_BUCKET"]
        tenant_settings = {"timezone": TENANT_ZONE, "notificationEmails": ["training@acme.example"]}
        settings_body = json.dumps(tenant_settings).encode()
        (artifacts / "tenant.json").write_bytes(settings_body)
        s3.put_object(Bucket=config_bucket, Key=keys.tenant_settings_key(TENANT), Body=settings_body)
        definitions = {"daily-tracking-log": DAILY_XML, "weekly-completions": WEEKLY_XML}
        for guid, xml in definitions.items():
            (artifacts / f"{guid}.xml").write_bytes(xml.encode())
            s3.put_object(Bucket=config_bucket, Key=keys.export_config_key(TENANT, guid), Body=xml.encode())
        _say(f"uploaded tenant {TENANT!r} ({TENANT_ZONE}) and definitions: {', '.join(definitions)}")

        path = artifacts / f"{TENANT}.jsonl"
        count = write_jsonl(dataset(shape), path)
        _ingest(root, s3, env["INGEST_BUCKET"], path, count, logs)

        sync = _load_handler(root, "config_sync", "config_sync_app")
        for guid in definitions:
            event = _s3_event(config_bucket, keys.export_config_key(TENANT, guid))
            result = sync.handler(event, _Context(f"{PREFIX}-config-sync"))["results"][0]
            _say(
                f"config-sync: {guid}: {result['action']} {result.get('expression')} {result.get('timezone')}"
            )

        sfn = clients.client("stepfunctions", endpoint_url=moto, region=REGION)
        group = env["SCHEDULE_GROUP"]
        for summary in scheduler.list_schedules(GroupName=group)["Schedules"]:
            schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
            payload = json.loads(schedule["Target"]["Input"].replace(SCHEDULED_TIME, _iso(scheduled)))
            _say(f"\nschedule {summary['Name']} fires at {_iso(scheduled)} with {json.dumps(payload)}")
            run_started = time.monotonic()
            ledger = RunLedger(dynamodb, env["RUN_HISTORY_TABLE"])
            previous_success = ledger.previous_success_start(TENANT, payload["exportGuid"])
            result = export.handler(payload, _Context(f"{PREFIX}-export"))
            if result["outcome"] == "distributed":
                _say(
                    f"  -> distributed: ~{result['estimatedRows']:,} estimated rows; "
                    f"execution {result['executionArn']}"
                )
                status = wait_for_execution(sfn, result["executionArn"])["status"]
                record = RunLedger(dynamodb, env["RUN_HISTORY_TABLE"]).runs(
                    TENANT, payload["exportGuid"], limit=1
                )[0]
                result = {
                    "outcome": record.status,
                    "rows": record.rows,
                    "bytes": record.bytes_written,
                    "skippedCount": record.skipped,
                    "objectKey": record.object_key,
                    "error": record.error,
                }
                _say(f"  execution {status}")
            _say(
                f"  -> {result['outcome']}: {result.get('rows', 0):,} rows, {result.get('bytes', 0):,} bytes "
                f"in {time.monotonic() - run_started:.1f} s; skipped {result.get('skippedCount', 0)}; "
                f"key {result.get('objectKey')}"
            )
            if result.get("error"):
                _say(f"  reason: {result['error']}")
            _say(_run_line(s3, dynamodb, env, payload["exportGuid"], result.get("objectKey")))
            record = ledger.runs(TENANT, payload["exportGuid"], limit=1)[0]
            preview = _preview_command(
                root, artifacts, payload["exportGuid"], scheduled, record.run_number, previous_success
            )
            _say(f"preview: {preview}")
            again = export.handler(payload, _Context(f"{PREFIX}-export"))
            _say(f"  same delivery again -> {again['outcome']} (no second file, no second notification)")

        _print_results(s3, sqs, dynamodb, env, list(definitions), rows_to_show)
        _print_emails()
    _say(f"\nlocal run finished in {time.monotonic() - started:.1f} s; moto server and dynalite stopped")


def _ingest(root: Path, s3: Any, bucket: str, path: Path, count: int, logs: int) -> None:
    """Drop the dataset under the tenant's incoming/ prefix; the ingest handler gets its S3 event."""
    key = f"tenants/{TENANT}/incoming/{path.name}"
    s3.upload_file(str(path), bucket, key)
    ingest = _load_handler(root, "ingest", "ingest_app")
    started = time.monotonic()
    [result] = ingest.handler(_s3_event(bucket, key), _Context(f"{PREFIX}-ingest"))["results"]
    while result["outcome"] == "continuing":
        [result] = ingest.handler(result["next"], _Context(f"{PREFIX}-ingest"))["results"]
    _say(
        f"ingested s3://{bucket}/{key} ({count:,} records, {logs:,} logs) through the ingest handler "
        f"in {time.monotonic() - started:.1f} s, {result.get('invocations')} invocation(s)"
    )
    _say(
        f"  notification {result['outcome']}: written {json.dumps(result.get('written'))}, "
        f"rejected {result.get('rejectedCount')}, days recounted {result.get('daysRecounted')}, "
        f"moved to {result.get('movedTo')}"
    )


def _s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_results(
    s3: Any, sqs: Any, dynamodb: Any, env: dict[str, str], guids: list[str], rows_to_show: int
) -> None:
    bucket = env["EXPORT_BUCKET"]
    _say(f"\n== objects in s3://{bucket}/tenants/{TENANT}/")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"tenants/{TENANT}/").get("Contents", [])
    for item in listing:
        _say(f"  {item['Key']}  ({item['Size']:,} bytes)")
    for item in listing:
        if item["Key"].endswith(".done"):
            continue
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        _say(f"\n== first rows of {item['Key']}")
        for line in _first_rows(body, item["Key"], rows_to_show):
            _say(f"  {line}")
    _say("\n== notifications (SNS topic -> SQS)")
    for envelope in drain_queue(sqs, env["NOTIFICATION_QUEUE_URL"]):
        attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        message = json.loads(envelope["Message"])
        message.pop("skipped", None)
        if "downloadUrl" in message:
            message["downloadUrl"] = message["downloadUrl"][:80] + "…"
        _say(f"  attributes {json.dumps(attributes, sort_keys=True)}")
        _say(f"  message {json.dumps(message, sort_keys=True)}")
    events = drain_queue(sqs, env["EVENT_QUEUE_URL"])
    _say(f"\n== EventBridge events: {len(events)} ({', '.join(e.get('detail-type', '?') for e in events)})")
    _say("\n== run records (run-history table)")
    ledger = RunLedger(dynamodb, env["RUN_HISTORY_TABLE"])
    for guid in guids:
        for record in ledger.runs(TENANT, guid):
            _say(
                f"  {guid} run {record.run_number}: {record.status}, window {json.dumps(record.window)}, "
                f"rows {record.rows}, bytes {record.bytes_written}, sha256 {str(record.sha256)[:16]}…, "
                f"{record.duration_ms} ms"
            )
        _say(f"  {guid}: last successful run started {ledger.previous_success_start(TENANT, guid)}")


def _print_emails() -> None:
    """Each e-mail moto's SES accepted: its recipients, subject and first lines."""
    mails = sent_emails(REGION)
    _say(f"\n== e-mails sent through SES from {EMAIL_SENDER}: {len(mails)}")
    for mail in mails:
        _say(f"  to {', '.join(mail.to)}: {mail.subject}")
        lines = [line for line in mail.text.splitlines()[1:] if line]
        for line in lines[:EMAIL_LINES]:
            _say(f"    {line if len(line) <= 100 else line[:99] + '…'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=50_000, help="sample logs to load (default 50,000)")
    parser.add_argument("--rows", type=int, default=6, help="lines of each file to print")
    parser.add_argument(
        "--max-rows-per-worker",
        type=int,
        default=None,
        help=f"estimated rows above which a run goes distributed (default {DEFAULT_MAX_ROWS_PER_WORKER:,})",
    )
    args = parser.parse_args(argv)
    if args.max_rows_per_worker is not None and args.max_rows_per_worker < 1:
        parser.error("--max-rows-per-worker must be at least 1")
    run(args.logs, args.rows, args.max_rows_per_worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
