"""The distributed path's pure parts and its infrastructure (issue 7 §1 and §4): how shards are
planned, how shard outputs become S3 parts, readable failure reasons, the state machine
definition and the least-privilege IAM of its functions."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.local_endpoints import state_machine_definition
from tools.template_tables import load_template
from tracking_export_aws.aws.s3_objects import DistributedRunError, part_plan
from tracking_export_aws.aws.s3_sink import MIB
from tracking_export_aws.runs.manifest import work_prefix
from tracking_export_aws.runs.plan import execution_name
from tracking_export_aws.runs.shards import MAX_SHARDS, plan_shards
from tracking_export_aws.runs.steps import failure_reason

ROOT = Path(__file__).resolve().parents[2]


def _days(n: int) -> list[date]:
    return [date(2026, 3, 1) + timedelta(days=i) for i in range(n)]


# ---------------------------------------------------------------- planning


def test_days_are_grouped_up_to_the_row_budget() -> None:
    days = _days(6)
    # 100 + 100 fit in 250, a third day would not; 300 alone is over budget but one day is a minimum.
    shards = plan_shards(days, [100, 100, 100, 300, 50, 50], max_rows=250)
    assert shards == [
        (days[0], days[1]),
        (days[2], days[2]),
        (days[3], days[3]),
        (days[4], days[5]),
    ]


def test_every_day_is_in_exactly_one_shard_in_order() -> None:
    days = _days(40)
    shards = plan_shards(days, [i * 7 % 13 for i in range(40)], max_rows=20)
    covered = [d for first, last in shards for d in days if first <= d <= last]
    assert covered == days


def test_no_days_no_shards_and_the_shard_count_is_capped() -> None:
    assert plan_shards([], [], max_rows=10) == []
    days = _days(MAX_SHARDS * 2)
    shards = plan_shards(days, [10] * len(days), max_rows=1)
    assert len(shards) == MAX_SHARDS  # two days a shard once the cap raises the budget


# ---------------------------------------------------------------- parts of the final object


def _flatten(parts: list[list[tuple[str, int, int]]]) -> list[tuple[str, int, int]]:
    return [piece for part in parts for piece in part]


def _sizes(parts: list[list[tuple[str, int, int]]]) -> list[int]:
    return [sum(end - start for _, start, end in part) for part in parts]


def test_large_shards_are_copied_whole_and_small_ones_gathered_to_five_mib() -> None:
    pieces = [("a", 6 * MIB), ("b", 1 * MIB), ("c", 2 * MIB), ("d", 7 * MIB), ("e", 100)]
    parts = part_plan(pieces)
    # a: copied as is. b + c = 3 MiB, topped up with d's first 2 MiB; the rest of d (5 MiB)
    # is copied by range; e ends the object as a short last part.
    assert parts == [
        [("a", 0, 6 * MIB)],
        [("b", 0, MIB), ("c", 0, 2 * MIB), ("d", 0, 2 * MIB)],
        [("d", 2 * MIB, 7 * MIB)],
        [("e", 0, 100)],
    ]
    assert all(size >= 5 * MIB for size in _sizes(parts)[:-1])


def test_parts_cover_every_byte_once_in_order() -> None:
    pieces = [(f"s{i}", size) for i, size in enumerate([0, 3 * MIB, 4 * MIB, 0, 9 * MIB, 1, 5 * MIB])]
    parts = part_plan(pieces)
    # Laid end to end, the ranges walk each non-empty shard from its first byte to its last.
    walked: list[tuple[str, int, int]] = []
    for key, start, end in _flatten(parts):
        if walked and walked[-1][0] == key and walked[-1][2] == start:
            walked[-1] = (key, walked[-1][1], end)
        else:
            walked.append((key, start, end))
    assert walked == [(key, 0, size) for key, size in pieces if size]
    assert all(size >= 5 * MIB for size in _sizes(parts)[:-1])


def test_a_copy_larger_than_five_gib_is_split_into_equal_ranges() -> None:
    size = 12 * 1024 * MIB
    parts = part_plan([("big", size)])
    assert len(parts) == 3
    assert all(len(p) == 1 and p[0][0] == "big" for p in parts)
    assert _sizes(parts) == [4 * 1024 * MIB] * 3


# ---------------------------------------------------------------- names and reasons


def test_work_prefix_is_outside_the_tenants_area_and_checks_its_ids() -> None:
    assert work_prefix("acme", "daily", 12, 2) == "_work/acme/daily/12-2/"
    with pytest.raises(ValueError, match="tenant id"):
        work_prefix("../x", "daily", 1, 1)
    with pytest.raises(ValueError, match="replay id"):
        work_prefix("acme", "daily", 1, 1, "../x")


def test_a_replay_works_beside_the_run_it_replays() -> None:
    """A replay has the run number of the scheduled run it replays (its file name's %i) and its
    own attempts: its work prefix names it, so neither clobbers nor cleans up the other's
    manifest and shards when both are distributed at once."""
    scheduled = work_prefix("acme", "daily", 12, 1)
    replay = work_prefix("acme", "daily", 12, 1, "r1")
    assert replay == "_work/acme/daily/12-1-replay-r1/"
    assert not replay.startswith(scheduled) and not scheduled.startswith(replay)
    assert replay != work_prefix("acme", "daily", 12, 1, "r2")


def test_execution_names_are_stable_per_attempt_and_valid_for_step_functions() -> None:
    when = datetime(2026, 3, 11, 1, tzinfo=UTC)
    name = execution_name("acme", "weekly.completions", when, 1)
    assert name == execution_name("acme", "weekly.completions", when, 1)
    assert name != execution_name("acme", "weekly.completions", when, 2)
    assert name != execution_name("acme", "weekly.completions", when + timedelta(days=1), 1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    long = execution_name("a" * 63, "b" * 64, when, 99)
    assert len(long) <= 80


def test_failure_reasons_name_the_error_never_quote_its_cause() -> None:
    # A Lambda error's cause may hold a path or a data value: only the error's name is used
    # (a step's own tenant-safe reason, recorded under _work/, is preferred by the fail step).
    cause = json.dumps({"errorType": "KeyError", "errorMessage": "'/var/task/x.py' secret-value"})
    reason = failure_reason({"Error": "KeyError", "Cause": cause})
    assert reason == (
        "a step of the distributed run failed ('KeyError'); the details are in "
        "the distributed export's step log"
    )
    assert "secret" not in reason and "/var/task" not in reason
    assert failure_reason({"Error": "States.Timeout", "Cause": "took too long"}) == (
        "a step of the distributed run timed out"
    )
    assert failure_reason({}) == (
        "a step of the distributed run failed ('States.TaskFailed'); the details are in "
        "the distributed export's step log"
    )


def test_an_unknown_manifest_location_is_refused() -> None:
    from tracking_export_aws.runs.manifest import read_manifest

    with pytest.raises(DistributedRunError, match="manifestKey"):
        read_manifest(None, "bucket", "tenants/acme/manifest.json")


# ---------------------------------------------------------------- state machine definition


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    text = state_machine_definition(
        ROOT, {"WorkerFunctionArn": "arn:worker", "CoordinatorFunctionArn": "arn:coordinator"}
    )
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_the_definition_plans_maps_assembles_and_finishes(asl: dict[str, Any]) -> None:
    states = asl["States"]
    assert asl["StartAt"] == "Plan"
    assert [states["Plan"]["Next"], states["Render shards"]["Next"], states["Assemble"]["Next"]] == [
        "Render shards",
        "Assemble",
        "Finish",
    ]
    # A run the finish step recorded failed (its end file could not be written) fails the execution.
    assert states["Finish"]["Next"] == "Run ended"
    ended = states["Run ended"]
    assert ended["Type"] == "Choice"
    assert ended["Choices"] == [
        {"Variable": "$.finished.outcome", "StringEquals": "failed", "Next": "Run failed"}
    ]
    assert states[ended["Default"]]["Type"] == "Succeed"
    render = states["Render shards"]
    assert render["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert render["MaxConcurrencyPath"] == "$.plan.maxConcurrency"
    assert asl["TimeoutSeconds"] == 6 * 3600


def test_every_step_that_can_fail_ends_in_the_fail_step(asl: dict[str, Any]) -> None:
    states = asl["States"]
    for name in ("Plan", "Render shards", "Assemble", "Finish"):
        (catch,) = states[name]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fail run"}, name
    assert states["Fail run"]["Next"] == "Run failed"
    assert states["Run failed"]["Type"] == "Fail"


def test_steps_call_the_function_their_permissions_are_for(asl: dict[str, Any]) -> None:
    states = asl["States"]
    worker = states["Render shards"]["ItemProcessor"]["States"]["Render shard"]
    assert worker["Parameters"]["FunctionName"] == "arn:worker"
    for name in ("Plan", "Assemble", "Finish", "Fail run"):
        assert states[name]["Parameters"]["FunctionName"] == "arn:coordinator", name


def test_a_missing_substitution_is_an_error() -> None:
    with pytest.raises(ValueError, match="WorkerFunctionArn"):
        state_machine_definition(ROOT, {"CoordinatorFunctionArn": "arn:coordinator"})


# ---------------------------------------------------------------- template (least privilege, fleet)


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]
    return found


def _statements(function: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        s["Sid"]: s
        for policy in function["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for s in policy["Statement"]
    }


def _templates(function: dict[str, Any]) -> list[str]:
    return [next(iter(p)) for p in function["Properties"]["Policies"] if "Statement" not in p]


def test_the_state_machine_is_a_standard_workflow_from_the_asl_file(resources: dict[str, Any]) -> None:
    machine = resources["ExportStateMachine"]
    assert machine["Type"] == "AWS::Serverless::StateMachine"
    props = machine["Properties"]
    assert props["Type"] == "STANDARD"
    assert props["DefinitionUri"] == "statemachine/export.asl.json"
    placeholders = set(re.findall(r"\$\{(\w+)\}", (ROOT / props["DefinitionUri"]).read_text()))
    assert placeholders == set(props["DefinitionSubstitutions"])


def test_the_state_machine_invokes_its_two_functions_and_starts_only_itself(
    resources: dict[str, Any],
) -> None:
    statements = _statements(resources["ExportStateMachine"])
    invoked = {r["Fn::GetAtt"][0] for r in statements["InvokeSteps"]["Resource"] if "Fn::GetAtt" in r}
    assert invoked == {"ExportWorkerFunction", "ExportCoordinatorFunction"}
    assert statements["RunDistributedMap"]["Action"] == "states:StartExecution"
    assert statements["RunDistributedMap"]["Resource"]["Fn::Sub"].endswith(
        ":stateMachine:${AWS::StackName}-export"
    )
    assert resources["ExportStateMachine"]["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-export"}


def test_the_worker_reads_the_tracking_table_and_writes_only_its_work_prefix(
    resources: dict[str, Any],
) -> None:
    worker = resources["ExportWorkerFunction"]
    assert worker["Properties"]["Handler"] == "export_steps_app.worker"
    statements = _statements(worker)
    assert set(statements) == {"ReadWriteShards", "ReadTrackingData", "ReadTrackingRecords"}
    assert statements["ReadWriteShards"]["Resource"] == {"Fn::Sub": "${ExportBucket.Arn}/_work/*"}
    assert statements["ReadTrackingData"]["Action"] == "dynamodb:Query"
    assert statements["ReadTrackingRecords"] == {
        "Sid": "ReadTrackingRecords",
        "Effect": "Allow",
        "Action": "dynamodb:BatchGetItem",
        "Resource": {"Fn::GetAtt": ["TrackingTable", "Arn"]},
    }
    assert _templates(worker) == []


def test_the_export_function_starts_only_this_state_machine(resources: dict[str, Any]) -> None:
    statements = _statements(resources["ExportFunction"])
    start = statements["StartDistributedRuns"]
    assert (start["Action"], start["Resource"]) == ("states:StartExecution", {"Ref": "ExportStateMachine"})
    assert statements["WriteRunManifests"]["Resource"] == {"Fn::Sub": "${ExportBucket.Arn}/_work/*"}
    states_actions = [
        a
        for s in statements.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith("states:")
    ]
    assert states_actions == ["states:StartExecution"]


def test_the_coordinator_alone_writes_the_tenants_file_record_and_notification(
    resources: dict[str, Any],
) -> None:
    coordinator = resources["ExportCoordinatorFunction"]
    assert coordinator["Properties"]["Handler"] == "export_steps_app.coordinator"
    statements = _statements(coordinator)
    assert statements["WriteTenantExports"]["Resource"] == {"Fn::Sub": "${ExportBucket.Arn}/tenants/*"}
    assert "s3:DeleteObject" not in statements["WriteTenantExports"]["Action"]
    assert statements["ManageShards"]["Resource"] == {"Fn::Sub": "${ExportBucket.Arn}/_work/*"}
    env = coordinator["Properties"]["Environment"]["Variables"]
    assert env["MAX_CONCURRENCY"] == {"Ref": "ShardMaxConcurrency"}
    # It ends runs through the export service: the export function's channels and settings.
    export_env = resources["ExportFunction"]["Properties"]["Environment"]["Variables"]
    for name in (
        "TOPIC_ARN",
        "EVENT_BUS_NAME",
        "EMAIL_SENDER",
        "EMAIL_CONFIGURATION_SET",
        "DOWNLOAD_LINK_SECONDS",
        "EVENTS_INCLUDE_LINKS_AND_RECIPIENTS",
        "RUN_HISTORY_TABLE",
    ):
        assert env[name] == export_env[name], name
    roles = resources["ExportEmailPolicy"]["Properties"]["Roles"]
    assert {"Ref": "ExportCoordinatorFunctionRole"} in roles


def test_reserved_concurrency_of_the_export_function_and_workers_are_parameters(
    resources: dict[str, Any],
) -> None:
    template = load_template(ROOT / "template.yaml")
    parameters = template["Parameters"]
    for name in (
        "ExportReservedConcurrency",
        "WorkerReservedConcurrency",
        "ShardMaxConcurrency",
        "MaxRowsPerWorker",
    ):
        assert parameters[name]["Type"] == "Number", name
    assert resources["ExportFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasExportReservation", {"Ref": "ExportReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    reserved = resources["ExportWorkerFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": ["HasWorkerReservation", {"Ref": "WorkerReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_leftover_shards_expire_even_if_a_run_never_cleans_up(resources: dict[str, Any]) -> None:
    rules = resources["ExportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (work,) = [r for r in rules if r.get("Prefix") == "_work/"]
    assert work["Status"] == "Enabled" and work["ExpirationInDays"] == 2


# ---------------------------------------------------------------- flexible time window (§4)


def _with_schedule(schedule: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="fleet">
    {schedule}
    <providers><trackingLogProvider><columns><logDate/></columns></trackingLogProvider></providers>
  </export>
</export-config>
"""


@pytest.mark.parametrize(
    ("attribute", "minutes"),
    [("", None), (' flexibleWindowMinutes="0"', 0), (' flexibleWindowMinutes="45"', 45)],
)
def test_a_schedule_may_set_its_flexible_window(attribute: str, minutes: int | None) -> None:
    from tracking_export.definition import load_definition

    definition = load_definition(
        _with_schedule(f"<schedule{attribute}>cron(0 2 * * ? *)</schedule>").encode()
    )
    assert definition.schedule is not None
    assert definition.schedule.flexible_window_minutes == minutes


@pytest.mark.parametrize("value", ["-5", "1441", "soon", "1.5"])
def test_a_bad_flexible_window_is_a_validation_error_naming_it(value: str) -> None:
    from tracking_export.definition import load_definition
    from tracking_export.errors import DefinitionError

    xml = _with_schedule(f'<schedule flexibleWindowMinutes="{value}">cron(0 2 * * ? *)</schedule>')
    with pytest.raises(DefinitionError) as caught:
        load_definition(xml.encode())
    assert any(
        "flexibleWindowMinutes" in str(issue) and "1440" in str(issue) for issue in caught.value.issues
    )


def test_every_step_retries_transient_aws_errors_with_backoff_first(asl: dict[str, Any]) -> None:
    """A step's transient AWS error (the handlers raise TransientAwsError) is retried with
    backoff before anything else matches it (States.TaskFailed would); any other error goes to
    the Catch at once (docs/run-lifecycle.md, "Transient and permanent failures")."""
    states = asl["States"]
    worker = states["Render shards"]["ItemProcessor"]["States"]["Render shard"]
    for name, task in (
        ("Plan", states["Plan"]),
        ("Render shard", worker),
        ("Assemble", states["Assemble"]),
        ("Finish", states["Finish"]),
    ):
        first, *others = task["Retry"]
        assert first["ErrorEquals"] == ["TransientAwsError"], name
        assert first["IntervalSeconds"] >= 1 and first["BackoffRate"] > 1 and first["MaxAttempts"] >= 3, name
        # Retries spread out (a Map of 40 workers must not come back in step), over minutes at most.
        assert first["JitterStrategy"] == "FULL" and first["MaxDelaySeconds"] <= 120, name
        for other in others:
            assert "States.ALL" not in other["ErrorEquals"], name
    # The fail step retries anything: it is the run's last chance to be recorded.
    assert states["Fail run"]["Retry"][0]["ErrorEquals"] == ["States.ALL"]
