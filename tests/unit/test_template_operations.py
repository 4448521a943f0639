"""The operations side of template.yaml: the dashboard (issue 8 item 5) and what cfn-lint's
serverless rules are told to skip, with the check that stands in for each skipped rule."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[1].parent
EXPORT_HANDLER = ROOT / "functions" / "export" / "export_app.py"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]
    return resources


@pytest.fixture(scope="module")
def widgets(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dashboard's widgets by title, its ${...} placeholders filled in as CloudFormation would."""
    dashboard = resources["OperationsDashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", body)
    return {w["properties"]["title"]: w["properties"] for w in json.loads(filled)["widgets"]}


def _searched_metrics(widget: dict[str, Any]) -> list[str]:
    """The metric names (or name terms) the widget's SEARCH expressions look for."""
    found = []
    for line in widget["metrics"]:
        expression = line[0]["expression"]
        scope = r"(?:Namespace=\"TrackingExport\"|\{TrackingExport,[\w,]+\})"
        match = re.fullmatch(rf"SEARCH\('{scope} MetricName=\"(\w+)\"', '\w+', \d+\)", expression)
        assert match, expression
        found.append(match.group(1))
    return found


def test_dashboard_charts_runs_rows_duration_skipped_records_and_dlq_depth(
    widgets: dict[str, dict[str, Any]],
) -> None:
    assert _searched_metrics(widgets["Export runs by outcome"]) == ["ExportRuns"]
    assert _searched_metrics(widgets["Rows exported"]) == ["ExportedRows"]
    assert _searched_metrics(widgets["Run duration (ms): average and maximum"]) == ["ExportDuration"] * 2
    assert _searched_metrics(widgets["Skipped records (data-contract violations)"]) == ["SkippedRecords"]
    dlq = widgets["Dead-letter queue depth"]
    queues = {line[3] for line in dlq["metrics"]}
    assert queues == {"<ExportDlq.QueueName>", "<ConfigSyncDlq.QueueName>", "<IngestDlq.QueueName>"}
    assert {line[1] for line in dlq["metrics"]} == {"ApproximateNumberOfMessagesVisible"}
    assert all(w["region"] == "<AWS::Region>" for w in widgets.values())


def test_the_metrics_the_dashboard_searches_are_the_export_handlers(
    widgets: dict[str, dict[str, Any]],
) -> None:
    source = EXPORT_HANDLER.read_text(encoding="utf-8")
    namespace = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert namespace["POWERTOOLS_METRICS_NAMESPACE"] == "TrackingExport"
    searched = {
        name
        for title, w in widgets.items()
        if "metrics" in w and "queue" not in title
        for name in _searched_metrics(w)
    }
    for name in searched:
        emitted = rf"name=\"{name}\"|count_outcome\(\"{name}\""
        assert re.search(emitted, source), f"export_app.py emits no metric {name}"


def test_runs_are_charted_by_their_outcome_dimension(widgets: dict[str, dict[str, Any]]) -> None:
    # The handler emits ExportRuns with the dimensions outcome and service (Powertools adds the
    # service); a SEARCH schema must name exactly those to find it.
    (line,) = widgets["Export runs by outcome"]["metrics"]
    assert line[0]["expression"].startswith("SEARCH('{TrackingExport,outcome,service} ")


def test_every_dead_letter_queue_of_a_function_is_charted(
    resources: dict[str, Any], widgets: dict[str, dict[str, Any]]
) -> None:
    charted = {line[3] for line in widgets["Dead-letter queue depth"]["metrics"]}
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
    # ES6000: each queue is some function's failure destination, and alarmed on its depth.
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
