"""Config sync over real HTTP (moto server: S3, Scheduler, SNS, SQS, EventBridge).

architecture.md: a valid definition upload creates or updates the export's schedule (one per
export, in the tenant's zone, targeting the export function); a deletion deletes it; an invalid
upload leaves the existing schedule unchanged and ends in one ``config-invalid`` notification
listing every error (export-definition.md §1: each error names the element and its line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
# The bucket the sample S3 events name (events/s3-config-*.json).
EVENT_BUCKET = "tracking-export-local-config"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # Scheduler's context attribute, replaced at each fire

VALID_BROKEN_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="broken-export">
    <schedule timezone="America/New_York">cron(15 6 ? * MON-FRI *)</schedule>
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <candidateId/>
        </columns>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""

# Three errors: an unknown column (line 8), a template that does not exist (line 9), a bad yes/no (line 12).
INVALID_BROKEN_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="broken-export">
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <bogusColumn/>
          <templatedValue templateId="7"/>
        </columns>
        <parameters>
          <deltaMode>maybe</deltaMode>
        </parameters>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""

NO_SCHEDULE = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="daily-tracking-log">
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <timeGlobal/>
        </columns>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _schedules(stack: Any) -> list[dict[str, Any]]:
    """Every schedule of the stack's group, as GetSchedule describes it."""
    scheduler = stack.scheduler
    found = []
    for summary in scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"]:
        schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=stack.schedule_group)
        schedule.pop("ResponseMetadata", None)
        found.append(schedule)
    return found


@pytest.fixture
def event_stack(make_stack: Any) -> Any:
    return make_stack(config_bucket=EVENT_BUCKET)


def test_valid_upload_schedules_with_the_definitions_expression_and_zone(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "broken-export", VALID_BROKEN_EXPORT)

    [result] = sync.handler(_event("s3-config-upload-invalid.json"), lambda_context)["results"]

    assert result["action"] == "scheduled", result
    [schedule] = _schedules(stack)
    assert schedule["ScheduleExpression"] == "cron(15 6 ? * MON-FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"  # the definition's zone wins
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == stack.export_function_arn
    assert target["RoleArn"] == stack.scheduler_role_arn
    assert target["DeadLetterConfig"] == {"Arn": stack.schedule_dlq_arn}
    assert json.loads(target["Input"]) == {
        "tenantId": "acme",
        "exportGuid": "broken-export",
        "scheduledTime": SCHEDULED_TIME,
    }
    assert stack.notifications() == []


def test_default_schedule_is_daily_at_two_in_the_tenants_zone_and_updates_in_place(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "daily-tracking-log", NO_SCHEDULE)

    [result] = sync.handler(_event("s3-config-upload-valid.json"), lambda_context)["results"]

    assert (result["action"], result["expression"], result["timezone"]) == (
        "scheduled",
        "cron(0 2 * * ? *)",
        "Europe/Paris",
    )
    [schedule] = _schedules(stack)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 2 * * ? *)",
        "Europe/Paris",
    )
    assert json.loads(schedule["Target"]["Input"]) == {
        "tenantId": "acme",
        "exportGuid": "daily-tracking-log",
        "scheduledTime": SCHEDULED_TIME,
    }

    # A new version with its own schedule (no zone: the tenant's) updates the same schedule.
    with_schedule = NO_SCHEDULE.replace(
        "<providers>", "<schedule>cron(0 5 1 * ? *)</schedule>\n    <providers>"
    )
    stack.put_definition("acme", "daily-tracking-log", with_schedule)
    sync.handler(_event("s3-config-upload-valid.json"), lambda_context)
    [updated] = _schedules(stack)
    assert updated["Name"] == schedule["Name"]
    assert (updated["ScheduleExpression"], updated["ScheduleExpressionTimezone"]) == (
        "cron(0 5 1 * ? *)",
        "Europe/Paris",
    )


