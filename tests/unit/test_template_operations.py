"""The operations side of template.yaml: the dashboard (issue 8 item 5, issue 19 item 3) and
what cfn-lint's serverless rules are told to skip, with the check that stands in for each
skipped rule. The alarms have their own module, test_template_alarms.py."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from published_metrics import NOT_YET_PUBLISHED, published_names

from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[1].parent


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]
    return resources


@pytest.fixture(scope="module")
def dashboard(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's widgets, its ${...} placeholders filled in as <...>."""
    resource = resources["OperationsDashboard"]
    assert resource["Type"] == "AWS::CloudWatch::Dashboard"
    body = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", body)
    widgets: list[dict[str, Any]] = json.loads(filled)["widgets"]
    return widgets


@pytest.fixture(scope="module")
def widgets(dashboard: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The metric widgets' properties by title."""
    return {w["properties"]["title"]: w["properties"] for w in dashboard if w["type"] == "metric"}


SEARCH = re.compile(
    r"SEARCH\('(?:Namespace=\"TrackingExport\"|\{TrackingExport,(?P<schema>[\w,]+)\}) "
    r"MetricName=\"(?P<name>\w+)\"', '(?:Sum|Average|Maximum)', \d+\)"
)


def _searched(widget: dict[str, Any]) -> list[str]:
    """The service's metric names the widget's SEARCH expressions look for."""
    found = []
    for line in widget["metrics"]:
        if isinstance(line[0], dict):
            match = SEARCH.fullmatch(line[0]["expression"])
            assert match, line[0]["expression"]
            found.append(match.group("name"))
    return found


def _charted(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """``(namespace, metric, dimensions)`` of the widget's plain metric lines."""
    found = []
    for line in widget["metrics"]:
        if isinstance(line[0], str):
            fields = [f for f in line if isinstance(f, str)]
            namespace, metric, *dims = fields
            found.append((namespace, metric, dict(zip(dims[::2], dims[1::2], strict=True))))
    return found


def test_the_dashboard_shows_every_alarm_first(
    resources: dict[str, Any], dashboard: list[dict[str, Any]]
) -> None:
    first = dashboard[0]
    assert (first["type"], first["x"], first["y"]) == ("alarm", 0, 0)
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert sorted(first["properties"]["alarms"]) == sorted(f"<{name}.Arn>" for name in alarms)


def test_the_dashboard_charts_both_paths_recovery_missed_runs_ingestion_config_and_dead_letters(
    resources: dict[str, Any], widgets: dict[str, dict[str, Any]]
) -> None:
    searched = {name for w in widgets.values() for name in _searched(w)}
    assert searched >= {
        # Runs of both paths (the coordinator counts a distributed run's outcome and figures).
        "ExportRuns",
        "ExportedRows",
        "ExportedBytes",
        "ExportDuration",
        "SkippedRecords",
        # Recovery.
        "RecoveredRuns",
        "StuckRuns",
        "RunsRetried",
        "PausedRuns",
        "RedrivenMessages",
        # The watchdog.
        "MissedRuns",
        "SpringForwardRuns",
        "SchedulesRepaired",
        "DeferredRuns",
        "WatchdogFailures",
        # Ingestion and config.
        "IngestRequests",
        "IngestedRecords",
        "RejectedLines",
        "ConfigChanges",
    }
    charted = {
        (ns, metric, tuple(sorted(d.items()))) for w in widgets.values() for ns, metric, d in _charted(w)
    }
    machine = (("StateMachineArn", "<ExportStateMachine>"),)
    for metric in (
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsAborted",
        "ExecutionsTimedOut",
    ):
        assert ("AWS/States", metric, machine) in charted, metric
    assert ("AWS/States", "ExecutionTime", machine) in charted
    invalid = (("outcome", "invalid"), ("service", "tracking-export"))
    assert ("TrackingExport", "ConfigChanges", invalid) in charted
    for queue in (name for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"):
        for metric in ("NumberOfMessagesSent", "ApproximateNumberOfMessagesVisible"):
            assert ("AWS/SQS", metric, (("QueueName", f"<{queue}.QueueName>"),)) in charted, (queue, metric)
    for metric in ("InvocationDroppedCount", "TargetErrorCount", "InvocationsSentToDeadLetterCount"):
        assert ("AWS/Scheduler", metric, (("ScheduleGroup", "<ScheduleGroup>"),)) in charted, metric
    assert all(w["region"] == "<AWS::Region>" for w in widgets.values())


def test_the_metrics_the_dashboard_searches_are_published(widgets: dict[str, dict[str, Any]]) -> None:
    namespace = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert namespace["POWERTOOLS_METRICS_NAMESPACE"] == "TrackingExport"
    for title, widget in widgets.items():
        for name in _searched(widget):
            assert name in published_names() or name in NOT_YET_PUBLISHED, f"{title}: nobody publishes {name}"


def test_counters_by_outcome_are_charted_by_their_outcome_dimension(
    widgets: dict[str, dict[str, Any]],
) -> None:
    # count_outcome emits the dimensions outcome and service (Powertools adds the service); a
    # SEARCH schema must name exactly those to find them, one series per outcome.
    for title, name in (
        ("Export runs by outcome", "ExportRuns"),
        ("Recovered runs by outcome", "RecoveredRuns"),
        ("Ingested files by outcome", "IngestRequests"),
        ("Config changes by action", "ConfigChanges"),
    ):
        (line,) = widgets[title]["metrics"]
        match = SEARCH.fullmatch(line[0]["expression"])
        assert match and (match.group("schema"), match.group("name")) == ("outcome,service", name), title


def test_every_dead_letter_queue_of_a_function_is_charted(
    resources: dict[str, Any], widgets: dict[str, dict[str, Any]]
) -> None:
    charted = {d["QueueName"] for _, _, d in _charted(widgets["Dead-letter queue depth"])}
    for name, resource in resources.items():
        # The distributed run's steps are invoked synchronously (no asynchronous destination).
        if resource["Type"] == "AWS::Serverless::Function" and "EventInvokeConfig" in resource["Properties"]:
            destination = resource["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
            if destination["Type"] != "SQS":
                continue  # the export function's failures go to the run recovery function first
            queue = destination["Destination"]["Fn::GetAtt"][0]
            assert f"<{queue}.QueueName>" in charted, name


def test_lint_runs_cfn_lint_serverless_rules() -> None:
    """`make lint` appends the serverless rules; .cfnlintrc, which `sam validate --lint` reads
    with a stock SAM CLI's cfn-lint (no extra rule set installed), names no rule module."""
    config = yaml.safe_load((ROOT / ".cfnlintrc").read_text(encoding="utf-8"))
    assert set(config) == {"templates", "ignore_checks"}
    assert config["ignore_checks"] == ["WS1004"]  # stood in for below
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert lint is not None
    assert "cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml" in lint.group(1)
    importlib.import_module("cfn_lint_serverless.rules")  # installed by the dev extra


def test_every_function_logs_to_its_own_group_with_a_retention(resources: dict[str, Any]) -> None:
    # What WS1004 (skipped: it does not read LoggingConfig) asks for.
    groups = []
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            assert resources[group]["Type"] == "AWS::Logs::LogGroup", name
            assert resources[group]["Properties"]["RetentionInDays"] > 0, name
            groups.append(group)
    assert len(groups) == len(set(groups))


# Each resource that skips a rule (its Metadata), and why; the test below checks each premise.
SKIPPED_PER_RESOURCE = {
    "ExportDlq": ["ES6000"],  # a dead-letter queue has no dead-letter queue of its own
    "ConfigSyncDlq": ["ES6000"],
    "IngestDlq": ["ES6000"],
    "OpsAlarmSubscription": ["ES7000"],  # an e-mail subscription
    "ConfigSyncInvokePermission": ["ES1007"],  # the SAM function's EventInvokeConfig, unseen by the rule
    "IngestFunction": ["WS1002"],  # two triggers by design: S3 files and erasure requests
}


def test_rules_are_skipped_only_where_their_premise_fails(resources: dict[str, Any]) -> None:
    skipped = {
        name: resource["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
        for name, resource in resources.items()
        if "cfn-lint" in (resource.get("Metadata") or {})
    }
    assert skipped == SKIPPED_PER_RESOURCE
    # ES6000: each queue is some function's failure destination, and alarmed on new dead letters.
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm" and alarm["Properties"].get("Namespace") == "AWS/SQS"
    }
    destinations = {
        function["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"][
            "Fn::GetAtt"
        ][0]
        for function in resources.values()
        if function["Type"] == "AWS::Serverless::Function" and "EventInvokeConfig" in function["Properties"]
    }
    for queue in ("ExportDlq", "ConfigSyncDlq", "IngestDlq"):
        assert queue in alarmed and queue in destinations, queue
    # ES1007: S3's asynchronous invocations of config-sync have an on-failure destination.
    permission = resources["ConfigSyncInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": ["ConfigSyncFunction", "Arn"]}
    on_failure = resources["ConfigSyncFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"][
        "OnFailure"
    ]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["ConfigSyncDlq", "Arn"]}}
    # WS1002: exactly the two triggers, each from its own source.
    events = resources["IngestFunction"]["Properties"]["Events"]
    assert {name: event["Type"] for name, event in events.items()} == {
        "FileDropped": "S3",
        "ErasureRequested": "EventBridgeRule",
    }
    assert events["FileDropped"]["Properties"]["Bucket"] == {"Ref": "IngestBucket"}
