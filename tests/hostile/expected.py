"""What each hostile input of this corpus must produce (docs/limits.md), checked by hand
against the rules there: tests/unit/test_hostile_inputs.py and
tests/integration/test_hostile_handlers.py both read these tables."""

from __future__ import annotations

from tracking_export_aws.aws.s3_events import S3ObjectEvent

EXPORT = "/export-config/export"
PARAMS = f"{EXPORT}/providers/trackingLogProvider/parameters"
COLUMNS = f"{EXPORT}/providers/trackingLogProvider/columns"
CONSOLIDATORS = f"{EXPORT}/consolidators"
SCHEDULE_LINE, COLUMNS_LINE, FIRST_COLUMN_LINE, SECOND_COLUMN_LINE = 4, 7, 8, 9
PARAM_LINE, CONSOLIDATOR_LINE = 12, 17
INTERVAL = "the minimum interval is 15 minutes (setting MIN_SCHEDULE_INTERVAL_MINUTES)"
BAD_NAME = "may not contain '/' (no folders, no absolute path), '\\' or control characters"
SAME_NAME = "the end file's name is the export file's own name; the end file would replace the export"
ZONE = "expected an IANA time zone name such as Europe/Paris or UTC"

# file -> (element path, line or None for JSON, what the message must say). Every file in
# tests/hostile/definitions has a row, and every row was checked against docs/limits.md.
DEFINITIONS: dict[str, tuple[str, int | None, str]] = {
    "schedule-rate-1-minute.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        f"runs every 1 minute(s); {INTERVAL}",
    ),
    "schedule-cron-every-minute.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        f"schedule 'cron(* * * * ? *)' fires 1 minute(s) apart at the closest; {INTERVAL}",
    ),
    "schedule-cron-every-5-minutes.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        f"5 minute(s) apart at the closest; {INTERVAL}",
    ),
    "schedule-cron-two-close-minutes.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        f"10 minute(s) apart at the closest; {INTERVAL}",
    ),
    "schedule-rate-huge.xml": (f"{EXPORT}/schedule", SCHEDULE_LINE, "… (5014 characters): expected cron("),
    "schedule-at-impossible-date.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        "bad schedule 'at(2026-02-30T02:00:00)'",
    ),
    "schedule-cron-both-day-fields.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        "bad schedule 'cron(0 2 * * MON *)': one of day-of-month (3rd field) and day-of-week (5th field) "
        "must be ?, not both",
    ),
    "schedule-cron-year-1900.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        "bad schedule 'cron(0 2 * * ? 1900)': the year field '1900' is not valid for cron()",
    ),
    "schedule-cron-month-13.xml": (
        f"{EXPORT}/schedule",
        SCHEDULE_LINE,
        "bad schedule 'cron(0 2 1 13 ? *)': the month field '13' is not valid for cron()",
    ),
    "zone-300-characters.xml": (
        f"{EXPORT}/schedule/@timezone",
        SCHEDULE_LINE,
        f"unknown time zone 'Europe/PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP'… (307 characters); {ZONE}",
    ),
    "zone-path.xml": (f"{EXPORT}/schedule/@timezone", SCHEDULE_LINE, f"'../../../../etc/passwd'; {ZONE}"),
    "timeframes-days-huge.xml": (
        f"{PARAMS}/timeFrames",
        PARAM_LINE,
        "timeFrames 999999999 is out of range for less_than_n_days: 0..3660 (setting MAX_TIME_FRAME_DAYS)",
    ),
    "timeframes-months-huge.xml": (
        f"{PARAMS}/timeFrames",
        PARAM_LINE,
        "timeFrames 100000 is out of range for less_than_n_months: 0..120 (setting MAX_TIME_FRAME_MONTHS)",
    ),
    "timeframes-full-months-huge.xml": (
        f"{PARAMS}/timeFrames",
        PARAM_LINE,
        "timeFrames 121 is out of range for less_than_n_full_months: 0..120",
    ),
    "timeframes-years-huge.xml": (
        f"{PARAMS}/timeFrames",
        PARAM_LINE,
        "timeFrames 10000 is out of range for less_than_n_years: 0..10 (setting MAX_TIME_FRAME_YEARS)",
    ),
    "timeframes-full-years-huge.xml": (
        f"{PARAMS}/timeFrames",
        PARAM_LINE,
        "timeFrames 11 is out of range for less_than_n_full_years: 0..10",
    ),
    "timeframes-digits.xml": (f"{PARAMS}/timeFrames", PARAM_LINE, "expected a whole number ≥ 0, got '1111"),
    "entity-ids-huge.xml": (f"{PARAMS}/entityIds", PARAM_LINE, "(5000 characters) is not an id"),
    "end-file-dotdot.xml": (
        f"{CONSOLIDATORS}/generateEndFile/fileName",
        CONSOLIDATOR_LINE,
        "bad file name pattern '..': a file name may not be only dots",
    ),
    "end-file-dot.xml": (
        f"{CONSOLIDATORS}/generateEndFile/fileName",
        CONSOLIDATOR_LINE,
        "may not be only dots",
    ),
    "end-file-absolute.xml": (f"{CONSOLIDATORS}/generateEndFile/fileName", CONSOLIDATOR_LINE, BAD_NAME),
    "end-file-parent-folder.xml": (f"{CONSOLIDATORS}/generateEndFile/fileName", CONSOLIDATOR_LINE, BAD_NAME),
    "end-file-backslash.xml": (f"{CONSOLIDATORS}/generateEndFile/fileName", CONSOLIDATOR_LINE, BAD_NAME),
    "end-file-control-character.xml": (
        f"{CONSOLIDATORS}/generateEndFile/fileName",
        CONSOLIDATOR_LINE,
        f"'done\\t.flag': the file name {BAD_NAME}",
    ),
    "end-file-same-as-export.xml": (
        f"{CONSOLIDATORS}/generateEndFile/fileName",
        CONSOLIDATOR_LINE + 1,
        SAME_NAME,
    ),
    "end-file-same-as-default-name.xml": (
        f"{CONSOLIDATORS}/generateEndFile/fileName",
        CONSOLIDATOR_LINE,
        SAME_NAME,
    ),
    "end-file-content-too-large.xml": (
        f"{CONSOLIDATORS}/generateEndFile/fileContent",
        CONSOLIDATOR_LINE,
        "fileContent is 70000 bytes; an end file holds at most 65536 (setting MAX_END_FILE_BYTES)",
    ),
    "constant-value-too-long.xml": (
        f"{COLUMNS}/constantValue",
        SECOND_COLUMN_LINE,
        "the text of <constantValue> is longer than 4096 characters (setting MAX_TEXT_LENGTH)",
    ),
    "constant-value-attribute-too-long.xml": (
        f"{COLUMNS}/constantValue/@value",
        SECOND_COLUMN_LINE,
        "the value is longer than 4096 characters",
    ),
    "label-too-long.xml": (
        f"{COLUMNS}/candidateId/@label",
        FIRST_COLUMN_LINE,
        "the label is longer than 4096",
    ),
    "template-too-long.xml": (
        f"{PARAMS}/templates/template",
        PARAM_LINE,
        "the template is longer than 4096 characters",
    ),
    "template-too-many-placeholders.xml": (
        f"{PARAMS}/templates/template",
        PARAM_LINE,
        "the template has more than 64 placeholders (setting MAX_TEMPLATE_PLACEHOLDERS)",
    ),
    # 4000 constant characters, printed once and repeated 60 times by the template.
    "fixed-row-text-amplified.xml": (
        COLUMNS,
        COLUMNS_LINE,
        "constants and templates print 244000 characters on every row, whatever the data; "
        "at most 16384 are allowed (setting MAX_FIXED_ROW_TEXT)",
    ),
    "too-many-columns.xml": (
        COLUMNS,
        COLUMNS_LINE,
        "the definition has 257 columns; at most 256 are allowed (setting MAX_COLUMNS)",
    ),
    "email-quadratic.xml": (
        f"{CONSOLIDATORS}/emailReport/targetEmail",
        CONSOLIDATOR_LINE,
        "(131074 characters) is not an e-mail address (name@example.com): "
        "an e-mail address has at most 254 characters",
    ),
    "email-local-part-65.xml": (
        f"{CONSOLIDATORS}/emailReport/targetEmail",
        CONSOLIDATOR_LINE,
        "the part before '@' has at most 64 characters",
    ),
    "email-label-64.xml": (
        f"{CONSOLIDATORS}/emailReport/targetEmail",
        CONSOLIDATOR_LINE,
        "the domain is dot-separated labels",
    ),
    "email-too-long.xml": (
        f"{CONSOLIDATORS}/emailReport/targetEmail",
        CONSOLIDATOR_LINE,
        "at most 254 characters (this one 312)",
    ),
    "email-too-many-recipients.xml": (
        f"{CONSOLIDATORS}/emailReport/targetEmail",
        CONSOLIDATOR_LINE,
        "targetEmail lists 51 addresses; at most 50 are allowed (setting MAX_RECIPIENTS)",
    ),
    "folder-path-too-long.xml": (
        f"{CONSOLIDATORS}/moveToFolder/folderPath",
        CONSOLIDATOR_LINE,
        "folderPath is longer than 512 characters (setting MAX_FOLDER_PATH_LENGTH)",
    ),
    "json-schedule-rate-1-minute.json": ("/schedule", None, f"runs every 1 minute(s); {INTERVAL}"),
    "json-zone-300-characters.json": ("/schedule/timezone", None, f"(300 characters); {ZONE}"),
    "json-timeframes-huge.json": ("/parameters/timeFrames", None, "timeFrames 1000000000 is out of range"),
    "json-end-file-dotdot.json": ("/generateEndFile/fileName", None, "may not be only dots"),
    "json-email-quadratic.json": (
        "/emailReport/targetEmail",
        None,
        "at most 254 characters (this one 131074)",
    ),
}


