"""template.yaml against docs/table-design.md, architecture.md and docs/infrastructure.md.

Every expected value below is written out from those documents, not read back from the
template: the table keys and indexes, the runtime, the failure destinations, the bucket
protections, the scoping of every IAM statement.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from function_environments import template_settings
from moto import mock_aws

from tools.template_tables import (
    load_template,
    resource_names,
    table_definitions,
    ttl_attributes,
)
from tracking_export_aws.aws.object_tags import (
    CLEAN_OLDER_THAN_DAYS,
    CLEAN_OLDER_THAN_TAG_KEY,
    clean_older_than_tag,
)
from tracking_export_aws.runtime.settings import (
    ConfigSyncSettings,
    ExportSettings,
    IngestFunctionSettings,
    IngestRecoverySettings,
    RunRecoverySettings,
    WatchdogSettings,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
CONFIG_BUCKET_NAME = "${AWS::StackName}-${AWS::AccountId}-config"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


def key_schema(hash_key: str, range_key: str) -> list[dict[str, str]]:
    return [
        {"AttributeName": hash_key, "KeyType": "HASH"},
        {"AttributeName": range_key, "KeyType": "RANGE"},
    ]


# ---------------------------------------------------------------- loader


def test_loader_reads_short_tags_as_their_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      R: !Ref B\n"
        "      G: !GetAtt B.Arn\n"
        "      S: !Sub '${B}-x'\n"
        "      I: !If [C, 1, 2]\n"
        "      J: !Join ['', [a, !Ref B]]\n"
        "      M: !FindInMap {a: b}\n"
    )
    props = load_template(path)["Resources"]["A"]["Properties"]
    assert props == {
        "R": {"Ref": "B"},
        "G": {"Fn::GetAtt": ["B", "Arn"]},
        "S": {"Fn::Sub": "${B}-x"},
        "I": {"Fn::If": ["C", 1, 2]},
        "J": {"Fn::Join": ["", ["a", {"Ref": "B"}]]},
        "M": {"Fn::FindInMap": {"a": "b"}},
    }


# ---------------------------------------------------------------- tables (docs/table-design.md)

TRACKING_TABLE = {
    "KeySchema": key_schema("pk", "sk"),
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "ByTracking",
            "KeySchema": key_schema("gsi1pk", "gsi1sk"),
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": ["trackingId", "logId", "startedAt", "timeSpentSeconds"],
            },
        },
        {
            "IndexName": "Unlaunched",
            "KeySchema": key_schema("gsi2pk", "gsi2sk"),
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": "ByLearner",
            "KeySchema": key_schema("gsi3pk", "gsi3sk"),
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ],
}
# The run listing fields (docs/table-design.md, "Run-history table"); ByTenant adds what usage sums.
_LISTED = ["runNumber", "attempt", "startedAt", "finishedAt", "leaseUntil", "invocationId", "path", "rows",
           "bytes", "objectKey", "sha256", "durationMs", "error", "window"]  # fmt: skip
RUN_HISTORY_TABLE = {
    "KeySchema": key_schema("pk", "sk"),
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "sk", "status", "scheduledTime", "tenantId")
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "ByStatus",
            "KeySchema": key_schema("status", "scheduledTime"),
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": ["tenantId", "exportGuid", *_LISTED],
            },
        },
        {
            "IndexName": "ByTenant",
            "KeySchema": key_schema("tenantId", "scheduledTime"),
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": ["status", "exportGuid", *_LISTED, "replayId", "quiet", "readUnits"],
            },
        },
    ],
}


def test_table_definitions_follow_the_table_design() -> None:
    assert table_definitions(TEMPLATE_PATH) == {
        "TrackingTable": TRACKING_TABLE,
        "RunHistoryTable": RUN_HISTORY_TABLE,
    }


def test_runs_and_logs_expire_with_ttl_on_expires_at() -> None:
    assert ttl_attributes(TEMPLATE_PATH) == {"RunHistoryTable": "expiresAt", "TrackingTable": "expiresAt"}


def test_tables_are_recoverable_and_encrypted(resources: dict[str, Any]) -> None:
    for name in ("TrackingTable", "RunHistoryTable"):
        props = resources[name]["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert resources[name]["DeletionPolicy"] == "Retain", name


def test_table_definitions_create_working_tables_in_moto() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        for logical_id, kwargs in table_definitions(TEMPLATE_PATH).items():
            dynamodb.create_table(TableName=logical_id, **kwargs)
        described = dynamodb.describe_table(TableName="TrackingTable")["Table"]
        indexes = {index["IndexName"]: index for index in described["GlobalSecondaryIndexes"]}
        assert sorted(indexes) == ["ByLearner", "ByTracking", "Unlaunched"]
        assert indexes["ByTracking"]["KeySchema"] == key_schema("gsi1pk", "gsi1sk")
        assert indexes["Unlaunched"]["Projection"] == {"ProjectionType": "ALL"}
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_resource_names_lists_logical_ids_by_kind() -> None:
    assert resource_names(TEMPLATE_PATH) == {
        "buckets": ["ConfigBucket", "ExportBucket", "IngestBucket"],
        "tables": ["TrackingTable", "RunHistoryTable"],
        "topics": ["NotificationTopic", "OpsAlarmTopic"],
        "queues": ["ExportDlq", "ConfigSyncDlq", "IngestDlq"],
        "schedule_groups": ["ScheduleGroup"],
    }


# ---------------------------------------------------------------- functions


def test_functions_run_python_313_on_arm64_with_tracing(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"
    variables = globals_["Environment"]["Variables"]
    expected = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    assert expected <= set(variables)
    assert "LOG_LEVEL" not in variables  # Powertools reads POWERTOOLS_LOG_LEVEL; nothing reads LOG_LEVEL
    functions = of_type(resources, "AWS::Serverless::Function")
    assert sorted(functions) == [
        "ConfigSyncFunction",
        "ExportCoordinatorFunction",
        "ExportFunction",
        "ExportWorkerFunction",
        "IngestFunction",
        "IngestRecoveryFunction",
        "RunRecoveryFunction",
        "StuckRunsFunction",
        "WatchdogFunction",
    ]
    for name, function in functions.items():
        for overridden in ("Runtime", "Architectures", "Tracing"):
            assert overridden not in function["Properties"], f"{name} overrides {overridden}"


def test_functions_point_at_the_handlers(resources: dict[str, Any]) -> None:
    export = resources["ExportFunction"]["Properties"]
    assert (export["CodeUri"], export["Handler"]) == ("functions/export", "export_app.handler")
    assert (export["Timeout"], export["MemorySize"]) == (900, 1769)
    sync = resources["ConfigSyncFunction"]["Properties"]
    assert (sync["CodeUri"], sync["Handler"]) == ("functions/config_sync", "config_sync_app.handler")
    recovery = resources["RunRecoveryFunction"]["Properties"]
    assert (recovery["CodeUri"], recovery["Handler"]) == ("functions/export", "export_app.on_failure")


def test_every_function_has_its_reserved_concurrency_parameter(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    expected = {
        "ExportFunction": ("ExportReservedConcurrency", "HasExportReservation"),
        "ConfigSyncFunction": ("ConfigSyncReservedConcurrency", "HasConfigSyncReservation"),
        "RunRecoveryFunction": ("RunRecoveryReservedConcurrency", "HasRunRecoveryReservation"),
        "IngestFunction": ("IngestReservedConcurrency", "HasIngestReservation"),
        "ExportWorkerFunction": ("WorkerReservedConcurrency", "HasWorkerReservation"),
        "WatchdogFunction": ("WatchdogReservedConcurrency", "HasWatchdogReservation"),
    }
    # The coordinator runs a few steps per distributed run and takes from the pool.
    assert "ReservedConcurrentExecutions" not in resources["ExportCoordinatorFunction"]["Properties"]
    # Ingest recovery runs once per file Lambda gave up on, the stuck-runs function once per
    # stopped execution and once an hour: they take from the pool too.
    for name in ("IngestRecoveryFunction", "StuckRunsFunction"):
        assert "ReservedConcurrentExecutions" not in resources[name]["Properties"], name
    functions = of_type(resources, "AWS::Serverless::Function")
    assert set(functions) - set(expected) == {
        "ExportCoordinatorFunction",
        "IngestRecoveryFunction",
        "StuckRunsFunction",
    }
    for name, (parameter, condition) in expected.items():
        # 0 means "no reservation": the property is left out (a reservation of 0 would
        # throttle every invocation).
        assert functions[name]["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
        }, name
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}, (
            condition
        )
        assert template["Parameters"][parameter]["Type"] == "Number"


def test_the_default_reservations_deploy_in_a_new_account(template: dict[str, Any]) -> None:
    """Lambda keeps 100 executions unreserved: a reservation needs a quota of 100 + all reservations.

    New accounts may start far below the usual 1,000. Every reservation defaults to none except
    the two functions that run one at a time by design (ingestion, docs/ingestion.md; the
    watchdog's pass), which need a quota of 102; 0 for both deploys where even that is too much.
    """
    parameters = template["Parameters"]
    reservations = {name: p for name, p in parameters.items() if name.endswith("ReservedConcurrency")}
    assert len(reservations) == 6
    defaults = {name: int(p["Default"]) for name, p in reservations.items()}
    assert defaults == {
        "ExportReservedConcurrency": 0,
        "ConfigSyncReservedConcurrency": 0,
        "RunRecoveryReservedConcurrency": 0,
        "WorkerReservedConcurrency": 0,
        "IngestReservedConcurrency": 1,
        "WatchdogReservedConcurrency": 1,
    }
    serial = ("IngestReservedConcurrency", "WatchdogReservedConcurrency")
    for name, parameter in reservations.items():
        if name in serial:
            assert [str(v) for v in parameter["AllowedValues"]] == ["0", "1"], name
        else:
            assert parameter["MinValue"] == 0, name


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


def test_every_arn_the_template_builds_names_the_stacks_partition(template: dict[str, Any]) -> None:
    """aws-cn and aws-us-gov stacks: an ARN written with ``arn:aws:`` would name another partition."""
    built = [text for text in _strings(template) if "arn:" in text]
    assert built, "the template builds no ARN at all?"
    for text in built:
        for partition in re.findall(r"arn:(\$\{[^}]*\}|[^:\s]*):", text):
            assert partition == "${AWS::Partition}", text


def test_the_state_machine_definition_takes_the_partition_from_the_stack(resources: dict[str, Any]) -> None:
    machine = resources["ExportStateMachine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["Partition"] == {"Ref": "AWS::Partition"}
    text = (ROOT / machine["DefinitionUri"]).read_text(encoding="utf-8")
    arns = re.findall(r'"(arn:[^"]*)"', text)
    assert arns and all(arn.startswith("arn:${Partition}:") for arn in arns), arns


def test_failed_async_events_end_their_run_or_reach_a_dlq(resources: dict[str, Any]) -> None:
    # docs/run-lifecycle.md: an export delivery Lambda gave up on goes to the run recovery
    # function, which ends the run; what that function (or config-sync) cannot do goes to a DLQ.
    # The distributed run's steps are invoked synchronously by the state machine (its Catch
    # handles their failures): they have no asynchronous destination.
    expected = {
        "ExportFunction": ("Lambda", "RunRecoveryFunction"),
        "RunRecoveryFunction": ("SQS", "ExportDlq"),
        "ConfigSyncFunction": ("SQS", "ConfigSyncDlq"),
        # docs/ingestion.md: an ingestion Lambda gave up on is told to its tenant once.
        "IngestFunction": ("Lambda", "IngestRecoveryFunction"),
        "IngestRecoveryFunction": ("SQS", "IngestDlq"),
    }
    for name in ("ExportWorkerFunction", "ExportCoordinatorFunction"):
        assert "EventInvokeConfig" not in resources[name]["Properties"], name
    # A watchdog pass leaves no run to end: Lambda's default retries, no destination.
    assert "EventInvokeConfig" not in resources["WatchdogFunction"]["Properties"]
    for name, function in of_type(resources, "AWS::Serverless::Function").items():
        if name not in expected:
            continue
        config = function["Properties"]["EventInvokeConfig"]
        on_failure = config["DestinationConfig"]["OnFailure"]
        kind, target = expected[name]
        assert on_failure == {"Type": kind, "Destination": {"Fn::GetAtt": [target, "Arn"]}}, name
        # Two retries: a crashed export is retried after a minute and again two minutes later,
        # past the 120 s lease of a run whose process died.
        assert config["MaximumRetryAttempts"] == 2, name
    for queue in ("ExportDlq", "ConfigSyncDlq", "IngestDlq"):
        assert resources[queue]["Type"] == "AWS::SQS::Queue"


def test_function_environments_are_what_the_settings_models_read(resources: dict[str, Any]) -> None:
    export_env = resources["ExportFunction"]["Properties"]["Environment"]["Variables"]
    assert set(export_env) == {
        "CONFIG_BUCKET",
        "EXPORT_BUCKET",
        "TRACKING_TABLE",
        "RUN_HISTORY_TABLE",
        "TOPIC_ARN",
        "EVENT_BUS_NAME",
        "EMAIL_SENDER",
        "EMAIL_CONFIGURATION_SET",
        "DOWNLOAD_LINK_SECONDS",
        "EVENTS_INCLUDE_LINKS_AND_RECIPIENTS",
        "STATE_MACHINE_ARN",
        "MAX_ROWS_PER_WORKER",
    }
    assert export_env["DOWNLOAD_LINK_SECONDS"] == {"Ref": "DownloadLinkSeconds"}
    assert export_env["EVENTS_INCLUDE_LINKS_AND_RECIPIENTS"] == {"Ref": "EventsIncludeLinksAndRecipients"}
    assert export_env["STATE_MACHINE_ARN"] == {"Ref": "ExportStateMachine"}
    assert export_env["MAX_ROWS_PER_WORKER"] == {"Ref": "MaxRowsPerWorker"}
    assert export_env["EVENT_BUS_NAME"] == "default"
    assert export_env["EXPORT_BUCKET"] == {"Ref": "ExportBucket"}
    assert export_env["TRACKING_TABLE"] == {"Ref": "TrackingTable"}
    assert export_env["RUN_HISTORY_TABLE"] == {"Ref": "RunHistoryTable"}
    assert export_env["TOPIC_ARN"] == {"Ref": "NotificationTopic"}
    sync_env = resources["ConfigSyncFunction"]["Properties"]["Environment"]["Variables"]
    assert sync_env == {
        "CONFIG_BUCKET": {"Fn::Sub": CONFIG_BUCKET_NAME},
        "TOPIC_ARN": {"Ref": "NotificationTopic"},
        "EVENT_BUS_NAME": "default",
        "RUN_HISTORY_TABLE": {"Ref": "RunHistoryTable"},
        "SCHEDULE_GROUP": {"Ref": "ScheduleGroup"},
        "EXPORT_FUNCTION_ARN": {"Fn::GetAtt": ["ExportFunction", "Arn"]},
        "SCHEDULER_ROLE_ARN": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
        "SCHEDULE_DLQ_ARN": {"Fn::GetAtt": ["ExportDlq", "Arn"]},
        "INGEST_FUNCTION_NAME": {"Ref": "IngestFunction"},
        "EMAIL_SENDER": {"Ref": "EmailSender"},
        "EMAIL_CONFIGURATION_SET": EMAIL_CONFIGURATION_SET,
    }
    recovery_env = resources["RunRecoveryFunction"]["Properties"]["Environment"]["Variables"]
    # Recovery never starts a distributed run nor writes a file: no state machine, export
    # bucket, tracking table or link settings.
    assert set(recovery_env) == set(export_env) - {
        "DOWNLOAD_LINK_SECONDS",
        "STATE_MACHINE_ARN",
        "MAX_ROWS_PER_WORKER",
        "EXPORT_BUCKET",
        "TRACKING_TABLE",
    }
    assert set(export_env) <= set(ExportSettings.variables())
    assert set(sync_env) <= set(ConfigSyncSettings.variables())
    assert set(recovery_env) <= set(RunRecoverySettings.variables())
    watchdog_env = resources["WatchdogFunction"]["Properties"]["Environment"]["Variables"]
    assert watchdog_env == {
        "CONFIG_BUCKET": {"Fn::Sub": CONFIG_BUCKET_NAME},
        "RUN_HISTORY_TABLE": {"Ref": "RunHistoryTable"},
        "SCHEDULE_GROUP": {"Ref": "ScheduleGroup"},
        "EXPORT_FUNCTION_ARN": {"Fn::GetAtt": ["ExportFunction", "Arn"]},
        "SCHEDULER_ROLE_ARN": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
        "SCHEDULE_DLQ_ARN": {"Fn::GetAtt": ["ExportDlq", "Arn"]},
        "WATCHDOG_LOOKBACK_HOURS": "26",
        "WATCHDOG_GRACE_MINUTES": "60",
        "WATCHDOG_MAX_STARTS": "200",
    }
    assert set(watchdog_env) <= set(WatchdogSettings.variables())
    # It starts with exactly what the template gives it.
    settings = template_settings(WatchdogSettings)
    assert (settings.lookback_hours, settings.grace_minutes, settings.max_starts) == (26, 60, 200)


# The operator's configuration set, else (e-mail on, none given) the one the stack creates.
EMAIL_CONFIGURATION_SET = {
    "Fn::If": [
        "CreateEmailFeedback",
        {"Ref": "EmailFeedbackConfigurationSet"},
        {"Ref": "EmailConfigurationSet"},
    ]
}
EMAIL_SENDERS = (
    "ExportFunction",
    "ExportCoordinatorFunction",
    "RunRecoveryFunction",
    "StuckRunsFunction",
    "ConfigSyncFunction",
)


def test_run_outcomes_and_config_reports_are_emailed_only_with_a_sender(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # docs/email.md: the functions that end runs, and config-sync, send; ingestion does not.
    for name in EMAIL_SENDERS:
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert env["EMAIL_SENDER"] == {"Ref": "EmailSender"}, name
        assert env["EMAIL_CONFIGURATION_SET"] == EMAIL_CONFIGURATION_SET, name
    assert "EMAIL_SENDER" not in resources["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert template["Parameters"]["EmailSender"]["Default"] == ""
    enabled = template["Conditions"]["EmailEnabled"]
    assert enabled == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EmailSender"}, ""]}]}
    policy = resources["ExportEmailPolicy"]
    assert policy["Condition"] == "EmailEnabled"
    assert policy["Properties"]["Roles"] == [{"Ref": f"{name}Role"} for name in EMAIL_SENDERS]
    send, suppression = policy["Properties"]["PolicyDocument"]["Statement"]
    assert send["Action"] == "ses:SendEmail"
    ses = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
    sender, domain, configuration_set = send["Resource"]
    assert sender == {"Fn::Sub": ses + ":identity/${EmailSender}"}
    assert domain["Fn::Sub"][0] == ses + ":identity/${SenderDomain}"
    assert configuration_set == {
        "Fn::If": [
            "HasEmailConfigurationSet",
            {"Fn::Sub": ses + ":configuration-set/${EmailConfigurationSet}"},
            {"Fn::Sub": ses + ":configuration-set/${EmailFeedbackConfigurationSet}"},
        ]
    }
    assert (suppression["Action"], suppression["Resource"]) == ("ses:GetSuppressedDestination", "*")


def test_email_bounces_and_complaints_go_to_the_operations_topic(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Conditions"]["CreateEmailFeedback"] == {
        "Fn::And": [{"Condition": "EmailEnabled"}, {"Fn::Equals": [{"Ref": "EmailConfigurationSet"}, ""]}]
    }
    configuration_set = resources["EmailFeedbackConfigurationSet"]
    assert (configuration_set["Type"], configuration_set["Condition"]) == (
        "AWS::SES::ConfigurationSet",
        "CreateEmailFeedback",
    )
    destination = resources["EmailFeedbackToOperations"]
    assert destination["Condition"] == "CreateEmailFeedback"
    assert destination["Properties"]["ConfigurationSetName"] == {"Ref": "EmailFeedbackConfigurationSet"}
    event_destination = destination["Properties"]["EventDestination"]
    assert event_destination["Enabled"] is True
    assert {"bounce", "complaint"} <= set(event_destination["MatchingEventTypes"])
    assert event_destination["SnsDestination"] == {"TopicARN": {"Ref": "OpsAlarmTopic"}}
    # The operations topic is encrypted with its own key: SES may use it, from this account only.
    key_statements = resources["OpsAlarmKey"]["Properties"]["KeyPolicy"]["Statement"]
    [ses] = [s for s in key_statements if s["Principal"] == {"Service": "ses.amazonaws.com"}]
    assert sorted(ses["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert ses["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_config_bucket_name_is_spelled_the_same_everywhere(resources: dict[str, Any]) -> None:
    # Written out rather than !Ref to avoid a circular dependency (see template.yaml).
    assert resources["ConfigBucket"]["Properties"]["BucketName"] == {"Fn::Sub": CONFIG_BUCKET_NAME}
    for name in ("ExportFunction", "ConfigSyncFunction", "IngestFunction", "WatchdogFunction"):
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert env["CONFIG_BUCKET"] == {"Fn::Sub": CONFIG_BUCKET_NAME}, name


def test_config_uploads_and_removals_of_definitions_and_settings_trigger_config_sync(
    resources: dict[str, Any],
) -> None:
    bucket = resources["ConfigBucket"]
    configurations = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    triggers = set()
    for configuration in configurations:
        assert configuration["Function"] == {"Fn::GetAtt": ["ConfigSyncFunction", "Arn"]}
        prefix, suffix = configuration["Filter"]["S3Key"]["Rules"]
        assert prefix == {"Name": "prefix", "Value": "tenants/"}
        triggers.add((configuration["Event"], suffix["Value"]))
    assert triggers == {
        ("s3:ObjectCreated:*", ".xml"),
        ("s3:ObjectRemoved:*", ".xml"),
        ("s3:ObjectCreated:*", "/tenant.json"),
        ("s3:ObjectRemoved:*", "/tenant.json"),
    }
    assert "Events" not in resources["ConfigSyncFunction"]["Properties"]
    # Only the config bucket of this account may invoke config-sync; the bucket waits for that.
    permission = resources["ConfigSyncInvokePermission"]
    assert bucket["DependsOn"] == "ConfigSyncInvokePermission"
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": ["ConfigSyncFunction", "Arn"]},
        "Principal": "s3.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
        "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::" + CONFIG_BUCKET_NAME},
    }


def test_scheduler_role_invokes_only_the_export_function_and_its_dlq(resources: dict[str, Any]) -> None:
    role = resources["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    granted = {(s["Action"], json.dumps(s["Resource"], sort_keys=True)) for s in statements}
    assert granted == {
        (
            "lambda:InvokeFunction",
            json.dumps(
                [{"Fn::GetAtt": ["ExportFunction", "Arn"]}, {"Fn::Sub": "${ExportFunction.Arn}:*"}],
                sort_keys=True,
            ),
        ),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["ExportDlq", "Arn"]})),
    }


def test_config_sync_manages_only_its_groups_schedules_and_passes_only_the_scheduler_role(
    resources: dict[str, Any],
) -> None:
    statements = {
        s["Sid"]: s for s in inline_statements(resources["ConfigSyncFunction"]["Properties"]["Policies"])
    }
    schedules = statements["ManageExportSchedules"]
    assert sorted(schedules["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert schedules["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
        ":schedule/${ScheduleGroup}/*"
    }
    pass_role = statements["PassSchedulerRole"]
    assert pass_role["Action"] == "iam:PassRole"
    assert pass_role["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_export_function_reads_config_and_writes_exports_only_under_tenants(
    resources: dict[str, Any],
) -> None:
    props = resources["ExportFunction"]["Properties"]
    statements = {s["Sid"]: s for s in inline_statements(props["Policies"])}
    # Reading a definition's last valid version is GetObjectVersion.
    assert statements["ReadTenantConfig"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statements["ReadTenantConfig"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::" + CONFIG_BUCKET_NAME + "/tenants/*"
    }
    assert statements["WriteTenantExports"]["Resource"] == {"Fn::Sub": "${ExportBucket.Arn}/tenants/*"}
    assert "s3:DeleteObject" not in statements["WriteTenantExports"]["Action"]


BUS = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "ExportFunction",
            {
                ("dynamodb:BatchGetItem", "TrackingTable"),
                ("dynamodb:Query", "TrackingTable"),
                ("dynamodb:Query", "TrackingTable/index"),
                ("dynamodb:GetItem", "RunHistoryTable"),
                ("dynamodb:UpdateItem", "RunHistoryTable"),
                ("sns:Publish", "NotificationTopic"),
                ("events:PutEvents", "default bus"),
            },
        ),
        (
            "RunRecoveryFunction",
            {
                ("dynamodb:GetItem", "RunHistoryTable"),
                ("dynamodb:UpdateItem", "RunHistoryTable"),
                ("dynamodb:Query", "RunHistoryTable"),
                ("sns:Publish", "NotificationTopic"),
                ("events:PutEvents", "default bus"),
            },
        ),
        (
            "ConfigSyncFunction",
            {
                ("dynamodb:GetItem", "RunHistoryTable"),
                ("dynamodb:UpdateItem", "RunHistoryTable"),
                ("dynamodb:DeleteItem", "RunHistoryTable"),
                ("sns:Publish", "NotificationTopic"),
                ("events:PutEvents", "default bus"),
            },
        ),
        (
            "WatchdogFunction",
            {
                ("dynamodb:GetItem", "RunHistoryTable"),
                ("dynamodb:Query", "RunHistoryTable"),
                ("dynamodb:UpdateItem", "RunHistoryTable"),
            },
        ),
    ],
)
def test_functions_call_only_what_their_statements_grant(
    resources: dict[str, Any], function: str, expected: set[tuple[str, str]]
) -> None:
    """DynamoDB, SNS and EventBridge grants written out per call the code makes (no SAM policy template)."""
    props = resources[function]["Properties"]
    assert all("Statement" in policy for policy in props["Policies"]), "no SAM policy templates"
    granted = set()
    for statement in inline_statements(props["Policies"]):
        for action in as_list(statement["Action"]):
            if not action.startswith(("dynamodb:", "sns:", "events:")):
                continue
            for resource in as_list(statement["Resource"]):
                if resource == BUS:
                    granted.add((action, "default bus"))
                elif "Ref" in resource:
                    granted.add((action, resource["Ref"]))
                elif "Fn::GetAtt" in resource:
                    granted.add((action, resource["Fn::GetAtt"][0]))
                else:
                    table = resource["Fn::Sub"].removeprefix("${").split(".")[0]
                    assert resource["Fn::Sub"] == "${" + table + ".Arn}/index/*"
                    granted.add((action, f"{table}/index"))
    assert granted == expected


# ---------------------------------------------------------------- IAM statements, all of them


def inline_statements(policies: list[Any]) -> list[dict[str, Any]]:
    """The statements of a SAM function's inline policy documents (not its policy templates)."""
    found: list[dict[str, Any]] = []
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def all_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere in the template: roles, managed, bucket, queue, key policies."""
    if isinstance(node, dict):
        statement = node.get("Statement")
        if isinstance(statement, list):
            yield from statement
        elif isinstance(statement, dict):
            yield statement
        for value in node.values():
            yield from all_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_statements(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_walk_finds_every_policy_in_the_template(resources: dict[str, Any]) -> None:
    statements = list(all_statements(resources))
    sids = {s.get("Sid") for s in statements}
    assert {
        "DenyInsecureTransport",
        "ReadTenantConfig",
        "WriteTenantExports",
        "ManageExportSchedules",
        "ReadOwnExports",
        "ListOwnExports",
        "CloudWatchPublishesAlarms",
    } <= sids
    assert len(statements) >= 15


def test_no_statement_grants_s3_or_dynamodb_on_every_resource(resources: dict[str, Any]) -> None:
    for statement in all_statements(resources):
        actions = [a.lower() for a in as_list(statement.get("Action", []))]
        data_actions = [a for a in actions if a.startswith(("s3:", "dynamodb:")) or a == "*"]
        if not data_actions or statement["Effect"] == "Deny":
            continue
        for resource in as_list(statement["Resource"]):
            assert resource != "*", statement
            assert "NotResource" not in statement, statement
        assert "*" not in actions and "s3:*" not in actions and "dynamodb:*" not in actions, statement


def test_only_known_sam_policy_templates_are_used(resources: dict[str, Any]) -> None:
    allowed = {
        "DynamoDBReadPolicy",
        "DynamoDBCrudPolicy",
        "SNSPublishMessagePolicy",
        "EventBridgePutEventsPolicy",
    }
    for name, function in of_type(resources, "AWS::Serverless::Function").items():
        for policy in function["Properties"]["Policies"]:
            assert isinstance(policy, dict), f"{name}: managed policy by name {policy!r}"
            if "Statement" not in policy:
                assert set(policy) <= allowed, name


# ---------------------------------------------------------------- buckets


def test_buckets_block_public_access_encrypt_and_refuse_plain_http(resources: dict[str, Any]) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert sorted(buckets) == ["ConfigBucket", "ExportBucket", "IngestBucket"]
    policies = {
        res["Properties"]["Bucket"]["Ref"]: res["Properties"]["PolicyDocument"]
        for res in of_type(resources, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), name
        denies = [
            s
            for s in policies[name]["Statement"]
            if s["Effect"] == "Deny"
            and s["Principal"] == "*"
            and s["Action"] == "s3:*"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(denies) == 1, name
        assert denies[0]["Resource"] == [
            {"Fn::GetAtt": [name, "Arn"]},
            {"Fn::Sub": "${" + name + ".Arn}/*"},
        ], name


def lifecycle_rules(resources: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    return rules


def test_export_bucket_aborts_incomplete_multipart_uploads_after_a_day(resources: dict[str, Any]) -> None:
    aborts = [r for r in lifecycle_rules(resources, "ExportBucket") if "AbortIncompleteMultipartUpload" in r]
    assert len(aborts) == 1
    assert aborts[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert aborts[0]["Status"] == "Enabled"
    assert "Prefix" not in aborts[0] and "TagFilters" not in aborts[0]


def test_export_bucket_has_one_expiry_rule_per_clean_older_than_value(resources: dict[str, Any]) -> None:
    expiries = [
        r
        for r in lifecycle_rules(resources, "ExportBucket")
        if "ExpirationInDays" in r and r["Id"] != "expire-distributed-work"
    ]
    by_tag: dict[int, int] = {}
    for rule in expiries:
        assert rule["Status"] == "Enabled"
        assert rule["Prefix"] == "tenants/"
        (tag,) = rule["TagFilters"]
        assert tag["Key"] == "clean-older-than"
        by_tag[int(tag["Value"])] = rule["ExpirationInDays"]
    assert sorted(by_tag) == list(CLEAN_OLDER_THAN_DAYS)
    assert all(days == value for value, days in by_tag.items())
    # Lifecycle configurations hold at most 1,000 rules.
    assert len(lifecycle_rules(resources, "ExportBucket")) <= 1000


@pytest.mark.parametrize(
    ("days", "tag"),
    [
        (None, {}),
        (1, {"clean-older-than": "1"}),
        (7, {"clean-older-than": "7"}),
        (31, {"clean-older-than": "31"}),
        (32, {"clean-older-than": "45"}),
        (90, {"clean-older-than": "90"}),
        (100, {"clean-older-than": "120"}),
        (366, {"clean-older-than": "730"}),
        (3650, {"clean-older-than": "3650"}),
        (3651, {}),
    ],
)
def test_clean_older_than_rounds_up_to_a_rule(days: int | None, tag: dict[str, str]) -> None:
    assert CLEAN_OLDER_THAN_TAG_KEY == "clean-older-than"
    assert clean_older_than_tag(days) == tag


def test_clean_older_than_refuses_zero_days() -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        clean_older_than_tag(0)


def test_config_bucket_is_versioned(resources: dict[str, Any]) -> None:
    assert resources["ConfigBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


# ---------------------------------------------------------------- queues, topics, alarms


def test_queues_and_topics_are_encrypted(resources: dict[str, Any]) -> None:
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    topics = of_type(resources, "AWS::SNS::Topic")
    assert topics["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    # CloudWatch cannot publish to a topic under the AWS managed key: the alarm topic has a CMK.
    assert topics["OpsAlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "OpsAlarmKey"}


# The alarms have their own module: tests/unit/test_template_alarms.py.


# ---------------------------------------------------------------- layers, samconfig, outputs


def test_layers_build_with_their_makefiles(resources: dict[str, Any]) -> None:
    layers = of_type(resources, "AWS::Serverless::LayerVersion")
    assert sorted(layers) == ["DepsLayer", "SharedLayer"]
    for name, layer in layers.items():
        assert layer["Metadata"]["BuildMethod"] == "makefile", name
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"], name
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"], name
        makefile = ROOT / layer["Properties"]["ContentUri"] / "Makefile"
        assert re.search(rf"^build-{name}:", makefile.read_text(), re.MULTILINE), name


def _pins(path: Path) -> dict[str, tuple[str, list[str], str]]:
    """``name -> (version, hashes, marker)`` of a hashed requirements file (``uv export``'s form)."""
    pins: dict[str, tuple[str, list[str], str]] = {}
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, _, marker = line.partition(";")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", marker or requirement)
        name, equals, version = requirement.split()[0].partition("==")
        assert equals, f"{path.name}: {name} is not pinned"
        pins[name.lower()] = (version, hashes, marker.split("--hash")[0].strip())
    return pins


def test_deps_layer_installs_arm64_cpython_313_wheels_only() -> None:
    makefile = (ROOT / "layers/deps/Makefile").read_text()
    for flag in (
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.13",
        "--only-binary=:all:",
        "--require-hashes",
        "--target $(TARGET)",
    ):
        assert flag in makefile, flag
    # Nothing is removed after the install any more: the layer keeps the SDK it pinned.
    assert "rm -rf $(TARGET)/bin" in makefile and makefile.count("rm -rf") == 1


def test_deps_layer_pins_the_sdk_the_tests_run_with_hashes() -> None:
    """Every package of the layer, the SDK included, at the version this test runs, with hashes.

    Markers would be evaluated by pip for the build machine's Python, not for Lambda's 3.13:
    the layer's export must have none (``make lock`` would have to resolve them first).
    """
    pins = _pins(ROOT / "layers/deps/requirements.txt")
    assert {"pydantic", "defusedxml", "aws-lambda-powertools", "tzdata"} <= set(pins)
    assert {"boto3", "botocore", "s3transfer"} <= set(pins)
    # The X-Ray SDK (and wrapt) went with the Tracer: no handler records subsegments.
    assert not {"aws-xray-sdk", "wrapt"} & set(pins)
    for name, (version, hashes, marker) in pins.items():
        assert hashes, f"{name} has no hash"
        assert marker == "", f"{name}: environment marker {marker!r}"
        assert importlib.metadata.version(name) == version, name
    dev = _pins(ROOT / "requirements/dev.txt")
    for name, (version, hashes, _) in pins.items():
        assert dev[name][:2] == (version, hashes), f"{name}: the layer and the dev venv disagree"


def test_samconfig_has_default_and_local_environments() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    for env in ("default", "local"):
        assert config[env]["global"]["parameters"]["stack_name"].islower(), env
        deploy = config[env]["deploy"]["parameters"]
        assert "CAPABILITY_IAM" in deploy["capabilities"], env
        assert "Stage=" in deploy["parameter_overrides"], env
        env_vars = config[env]["local_invoke"]["parameters"]["env_vars"]
        assert (ROOT / env_vars).is_file(), env


def test_local_env_vars_are_keyed_by_the_function_logical_ids(resources: dict[str, Any]) -> None:
    env_vars = json.loads((ROOT / "events/env.local.json").read_text())
    assert set(env_vars) == set(of_type(resources, "AWS::Serverless::Function"))


def test_outputs_name_every_resource_the_operators_need(template: dict[str, Any]) -> None:
    assert {
        "ConfigBucketName",
        "ExportBucketName",
        "TrackingTableName",
        "RunHistoryTableName",
        "NotificationTopicArn",
        "ExportFunctionArn",
        "ConfigSyncFunctionArn",
        "RunRecoveryFunctionArn",
        "ScheduleGroupName",
        "TenantExportReadPolicyArn",
        "WatchdogFunctionName",
    } <= set(template["Outputs"])


INGEST_BUCKET_ARN = "arn:${AWS::Partition}:s3:::${AWS::StackName}-${AWS::AccountId}-ingest"


def test_ingest_function_starts_on_dropped_files_and_erasure_requests(
    resources: dict[str, Any],
) -> None:
    props = resources["IngestFunction"]["Properties"]
    assert (props["CodeUri"], props["Handler"]) == ("functions/ingest", "ingest_app.handler")
    # Serial by default: BatchWriteItem of records absent from the table cannot be conditional
    # (decisions.md); the reservation itself is a parameter (test above).
    assert props["ReservedConcurrentExecutions"]["Fn::If"][1] == {"Ref": "IngestReservedConcurrency"}
    events = props["Events"]
    dropped = events["FileDropped"]["Properties"]
    assert events["FileDropped"]["Type"] == "S3"
    assert dropped["Bucket"] == {"Ref": "IngestBucket"}
    assert dropped["Events"] == ["s3:ObjectCreated:*"]
    assert dropped["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "tenants/"}]
    # tenant.json changes come from config-sync (below), not from a second S3 notification of the
    # config bucket: S3 refuses overlapping configurations at deploy time.
    assert sorted(events) == ["ErasureRequested", "FileDropped"]
    erasure = events["ErasureRequested"]
    assert erasure["Type"] == "EventBridgeRule"
    assert erasure["Properties"]["Pattern"] == {
        "source": ["tracking-log-export.operator"],
        "detail-type": ["Learner Erasure Requested"],
    }
    # A request EventBridge cannot deliver is kept, in the queue the function's own failures reach.
    assert erasure["Properties"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["IngestDlq", "Arn"]}}
    variables = props["Environment"]["Variables"]
    assert variables["RUN_HISTORY_TABLE"] == {"Ref": "RunHistoryTable"}
    assert variables["INGEST_CONTINUATION"] == "invoke"
    assert variables["INGEST_BUCKET"] == {"Fn::Sub": "${AWS::StackName}-${AWS::AccountId}-ingest"}
    assert variables["INGEST_DLQ_URL"] == {"Ref": "IngestDlq"}
    assert set(variables) <= set(IngestFunctionSettings.variables())
    recovery = resources["IngestRecoveryFunction"]["Properties"]
    assert (recovery["CodeUri"], recovery["Handler"]) == ("functions/ingest", "ingest_app.on_failure")
    assert set(recovery["Environment"]["Variables"]) <= set(IngestRecoverySettings.variables())


def test_only_config_sync_hears_of_config_bucket_changes(resources: dict[str, Any]) -> None:
    for name, function in of_type(resources, "AWS::Serverless::Function").items():
        for event in (function["Properties"].get("Events") or {}).values():
            assert event["Properties"].get("Bucket") != {"Ref": "ConfigBucket"}, name


def test_config_sync_asks_the_ingest_function_to_apply_retention(resources: dict[str, Any]) -> None:
    statements = {
        s["Sid"]: s for s in inline_statements(resources["ConfigSyncFunction"]["Properties"]["Policies"])
    }
    invoke = statements["RequestRetention"]
    assert (invoke["Action"], invoke["Resource"]) == (
        "lambda:InvokeFunction",
        {"Fn::GetAtt": ["IngestFunction", "Arn"]},
    )
    invokes = [s for s in statements.values() if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert invokes == [invoke]
    # The ingest function reads the last valid tenant.json: config-sync's pointer, then that version.
    ingest = {s["Sid"]: s for s in inline_statements(resources["IngestFunction"]["Properties"]["Policies"])}
    pointers = ingest["ReadValidConfigPointers"]
    assert (pointers["Action"], pointers["Resource"]) == (
        "dynamodb:GetItem",
        {"Fn::GetAtt": ["RunHistoryTable", "Arn"]},
    )
    assert sorted(ingest["ReadTenantConfig"]["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]


def test_eventbridge_may_leave_only_the_erasure_rule_s_dead_letters(resources: dict[str, Any]) -> None:
    statements = resources["DlqPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    assert allowed == [
        {
            "Sid": "ErasureRuleDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["IngestDlq", "Arn"]},
            # The rule SAM generates for the event: <function logical id><event logical id>.
            "Condition": {
                "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["IngestFunctionErasureRequested", "Arn"]}}
            },
        }
    ]


def test_ingest_function_reads_only_incoming_files_and_files_them_beside(resources: dict[str, Any]) -> None:
    props = resources["IngestFunction"]["Properties"]
    statements = {s["Sid"]: s for s in inline_statements(props["Policies"])}
    incoming = statements["ReadAndRemoveIncomingFiles"]
    assert sorted(incoming["Action"]) == ["s3:DeleteObject", "s3:GetObject"]
    assert incoming["Resource"] == {"Fn::Sub": INGEST_BUCKET_ARN + "/tenants/*/incoming/*"}
    filed = statements["FileIngestedFiles"]
    assert "s3:DeleteObject" not in filed["Action"]
    assert filed["Resource"] == [
        {"Fn::Sub": INGEST_BUCKET_ARN + "/tenants/*/processed/*"},
        {"Fn::Sub": INGEST_BUCKET_ARN + "/tenants/*/rejected/*"},
    ]
    data = statements["WriteTrackingData"]
    assert "dynamodb:Scan" not in data["Action"] and "dynamodb:Query" not in data["Action"]
    assert data["Resource"] == {"Fn::GetAtt": ["TrackingTable", "Arn"]}  # item actions: never an index
    assert statements["QueryTrackingData"]["Action"] == "dynamodb:Query"
    assert statements["QueryTrackingData"]["Resource"] == [
        {"Fn::GetAtt": ["TrackingTable", "Arn"]},
        {"Fn::Sub": "${TrackingTable.Arn}/index/*"},
    ]
    invoke = statements["ContinueLargeFiles"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}"
        ":function:${AWS::StackName}-ingest"
    }
    assert props["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-ingest"}


def test_ingest_bucket_expires_only_the_files_it_has_filed(resources: dict[str, Any]) -> None:
    props = resources["IngestBucket"]["Properties"]
    assert props["BucketName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::AccountId}-ingest"}
    expiries = [r for r in lifecycle_rules(resources, "IngestBucket") if "ExpirationInDays" in r]
    assert sorted((r["TagFilters"][0]["Value"], r["ExpirationInDays"]) for r in expiries) == [
        ("processed", 30),
        ("rejected", 30),
    ]
    assert all(r["TagFilters"][0]["Key"] == "ingest-outcome" for r in expiries)


# ---------------------------------------------------------------- <archive> and cleanFolder


@pytest.mark.parametrize("function", ["ExportFunction", "ExportCoordinatorFunction"])
def test_the_functions_that_finish_runs_may_delete_exports_to_archive_them(
    resources: dict[str, Any], function: str
) -> None:
    """<archive> copies (PutObject, PutObjectTagging, GetObject, granted for the file itself)
    and deletes the original: DeleteObject under tenants/, in a statement of its own."""
    statements = {s["Sid"]: s for s in inline_statements(resources[function]["Properties"]["Policies"])}
    assert statements["ArchiveOlderExports"] == {
        "Sid": "ArchiveOlderExports",
        "Effect": "Allow",
        "Action": "s3:DeleteObject",
        "Resource": {"Fn::Sub": "${ExportBucket.Arn}/tenants/*"},
    }
    assert {"s3:PutObject", "s3:PutObjectTagging", "s3:GetObject"} <= set(
        statements["WriteTenantExports"]["Action"]
    )


def test_no_other_function_deletes_tenant_exports(resources: dict[str, Any]) -> None:
    exports = {"Fn::Sub": "${ExportBucket.Arn}/tenants/*"}
    deleting = sorted(
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for statement in inline_statements(resource["Properties"].get("Policies", []))
        if "s3:DeleteObject" in statement["Action"] and exports in [statement["Resource"]]
    )
    assert deleting == ["ExportCoordinatorFunction", "ExportFunction"]


def test_clean_older_than_rules_reach_end_files_and_archive(resources: dict[str, Any]) -> None:
    """cleanFolder applies to end files and to archive/: the rules filter on the tag under
    tenants/, whatever the folder (the archived copies and end files carry the tag)."""
    rules = [r for r in lifecycle_rules(resources, "ExportBucket") if "TagFilters" in r]
    assert rules
    for key in ("tenants/acme/out/archive/daily_20260303.csv", "tenants/acme/out/daily_20260303.done"):
        assert all(key.startswith(rule["Prefix"]) for rule in rules), key