def test_delete_removes_the_schedule(event_stack: Any, handlers: Any, lambda_context: Any) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_definition("acme", "daily-tracking-log", NO_SCHEDULE)
    sync.handler(_event("s3-config-upload-valid.json"), lambda_context)
    assert len(_schedules(stack)) == 1
    # A tenant without tenant.json is in UTC.
    assert _schedules(stack)[0]["ScheduleExpressionTimezone"] == "UTC"
    stack.s3.delete_object(Bucket=stack.config_bucket, Key="tenants/acme/exports/daily-tracking-log.xml")

    [result] = sync.handler(_event("s3-config-delete.json"), lambda_context)["results"]

    assert result["action"] == "deleted"
    assert _schedules(stack) == []
    # A repeated delete event (at-least-once delivery) finds nothing to delete and does not fail.
    [again] = sync.handler(_event("s3-config-delete.json"), lambda_context)["results"]
    assert again["action"] == "absent"


def test_invalid_upload_notifies_every_error_and_keeps_the_existing_schedule(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    event = _event("s3-config-upload-invalid.json")
    stack.put_definition("acme", "broken-export", VALID_BROKEN_EXPORT)
    sync.handler(event, lambda_context)
    [before] = _schedules(stack)

    stack.put_definition("acme", "broken-export", INVALID_BROKEN_EXPORT)
    [result] = sync.handler(event, lambda_context)["results"]

    assert result["action"] == "invalid"
    assert _schedules(stack) == [before]  # unchanged, down to its modification date
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "broken-export", "outcome": "config-invalid"}
    message = note.message
    assert message["outcome"] == "config-invalid"
    assert message["configKey"] == "tenants/acme/exports/broken-export.xml"
    assert message["errorCount"] == 3
    errors = message["errors"]
    assert len(errors) == 3
    assert errors[0].startswith("line 8: ") and "bogusColumn" in errors[0]
    assert errors[1].startswith("line 9: ") and "templateId" in errors[1] and "'7'" in errors[1]
    assert errors[2].startswith("line 12: ") and "deltaMode" in errors[2] and "'maybe'" in errors[2]
    # Addressed to the tenant's notificationEmails (none here); the account-wide bus never gets them.
    assert message["recipients"] == []
    [bus_event] = stack.events()
    assert (bus_event["source"], bus_event["detail-type"]) == ("tracking-log-export", "Export Config Invalid")
    assert bus_event["detail"] == {k: v for k, v in message.items() if k != "recipients"}