SECRET = "laurie.private@home.example"


YEARS = "in the years 2000..2100 (settings FIRST_RUN_YEAR, LAST_RUN_YEAR)"
INSTANT = f"must be an ISO 8601 instant with an offset or Z, such as 2026-11-28T01:00:00Z, {YEARS}"
TENANT_RULE = "tenantId: must be a tenant id: ^[a-z0-9][a-z0-9-]{1,62}$"
GUID_RULE = (
    "exportGuid: must be an export guid: 1-64 characters A-Z a-z 0-9 . _ - starting with a letter or digit"
)

# file in tests/hostile/events -> the whole InvalidRequest message.
EXPORT_EVENTS: dict[str, str] = {
    "not-an-object.json": "the event must be a JSON object",
    "a-string.json": "the event must be a JSON object",
    "null.json": "the event must be a JSON object",
    "empty-object.json": "tenantId: is required; exportGuid: is required",
    "scheduled-time-year-9999-minus-offset.json": f"scheduledTime: {INSTANT}",
    "scheduled-time-year-9999-plus-offset.json": f"scheduledTime: {INSTANT}",
    "run-at-year-0001-plus-offset.json": f"runAt: {INSTANT}",
    "run-at-year-0001-minus-offset.json": f"runAt: {INSTANT}",
    "run-at-year-2101.json": f"runAt: {INSTANT}",
    "run-at-without-offset.json": f"runAt: {INSTANT}",
    "run-at-a-number.json": f"runAt: {INSTANT}",
    "run-at-an-object.json": f"runAt: {INSTANT}",
    "tenant-an-object.json": TENANT_RULE,
    "tenant-path.json": TENANT_RULE,
    "guid-missing.json": "exportGuid: is required",
    "guid-huge.json": GUID_RULE,
    "detail-a-string.json": "detail: must be a JSON object",
    "detail-a-list.json": "detail: must be a JSON object",
    "detail-time-year-0001.json": f"time: {INSTANT}",
    "detail-tenant-missing.json": "detail.tenantId: is required",
}


