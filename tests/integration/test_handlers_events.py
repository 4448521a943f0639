"""Every sample event in events/ through its Lambda handler, over real HTTP (moto server, dynalite).

Export events (scheduler payload, EventBridge scheduled event, replay with ``runAt``) go to
functions/export/export_app.handler; S3 config events to functions/config_sync/config_sync_app.handler;
the ingest bucket's S3 event and the erasure request to functions/ingest/ingest_app.handler.
The events name tenant ``acme`` and exports ``daily-tracking-log`` / ``broken-export``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daily_export import DAILY_XML, EXPECTED_FILE, put_daily_tenant

from tools.template_tables import load_template
from tracking_export_aws.runs.service import InvalidRequest
from tracking_export_aws.runtime.settings import (
    ConfigSyncSettings,
    CoordinatorSettings,
    ExportSettings,
    IngestFunctionSettings,
    RunRecoverySettings,
    WatchdogSettings,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
EVENT_BUCKET = "tracking-export-local-config"  # the bucket the S3 events name
TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
SETTINGS_BY_FUNCTION = {
    "ExportFunction": ExportSettings,
    "RunRecoveryFunction": RunRecoverySettings,
    "ConfigSyncFunction": ConfigSyncSettings,
    "IngestFunction": IngestFunctionSettings,
    "ExportCoordinatorFunction": CoordinatorSettings,
    "WatchdogFunction": WatchdogSettings,
}


BROKEN = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="broken-export">
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


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _check_export(stack: Any, result: dict[str, Any], key: str, scheduled_time: str, run_at: str) -> None:
    assert result["outcome"] == "succeeded", result
    assert (result["scheduledTime"], result["runAt"]) == (scheduled_time, run_at)
    assert (result["objectKey"], result["rows"]) == (key, 2)
    assert stack.object_keys() == [key]
    assert stack.read(key) == EXPECTED_FILE
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "daily-tracking-log", "outcome": "succeeded"}
    assert note.message["objectKey"] == key
    assert [e["detail-type"] for e in stack.events()] == ["Export Run Succeeded"]


def scheduler_payload(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)
    event = _event("scheduler-payload.json")

    result = export.handler(event, context)

    # 2026-11-28T01:00Z is 02:00 in Paris; first run of the export: all data.
    _check_export(
        stack,
        result,
        "tenants/acme/daily/tracking_log_20261128_1.csv",
        "2026-11-28T01:00:00+00:00",
        "2026-11-28T01:00:00+00:00",
    )
    # Scheduler delivers at least once: the same delivery again does nothing.
    again = export.handler(event, context)
    assert again["outcome"] == "duplicate"
    assert stack.object_keys() == ["tenants/acme/daily/tracking_log_20261128_1.csv"]
    assert stack.notifications() == []


def eventbridge_scheduled(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)

    result = export.handler(_event("eventbridge-scheduled.json"), context)

    # The fields come from `detail`; the event's `time` is the scheduled time.
    _check_export(
        stack,
        result,
        "tenants/acme/daily/tracking_log_20261128_1.csv",
        "2026-11-28T01:00:00+00:00",
        "2026-11-28T01:00:00+00:00",
    )


def replay_run_at(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)

    result = export.handler(_event("replay-run-at.json"), context)

    # runAt replaces "now": 02:00 in Paris on 27 November.
    _check_export(
        stack,
        result,
        "tenants/acme/daily/tracking_log_20261127_1.csv",
        "2026-11-27T01:00:00+00:00",
        "2026-11-27T01:00:00+00:00",
    )


def s3_config_upload_valid(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "daily-tracking-log", DAILY_XML)

    [result] = sync.handler(_event("s3-config-upload-valid.json"), context)["results"]

    assert (result["action"], result["tenantId"], result["exportGuid"]) == (
        "scheduled",
        "acme",
        "daily-tracking-log",
    )
    [summary] = stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"]
    schedule = stack.scheduler.get_schedule(Name=summary["Name"], GroupName=stack.schedule_group)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 2 * * ? *)",
        "Europe/Paris",
    )
    assert json.loads(schedule["Target"]["Input"])["exportGuid"] == "daily-tracking-log"


def s3_config_upload_invalid(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    _, sync = handlers(stack)
    stack.put_definition("acme", "broken-export", BROKEN)

    [result] = sync.handler(_event("s3-config-upload-invalid.json"), context)["results"]

    assert (result["action"], result["exportGuid"]) == ("invalid", "broken-export")
    assert len(result["errors"]) == 2
    assert stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"] == []
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "broken-export", "outcome": "config-invalid"}
    assert note.message["errors"] == result["errors"]


def s3_config_delete(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    _, sync = handlers(stack)
    stack.put_definition("acme", "daily-tracking-log", DAILY_XML)
    sync.handler(_event("s3-config-upload-valid.json"), context)
    assert len(stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"]) == 1
    stack.s3.delete_object(Bucket=stack.config_bucket, Key="tenants/acme/exports/daily-tracking-log.xml")

    [result] = sync.handler(_event("s3-config-delete.json"), context)["results"]

    assert (result["action"], result["exportGuid"]) == ("deleted", "daily-tracking-log")
    assert stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"] == []


def _ingest(stack: Any, bucket: str) -> Any:
    """The ingest function on ``stack``, ``bucket`` standing for the template's ingest bucket."""
    stack.extra_buckets[bucket] = "IngestBucket"
    return stack.function("IngestFunction")