def test_invalid_first_upload_creates_no_schedule(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_definition("acme", "broken-export", INVALID_BROKEN_EXPORT)

    [result] = sync.handler(_event("s3-config-upload-invalid.json"), lambda_context)["results"]

    assert result["action"] == "invalid"
    assert _schedules(stack) == []
    assert [n.attributes["outcome"] for n in stack.notifications()] == ["config-invalid"]


def test_definition_whose_guid_differs_from_its_file_name_is_invalid(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_definition(
        "acme", "broken-export", VALID_BROKEN_EXPORT.replace("broken-export", "other-export")
    )

    [result] = sync.handler(_event("s3-config-upload-invalid.json"), lambda_context)["results"]

    assert result["action"] == "invalid"
    assert _schedules(stack) == []
    [note] = stack.notifications()
    assert note.message["errorCount"] == 1 and "other-export" in note.message["errors"][0]


# -- the last valid version keeps running (issue 6, item 3) --------------------------------------


def _s3_event(bucket: str, key: str, removed: bool = False) -> dict[str, Any]:
    name = "ObjectRemoved:Delete" if removed else "ObjectCreated:Put"
    return {"Records": [{"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}


def _run(stack: Any, guid: str, instant: str) -> dict[str, Any]:
    """Scheduler's delivery to the export function (its own environment and IAM)."""
    payload = {"tenantId": "acme", "exportGuid": guid, "scheduledTime": instant}
    return dict(stack.function("ExportFunction")(payload, FakeLambdaContext()))


def test_runs_use_the_last_valid_definition_while_a_newer_one_is_invalid(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    event = _event("s3-config-upload-invalid.json")
    stack.put_definition("acme", "broken-export", VALID_BROKEN_EXPORT)
    sync.handler(event, lambda_context)
    stack.put_definition("acme", "broken-export", INVALID_BROKEN_EXPORT)
    [first] = sync.handler(event, lambda_context)["results"]
    # S3 delivers the same event again: the tenant is told once per invalid version.
    [again] = sync.handler(event, lambda_context)["results"]
    assert (first["action"], first["reported"]) == ("invalid", True)
    assert (again["action"], again["reported"]) == ("invalid", False)
    assert len(stack.notifications()) == 1

    result = _run(stack, "broken-export", "2026-11-28T11:15:00Z")

    assert result["outcome"] == "succeeded", result
    # The valid version's two columns, not the invalid version's.
    assert stack.read(result["objectKey"]).startswith(b"logDate;candidateId\r\n")

    # Deleting the definition deletes its schedule and its pointer: the next run has nothing to run.
    stack.s3.delete_object(Bucket=stack.config_bucket, Key="tenants/acme/exports/broken-export.xml")
    removal = _s3_event(stack.config_bucket, "tenants/acme/exports/broken-export.xml", removed=True)
    [deleted] = sync.handler(removal, lambda_context)["results"]
    assert deleted["action"] == "deleted" and _schedules(stack) == []
    gone = _run(stack, "broken-export", "2026-11-29T11:15:00Z")
    assert gone["outcome"] == "failed" and "does not exist" in gone["error"]


def test_invalid_tenant_settings_are_reported_and_the_last_valid_ones_stay_in_use(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    settings_event = _s3_event(stack.config_bucket, "tenants/acme/tenant.json")
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    [valid] = sync.handler(settings_event, lambda_context)["results"]
    assert valid == {
        "key": "tenants/acme/tenant.json",
        "tenantId": "acme",
        "action": "settings-valid",
        "rescheduled": [],
        "retentionRequested": False,  # no INGEST_FUNCTION_NAME here (docs/ingestion.md)
    }
    stack.put_definition("acme", "daily-tracking-log", NO_SCHEDULE)
    sync.handler(
        _s3_event(stack.config_bucket, "tenants/acme/exports/daily-tracking-log.xml"), lambda_context
    )

    stack.put_tenant("acme", {"timezone": "Mars/Olympus_Mons"})
    [invalid] = sync.handler(settings_event, lambda_context)["results"]

    assert invalid["action"] == "invalid"
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "outcome": "config-invalid"}
    assert note.message["configKey"] == "tenants/acme/tenant.json"
    assert note.message["errorCount"] == 1 and "Mars/Olympus_Mons" in note.message["errors"][0]
    # The run still reads Paris time: 01:00Z is 02:00 in Paris (file name from the run's local time).
    result = _run(stack, "daily-tracking-log", "2026-11-28T01:00:00Z")
    assert result["outcome"] == "succeeded", result
    assert result["objectKey"] == "tenants/acme/daily-tracking-log_20261128_020000.csv"


def test_a_config_invalid_report_that_cannot_be_published_is_published_by_the_retry(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    from tracking_export_aws.aws.clients import client

    stack = event_stack
    _, sync = handlers(stack)
    stack.put_definition("acme", "broken-export", INVALID_BROKEN_EXPORT)
    event = _event("s3-config-upload-invalid.json")
    sns = client("sns", stack.settings())

    def refuse(**_: Any) -> None:
        raise RuntimeError("SNS is down")

    sns.meta.events.register("before-parameter-build.sns.Publish", refuse)
    try:
        with pytest.raises(Exception, match="SNS is down"):
            sync.handler(event, lambda_context)
    finally:
        sns.meta.events.unregister("before-parameter-build.sns.Publish", refuse)
    assert stack.notifications() == []
    assert len(stack.events()) == 1  # the bus took it
    [retried] = sync.handler(event, lambda_context)["results"]
    assert retried["reported"] is True
    assert [n.attributes["outcome"] for n in stack.notifications()] == ["config-invalid"]
    assert stack.events() == []  # not twice on the bus
    [third] = sync.handler(event, lambda_context)["results"]
    assert third["reported"] is False and stack.notifications() == []


def test_a_late_removal_event_does_not_delete_a_definition_uploaded_again(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    key = "tenants/acme/exports/broken-export.xml"
    stack.put_definition("acme", "broken-export", VALID_BROKEN_EXPORT)
    sync.handler(_s3_event(stack.config_bucket, key), lambda_context)

    # Deleted then uploaded again; the removal's event arrives last.
    [late] = sync.handler(_s3_event(stack.config_bucket, key, removed=True), lambda_context)["results"]

    assert (late["action"], late["reason"]) == ("ignored", "the object exists again")
    assert [s["Name"] for s in _schedules(stack)] == ["acme--broken-export"]


def test_a_definition_older_than_the_pointers_keeps_its_last_valid_version(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    # Uploaded (and scheduled) before config-sync kept pointers: no CONFIG item for it.
    stack.put_definition("acme", "broken-export", VALID_BROKEN_EXPORT)
    stack.put_definition("acme", "broken-export", VALID_BROKEN_EXPORT.replace("<candidateId/>", ""))
    stack.put_definition("acme", "broken-export", INVALID_BROKEN_EXPORT)

    [result] = sync.handler(_event("s3-config-upload-invalid.json"), lambda_context)["results"]

    assert result["action"] == "invalid"
    run = _run(stack, "broken-export", "2026-11-28T11:15:00Z")
    assert run["outcome"] == "succeeded", run
    # The newest valid version (the one column), not the first one.
    assert stack.read(run["objectKey"]).startswith(b"logDate\r\n")


def test_a_new_tenant_zone_moves_the_schedules_that_follow_it(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    for guid, xml in (("daily-tracking-log", NO_SCHEDULE), ("broken-export", VALID_BROKEN_EXPORT)):
        key = stack.put_definition("acme", guid, xml)
        sync.handler(_s3_event(stack.config_bucket, key), lambda_context)
    zones = {s["Name"]: s["ScheduleExpressionTimezone"] for s in _schedules(stack)}
    assert zones == {"acme--daily-tracking-log": "Europe/Paris", "acme--broken-export": "America/New_York"}

    stack.put_tenant("acme", {"timezone": "Asia/Tokyo"})
    [result] = sync.handler(_s3_event(stack.config_bucket, "tenants/acme/tenant.json"), lambda_context)[
        "results"
    ]

    assert result["rescheduled"] == ["daily-tracking-log"]
    zones = {s["Name"]: s["ScheduleExpressionTimezone"] for s in _schedules(stack)}
    # The default schedule follows the tenant; one with its own zone keeps it.
    assert zones == {"acme--daily-tracking-log": "Asia/Tokyo", "acme--broken-export": "America/New_York"}


def test_flexible_window_comes_from_the_export_or_else_the_tenants_default(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    """Issue 7 §4: a fleet's 02:00 schedules can spread over a window; an export's own
    ``flexibleWindowMinutes`` wins over the tenant's default, 0 turns it off."""
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris", "flexibleWindowMinutes": 30})
    stack.put_definition("acme", "daily-tracking-log", NO_SCHEDULE)
    [result] = sync.handler(_event("s3-config-upload-valid.json"), lambda_context)["results"]
    assert result["flexibleWindowMinutes"] == 30
    [schedule] = _schedules(stack)
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 30}

    for own, expected in (("90", {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 90}), ("0", {"Mode": "OFF"})):
        with_window = NO_SCHEDULE.replace(
            "<providers>",
            f'<schedule flexibleWindowMinutes="{own}">cron(0 2 * * ? *)</schedule>\n    <providers>',
        )
        stack.put_definition("acme", "daily-tracking-log", with_window)
        sync.handler(_event("s3-config-upload-valid.json"), lambda_context)
        [schedule] = _schedules(stack)
        assert schedule["FlexibleTimeWindow"] == expected, own


def test_a_new_tenant_default_window_moves_the_schedules_that_follow_it(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    """A change of the tenant's ``flexibleWindowMinutes`` reschedules the exports without a
    window of their own, as a change of its zone does; an export's own window stays."""
    stack = event_stack
    _, sync = handlers(stack)
    settings_event = _s3_event(stack.config_bucket, "tenants/acme/tenant.json")
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    sync.handler(settings_event, lambda_context)
    stack.put_definition("acme", "daily-tracking-log", NO_SCHEDULE)
    sync.handler(_event("s3-config-upload-valid.json"), lambda_context)
    [schedule] = _schedules(stack)
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}

    stack.put_tenant("acme", {"timezone": "Europe/Paris", "flexibleWindowMinutes": 45})
    [changed] = sync.handler(settings_event, lambda_context)["results"]
    assert changed["action"] == "settings-valid" and changed["rescheduled"] == ["daily-tracking-log"]
    [schedule] = _schedules(stack)
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 45}
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"

    own = NO_SCHEDULE.replace(
        "<providers>",
        '<schedule timezone="Asia/Tokyo" flexibleWindowMinutes="10">cron(0 2 * * ? *)</schedule>\n'
        "    <providers>",
    )
    stack.put_definition("acme", "daily-tracking-log", own)
    sync.handler(_event("s3-config-upload-valid.json"), lambda_context)
    stack.put_tenant("acme", {"timezone": "Europe/Paris", "flexibleWindowMinutes": 5})
    [again] = sync.handler(settings_event, lambda_context)["results"]
    assert again["rescheduled"] == []  # its own zone and window: nothing follows the tenant
    [schedule] = _schedules(stack)
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert schedule["ScheduleExpressionTimezone"] == "Asia/Tokyo"


# -- S3 event keys, decoded as AWS documents each form (issue 17 item 4) -------------------------


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("tenants/acme/exports/a+b.xml", "tenants/acme/exports/a b.xml"),  # '+' is a space
        ("tenants/acme/exports/a%2Bb.xml", "tenants/acme/exports/a+b.xml"),
        ("tenants/acme/exports/50%25.xml", "tenants/acme/exports/50%.xml"),
        ("tenants/acme/exports/%C3%A9t%C3%A9.xml", "tenants/acme/exports/été.xml"),
    ],
)
def test_config_sync_decodes_a_notification_key_as_s3_form_encodes_it(
    encoded: str, key: str, event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    _, sync = handlers(event_stack)

    [result] = sync.handler(_s3_event(EVENT_BUCKET, encoded), lambda_context)["results"]

    # None of these is an export guid: the key rule names the decoded key.
    assert result["action"] == "ignored"
    assert result["reason"].startswith(f"{key!r} is not an export configuration key")


def test_config_sync_reads_an_encoded_slash_as_a_slash_and_an_eventbridge_key_as_it_is(
    event_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = event_stack
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "daily-tracking-log", NO_SCHEDULE)

    encoded = "tenants%2Facme%2Fexports%2Fdaily-tracking-log.xml"
    [scheduled] = sync.handler(_s3_event(EVENT_BUCKET, encoded), lambda_context)["results"]
    assert (scheduled["action"], scheduled["exportGuid"]) == ("scheduled", "daily-tracking-log")

    bridge = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": EVENT_BUCKET}, "object": {"key": "tenants/acme/exports/a+b%2B.xml"}},
    }
    [ignored] = sync.handler(bridge, lambda_context)["results"]
    assert ignored["reason"].startswith(
        "'tenants/acme/exports/a+b%2B.xml' is not an export configuration key"
    )
