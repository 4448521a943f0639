"""Where the stack's resources are, and how this process reaches them.

Three sources, one vocabulary: the environment variables the functions themselves read
(``CONFIG_BUCKET``, ``RUN_HISTORY_TABLE``, ``SCHEDULE_GROUP``…, template.yaml), plus a few
no single function has (``INGEST_BUCKET``, ``RUN_RECOVERY_FUNCTION_ARN``, ``EXPORT_DLQ_URL``).

- ``--stack NAME``: the outputs of the deployed CloudFormation stack (default credentials chain).
- ``--env-file FILE``: a file shaped like events/env.local.json (function logical id ->
  environment), as ``make serve`` uses; each function's own section is what the in-process
  runner gives its handler. Endpoints written for containers (``host.docker.internal``) are
  reached as ``127.0.0.1`` from here.
- neither: this process's environment, as the functions would see it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tracking_export_aws.aws import clients

# CloudFormation output -> the variable it gives (template.yaml's Outputs).
STACK_OUTPUTS = {
    "ConfigBucketName": "CONFIG_BUCKET",
    "ExportBucketName": "EXPORT_BUCKET",
    "IngestBucketName": "INGEST_BUCKET",
    "TrackingTableName": "TRACKING_TABLE",
    "RunHistoryTableName": "RUN_HISTORY_TABLE",
    "NotificationTopicArn": "TOPIC_ARN",
    "ScheduleGroupName": "SCHEDULE_GROUP",
    "ExportFunctionArn": "EXPORT_FUNCTION_ARN",
    "RunRecoveryFunctionArn": "RUN_RECOVERY_FUNCTION_ARN",
    "ExportStateMachineArn": "STATE_MACHINE_ARN",
    "ExportDlqUrl": "EXPORT_DLQ_URL",
    "ScheduleDlqUrl": "SCHEDULE_DLQ_URL",
}
# Every variable a target may carry (the functions' names, and the ones above).
VARIABLES = (
    "CONFIG_BUCKET",
    "EXPORT_BUCKET",
    "INGEST_BUCKET",
    "TRACKING_TABLE",
    "RUN_HISTORY_TABLE",
    "TOPIC_ARN",
    "SCHEDULE_GROUP",
    "EXPORT_FUNCTION_ARN",
    "RUN_RECOVERY_FUNCTION_ARN",
    "STATE_MACHINE_ARN",
    "EXPORT_DLQ_URL",
    "EXPORT_DLQ_ARN",
    "SCHEDULE_DLQ_URL",
    "SCHEDULE_DLQ_ARN",
)
ENDPOINT = "AWS_ENDPOINT_URL"
DYNAMODB_ENDPOINT = "AWS_ENDPOINT_URL_DYNAMODB"
# The name env.local.json gives the host for sam's containers; this process is on that host.
CONTAINER_HOST = "host.docker.internal"
# The function sections of an env file whose handlers the in-process runner calls.
EXPORT_FUNCTION = "ExportFunction"
RECOVERY_FUNCTION = "RunRecoveryFunction"


class TargetError(RuntimeError):
    """The stack cannot be found or lacks what a command needs; the message says how to give it."""


@dataclass(frozen=True)
class Target:
    """The resources of one stack and where they are reached (implements ``clients.Endpoints``)."""

    source: str  # "stack NAME", "env file PATH" or "environment": quoted in errors
    region: str
    names: Mapping[str, str]
    endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None
    # Function logical id -> its environment, for handlers called in this process.
    functions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        """Whether the stack is a local one (moto server, dynalite) rather than AWS."""
        return self.endpoint_url is not None

    def need(self, *variables: str) -> tuple[str, ...]:
        """The values of ``variables``, in order; TargetError naming every one that is missing."""
        missing = [name for name in variables if not self.names.get(name)]
        if missing:
            raise TargetError(
                f"{self.source} does not give {', '.join(missing)}: "
                "set it in the environment, the env file, or use --stack with a stack that outputs it"
            )
        return tuple(self.names[name] for name in variables)

    def get(self, variable: str) -> str | None:
        return self.names.get(variable) or None

    def ingest_bucket(self) -> str | None:
        """``INGEST_BUCKET``; else the name template.yaml gives it beside the config bucket
        (``{stack}-{account}-config`` / ``-ingest``: no function's environment names it)."""
        named = self.get("INGEST_BUCKET")
        if named:
            return named
        config = self.get("CONFIG_BUCKET")
        return config.removesuffix("-config") + "-ingest" if config and config.endswith("-config") else None

    def client(self, service: str) -> Any:
        """The project's client for ``service`` at this target's endpoint and region."""
        return clients.client(service, self)

    def function_environment(self, function: str) -> dict[str, str]:
        """The environment a function's handler gets in this process: its env-file section, or
        this process's environment; with this target's endpoints and region."""
        if self.functions and function not in self.functions:
            raise TargetError(f"{self.source} has no {function} section to run its handler with")
        base = dict(self.functions.get(function) or os.environ)
        if self.endpoint_url:
            base[ENDPOINT] = self.endpoint_url
        if self.dynamodb_endpoint_url:
            base[DYNAMODB_ENDPOINT] = self.dynamodb_endpoint_url
        base["AWS_REGION"] = base["AWS_DEFAULT_REGION"] = self.region
        return base


def resolve(
    *,
    stack: str | None = None,
    env_file: Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    dynamodb_endpoint_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The target the global options name; TargetError when it cannot be read."""
    environ = os.environ if environ is None else environ
    if stack and env_file:
        raise TargetError("give --stack or --env-file, not both")
    if env_file is not None:
        target = from_env_file(env_file, region=region or _environ_region(environ))
    elif stack:
        target = from_stack(stack, region=region or _environ_region(environ))
    else:
        target = from_environment(environ, region=region)
    overrides: dict[str, Any] = {}
    if endpoint_url:
        overrides["endpoint_url"] = endpoint_url
        overrides["dynamodb_endpoint_url"] = target.dynamodb_endpoint_url or endpoint_url
    if dynamodb_endpoint_url:
        overrides["dynamodb_endpoint_url"] = dynamodb_endpoint_url
    return replace(target, **overrides) if overrides else target


def from_stack(name: str, *, region: str | None = None) -> Target:
    """The outputs of the deployed stack ``name`` (DescribeStacks)."""
    region = region or _session_region()
    if not region:
        raise TargetError("no region: pass --region or set AWS_REGION")
    cloudformation = clients.client("cloudformation", region=region)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise TargetError(
            f"stack {name!r} in {region}: {exc.response['Error'].get('Message', exc)}"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    names = {variable: outputs[key] for key, variable in STACK_OUTPUTS.items() if outputs.get(key)}
    return Target(source=f"stack {name}", region=region, names=names)


def from_env_file(path: Path, *, region: str | None = None) -> Target:
    """An env file shaped like events/env.local.json: {function logical id: {variable: value}}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TargetError(f"{path}: cannot read it as JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(env, dict) and all(isinstance(v, str) for v in env.values()) for env in data.values()
    ):
        raise TargetError(f"{path}: expected an object of function logical id -> object of string values")
    functions = {
        function: {
            name: _host_url(value) if name in (ENDPOINT, DYNAMODB_ENDPOINT) else value
            for name, value in env.items()
        }
        for function, env in data.items()
    }
    merged: dict[str, str] = {}
    for function, env in functions.items():
        for name, value in env.items():
            if not value:
                continue
            if merged.get(name, value) != value:
                raise TargetError(
                    f"{path}: {function}.{name} is {value!r}, another function has {merged[name]!r}"
                )
            merged[name] = value
    region = region or _arn_region(merged.values())
    if not region:
        raise TargetError(f"{path}: no ARN tells the region: pass --region")
    return Target(
        source=f"env file {path}",
        region=region,
        names={name: merged[name] for name in VARIABLES if merged.get(name)},
        endpoint_url=merged.get(ENDPOINT),
        dynamodb_endpoint_url=merged.get(DYNAMODB_ENDPOINT) or merged.get(ENDPOINT),
        functions=functions,
    )


def from_environment(environ: Mapping[str, str], *, region: str | None = None) -> Target:
    """This process's environment, read as the functions read theirs."""
    region = region or _environ_region(environ) or _session_region()
    if not region:
        raise TargetError("no region: pass --region or set AWS_REGION")
    endpoint = environ.get(ENDPOINT) or None
    return Target(
        source="environment",
        region=region,
        names={name: environ[name] for name in VARIABLES if environ.get(name)},
        endpoint_url=endpoint,
        dynamodb_endpoint_url=environ.get(DYNAMODB_ENDPOINT) or endpoint,
    )


def _host_url(url: str) -> str:
    """A container's URL for the host (``host.docker.internal``) as the host itself reaches it."""
    parts = urlsplit(url)
    if parts.hostname != CONTAINER_HOST:
        return url
    netloc = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
    return urlunsplit(parts._replace(netloc=netloc))


def _arn_region(values: Any) -> str | None:
    regions = {value.split(":")[3] for value in values if value.startswith("arn:") and value.count(":") >= 5}
    regions.discard("")
    return regions.pop() if len(regions) == 1 else None


def _environ_region(environ: Mapping[str, str]) -> str | None:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None


def _session_region() -> str | None:
    import boto3

    return boto3.session.Session().region_name
