"""`make serve` (tools/serve.py): the stack `sam local invoke --env-vars events/env.local.json` talks to.

Each test starts the stack in-process on free ports (a small sample tenant: 200 logs) and
stops it after. Checked here: every name in env.local.json exists in that stack; every
variable there is one the template declares (sam drops the others) and every resource
variable of the template is set there (sam cannot resolve a !Ref to a local name); each
file of events/ drives its handler, run in-process with the environment of env.local.json
pointed at the test's ports, to the outcome events/README.md documents for a fresh stack.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tools import serve
from tools.local_endpoints import free_port
from tools.sample_data import logs as sample_logs
from tools.template_tables import load_template
from tracking_export_aws.aws import clients

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
LOGS = 200  # all on 2026-11-27 UTC (the sample tenant's last day, 2,000 logs a day)
PARIS = ZoneInfo("Europe/Paris")


def _env_file() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads((EVENTS / "env.local.json").read_text(encoding="utf-8"))
    return data


def _event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def _started() -> Iterator[serve.ServeStack]:
    started = serve.ServeStack(
        moto_port=free_port(), dynamodb_port=free_port(), bind="127.0.0.1", logs=LOGS, say=lambda *_: None
    ).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def stack() -> Iterator[serve.ServeStack]:
    """A stack of its own, for a test that changes it."""
    yield from _started()


@pytest.fixture(scope="module")
def fresh_stack() -> Iterator[serve.ServeStack]:
    """One stack for the tests that only look at it: as `make serve` leaves it."""
    yield from _started()


@pytest.fixture
def invoke(stack: serve.ServeStack, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Any:
    """``invoke(function, event)``: the function's handler with the environment sam local invoke
    would give it (env.local.json, the stack's ports, --region), its cached service reset."""
    modules = {"ExportFunction": "export_app", "ConfigSyncFunction": "config_sync_app"}

    def call(function: str, event: dict[str, Any]) -> dict[str, Any]:
        for name in {name for env in stack.env.values() for name in env}:
            monkeypatch.delenv(name, raising=False)
        for name, value in stack.environment(function).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
        module = importlib.import_module(modules[function])
        module.reset()
        clients.clear_cache()
        result: dict[str, Any] = module.handler(event, lambda_context)
        return result

    return call


def _export_keys(stack: serve.ServeStack) -> list[str]:
    bucket = stack.env["ExportFunction"]["EXPORT_BUCKET"]
    listing = stack.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(item["Key"] for item in listing)


def _read_export(stack: serve.ServeStack, key: str) -> bytes:
    bucket = stack.env["ExportFunction"]["EXPORT_BUCKET"]
    return bytes(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _schedules(stack: serve.ServeStack) -> list[str]:
    group = stack.env["ConfigSyncFunction"]["SCHEDULE_GROUP"]
    return sorted(s["Name"] for s in stack.client("scheduler").list_schedules(GroupName=group)["Schedules"])


def _logs_through(local_day: str) -> int:
    """Sample logs whose day (startedAt in Paris, data-contract.md) is on or before ``local_day``."""
    shape = serve.replace(serve.SAMPLE_SHAPE, logs=LOGS)
    return sum(
        1
        for log in sample_logs(shape)
        if datetime.fromisoformat(log["startedAt"].replace("Z", "+00:00"))
        .astimezone(PARIS)
        .date()
        .isoformat()
        <= local_day
    )


# ---------------------------------------------------------------- names


# What each variable of env.local.json names, written out: a new variable needs a line here.
RESOURCE_VARIABLES = {
    "CONFIG_BUCKET": "bucket",
    "EXPORT_BUCKET": "bucket",
    "TRACKING_TABLE": "table",
    "RUN_HISTORY_TABLE": "table",
    "TOPIC_ARN": "topic",
    "SCHEDULE_GROUP": "schedule_group",
    "SCHEDULE_DLQ_ARN": "queue",
    "INGEST_DLQ_URL": "queue_url",
    "INGEST_BUCKET": "bucket",
    "EVENT_BUS_NAME": "event_bus",
}
NOT_RESOURCES = {
    "AWS_ENDPOINT_URL",  # the stack's moto server
    "AWS_ENDPOINT_URL_DYNAMODB",  # the stack's dynalite
    "EXPORT_FUNCTION_ARN",  # sam local invoke runs the function; schedules only name it
    "SCHEDULER_ROLE_ARN",  # moto's Scheduler does not look the role up
    # make serve has no state machine: the sample's runs stay under MAX_ROWS_PER_WORKER, on the
    # single path (make local runs the distributed path on moto's interpreter).
    "STATE_MACHINE_ARN",
    "MAX_ROWS_PER_WORKER",
    "MAX_CONCURRENCY",
    "DOWNLOAD_LINK_SECONDS",  # settings, not names
    "EVENTS_INCLUDE_LINKS_AND_RECIPIENTS",
    "INGEST_MAX_BYTES_PER_INVOCATION",
    "INGEST_CONTINUATION",
    "INGEST_FUNCTION_NAME",  # empty: config-sync requests no retention locally (docs/ingestion.md)
    "WATCHDOG_LOOKBACK_HOURS",  # the watchdog's settings
    "WATCHDOG_GRACE_MINUTES",
    "WATCHDOG_MAX_STARTS",
}


def _exists(stack: serve.ServeStack, kind: str, value: str) -> None:
    """Raises unless the stack has ``value`` (a name or ARN) as a ``kind``."""
    if kind == "bucket":
        stack.client("s3").head_bucket(Bucket=value)
    elif kind == "table":
        table = stack.client("dynamodb").describe_table(TableName=value)["Table"]
        assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]  # docs/table-design.md
    elif kind == "topic":
        stack.client("sns").get_topic_attributes(TopicArn=value)
    elif kind == "queue":
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName=value.rsplit(":", 1)[-1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        assert attributes["QueueArn"] == value
    elif kind == "queue_url":
        stack.client("sqs").get_queue_url(QueueName=value.rsplit("/", 1)[-1])
    elif kind == "schedule_group":
        stack.client("scheduler").get_schedule_group(Name=value)
    elif kind == "event_bus":
        stack.client("events").describe_event_bus(Name=value)
    else:
        raise AssertionError(f"unknown kind {kind}")


def test_every_name_in_env_local_json_exists_in_the_stack(fresh_stack: serve.ServeStack) -> None:
    checked = []
    for function, variables in _env_file().items():
        for variable, value in variables.items():
            assert variable in RESOURCE_VARIABLES or variable in NOT_RESOURCES, f"{function}.{variable}"
            if variable in RESOURCE_VARIABLES:
                _exists(fresh_stack, RESOURCE_VARIABLES[variable], value)
                checked.append(variable)
    assert set(checked) == set(RESOURCE_VARIABLES)


def test_a_name_the_stack_does_not_have_is_noticed(fresh_stack: serve.ServeStack) -> None:
    # The check above can fail: a table env.local.json does not name is absent.
    with pytest.raises(fresh_stack.client("dynamodb").exceptions.ResourceNotFoundException):
        _exists(fresh_stack, "table", "tracking-export-local-TrackingTable")


def test_env_local_json_points_containers_at_make_serve_fixed_ports() -> None:
    for function, variables in _env_file().items():
        assert variables["AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000", function
        if "AWS_ENDPOINT_URL_DYNAMODB" in variables:
            assert variables["AWS_ENDPOINT_URL_DYNAMODB"] == "http://host.docker.internal:4567", function
    defaults = serve.ServeStack()  # not started: the ports it would take
    assert (defaults.moto_port, defaults.dynamodb_port, defaults.bind) == (5000, 4567, "0.0.0.0")


def test_every_variable_of_env_local_json_is_declared_by_the_template() -> None:
    template = load_template(ROOT / "template.yaml")
    for function, variables in _env_file().items():
        declared = serve.function_environment(template, function)
        assert set(variables) <= set(declared), f"sam local invoke would drop these for {function}"


def test_every_resource_variable_of_the_template_is_set_in_env_local_json() -> None:
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    env = _env_file()
    for function, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for variable, value in serve.function_environment(template, function).items():
            names_a_resource = isinstance(value, dict) and (
                value.get("Ref") in resources or "Fn::GetAtt" in value or "Fn::Sub" in value
            )
            if names_a_resource:
                assert variable in env[function], f"{function}.{variable}: sam would pass {value}"


def test_a_variable_the_template_does_not_declare_is_refused(tmp_path: Path) -> None:
    env = _env_file()
    env["ExportFunction"]["TRACKING_TABEL"] = "typo"
    path = tmp_path / "env.json"
    path.write_text(json.dumps(env), encoding="utf-8")

    with pytest.raises(serve.ServeError, match=r"ExportFunction\.TRACKING_TABEL is not declared"):
        serve.ServeStack(env_file=path)


def test_container_environment_keeps_the_host_and_takes_the_stack_ports(
    fresh_stack: serve.ServeStack,
) -> None:
    env = fresh_stack.container_environment()
    assert env["ExportFunction"]["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{fresh_stack.moto_port}"
    assert env["ExportFunction"]["AWS_ENDPOINT_URL_DYNAMODB"] == (
        f"http://host.docker.internal:{fresh_stack.dynamodb_port}"
    )
    assert env["ConfigSyncFunction"]["SCHEDULE_GROUP"] == "tracking-export-local"


def test_invoke_commands_name_each_event_with_its_function(fresh_stack: serve.ServeStack) -> None:
    commands = fresh_stack.invoke_commands("events/env.local.json", "172.17.0.1")
    assert commands[0] == (
        "sam local invoke ExportFunction -e events/scheduler-payload.json --env-vars events/env.local.json "
        "--region eu-west-1 --add-host host.docker.internal:172.17.0.1"
    )
    assert len(commands) == len(serve.EVENT_FUNCTIONS)
    assert [c.split()[3] for c in commands if "-e events/s3-" in c] == ["ConfigSyncFunction"] * 3


# ---------------------------------------------------------------- the sample tenant


def test_the_stack_holds_the_sample_tenant_with_its_exports_scheduled(fresh_stack: serve.ServeStack) -> None:
    config = fresh_stack.env["ConfigSyncFunction"]["CONFIG_BUCKET"]
    listing = fresh_stack.client("s3").list_objects_v2(Bucket=config)["Contents"]
    assert sorted(item["Key"] for item in listing) == [
        "tenants/acme/exports/broken-export.xml",
        "tenants/acme/exports/daily-tracking-log.xml",
        "tenants/acme/exports/weekly-completions.xml",
        "tenants/acme/tenant.json",
    ]
    assert _schedules(fresh_stack) == ["acme--daily-tracking-log", "acme--weekly-completions"]
    assert fresh_stack.notifications() == []  # the invalid definition waits for its event


# ---------------------------------------------------------------- events/ through their handlers


def test_every_event_file_has_a_function_and_a_documented_outcome() -> None:
    files = {p.name for p in EVENTS.glob("*.json")} - {"env.local.json"}
    assert files == set(serve.EVENT_FUNCTIONS)
    readme = (EVENTS / "README.md").read_text(encoding="utf-8")
    for name in files:
        assert f"`{name}`" in readme, name


def test_scheduler_payload_runs_the_daily_export(stack: serve.ServeStack, invoke: Any) -> None:
    result = invoke("ExportFunction", _event("scheduler-payload.json"))

    # 01:00Z is 02:00 in Paris on 28 November; a first run covers every log through that day.
    key = "tenants/acme/daily/tracking_log_20261128_1.csv"
    assert (result["outcome"], result["objectKey"]) == ("succeeded", key)
    assert result["rows"] == _logs_through("2026-11-28") == LOGS
    assert _export_keys(stack) == sorted([key, "tenants/acme/daily/tracking_log.done"])
    body = _read_export(stack, key)
    assert body.count(b"\r\n") == LOGS + 1  # header and one line per log
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "daily-tracking-log", "outcome": "succeeded"}


def test_eventbridge_scheduled_event_runs_the_same_scheduled_run(
    stack: serve.ServeStack, invoke: Any
) -> None:
    result = invoke("ExportFunction", _event("eventbridge-scheduled.json"))

    assert (result["outcome"], result["objectKey"]) == (
        "succeeded",
        "tenants/acme/daily/tracking_log_20261128_1.csv",
    )
    assert result["rows"] == LOGS
    # The same run as scheduler-payload.json (same export, same scheduled time): a duplicate now.
    again = invoke("ExportFunction", _event("scheduler-payload.json"))
    assert again["outcome"] == "duplicate"


def test_replay_with_run_at_exports_only_up_to_that_day(stack: serve.ServeStack, invoke: Any) -> None:
    result = invoke("ExportFunction", _event("replay-run-at.json"))

    # runAt 01:00Z on 27 November: 02:00 in Paris; logs started after 23:00Z are on the 28th there.
    expected = _logs_through("2026-11-27")
    assert 0 < expected < LOGS  # the sample has logs on both sides of midnight in Paris
    assert (result["outcome"], result["objectKey"]) == (
        "succeeded",
        "tenants/acme/daily/tracking_log_20261127_1.csv",
    )
    assert result["rows"] == expected


def test_s3_config_upload_valid_schedules_the_export(stack: serve.ServeStack, invoke: Any) -> None:
    [result] = invoke("ConfigSyncFunction", _event("s3-config-upload-valid.json"))["results"]

    assert (result["action"], result["exportGuid"]) == ("scheduled", "daily-tracking-log")
    group = stack.env["ConfigSyncFunction"]["SCHEDULE_GROUP"]
    schedule = stack.client("scheduler").get_schedule(Name="acme--daily-tracking-log", GroupName=group)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 2 * * ? *)",
        "Europe/Paris",
    )
    assert (
        schedule["Target"]["DeadLetterConfig"]["Arn"] == stack.env["ConfigSyncFunction"]["SCHEDULE_DLQ_ARN"]
    )


def test_s3_config_upload_invalid_notifies_config_invalid(stack: serve.ServeStack, invoke: Any) -> None:
    [result] = invoke("ConfigSyncFunction", _event("s3-config-upload-invalid.json"))["results"]

    assert (result["action"], result["exportGuid"]) == ("invalid", "broken-export")
    assert len(result["errors"]) == 2  # bogusColumn, deltaMode "maybe"
    assert _schedules(stack) == ["acme--daily-tracking-log", "acme--weekly-completions"]
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "broken-export", "outcome": "config-invalid"}
    assert note.message["errors"] == result["errors"]


