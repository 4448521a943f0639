"""The alarms of template.yaml (issue 19 item 3; docs/runbook.md): what tenants experience
alarms; every alarm tells the operations topic when it fires and when it clears, watches a
metric that some code or AWS publishes, and names its runbook section, which says what it
means and the command that fixes it; every dead-letter queue alarms again for each new dead
letter.

That the handlers really print the counters the alarms watch (their EMF documents) is checked
where they run: tests/integration/test_observability.py and test_distributed_run.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from published_metrics import NOT_YET_PUBLISHED, code_strings, published_names

from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
OPS_TOPIC = [{"Ref": "OpsAlarmTopic"}]

# The metrics AWS publishes that these alarms may watch, by namespace, with the dimensions they
# are published with (AWS documentation: Lambda "Types of metrics for Lambda functions", SQS
# "Available CloudWatch metrics", Step Functions "Monitoring Step Functions metrics", EventBridge
# Scheduler "Monitoring with CloudWatch" (dimension ScheduleGroup), DynamoDB "Metrics and
# dimensions").
AWS_METRICS = {
    "AWS/Lambda": {"Errors", "Throttles", "Invocations", "AsyncEventAge", "AsyncEventsDropped"},
    "AWS/SQS": {"NumberOfMessagesSent"},
    "AWS/States": {"ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut"},
    "AWS/Scheduler": {
        "InvocationDroppedCount",
        "TargetErrorCount",
        "InvocationsSentToDeadLetterCount",
        "InvocationsFailedToBeSentToDeadLetterCount",
    },
    "AWS/DynamoDB": {"ReadThrottleEvents", "WriteThrottleEvents"},
}
# Lambda's asynchronous-invocation metrics exist only for functions something invokes
# asynchronously: an EventInvokeConfig, or an event source that invokes that way.
ASYNC_EVENT_TYPES = {"S3", "ScheduleV2", "Schedule", "EventBridgeRule", "SNS"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_template(ROOT / "template.yaml")
    return loaded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


@pytest.fixture(scope="module")
def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each alarm's properties by logical id."""
    found = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert found
    return found


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _target(value: Any) -> str:
    """The logical id a dimension's value names (``!Ref X``, ``!GetAtt X.Attr``), or the value."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value)


def _watched(props: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(namespace, metric, {dimension: value})`` of each metric the alarm reads: its metric,
    or each metric of its metric math."""
    if "MetricName" in props:
        dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        return [(props["Namespace"], props["MetricName"], dims)]
    found = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric["Namespace"], metric["MetricName"], dims))
    return found


def _indexes(table: dict[str, Any]) -> set[str]:
    return {index["IndexName"] for index in table["Properties"].get("GlobalSecondaryIndexes", [])}


def _invoked_asynchronously(function: dict[str, Any]) -> bool:
    props = function["Properties"]
    events = props.get("Events", {}).values()
    return "EventInvokeConfig" in props or any(e["Type"] in ASYNC_EVENT_TYPES for e in events)


def _runbook_sections() -> dict[str, str]:
    """Each heading's title (without its ``#`` marks) and its text, down to the next heading of
    the same or a higher level (so a section holds its subsections)."""
    lines = RUNBOOK.read_text(encoding="utf-8").splitlines()
    headings = [
        (i, len(m.group(1)), m.group(2))
        for i, line in enumerate(lines)
        if (m := re.match(r"(#+) (.+)", line))
    ]
    sections = {}
    for n, (start, level, title) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[n + 1 :] if lvl <= level), len(lines))
        sections[title] = "\n".join(lines[start:end])
    return sections


# ---------------------------------------------------------------- every alarm


def test_every_alarm_tells_the_ops_topic_when_it_fires_and_when_it_clears(
    alarms: dict[str, dict[str, Any]],
) -> None:
    for name, props in alarms.items():
        assert props["AlarmActions"] == OPS_TOPIC, name
        assert props["OKActions"] == OPS_TOPIC, name
        # A counter with no data had nothing happen; only an alarm on too little (the watchdog
        # not running) reads no data as the thing it is about.
        expected = "breaching" if props["ComparisonOperator"].startswith("LessThan") else "notBreaching"
        assert props["TreatMissingData"] == expected, name


def test_every_alarm_names_its_runbook_section_which_says_what_it_means_and_the_fix(
    alarms: dict[str, dict[str, Any]],
) -> None:
    sections = _runbook_sections()
    for name, props in alarms.items():
        found = re.search(r'docs/runbook\.md "([^"]+)"', props["AlarmDescription"])
        assert found, f"{name}: its description names no runbook section"
        title = found.group(1)
        assert title in sections, f"{name}: docs/runbook.md has no heading {title!r}"
        section = sections[title]
        assert f"`{name}`" in section, f"{name}: not named in the runbook section {title!r}"
        assert "**Means:**" in section and "**Fix:**" in section, title
        assert "```sh" in section, f"{title}: no command"


