"""The watchdog in template.yaml (docs/run-lifecycle.md "The watchdog", docs/runbook.md):
scheduled hourly, least privilege, its own alarms to the ops topic with OK actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "arn:${AWS::Partition}:s3:::${AWS::StackName}-${AWS::AccountId}-config"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return dict(load_template(ROOT / "template.yaml")["Resources"])


def test_the_watchdog_runs_hourly_after_the_hour_and_is_not_retried(resources: dict[str, Any]) -> None:
    props = resources["WatchdogFunction"]["Properties"]
    assert (props["CodeUri"], props["Handler"]) == ("functions/watchdog", "watchdog_app.handler")
    [event] = props["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "cron(20 * * * ? *)"
    assert event["Properties"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "WatchdogLogGroup"}


def test_the_watchdog_may_read_config_and_runs_repair_schedules_and_start_the_export_only(
    resources: dict[str, Any],
) -> None:
    statements = {
        s["Sid"]: s for s in resources["WatchdogFunction"]["Properties"]["Policies"][0]["Statement"]
    }
    assert set(statements) == {
        "ReadTenantConfig",
        "ListTenantConfig",
        "ReadRunHistory",
        "RepairExportSchedules",
        "PassSchedulerRole",
        "StartMissedRuns",
    }
    assert statements["ReadTenantConfig"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statements["ReadTenantConfig"]["Resource"] == {"Fn::Sub": CONFIG + "/tenants/*"}
    # Unconditioned: a missing tenant.json answers 404 (defaults), not 403 (docs/infrastructure.md).
    assert statements["ListTenantConfig"]["Resource"] == {"Fn::Sub": CONFIG}
    assert "Condition" not in statements["ListTenantConfig"]
    # Never deletes a schedule: it only puts back what config-sync would have written.
    assert sorted(statements["RepairExportSchedules"]["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert statements["RepairExportSchedules"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
        ":schedule/${ScheduleGroup}/*"
    }
    assert statements["PassSchedulerRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }
    assert statements["StartMissedRuns"] == {
        "Sid": "StartMissedRuns",
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": {"Fn::GetAtt": ["ExportFunction", "Arn"]},
    }


@pytest.mark.parametrize(
    ("alarm", "namespace", "metric"),
    [
        ("WatchdogMissedRunsAlarm", "TrackingExport", "MissedRuns"),
        ("WatchdogSchedulesRepairedAlarm", "TrackingExport", "SchedulesRepaired"),
        ("WatchdogFailuresAlarm", "TrackingExport", "WatchdogFailures"),
        ("WatchdogFunctionErrorsAlarm", "AWS/Lambda", "Errors"),
    ],
)
def test_each_thing_the_watchdog_did_in_an_hour_alarms_and_clears_the_next(
    resources: dict[str, Any], alarm: str, namespace: str, metric: str
) -> None:
    props = resources[alarm]["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (namespace, metric, "Sum")
    assert (props["Period"], props["EvaluationPeriods"]) == (3600, 1)
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "OpsAlarmTopic"}]
    if namespace == "TrackingExport":
        # Powertools' metrics carry the service dimension (POWERTOOLS_SERVICE_NAME).
        assert props["Dimensions"] == [{"Name": "service", "Value": "tracking-export"}]
    else:
        assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "WatchdogFunction"}}]


def test_a_watchdog_that_stops_running_alarms(resources: dict[str, Any]) -> None:
    props = resources["WatchdogNotRunningAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/Lambda", "Invocations")
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
    # No data at all (the function never invoked) is the case it is for.
    assert (props["Period"] * props["EvaluationPeriods"], props["TreatMissingData"]) == (7200, "breaching")
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "OpsAlarmTopic"}]
