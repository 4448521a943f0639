"""``tracking-export-admin``: where the stack is found (target), how runs are started (runner),
and the exit codes; the subcommands themselves run on the local stack in tests/integration."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tools.admin import main as admin
from tools.admin import target as targets
from tools.admin.runner import InProcessRunner, LambdaRunner, RunnerError, runner_for
from tools.admin.target import STACK_OUTPUTS, Target, TargetError, from_env_file, from_environment, resolve
from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "events" / "env.local.json"


# -- where the stack is ---------------------------------------------------------------------------


def test_the_local_env_file_names_the_stack_as_this_host_reaches_it() -> None:
    target = from_env_file(ENV_FILE)
    # Written for sam's containers (host.docker.internal); this process is the host.
    assert target.endpoint_url == "http://127.0.0.1:5000"
    assert target.dynamodb_endpoint_url == "http://127.0.0.1:4567"
    assert target.local and target.region == "eu-west-1"  # from the file's ARNs
    assert target.need("CONFIG_BUCKET", "RUN_HISTORY_TABLE", "SCHEDULE_GROUP") == (
        "tracking-export-local-config",
        "tracking-export-local-run-history",
        "tracking-export-local",
    )
    # Each function's own section is what its handler gets in this process.
    export = target.function_environment("ExportFunction")
    assert export["STATE_MACHINE_ARN"].endswith(":tracking-export-local-export")
    assert "SCHEDULE_GROUP" not in export and export["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert "STATE_MACHINE_ARN" not in target.function_environment("RunRecoveryFunction")
    with pytest.raises(TargetError, match="has no NoSuchFunction section"):
        target.function_environment("NoSuchFunction")
    # No function names the ingest bucket: template.yaml's rule beside the config bucket.
    assert target.ingest_bucket() == "tracking-export-local-ingest"


def test_an_env_file_that_cannot_be_read_or_disagrees_with_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    for content, expected in (
        ("{", "cannot read it as JSON"),
        ("[]", "expected an object of function logical id"),
        (json.dumps({"ExportFunction": {"MAX_ROWS_PER_WORKER": 5}}), "object of string values"),
        (
            json.dumps({"A": {"CONFIG_BUCKET": "one"}, "B": {"CONFIG_BUCKET": "two"}}),
            "B.CONFIG_BUCKET is 'two', another function has 'one'",
        ),
        (json.dumps({"A": {"CONFIG_BUCKET": "one"}}), "no ARN tells the region"),
    ):
        path.write_text(content)
        with pytest.raises(TargetError, match=expected):
            from_env_file(path)
    assert from_env_file(path, region="eu-west-3").region == "eu-west-3"


def test_the_environment_is_read_as_the_functions_read_theirs() -> None:
    target = from_environment(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "CONFIG_BUCKET": "b-config",
            "EXPORT_BUCKET": "",  # empty means not set, as for the functions
        }
    )
    assert target.names == {"CONFIG_BUCKET": "b-config"}
    assert target.dynamodb_endpoint_url == "http://127.0.0.1:5000"
    with pytest.raises(TargetError, match="environment does not give EXPORT_BUCKET, TRACKING_TABLE"):
        target.need("CONFIG_BUCKET", "EXPORT_BUCKET", "TRACKING_TABLE")
    overridden = resolve(
        environ={"AWS_REGION": "eu-west-1"}, endpoint_url="http://127.0.0.1:6000", dynamodb_endpoint_url=None
    )
    assert (overridden.endpoint_url, overridden.dynamodb_endpoint_url) == ("http://127.0.0.1:6000",) * 2
    with pytest.raises(TargetError, match="not both"):
        resolve(stack="s", env_file=ENV_FILE)


class _CloudFormation:
    class exceptions:
        ClientError = RuntimeError

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        outputs = [
            {"OutputKey": "ConfigBucketName", "OutputValue": f"{StackName}-1-config"},
            {"OutputKey": "ExportDlqUrl", "OutputValue": "https://sqs.eu-west-1.amazonaws.com/1/dlq"},
            {"OutputKey": "SomethingElse", "OutputValue": "x"},
        ]
        return {"Stacks": [{"Outputs": outputs}]}


def test_a_deployed_stack_is_read_from_its_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets.clients, "client", lambda service, **_: _CloudFormation())
    target = resolve(stack="prod", region="eu-west-1")
    assert target.names == {
        "CONFIG_BUCKET": "prod-1-config",
        "EXPORT_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dlq",
    }
    assert not target.local and target.source == "stack prod"


def test_every_output_the_command_reads_is_one_the_template_has() -> None:
    outputs = set(load_template(ROOT / "template.yaml")["Outputs"])
    # ScheduleDlqUrl: read when a stack gives the schedules a queue of their own.
    assert set(STACK_OUTPUTS) - outputs == {"ScheduleDlqUrl"}


def test_the_export_and_schedule_dead_letters_share_one_queue_in_the_template() -> None:
    """What redrive relies on when a target names only one of the two queues."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    recovery = resources["RunRecoveryFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]
    schedules = resources["ConfigSyncFunction"]["Properties"]["Environment"]["Variables"]["SCHEDULE_DLQ_ARN"]
    assert recovery["OnFailure"]["Destination"] == {"Fn::GetAtt": ["ExportDlq", "Arn"]}
    assert schedules == {"Fn::GetAtt": ["ExportDlq", "Arn"]}