def ingest_file_dropped(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    export, _ = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "daily-tracking-log", DAILY_XML)
    event = _event("ingest-file-dropped.json")
    bucket = event["Records"][0]["s3"]["bucket"]["name"]
    key = event["Records"][0]["s3"]["object"]["key"]
    logs = [
        records.log("acme", 9001, "2026-11-26T09:30:00Z", 180),
        records.log("acme", 9002, "2026-11-26T17:00:00Z", 60, progression=100, status="completed"),
    ]
    body = "".join(json.dumps(r) + "\n" for r in [*records.catalogue("acme"), *logs])
    stack.s3.create_bucket(Bucket=bucket)
    environment = pytest.MonkeyPatch()
    try:
        environment.setenv("INGEST_BUCKET", bucket)  # the bucket the function ingests from
        stack.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        [result] = _ingest(stack, bucket)(event, context)["results"]
        assert (result["outcome"], result["writtenTotal"]) == ("ingested", 10)
        assert result["movedTo"] == "tenants/acme/processed/2020-02-10.jsonl"
        [note] = stack.notifications()
        assert note.attributes == {"tenantId": "acme", "outcome": "ingested"}
        # What was ingested is what the export reads.
        run = export.handler(_event("scheduler-payload.json"), context)
        assert stack.read(run["objectKey"]) == EXPECTED_FILE
    finally:
        environment.undo()
        for item in stack.s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            stack.s3.delete_object(Bucket=bucket, Key=item["Key"])
        stack.s3.delete_bucket(Bucket=bucket)


def erasure_requested(stack: Any, records: Any, handlers: Any, context: Any) -> None:
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)

    report = stack.function("IngestFunction")(_event("erasure-requested.json"), context)

    # Learner 1 (Laurie), her tracking 501, its two logs and its LOGGED marker.
    assert (report["tenantId"], report["learnerId"], report["mode"]) == ("acme", 1, "deleted")
    assert report["removed"] == {"learner": 1, "loggedMarker": 1, "tracking": 1, "trackingLog": 2}
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "outcome": "learner-erased"}
    run = export.handler(_event("scheduler-payload.json"), context)
    assert (run["outcome"], run["rows"]) == ("succeeded", 0)


CASES: dict[str, Callable[[Any, Any, Any, Any], None]] = {
    "scheduler-payload.json": scheduler_payload,
    "eventbridge-scheduled.json": eventbridge_scheduled,
    "replay-run-at.json": replay_run_at,
    "s3-config-upload-valid.json": s3_config_upload_valid,
    "s3-config-upload-invalid.json": s3_config_upload_invalid,
    "s3-config-delete.json": s3_config_delete,
    "ingest-file-dropped.json": ingest_file_dropped,
    "erasure-requested.json": erasure_requested,
}
NOT_EVENTS = {"env.local.json"}  # environment variables for `sam local invoke --env-vars`