# file in tests/hostile/s3-events -> (record index, reason) of its single ignored record.
S3_EVENTS: dict[str, tuple[int | None, str]] = {
    "records-not-a-list.json": (None, "Records: must be a list of S3 event records"),
    "record-a-string.json": (0, "the record: must be a JSON object"),
    "record-without-s3.json": (0, "s3: is required"),
    "record-s3-a-list.json": (0, "s3: must be a JSON object"),
    "record-without-bucket.json": (0, "s3.bucket: is required"),
    "key-a-number.json": (0, "s3.object.key: Input should be a valid string"),
    "key-a-list.json": (0, "s3.object.key: Input should be a valid string"),
    "key-too-long.json": (0, "s3.object.key: String should have at most 3072 characters"),
    "key-empty.json": (0, "s3.object.key: must be 1..1024 bytes once URL-decoded"),
    "event-name-restore.json": (
        0,
        "eventName 'ObjectRestore:Completed' is neither an object creation nor a removal",
    ),
    "event-name-a-number.json": (0, "eventName: Input should be a valid string"),
    "eventbridge-detail-a-string.json": (None, "detail: must be a JSON object"),
    "eventbridge-detail-without-object.json": (None, "detail.object: is required"),
    "eventbridge-key-a-number.json": (None, "detail.object.key: Input should be a valid string"),
    "eventbridge-restore.json": (
        None,
        "detail-type 'Object Restore Completed' is neither Object Created nor Object Deleted",
    ),
    "not-an-s3-event.json": (None, "neither an S3 event notification (Records) nor an EventBridge S3 event"),
    "s3-test-event.json": (None, "neither an S3 event notification (Records) nor an EventBridge S3 event"),
    "not-an-object.json": (None, "the event is not a JSON object"),
    "null.json": (None, "the event is not a JSON object"),
}
# Read as a change: the key is decoded, and config-sync's key rule then ignores it.
S3_CHANGES = {
    "key-encoded-traversal.json": S3ObjectEvent(
        "tracking-export-local-config", "tenants/../globex/exports/x.xml", False
    )
}


