"""Each function's settings model against what template.yaml gives that function, both ways.

A variable the template gives and nothing reads is dead configuration; a variable the model
requires and the template lacks stops the function at its first invocation (the shard
worker's ``TOPIC_ARN: Field required`` of issue 16). The handler module of each function says
which model each of its entry points reads (``SETTINGS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from function_environments import handler_module

from tools.template_functions import RUNTIME_VARIABLES, Deployment
from tracking_export_aws.runtime.settings import (
    ExportSettings,
    FunctionSettings,
    SettingsError,
    ShardWorkerSettings,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = Deployment.of(ROOT / "template.yaml")
FUNCTIONS = DEPLOYMENT.functions()
# Read by the platform, not by our code: Powertools (service name, metrics namespace, log
# level) and glibc (malloc arenas, template.yaml says why).
PLATFORM_VARIABLES = frozenset(
    {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL", "MALLOC_ARENA_MAX"}
)


def settings_of(function: str) -> type[FunctionSettings]:
    """The settings model the function's handler reads (its module's ``SETTINGS``)."""
    return handler_module(function).SETTINGS[FUNCTIONS[function].rsplit(".", 1)[1]]  # type: ignore[no-any-return]


def test_every_function_of_the_template_is_checked() -> None:
    assert set(FUNCTIONS) == {
        "ExportFunction",
        "RunRecoveryFunction",
        "ExportWorkerFunction",
        "ExportCoordinatorFunction",
        "ConfigSyncFunction",
        "IngestFunction",
        "IngestRecoveryFunction",
        "WatchdogFunction",
        "StuckRunsFunction",
    }
    # Two functions sharing a handler module read different models.
    assert settings_of("ExportFunction") is not settings_of("RunRecoveryFunction")
    assert settings_of("ExportWorkerFunction") is not settings_of("ExportCoordinatorFunction")
    assert settings_of("IngestFunction") is not settings_of("IngestRecoveryFunction")


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_template_gives_what_the_model_requires(function: str) -> None:
    given = set(DEPLOYMENT.environment(function))
    required = {name for name, needed in settings_of(function).variables().items() if needed}
    assert required - RUNTIME_VARIABLES - given == set(), f"{function} would stop at its first invocation"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_variable_the_template_gives_is_read(function: str) -> None:
    given = set(DEPLOYMENT.environment(function))
    read = set(settings_of(function).variables())
    assert given - read - PLATFORM_VARIABLES == set(), f"dead configuration of {function}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_model_reads_nothing_beyond_the_template_but_the_caps(function: str) -> None:
    """Optional variables the template does not give are the caps of docs/limits.md only."""
    model = settings_of(function)
    extra = set(model.variables()) - set(DEPLOYMENT.environment(function)) - RUNTIME_VARIABLES
    assert extra == set()
    assert "MAX_RECIPIENTS" in model.OPTIONAL_OVERRIDES


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_model_accepts_its_template_environment(function: str) -> None:
    env = {**DEPLOYMENT.environment(function), "AWS_REGION": "eu-west-1"}
    settings = settings_of(function).from_env(env)
    assert settings.region == "eu-west-1"
    # Declared empty for `sam local invoke --env-vars`: the real endpoints.
    assert (settings.endpoint_url, settings.dynamodb_endpoint_url) == (None, None)


def test_the_worker_model_is_not_the_export_model() -> None:
    """The shard worker is given four variables, and needs just two of them."""
    env = DEPLOYMENT.environment("ExportWorkerFunction")
    assert {"TOPIC_ARN", "CONFIG_BUCKET", "RUN_HISTORY_TABLE"}.isdisjoint(env)
    worker = ShardWorkerSettings.from_env({**env, "AWS_REGION": "eu-west-1"})
    assert (worker.export_bucket, worker.tracking_table) == (env["EXPORT_BUCKET"], env["TRACKING_TABLE"])
    with pytest.raises(SettingsError, match="TOPIC_ARN: Field required"):
        ExportSettings.from_env({**env, "AWS_REGION": "eu-west-1"})


def test_errors_name_every_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**DEPLOYMENT.environment("ExportFunction"), "AWS_REGION": "eu-west-1"}
    bad = {**env, "TOPIC_ARN": "notifications", "DOWNLOAD_LINK_SECONDS": "5", "EXPORT_BUCKET": ""}
    with pytest.raises(SettingsError) as raised:
        ExportSettings.from_env(bad)
    message = str(raised.value)
    assert "TOPIC_ARN: Value error, expected an ARN (arn:...), got 'notifications'" in message
    assert "DOWNLOAD_LINK_SECONDS: Input should be greater than or equal to 60" in message
    assert "EXPORT_BUCKET: Field required" in message  # empty is "not set"
    # The same from the process environment (pydantic-settings' own source), caps included.
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(SettingsError) as from_process:
        ExportSettings.from_env()
    assert str(from_process.value) == message
    monkeypatch.setenv("MAX_RECIPIENTS", "0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="MAX_RECIPIENTS: Input should be greater than or equal to 1"):
        ExportSettings.from_env()
    monkeypatch.setenv("MAX_RECIPIENTS", "7")
    assert ExportSettings.from_env().limits.max_recipients == 7


def test_region_is_the_runtime_s(monkeypatch: pytest.MonkeyPatch) -> None:
    # Lambda sets the region; a test before this one in the same process may have too.
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    env = DEPLOYMENT.environment("ExportWorkerFunction")
    with pytest.raises(SettingsError, match="AWS_REGION: Field required"):
        ShardWorkerSettings.from_env(env)
    assert (
        ShardWorkerSettings.from_env({**env, "AWS_DEFAULT_REGION": "ca-central-1"}).region == "ca-central-1"
    )
