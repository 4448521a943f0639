"""Hostile inputs (issue 6 item 7, docs/limits.md): each is refused with a message that says
what is wrong and where — never an exception, never accepted.

The corpus is in tests/hostile/: definitions through `tracking-export validate`, export
events through ExportRequest, S3 events through config-sync's reader, tenant.json files
through its parser, and data values through `tracking-export render`. The handlers get the
same corpus in tests/integration/test_hostile_handlers.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from function_environments import template_settings
from hostile.expected import (
    DEFINITIONS,
    EXPORT_EVENTS,
    S3_CHANGES,
    S3_EVENTS,
    SECRET,
    TENANT_KEY,
    TENANTS,
    ZONE,
)

from tracking_export.cli import main
from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, UnencodableCellError
from tracking_export.filename import render_end_file_name
from tracking_export.limits import DEFAULT_LIMITS, Limits, LimitsError, email_problem, zone_problem
from tracking_export.model import GenerateEndFile
from tracking_export_aws.aws.s3_events import IgnoredRecord, S3ObjectEvent, read_s3_event
from tracking_export_aws.config.store import ConfigInvalid, parse_tenant_settings
from tracking_export_aws.runs.failure import run_failure_reason
from tracking_export_aws.runs.service import ExportRequest, InvalidRequest
from tracking_export_aws.runtime.settings import ConfigSyncSettings, SettingsError

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"


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


def test_too_many_elements_stop_the_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "<providers><trackingLogProvider><columns>\n"
        + "<x/>" * 10_000
        + "</columns></trackingLogProvider></providers>"
    )
    out = _run_validate(tmp_path, "many.xml", text, capsys)
    assert out.strip() == (
        f"{tmp_path / 'many.xml'}: line 2: /providers/trackingLogProvider/columns: "
        "the definition has more than 5000 elements and attributes (setting MAX_DEFINITION_ELEMENTS)"
    )


def test_attributes_count_as_elements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    attributes = " ".join(f'a{i}="1"' for i in range(5000))
    text = f"<providers><trackingLogProvider><columns>\n<candidateId {attributes}/></columns>"
    text += "</trackingLogProvider></providers>"
    out = _run_validate(tmp_path, "attributes.xml", text, capsys)
    assert "the definition has more than 5000 elements and attributes" in out
    assert out.count("\n") == 1


def test_a_long_list_of_bad_items_names_the_first_ten() -> None:
    items = ",".join(["Z"] * 400_000)
    with pytest.raises(DefinitionError) as info:
        load_definition(
            "<providers><trackingLogProvider><columns><candidateId/></columns><parameters>"
            f"<trainingStatus>{items}</trainingStatus></parameters></trackingLogProvider></providers>"
        )
    [issue] = info.value.issues
    assert issue.message.count("'Z' is not allowed") == 10
    assert issue.message.endswith("; and 399990 more bad item(s)")


def test_json_with_too_many_items_is_refused() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(json.dumps({"columns": ["candidateId"] * 5001}))
    assert [i.message for i in info.value.issues] == [
        "the definition has more than 5000 keys and list items (setting MAX_DEFINITION_ELEMENTS)"
    ]


def test_at_most_100_errors_are_listed_and_long_names_are_cut() -> None:
    columns = "".join(f"<bogus{i}/>" for i in range(150)) + "<" + "n" * 5000 + "/>"
    with pytest.raises(DefinitionError) as info:
        load_definition(
            f"<providers><trackingLogProvider><columns>{columns}</columns></trackingLogProvider></providers>"
        )
    issues = info.value.issues
    assert len(issues) == 101
    assert issues[-1].message == "… and 51 more error(s) not listed"
    assert issues[0].message.startswith("unknown column <bogus0>")
    assert all(len(str(i)) < 1400 for i in issues)


def test_a_megabyte_element_name_is_cut_in_path_and_message() -> None:
    name = "n" * 900_000
    with pytest.raises(DefinitionError) as info:
        load_definition(
            f"<providers><trackingLogProvider><columns><{name}/></columns></trackingLogProvider></providers>"
        )
    [issue] = info.value.issues
    assert issue.path == "/providers/trackingLogProvider/columns/" + "n" * 261 + "… (900039 characters)"
    # The message quotes the name too: cut after 1000 characters, its full length named.
    assert issue.message.startswith("unknown column <nnnn") and len(issue.message) < 1030
    assert re.search(r"… \(9001[0-9]{2} characters\)$", issue.message)


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
        "cron(15 6 ? * MON-FRI *)",
        "cron(0 2 L * ? *)",
        "cron(0 2 15W * ? 2026-2030)",
        "cron(0 2 ? JAN,JUL 6#3 *)",
        "cron(0 2 ? * 6L *)",
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
    with pytest.raises(SettingsError, match="MIN_SCHEDULE_INTERVAL_MINUTES"):
        template_settings(ConfigSyncSettings, MIN_SCHEDULE_INTERVAL_MINUTES="0")
    assert template_settings(ConfigSyncSettings, MAX_RECIPIENTS="7").limits.max_recipients == 7


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
            "skipped line 24: not JSON this service reads: nested too deep",
            "skipped line 25: not JSON this service reads: a number has too many digits",
        ]
    )


# --- export events ------------------------------------------------------------------------------


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


def test_a_replay_request_names_its_time_and_id() -> None:
    replay = ExportRequest.from_event(
        {
            "tenantId": "acme",
            "exportGuid": "daily",
            "runAt": "2026-11-28T01:00:00Z",
            "replayId": "r-1",
            "quiet": True,
        }
    )
    assert (replay.run_at, replay.scheduled_time, replay.replay_id, replay.quiet) == (
        datetime(2026, 11, 28, 1, tzinfo=UTC),
        None,
        "r-1",
        True,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"replayId": "r1"}, "replayId: a replay names the time it replays in runAt, and no scheduledTime"),
        (
            {"replayId": "r1", "runAt": "2026-11-28T01:00:00Z", "scheduledTime": "2026-11-28T01:00:00Z"},
            "replayId: a replay names the time it replays in runAt, and no scheduledTime",
        ),
        ({"replayId": "R#1", "runAt": "2026-11-28T01:00:00Z"}, "replayId: must be a replay id"),
        (
            {"quiet": True, "scheduledTime": "2026-11-28T01:00:00Z"},
            "quiet: only a replay (replayId) may be quiet",
        ),
        (
            {"quiet": "yes", "replayId": "r1", "runAt": "2026-11-28T01:00:00Z"},
            "quiet: Input should be a valid",
        ),
    ],
)
def test_bad_replay_requests_are_invalid(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        ExportRequest.from_event({"tenantId": "acme", "exportGuid": "daily", **fields})
    assert str(info.value).startswith(message)


# --- config-sync's S3 events --------------------------------------------------------------------


def test_every_hostile_s3_event_has_an_expectation() -> None:
    assert {p.name for p in (HOSTILE / "s3-events").iterdir()} == set(S3_EVENTS) | set(S3_CHANGES)


@pytest.mark.parametrize("name", sorted(S3_EVENTS))
def test_hostile_s3_event_is_an_ignored_record_with_its_reason(name: str) -> None:
    assert read_s3_event(_load("s3-events", name)) == [IgnoredRecord(*S3_EVENTS[name])]


def test_an_encoded_key_is_decoded() -> None:
    [name] = S3_CHANGES
    assert read_s3_event(_load("s3-events", name)) == [S3_CHANGES[name]]


def test_one_bad_record_does_not_hide_the_others() -> None:
    good = {
        "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "a+b%2Bc.xml"}},
    }
    assert read_s3_event({"Records": [None, good, {"s3": {}}]}) == [
        IgnoredRecord(0, "the record: must be a JSON object"),
        S3ObjectEvent("b", "a b+c.xml", removed=True),
        IgnoredRecord(2, "eventName: is required; s3.bucket: is required; s3.object: is required"),
    ]


# --- tenant.json --------------------------------------------------------------------------------


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
    assert run_failure_reason(error) == reason


def test_default_limits_are_the_documented_ones() -> None:
    documented = (HOSTILE.parents[1] / "docs" / "limits.md").read_text(encoding="utf-8")
    for field in Limits.model_fields.values():
        assert f"`{field.alias}`" in documented or field.alias in {
            "MAX_TENANT_SETTINGS_BYTES",
            "FIRST_RUN_YEAR",
            "LAST_RUN_YEAR",
        }, field.alias
    assert DEFAULT_LIMITS.max_definition_bytes == 1024 * 1024