TENANT_KEY = "tenants/acme/tenant.json"
# file in tests/hostile/tenants -> the problems ConfigInvalid lists.
TENANTS: dict[str, list[str]] = {
    "zone-300-characters.json": [
        f"timezone: unknown time zone 'Europe/PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP'… (307 characters); {ZONE}"
    ],
    "zone-path.json": [f"timezone: unknown time zone '../../../../etc/passwd'; {ZONE}"],
    "zone-absolute.json": [f"timezone: unknown time zone '/usr/share/zoneinfo/Europe/Paris'; {ZONE}"],
    "zone-unknown.json": [f"timezone: unknown time zone 'Mars/Olympus_Mons'; {ZONE}"],
    "zone-a-number.json": ["timezone: Input should be a valid string"],
    "unknown-field.json": [
        "'timeZone': unknown field; allowed: timezone, notificationEmails, retentionDays, "
        "keepAnonymousStatistics, flexibleWindowMinutes"
    ],
    "retention-a-string.json": ["retentionDays: Input should be a valid integer"],
    "retention-huge.json": ["retentionDays: Input should be less than or equal to 36500"],
    "emails-a-string.json": ["notificationEmails: Input should be a valid list"],
    "email-quadratic.json": [
        "notificationEmails: item 0 is not an e-mail address: "
        "an e-mail address has at most 254 characters (this one 32002)"
    ],
    "emails-too-many.json": [
        "notificationEmails: 51 addresses; at most 50 are allowed (setting MAX_RECIPIENTS)"
    ],
    "not-an-object.json": ["not a JSON object"],
    "nested-deep.json": ["not JSON this service reads: nested too deep"],
    "retention-digits.json": ["not JSON this service reads: a number has too many digits"],
}