# -- how runs are started -------------------------------------------------------------------------


class _Lambda:
    def __init__(self, answer: Any, function_error: str | None = None) -> None:
        self.answer = answer
        self.function_error = function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(self.answer).encode()),
        }
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


def _aws_target() -> Target:
    return Target(
        source="stack prod",
        region="eu-west-1",
        names={
            "EXPORT_FUNCTION_ARN": "arn:aws:lambda:eu-west-1:1:function:prod-export",
            "RUN_RECOVERY_FUNCTION_ARN": "arn:aws:lambda:eu-west-1:1:function:prod-recovery",
        },
    )


def test_in_aws_a_run_is_a_synchronous_invoke_of_the_function() -> None:
    client = _Lambda({"outcome": "succeeded"})
    runner = LambdaRunner(_aws_target(), lambda_client=client)
    assert runner.run_export({"tenantId": "acme"}) == {"outcome": "succeeded"}
    assert runner.end_run({"requestContext": {}}) == {"outcome": "succeeded"}
    assert [(c["FunctionName"], c["InvocationType"], json.loads(c["Payload"])) for c in client.calls] == [
        ("arn:aws:lambda:eu-west-1:1:function:prod-export", "RequestResponse", {"tenantId": "acme"}),
        ("arn:aws:lambda:eu-west-1:1:function:prod-recovery", "RequestResponse", {"requestContext": {}}),
    ]


def test_a_function_error_is_a_runner_error_naming_the_function_and_the_error() -> None:
    client = _Lambda({"errorType": "NotificationError", "errorMessage": "sns failed"}, "Unhandled")
    with pytest.raises(RunnerError, match="prod-export raised NotificationError: sns failed"):
        LambdaRunner(_aws_target(), lambda_client=client).run_export({})
    with pytest.raises(RunnerError, match="not a JSON object"):
        LambdaRunner(_aws_target(), lambda_client=_Lambda([1])).run_export({})
    with pytest.raises(TargetError, match="does not give RUN_RECOVERY_FUNCTION_ARN"):
        LambdaRunner(Target("stack s", "eu-west-1", {}), lambda_client=client).end_run({})


def test_auto_runs_in_process_against_a_local_stack_and_invokes_in_aws() -> None:
    local = from_env_file(ENV_FILE)
    assert isinstance(runner_for(local), InProcessRunner)
    assert isinstance(runner_for(_aws_target(), "auto"), LambdaRunner)
    assert isinstance(runner_for(_aws_target(), "in-process"), InProcessRunner)


# -- exit codes -----------------------------------------------------------------------------------


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exited:
        admin.main(["offboard"])  # --tenant is required
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        admin.main(["redrive", "--max", "0"])
    assert exited.value.code == 2
    # The environment names no table: said, with how to give it.
    for name in targets.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert admin.main(["offboard", "--tenant", "acme", "--dry-run"]) == 2
    assert "environment does not give CONFIG_BUCKET" in capsys.readouterr().err


def test_the_subcommands_are_registered_in_sorted_order() -> None:
    assert list(admin.SUBCOMMANDS) == sorted(admin.SUBCOMMANDS)
    for name in admin.SUBCOMMANDS:
        assert (ROOT / "tools" / "admin" / f"{name}.py").is_file()