def test_every_alarm_watches_a_metric_some_code_or_aws_publishes(
    template: dict[str, Any], resources: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    service = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    functions = _of_type(resources, "AWS::Serverless::Function")
    for name, props in alarms.items():
        watched = _watched(props)
        assert watched, name
        for namespace, metric, dims in watched:
            where = f"{name}: {namespace} {metric}"
            if namespace == "TrackingExport":
                assert metric in published_names() or metric in NOT_YET_PUBLISHED, (
                    f"{where}: nobody publishes it"
                )
                # Powertools adds the service; count_outcome adds the outcome, nothing else.
                assert dims["service"] == service, where
                assert set(dims) <= {"service", "outcome"}, where
                if "outcome" in dims:
                    assert dims["outcome"] in code_strings(), (
                        f"{where}: no code has the outcome {dims['outcome']}"
                    )
                continue
            assert metric in AWS_METRICS.get(namespace, set()), (
                f"{where}: not among the AWS metrics alarmed here"
            )
            targets = {k: _target(v) for k, v in dims.items()}
            if namespace == "AWS/Lambda":
                assert set(targets) == {"FunctionName"} and targets["FunctionName"] in functions, where
                if metric.startswith("Async"):
                    assert _invoked_asynchronously(functions[targets["FunctionName"]]), where
            elif namespace == "AWS/SQS":
                assert set(targets) == {"QueueName"}, where
                assert dims["QueueName"] == {"Fn::GetAtt": [targets["QueueName"], "QueueName"]}, where
                assert resources[targets["QueueName"]]["Type"] == "AWS::SQS::Queue", where
            elif namespace == "AWS/States":
                assert set(targets) == {"StateMachineArn"}, where
                assert resources[targets["StateMachineArn"]]["Type"] == "AWS::Serverless::StateMachine", where
            elif namespace == "AWS/Scheduler":
                assert set(targets) == {"ScheduleGroup"}, where
                assert resources[targets["ScheduleGroup"]]["Type"] == "AWS::Scheduler::ScheduleGroup", where
            else:  # AWS/DynamoDB
                table = resources[targets["TableName"]]
                assert table["Type"] == "AWS::DynamoDB::Table", where
                assert set(targets) <= {"TableName", "GlobalSecondaryIndexName"}, where
                if "GlobalSecondaryIndexName" in targets:
                    assert targets["GlobalSecondaryIndexName"] in _indexes(table), where


def test_metrics_announced_for_other_branches_are_not_published_yet() -> None:
    # Once one is published, its entry in tests/published_metrics.py goes: from then on the
    # check above reads the code.
    assert not set(NOT_YET_PUBLISHED) & published_names()


# ---------------------------------------------------------------- what tenants experience


def test_what_tenants_experience_alarms(resources: dict[str, Any], alarms: dict[str, dict[str, Any]]) -> None:
    watched = {
        (namespace, metric, tuple(sorted((k, _target(v)) for k, v in dims.items())))
        for props in alarms.values()
        for namespace, metric, dims in _watched(props)
    }

    def lambda_metric(metric: str, function: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return ("AWS/Lambda", metric, (("FunctionName", function),))

    expected = {
        ("TrackingExport", "ExportRuns", (("outcome", "failed"), ("service", "tracking-export"))),
        ("TrackingExport", "StuckRuns", (("service", "tracking-export"),)),
        ("TrackingExport", "MissedRuns", (("service", "tracking-export"),)),
        (
            "TrackingExport",
            "IngestRequests",
            (("outcome", "ingest-rejected"), ("service", "tracking-export")),
        ),
    }
    expected |= {
        ("AWS/States", metric, (("StateMachineArn", "ExportStateMachine"),))
        for metric in ("ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut")
    }
    expected |= {
        ("AWS/Scheduler", metric, (("ScheduleGroup", "ScheduleGroup"),))
        for metric in AWS_METRICS["AWS/Scheduler"]
    }
    functions = _of_type(resources, "AWS::Serverless::Function")
    for name, function in functions.items():
        expected.add(lambda_metric("Errors", name))
        # Whatever Lambda retries and then gives up on.
        if "EventInvokeConfig" in function["Properties"]:
            expected |= {lambda_metric("AsyncEventAge", name), lambda_metric("AsyncEventsDropped", name)}
    # A throttled step fails its distributed run after Step Functions' retries.
    machine = resources["ExportStateMachine"]["Properties"]["DefinitionSubstitutions"]
    steps = {value["Fn::GetAtt"][0] for value in machine.values() if "Fn::GetAtt" in value}
    assert steps == {"ExportWorkerFunction", "ExportCoordinatorFunction"}
    for name in steps | {"ExportFunction", "RunRecoveryFunction"}:
        expected.add(lambda_metric("Throttles", name))
    expected.add(lambda_metric("AsyncEventAge", "WatchdogFunction"))
    for name, table in _of_type(resources, "AWS::DynamoDB::Table").items():
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            expected.add(("AWS/DynamoDB", metric, (("TableName", name),)))
            for index in _indexes(table):
                expected.add(
                    ("AWS/DynamoDB", metric, (("GlobalSecondaryIndexName", index), ("TableName", name)))
                )
    assert expected - watched == set()


def test_each_table_s_throttles_are_one_alarm_over_the_table_and_all_its_indexes(
    resources: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    for name, table in _of_type(resources, "AWS::DynamoDB::Table").items():
        props = alarms[f"{name}ThrottlesAlarm"]
        [total] = [q for q in props["Metrics"] if q.get("ReturnData")]
        # The sum of every series, a missing one counted as none.
        assert total["Expression"] == "SUM(FILL(METRICS(), 0))"
        read = {
            _target(d.get("GlobalSecondaryIndexName", ""))
            for _, m, d in _watched(props)
            if m == "ReadThrottleEvents"
        }
        write = {
            _target(d.get("GlobalSecondaryIndexName", ""))
            for _, m, d in _watched(props)
            if m == "WriteThrottleEvents"
        }
        assert read == write == {""} | _indexes(table), name
        assert {_target(d["TableName"]) for _, _, d in _watched(props)} == {name}
        assert all(q["MetricStat"]["Stat"] == "Sum" for q in props["Metrics"] if "MetricStat" in q)
        # Two periods of three: one burst the SDK's retries absorbed is not an alarm.
        assert (props["EvaluationPeriods"], props["DatapointsToAlarm"], props["Threshold"]) == (3, 2, 0)


def _calls_reached(path: Path, function: str) -> list[ast.Call]:
    """The calls ``function`` of the module at ``path`` makes, itself or through the module's
    other functions it calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    seen, todo, calls = set(), [function], []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(defined[name]):
            if isinstance(node, ast.Call):
                calls.append(node)
                if isinstance(node.func, ast.Name) and node.func.id in defined:
                    todo.append(node.func.id)
    return calls


def _counts_export_runs(path: Path, function: str) -> bool:
    return any(
        isinstance(call.func, ast.Name)
        and call.func.id == "count_outcome"
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == "ExportRuns"
        for call in _calls_reached(path, function)
    )


def test_a_failed_run_on_any_path_raises_the_failed_runs_alarm(
    template: dict[str, Any], resources: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    [(namespace, metric, dims)] = _watched(alarms["FailedRunsAlarm"])
    assert (namespace, metric, dims) == (
        "TrackingExport",
        "ExportRuns",
        {"service": "tracking-export", "outcome": "failed"},
    )
    assert alarms["FailedRunsAlarm"]["Period"] == 300
    # One metric is the sum over every function that counts runs: no function has a service
    # name of its own (Powertools adds it as the dimension).
    for name, function in _of_type(resources, "AWS::Serverless::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "POWERTOOLS_SERVICE_NAME" not in variables, name
    # Each handler that ends a run counts it: the single path, the distributed path's finish and
    # fail steps, the recovery of a run Lambda gave up on.
    functions = ROOT / "functions"
    for path, handler in (
        (functions / "export" / "export_app.py", "handler"),
        (functions / "export" / "export_app.py", "on_failure"),
        (functions / "export_steps" / "export_steps_app.py", "coordinator"),
    ):
        assert _counts_export_runs(path, handler), f"{path.name}:{handler} does not count ExportRuns"
    # Whatever ends stuck runs counts them among the failed runs too.
    for path in functions.rglob("*.py"):
        if '"StuckRuns"' in path.read_text(encoding="utf-8"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            assert any(
                _counts_export_runs(path, node.name)
                for node in tree.body
                if isinstance(node, ast.FunctionDef)
            ), path


# ---------------------------------------------------------------- dead letters


def test_every_dead_letter_queue_alarms_again_for_each_new_dead_letter(
    resources: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    queues = set(_of_type(resources, "AWS::SQS::Queue"))
    dead_letter_queues = set()
    for function in _of_type(resources, "AWS::Serverless::Function").values():
        props = function["Properties"]
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
        if on_failure.get("Type") == "SQS":
            dead_letter_queues.add(_target(on_failure["Destination"]))
        for event in props.get("Events", {}).values():
            if "DeadLetterConfig" in event["Properties"]:
                dead_letter_queues.add(_target(event["Properties"]["DeadLetterConfig"]["Arn"]))
        schedules = props.get("Environment", {}).get("Variables", {}).get("SCHEDULE_DLQ_ARN")
        if schedules is not None:
            dead_letter_queues.add(_target(schedules))
    # Every queue of the stack is a dead-letter queue (it has no work queue).
    assert dead_letter_queues == queues == {"ExportDlq", "ConfigSyncDlq", "IngestDlq"}
    for queue in queues:
        [props] = [
            p
            for p in alarms.values()
            if p.get("Namespace") == "AWS/SQS"
            and _watched(p)[0][2]["QueueName"] == {"Fn::GetAtt": [queue, "QueueName"]}
        ]
        # Messages sent in the period: the alarm fires for a period with new dead letters and
        # clears after one without, so the next one fires it again. A depth alarm would stay in
        # ALARM while the first waited.
        assert props["MetricName"] == "NumberOfMessagesSent", queue
        assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
            "Sum",
            0,
            "GreaterThanThreshold",
        ), queue
        assert (props["Period"], props["EvaluationPeriods"]) == (300, 1), queue
        assert props.get("DatapointsToAlarm", 1) == 1, queue
