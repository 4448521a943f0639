"""Hostile inputs (issue 6 item 7, docs/limits.md): each is refused with a message that says
what is wrong and where — never an exception, never accepted.

The corpus is in tests/hostile/: definitions through `tracking-export validate`, export
events through ExportRequest, S3 events through config-sync's reader, tenant.json files
through its parser, and data values through `tracking-export render`. The handlers get the
same corpus in tests/integration/test_hostile_handlers.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tracking_export.cli import main
from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, UnencodableCellError
from tracking_export.filename import render_end_file_name
from tracking_export.limits import DEFAULT_LIMITS, Limits, LimitsError, email_problem, zone_problem
from tracking_export.model import GenerateEndFile
from tracking_export_aws.config_events import ConfigChange, IgnoredRecord, read_config_event
from tracking_export_aws.config_store import ConfigInvalid, parse_tenant_settings
from tracking_export_aws.export_service import ExportRequest, InvalidRequest, _reason
from tracking_export_aws.settings import AwsSettings, SettingsError

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
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


def test_every_hostile_definition_has_an_expectation() -> None:
    assert {p.name for p in (HOSTILE / "definitions").iterdir()} == set(DEFINITIONS)


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_hostile_definition_is_refused_by_validate(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path, line, message = DEFINITIONS[name]
    file = HOSTILE / "definitions" / name

    assert main(["validate", str(file)], environ={}) == 2

    [output] = capsys.readouterr().out.splitlines()  # one problem, one line
    where = f"line {line}: " if line is not None else ""
    assert output.startswith(f"{file}: {where}{path}: ")
    assert message in output
    assert len(output) < 600  # a huge value is quoted by its first characters only


@pytest.mark.parametrize(
    "name", ["schedule-rate-1-minute.xml", "end-file-dotdot.xml", "timeframes-days-huge.xml"]
)
def test_render_refuses_the_same_definitions_and_writes_nothing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "empty.jsonl"
    dataset.write_text("", encoding="utf-8")
    out = tmp_path / "out.csv"

    status = main(
        [
            "render",
            "--definition",
            str(HOSTILE / "definitions" / name),
            "--dataset",
            str(dataset),
            "--tenant",
            "acme",
            "--output",
            str(out),
        ],
        environ={},
    )

    assert status == 2 and not out.exists()
    assert DEFINITIONS[name][2] in capsys.readouterr().err


# --- generated: too big or too deep to keep as files -------------------------------------------


def _run_validate(tmp_path: Path, name: str, data: bytes | str, capsys: pytest.CaptureFixture[str]) -> str:
    file = tmp_path / name
    if isinstance(data, str):
        file.write_text(data, encoding="utf-8")
    else:
        file.write_bytes(data)
    assert main(["validate", str(file)], environ={}) == 2
    out: str = capsys.readouterr().out
    return out


def test_a_50_mb_definition_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = "A" * (50 * 1024 * 1024)
    definition = f'<providers><trackingLogProvider><columns><constantValue value="{value}"/>'
    out = _run_validate(
        tmp_path, "huge.xml", definition + "</columns></trackingLogProvider></providers>", capsys
    )
    assert (
        out == f"{tmp_path / 'huge.xml'}: /: the definition is larger than 1048576 bytes "
        "(setting MAX_DEFINITION_BYTES)\n"
    )


def test_load_definition_names_the_size_of_a_too_big_definition() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(b" " * (2 * 1024 * 1024) + b"<providers/>")
    [issue] = info.value.issues
    assert (
        issue.message
        == "the definition is 2097164 bytes; at most 1048576 are allowed (setting MAX_DEFINITION_BYTES)"
    )


@pytest.mark.parametrize("depth", [17, 100_000])
def test_deep_xml_stops_at_the_depth_cap(
    depth: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inner = "<a>" * depth + "</a>" * depth
    text = f'<export-config>\n<export guid="deep"><providers>{inner}</providers></export></export-config>'
    out = _run_validate(tmp_path, "deep.xml", text, capsys)
    # The 17th level is refused: export-config, export, providers and 13 <a> are 16.
    expected_path = "/export-config/export/providers" + "/a" * 13
    assert out.strip() == (
        f"{tmp_path / 'deep.xml'}: line 2: {expected_path}: elements are nested more than 16 deep here; "
        "a definition needs far fewer levels (setting MAX_DEFINITION_DEPTH)"
    )


@pytest.mark.parametrize(
    "nested",
    [
        '{"a": ' * 100_000 + "1" + "}" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        # Brackets inside strings do not count; the real nesting still does.
        '{"x": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "y": ' + "[" * 17 + "]" * 17 + "}",
    ],
)
def test_deep_json_is_refused_before_parsing(
    nested: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '{"guid": "deep", "columns": ["candidateId"],\n"parameters": ' + nested + "}"
    out = _run_validate(tmp_path, "deep.json", text, capsys)
    assert out.strip() == (
        f"{tmp_path / 'deep.json'}: line 2: /: objects and lists are nested more than 16 deep here; "
        "a definition needs far fewer levels (setting MAX_DEFINITION_DEPTH)"
    )


def test_json_strings_with_brackets_are_not_nesting() -> None:
    text = json.dumps(
        {"guid": "ok", "columns": [{"name": "constantValue", "value": "[[[[" * 20 + '\\"{{{{'}]}
    )
    assert load_definition(text).columns[0].value == "[[[[" * 20 + '\\"{{{{'


# --- accepted at the edges: the caps are not off by one ----------------------------------------


@pytest.mark.parametrize(
    ("scale", "n"),
    [
        ("less_than_n_days", 3660),
        ("less_than_n_months", 120),
        ("less_than_n_full_months", 120),
        ("less_than_n_years", 10),
        ("less_than_n_full_years", 10),
    ],
)
def test_the_largest_time_frame_renders_at_the_edges_of_the_run_years(
    scale: str, n: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "frames.xml"
    definition.write_text(
        "<providers><trackingLogProvider><columns><candidateId/></columns><parameters>"
        f"<timeFrames>{n}</timeFrames><timeFramesScale>{scale}</timeFramesScale>"
        "</parameters></trackingLogProvider></providers>",
        encoding="utf-8",
    )
    dataset = tmp_path / "empty.jsonl"
    dataset.write_text("", encoding="utf-8")
    for now in ("2000-01-01T00:00:00Z", "2100-12-31T23:59:59Z"):
        status = main(
            [
                "render",
                "--definition",
                str(definition),
                "--dataset",
                str(dataset),
                "--tenant",
                "acme",
                "--timezone",
                "Pacific/Kiritimati",
                "--now",
                now,
                "--output",
                str(tmp_path / "out.csv"),
            ],
            environ={},
        )
        assert status == 0, capsys.readouterr().err
        assert "rows=0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "expression",
    [
        "rate(15 minutes)",
        "rate(1 hour)",
        "cron(0 * * * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(59 23,0 * * ? *)",
    ],
)
def test_schedules_at_the_minimum_interval_are_accepted(expression: str) -> None:
    text = (
        f"<export-config><export guid='g'><schedule>{expression}</schedule><providers><trackingLogProvider>"
    )
    text += "<columns><candidateId/></columns></trackingLogProvider></providers></export></export-config>"
    assert load_definition(text).schedule is not None


def test_a_setting_moves_a_cap() -> None:
    text = "<providers><trackingLogProvider><columns><candidateId/><logDate/></columns>"
    text += "</trackingLogProvider></providers>"
    with pytest.raises(DefinitionError, match="at most 1 are allowed"):
        load_definition(text, limits=Limits.from_env({"MAX_COLUMNS": "1"}))
    assert len(load_definition(text).columns) == 2


def test_a_bad_setting_is_named() -> None:
    with pytest.raises(LimitsError, match="MAX_COLUMNS: Input should be a valid integer"):
        Limits.from_env({"MAX_COLUMNS": "many"})
    base = {"CONFIG_BUCKET": "cfg", "TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t"}
    with pytest.raises(SettingsError, match="MIN_SCHEDULE_INTERVAL_MINUTES"):
        AwsSettings.from_env({**base, "MIN_SCHEDULE_INTERVAL_MINUTES": "0"})
    assert AwsSettings.from_env({**base, "MAX_RECIPIENTS": "7"}).limits.max_recipients == 7


def test_email_and_zone_rules() -> None:
    assert email_problem("a" * 64 + "@" + "b" * 63 + ".example") is None
    assert email_problem("first.last+tag@sub.example.com") is None
    assert email_problem("a..b@example.com") is not None
    assert email_problem("a@b@example.com") is not None
    assert email_problem("name@localhost") is not None
    assert zone_problem("UTC") is None and zone_problem("America/Argentina/Buenos_Aires") is None
    assert zone_problem("Europe/paris") is not None and zone_problem("") is not None


def test_end_file_names_render_the_file_name_tokens() -> None:
    end = GenerateEndFile(file_name="%e_%Y%m%d_%H%M%S_%i.done%%")
    when = datetime(2026, 11, 28, 2, 3, 4)
    assert render_end_file_name(end, when, 7, "daily") == "daily_20261128_020304_7.done%"


# --- CLI options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--now", "9999-12-31T23:59:59-01:00"], "is not an ISO 8601 instant"),
        (["--now", "0001-01-01T00:00:00+01:00"], "is not an ISO 8601 instant"),
        (["--now", "1999-12-31T23:59:59Z"], "--now: must lie in the years 2000..2100"),
        (
            ["--previous-run-start", "2101-01-01T00:00:00Z"],
            "--previous-run-start: must lie in the years 2000..2100",
        ),
        (["--timezone", "Europe/" + "P" * 300], "not an IANA time zone"),
        (["--timezone", "../../etc/passwd"], "not an IANA time zone"),
        (["--run-number", "99999999999999999999"], "a run number is a whole number 1..999999999"),
        (["--run-number", "0"], "a run number is a whole number 1..999999999"),
    ],
)
def test_render_options_out_of_range_exit_2(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "empty.jsonl"
    dataset.write_text("", encoding="utf-8")
    argv = [
        "render",
        "--definition",
        str(HOSTILE / "data" / "columns.xml"),
        "--dataset",
        str(dataset),
        "--tenant",
        "acme",
        "--output",
        str(tmp_path / "out.csv"),
        *options,
    ]
    try:
        status = main(argv, environ={})
    except SystemExit as exc:  # argparse refuses an option's value itself
        status = int(exc.code or 0)
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_render_reports_an_unreadable_dataset_and_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = str(HOSTILE / "data" / "columns.xml")
    base = ["render", "--definition", definition, "--tenant", "acme", "--now", "2026-01-01T00:00:00Z"]
    missing = tmp_path / "missing.jsonl"
    assert main([*base, "--dataset", str(missing), "--output", "-"], environ={}) == 2
    assert capsys.readouterr().err == f"{missing}: cannot read the dataset: No such file or directory\n"

    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"type": "learner", "name": "Ren\xe9"}\n')
    assert main([*base, "--dataset", str(latin), "--output", "-"], environ={}) == 2
    assert capsys.readouterr().err == f"{latin}: cannot read the dataset: not UTF-8 at byte 32\n"

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    nowhere = tmp_path / "no-such-folder" / "out.csv"
    assert main([*base, "--dataset", str(empty), "--output", str(nowhere)], environ={}) == 1
    assert capsys.readouterr().err == f"{nowhere}: cannot write: No such file or directory\n"


# --- data values: skip reasons name record, field and rule, never the value ---------------------

SECRET = "laurie.private@home.example"


def test_skip_reasons_never_quote_data_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    status = main(
        [
            "render",
            "--definition",
            str(HOSTILE / "data" / "columns.xml"),
            "--dataset",
            str(HOSTILE / "data" / "hostile-records.jsonl"),
            "--tenant",
            "acme",
            "--now",
            "2026-01-01T00:00:00Z",
            "--output",
            str(out),
            "--list-skipped",
        ],
        environ={},
    )

    err = capsys.readouterr().err
    assert status == 0
    assert out.read_bytes() == (
        b"candidateFirstname;candidateEmail;firstLaunchDate;timeGlobal\r\n"
        b"Laurie;laurie@acme.example;2020-02-10 09:30:00;3.00\r\n"
    )
    assert SECRET not in err and "home.example" not in err
    skipped = sorted(line for line in err.splitlines() if line.startswith("skipped "))
    instant = "must be an ISO 8601 instant with an offset or Z, in the years 1900..2200"
    assert skipped == sorted(
        [
            f"skipped trackingLog 9004: field 'startedAt' {instant}",  # year 1, +01:00
            f"skipped trackingLog 9005: field 'startedAt' {instant}",  # year 9999, -05:00
            f"skipped trackingLog 9010: field 'startedAt' {instant}",  # an address
            "skipped trackingLog 9002: field 'status' must be one of completed, incomplete, notAttempted, "
            "pendingFeedback",
            "skipped trackingLog None: field 'logId' must be an integer, got a string",
            "skipped trackingLog 9006: field 'timeSpentSeconds' must lie in 0..3162240000",
            "skipped trackingLog 9007: field 'progression' must be a finite number, got NaN or an infinity",
            "skipped learner 2: field 'email' must be a string, got a list",
            "skipped tracking 503: content (unreadable key) does not exist",
            "skipped trackingLog 9008: tracking 502 is skipped: learner 2 is invalid: "
            "field 'email' must be a string, got a list",
            "skipped trackingLog 9009: tracking 503 is skipped: content (unreadable key) does not exist",
            "skipped training 10: field 'status' must be C, P or A",
            "skipped trackingLog 9011: tracking 504 is skipped: session 101 is skipped: "
            "training 10 is invalid: field 'status' must be C, P or A",
            "skipped line 23: unknown type; expected one of learner, entity, smartgroup, training, session, "
            "content, trainingContent, tracking, trackingLog",
        ]
    )


# --- export events ------------------------------------------------------------------------------

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


def _load(folder: str, name: str) -> Any:
    return json.loads((HOSTILE / folder / name).read_text(encoding="utf-8"))


def test_every_hostile_export_event_has_an_expectation() -> None:
    assert {p.name for p in (HOSTILE / "events").iterdir()} == set(EXPORT_EVENTS)


@pytest.mark.parametrize("name", sorted(EXPORT_EVENTS))
def test_hostile_export_event_is_an_invalid_request(name: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        ExportRequest.from_event(_load("events", name))
    assert str(info.value) == EXPORT_EVENTS[name]


def test_both_export_event_shapes_still_read() -> None:
    scheduler = ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": "daily", "scheduledTime": "2026-11-28T02:00:00+01:00"}
    )
    assert scheduler == ExportRequest("acme", "daily", datetime(2026, 11, 28, 1, tzinfo=UTC), None)
    bridge = ExportRequest.from_event(
        {"time": "2026-11-28T01:00:00Z", "detail": {"tenantId": "acme", "exportGuid": "daily"}}
    )
    assert bridge.scheduled_time == datetime(2026, 11, 28, 1, tzinfo=UTC)


# --- config-sync's S3 events --------------------------------------------------------------------

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
}
# Read as a change: the key is decoded, and config-sync's key rule then ignores it.
S3_CHANGES = {
    "key-encoded-traversal.json": ConfigChange(
        "tracking-export-local-config", "tenants/../globex/exports/x.xml", False
    )
}


def test_every_hostile_s3_event_has_an_expectation() -> None:
    assert {p.name for p in (HOSTILE / "s3-events").iterdir()} == set(S3_EVENTS) | set(S3_CHANGES)


@pytest.mark.parametrize("name", sorted(S3_EVENTS))
def test_hostile_s3_event_is_an_ignored_record_with_its_reason(name: str) -> None:
    assert read_config_event(_load("s3-events", name)) == [IgnoredRecord(*S3_EVENTS[name])]


def test_an_encoded_key_is_decoded() -> None:
    [name] = S3_CHANGES
    assert read_config_event(_load("s3-events", name)) == [S3_CHANGES[name]]


def test_one_bad_record_does_not_hide_the_others() -> None:
    good = {
        "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "a+b%2Bc.xml"}},
    }
    assert read_config_event({"Records": [None, good, {"s3": {}}]}) == [
        IgnoredRecord(0, "the record: must be a JSON object"),
        ConfigChange("b", "a b+c.xml", removed=True),
        IgnoredRecord(2, "eventName: is required; s3.bucket: is required; s3.object: is required"),
    ]


# --- tenant.json --------------------------------------------------------------------------------

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
    "unknown-field.json": ["'timeZone': unknown field; allowed: timezone, notificationEmails, retentionDays"],
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
}


def test_every_hostile_tenant_file_has_an_expectation() -> None:
    assert {p.name for p in (HOSTILE / "tenants").iterdir()} == set(TENANTS)


@pytest.mark.parametrize("name", sorted(TENANTS))
def test_hostile_tenant_json_is_config_invalid_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_tenant_settings((HOSTILE / "tenants" / name).read_bytes(), TENANT_KEY)
    assert (info.value.key, info.value.problems) == (TENANT_KEY, TENANTS[name])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            b'{"timezone": "' + b"A" * 70_000 + b'"}',
            "70016 bytes; at most 65536 (setting MAX_TENANT_SETTINGS_BYTES)",
        ),
        (
            b'{"timezone": "Europe/Paris\xff"}',
            "not JSON: 'utf-8' codec can't decode byte 0xff in position 26",
        ),
    ],
)
def test_tenant_json_too_big_or_not_utf8(data: bytes, problem: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_tenant_settings(data, TENANT_KEY)
    assert problem in info.value.problems[0]


def test_a_valid_tenant_json_still_reads() -> None:
    settings = parse_tenant_settings(
        b'{"timezone": "America/New_York", "notificationEmails": ["ops@acme.example"], "retentionDays": 30}',
        TENANT_KEY,
    )
    assert (settings.zone.key, settings.notification_emails) == ("America/New_York", ["ops@acme.example"])


# --- failure reasons -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            FileNotFoundError(2, "No such file or directory", "/var/task/tracking_export/x.py"),
            "internal error (FileNotFoundError); the details are in the export function's log",
        ),
        (
            KeyError("laurie.private@home.example"),
            "internal error (KeyError); the details are in the export function's log",
        ),
        (
            ClientError({"Error": {"Code": "SlowDown", "Message": "s3://internal/path"}}, "UploadPart"),
            "AWS error 'SlowDown' in UploadPart; the run can be retried",
        ),
        (
            ConfigInvalid(TENANT_KEY, ["timezone: unknown time zone 'X'; " + ZONE]),
            f"invalid configuration {TENANT_KEY}: timezone: unknown time zone 'X'; {ZONE}",
        ),
        (
            UnencodableCellError(3, 1, "name", "Ł", "ISO-8859-1"),
            "row 3, column 2 ('name'): character 'Ł' (U+0141) cannot be written in ISO-8859-1; "
            "choose another encoding or onUnencodable=replace",
        ),
    ],
)
def test_failure_reasons_never_quote_internal_text(error: BaseException, reason: str) -> None:
    assert _reason(error) == reason


def test_default_limits_are_the_documented_ones() -> None:
    documented = (HOSTILE.parents[1] / "docs" / "limits.md").read_text(encoding="utf-8")
    for field in Limits.model_fields.values():
        assert f"`{field.alias}`" in documented or field.alias in {
            "MAX_TENANT_SETTINGS_BYTES",
            "FIRST_RUN_YEAR",
            "LAST_RUN_YEAR",
        }, field.alias
    assert DEFAULT_LIMITS.max_definition_bytes == 1024 * 1024