def test_s3_config_delete_removes_the_schedule(stack: serve.ServeStack, invoke: Any) -> None:
    # As in AWS, the event follows the object's deletion (for an object that exists again the
    # event is stale and ignored: its own upload event decides).
    bucket = stack.env["ConfigSyncFunction"]["CONFIG_BUCKET"]
    key = "tenants/acme/exports/daily-tracking-log.xml"
    [stale] = invoke("ConfigSyncFunction", _event("s3-config-delete.json"))["results"]
    assert (stale["action"], stale["reason"]) == ("ignored", "the object exists again")
    stack.client("s3").delete_object(Bucket=bucket, Key=key)
    [result] = invoke("ConfigSyncFunction", _event("s3-config-delete.json"))["results"]

    assert (result["action"], result["exportGuid"]) == ("deleted", "daily-tracking-log")
    assert _schedules(stack) == ["acme--weekly-completions"]
    [again] = invoke("ConfigSyncFunction", _event("s3-config-delete.json"))["results"]
    assert again["action"] == "absent"


# ---------------------------------------------------------------- start and stop


def _can_bind(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers do: a closed connection's TIME_WAIT must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_stop_frees_both_ports() -> None:
    stack = serve.ServeStack(
        moto_port=free_port(), dynamodb_port=free_port(), bind="127.0.0.1", logs=10, say=lambda *_: None
    )
    assert stack.moto_port and stack.dynamodb_port
    with stack:
        assert not _can_bind(stack.moto_port) and not _can_bind(stack.dynamodb_port)
    assert _can_bind(stack.moto_port) and _can_bind(stack.dynamodb_port)


def test_a_port_in_use_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = serve.ServeStack(
            moto_port=port, dynamodb_port=free_port(), bind="127.0.0.1", say=lambda *_: None
        )
        with pytest.raises(
            serve.ServeError, match=rf"moto server cannot listen on 127\.0\.0\.1:{port}.*--moto-port"
        ):
            stack.start()


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda process: process.send_signal(signal.SIGTERM), id="SIGTERM"),
        # Ctrl-C in a terminal: SIGINT to the whole process group, servers included.
        pytest.param(lambda process: os.killpg(process.pid, signal.SIGINT), id="Ctrl-C"),
    ],
)
def test_make_serve_stays_up_until_stopped_then_stops_both_servers(stop: Any) -> None:
    moto_port, dynamodb_port = free_port(), free_port()
    command = [sys.executable, "-m", "tools.serve", "--moto-port", str(moto_port)]
    command += ["--dynamodb-port", str(dynamodb_port), "--bind", "127.0.0.1", "--logs", "10"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:  # until it says it is up (or exits)
            lines.append(line)
            if "Ctrl-C stops the stack" in line:
                break
        assert not _can_bind(moto_port) and not _can_bind(dynamodb_port), "".join(lines)
        stop(process)
        rest = process.communicate(timeout=30)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "sam local invoke ConfigSyncFunction -e events/s3-config-upload-invalid.json" in output
    assert "Traceback" not in output
    assert output.rstrip().endswith("moto server and dynalite stopped"), output
    assert _can_bind(moto_port) and _can_bind(dynamodb_port)