def test_every_event_file_has_a_case() -> None:
    assert {p.name for p in EVENTS.glob("*.json")} == set(CASES) | NOT_EVENTS


@pytest.mark.parametrize("name", sorted(CASES))
def test_event_through_its_handler(
    name: str, make_stack: Any, records: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    CASES[name](stack, records, handlers, lambda_context)


@pytest.mark.parametrize(
    "event",
    [
        {"tenantId": "../globex", "exportGuid": "daily-tracking-log"},
        {"tenantId": "acme", "exportGuid": "../../tenants/globex/x"},
        {"detail": {"tenantId": "ACME", "exportGuid": "daily-tracking-log"}},
        {"tenantId": "acme", "exportGuid": "daily-tracking-log", "runAt": "yesterday"},
    ],
)
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_export_handler_refuses_an_invalid_request(
    event: dict[str, Any], make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack()
    export, _ = handlers(stack)

    with pytest.raises(InvalidRequest):  # Lambda's failure destination / DLQ keeps the event
        export.handler(event, lambda_context)

    assert stack.object_keys() == []
    assert stack.notifications() == []


@pytest.mark.parametrize(
    "function",
    [
        "ExportFunction",
        "RunRecoveryFunction",
        "ConfigSyncFunction",
        "IngestFunction",
        "WatchdogFunction",
    ],
)
def test_local_env_file_configures_each_function(function: str) -> None:
    """events/env.local.json (with the template's own values) is a whole environment of each
    function that reads the configuration: its model accepts it, naming the sample's bucket.
    (The coordinator reads none: the run's plan carries what it needs.)"""
    from tools.serve import template_values
    from tracking_export_aws.runtime.settings import ConfigSettings

    env = {
        **template_values(TEMPLATE, function),
        **_event("env.local.json")[function],
        "AWS_REGION": "eu-west-1",
    }
    settings = SETTINGS_BY_FUNCTION[function].from_env(env)
    assert isinstance(settings, ConfigSettings) and settings.config_bucket == EVENT_BUCKET


# -- faults through the handlers (issue 6: docs/run-lifecycle.md) ---------------------------------

LINKED = DAILY_XML.replace(
    "    </consolidators>",
    "      <emailReport>\n        <targetEmail>lms-admin@acme.example</targetEmail>\n"
    "        <includeDownloadLink>yes</includeDownloadLink>\n      </emailReport>\n    </consolidators>",
)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_export_handler_never_logs_the_link_nor_the_recipients(
    make_stack: Any, records: Any, handlers: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack()
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)
    stack.put_tenant("acme", {"timezone": "Europe/Paris", "notificationEmails": ["training@acme.example"]})
    stack.put_definition("acme", "daily-tracking-log", LINKED)
    logged: list[Any] = []
    for level in ("debug", "info", "warning", "error", "exception"):
        monkeypatch.setattr(export.logger, level, lambda *args, **kwargs: logged.append((args, kwargs)))
    monkeypatch.setattr(export.logger, "append_keys", lambda **kwargs: logged.append(kwargs))

    result = export.handler(_event("scheduler-payload.json"), lambda_context)

    assert result["outcome"] == "succeeded" and "X-Amz-Signature=" in result["downloadUrl"]
    assert result["recipients"] == ["lms-admin@acme.example", "training@acme.example"]
    text = json.dumps(logged, default=str)
    assert "succeeded" in text and result["objectKey"] in text  # the run is logged ...
    assert "X-Amz-Signature" not in text and "@acme.example" not in text  # ... without link or addresses


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_export_handler_raises_when_sns_fails_and_its_retry_publishes_once(
    make_stack: Any, records: Any, handlers: Any, lambda_context: Any
) -> None:
    from tracking_export_aws.aws.clients import client
    from tracking_export_aws.notify.notifier import NotificationError

    stack = make_stack()
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)
    event = _event("scheduler-payload.json")
    sns = client("sns", stack.settings())

    def refuse(**_: Any) -> None:
        raise RuntimeError("SNS throttled")

    sns.meta.events.register("before-parameter-build.sns.Publish", refuse)
    try:
        with pytest.raises(NotificationError):  # Lambda retries the invocation
            export.handler(event, lambda_context)
    finally:
        sns.meta.events.unregister("before-parameter-build.sns.Publish", refuse)
    assert stack.notifications() == []

    retry = export.handler(event, lambda_context)

    assert (retry["outcome"], retry["redelivered"]) == ("duplicate", ["sns"])
    [note] = stack.notifications()
    assert note.message["objectKey"] == "tenants/acme/daily/tracking_log_20261128_1.csv"
    assert [e["detail-type"] for e in stack.events()] == ["Export Run Succeeded"]  # once, at the first try
    assert stack.object_keys() == ["tenants/acme/daily/tracking_log_20261128_1.csv"]


def _given_up(stack: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The OnFailure destination record of ``payload``'s delivery, whose invocation was killed
    after claiming its run (a timeout, say) and which Lambda retried and gave up on."""
    from datetime import UTC, datetime

    scheduled = datetime.fromisoformat(payload["scheduledTime"])
    stack.ledger().claim("acme", payload["exportGuid"], scheduled, datetime.now(UTC), invocation_id="req-1")
    return {
        "version": "1.0",
        "timestamp": "2026-11-28T01:20:00.000Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:export:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorType": "Sandbox.Timedout",
            "errorMessage": "Task timed out after 900.00 seconds",
        },
    }


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_on_failure_destination_ends_the_run_lambda_gave_up_on(
    make_stack: Any, records: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack()
    export, _ = handlers(stack)
    put_daily_tenant(stack, records)
    payload = _event("scheduler-payload.json")
    record = _given_up(stack, payload)

    result = export.on_failure(record, lambda_context)

    assert result["outcome"] == "failed"
    # The condition and Lambda's own timeout words (any other error message may quote a runtime
    # path or a data value: only its error type is kept, see the test below).
    assert result["error"] == (
        "the export function gave up on this run after its retries: "
        "RetriesExhausted (Task timed out after 900.00 seconds)"
    )
    # Killed before it recorded a window: the recovery says which one the run was covering
    # (first deltaMode run of the export).
    assert result["window"]["kind"] == "delta"
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "daily-tracking-log", "outcome": "failed"}
    [run] = stack.ledger().runs("acme", "daily-tracking-log")
    assert (run.status, run.run_number, run.notified_channels) == ("failed", 1, ("eventbridge", "sns"))
    # The destination is itself delivered at least once: nothing more.
    assert export.on_failure(record, lambda_context)["outcome"] == "duplicate"
    assert stack.notifications() == []
    with pytest.raises(InvalidRequest):
        export.on_failure({"requestPayload": payload}, lambda_context)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_recovery_reads_the_valid_version_and_a_missing_tenant_json_under_its_own_grants(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    """The run recovery reads the definition's version config-sync found valid (not a newer
    invalid upload) and takes a tenant without tenant.json as the defaults: S3 answers a read by
    version, and a 404 for the missing object, only to a role with the grants its function has
    (every call here is checked against them)."""
    stack = make_stack(config_bucket=EVENT_BUCKET)
    export, sync = handlers(stack)
    stack.put_definition("acme", "daily-tracking-log", DAILY_XML)  # and no tenant.json
    [synced] = sync.handler(_event("s3-config-upload-valid.json"), lambda_context)["results"]
    assert synced["action"] == "scheduled"
    # A newer upload config-sync has not seen: runs keep reading the valid version.
    stack.put_definition(
        "acme", "daily-tracking-log", DAILY_XML.replace(">yes</deltaMode>", ">maybe</deltaMode>")
    )

    result = export.on_failure(_given_up(stack, _event("scheduler-payload.json")), lambda_context)

    assert result["outcome"] == "failed"
    # Only a readable, valid definition and the tenant's settings (defaults) give the window.
    assert result["window"]["kind"] == "delta"
    [note] = stack.notifications()
    assert note.attributes["outcome"] == "failed"
