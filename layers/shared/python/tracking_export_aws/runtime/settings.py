"""The functions' environment as one pydantic model, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracking_export.addresses import address_problem
from tracking_export.limits import DEFAULT_LIMITS, Limits, LimitsError


class SettingsError(RuntimeError):
    """The environment is missing or has an invalid variable; the message names them."""


_Model = TypeVar("_Model", bound=BaseModel)


def _endpoint(value: str | None) -> str | None:
    """An endpoint URL setting: None (the real AWS endpoints) or an http(s) URL."""
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


def _from_env(cls: type[_Model], environ: Mapping[str, str] | None) -> _Model:
    """``cls`` read from the environment (its fields' aliases) with the caps of ``Limits``;
    SettingsError names every bad variable."""
    env = dict(os.environ if environ is None else environ)
    if "AWS_REGION" not in env and env.get("AWS_DEFAULT_REGION"):
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"]
    # An empty variable (a template parameter left blank) means "not set".
    values: dict[str, object] = {k: v for k, v in env.items() if v != ""}
    try:
        values["limits"] = Limits.from_env(env)
    except LimitsError as exc:
        raise SettingsError(f"invalid environment: {exc}") from None
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            field = cls.model_fields.get(name)
            variable = field.alias if field is not None and field.alias else name
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsError("invalid environment: " + "; ".join(problems)) from None


class AwsSettings(BaseModel):
    """Environment of the Lambda functions (and of the local run).

    ``config_bucket`` and ``topic_arn`` are needed by both functions; the rest only by
    one of them, so they are optional here and asked for with :meth:`need`.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    config_bucket: str = Field(alias="CONFIG_BUCKET", min_length=3)
    topic_arn: str = Field(alias="TOPIC_ARN")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME", min_length=1)
    export_bucket: str | None = Field(default=None, alias="EXPORT_BUCKET")
    tracking_table: str | None = Field(default=None, alias="TRACKING_TABLE")
    run_history_table: str | None = Field(default=None, alias="RUN_HISTORY_TABLE")
    schedule_group: str | None = Field(default=None, alias="SCHEDULE_GROUP")
    export_function_arn: str | None = Field(default=None, alias="EXPORT_FUNCTION_ARN")
    scheduler_role_arn: str | None = Field(default=None, alias="SCHEDULER_ROLE_ARN")
    schedule_dlq_arn: str | None = Field(default=None, alias="SCHEDULE_DLQ_ARN")
    # Config-sync asks this function (the ingest function) to apply a valid tenant.json's
    # retentionDays; absent: no retention request (docs/ingestion.md).
    ingest_function_name: str | None = Field(default=None, alias="INGEST_FUNCTION_NAME")
    # Download links live this long at most (and never past the signing credentials' expiry).
    download_link_seconds: int = Field(default=3600, alias="DOWNLOAD_LINK_SECONDS", ge=60, le=7 * 24 * 3600)
    # Links and recipient addresses reach the (account-wide) event bus only when the operator opts in.
    events_include_private: bool = Field(default=False, alias="EVENTS_INCLUDE_LINKS_AND_RECIPIENTS")
    # What a run keeps of the invocation's remaining time to finish cleanly.
    finish_reserve_seconds: int = Field(default=60, alias="FINISH_RESERVE_SECONDS", ge=5, le=600)
    # The distributed path (runs/handoff.py, runs/steps.py): the state machine the export
    # function starts above MAX_ROWS_PER_WORKER estimated rows (absent: every run stays on the
    # single path), and the Map state's concurrency the plan step hands out.
    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    max_rows_per_worker: int | None = Field(default=None, alias="MAX_ROWS_PER_WORKER", ge=1)
    max_concurrency: int | None = Field(default=None, alias="MAX_CONCURRENCY", ge=1)
    # None means the real AWS endpoints; a URL points every client at moto server or dynalite.
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    # DynamoDB may live elsewhere locally (dynalite); same variable name boto3 itself honours.
    dynamodb_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL_DYNAMODB")
    region: str = Field(default="us-east-1", alias="AWS_REGION", min_length=1)
    # Run e-mails (docs/email.md): the From address; absent or empty turns e-mail off.
    email_sender: str | None = Field(default=None, alias="EMAIL_SENDER")
    email_configuration_set: str | None = Field(default=None, alias="EMAIL_CONFIGURATION_SET")

    @field_validator("email_sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        problem = address_problem(value) if value else None
        if problem is not None:
            raise ValueError(f"expected the From address (name@example.com), got {value!r}: {problem}")
        return value

    # The caps of docs/limits.md, each overridable by its own variable (MAX_DEFINITION_BYTES…).
    limits: Limits = Field(default=DEFAULT_LIMITS, exclude=True)

    @field_validator(
        "topic_arn", "export_function_arn", "scheduler_role_arn", "schedule_dlq_arn", "state_machine_arn"
    )
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("arn:"):
            raise ValueError(f"expected an ARN (arn:...), got {value!r}")
        return value

    @field_validator("endpoint_url", "dynamodb_endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _endpoint(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsSettings:
        """Read and validate the environment; SettingsError names every bad variable."""
        return _from_env(cls, environ)

    def need(self, *names: str) -> tuple[str, ...]:
        """The values of the named optional (text) settings, in that order; SettingsError
        naming every missing variable unless all are present. Wiring unpacks the result, so a
        use case gets its configuration as plain ``str`` without an ``assert``."""
        missing = [
            type(self).model_fields[name].alias or name for name in names if getattr(self, name) in (None, "")
        ]
        if missing:
            raise SettingsError("missing environment variable(s): " + ", ".join(missing))
        values = tuple(getattr(self, name) for name in names)
        if not all(isinstance(value, str) for value in values):
            raise TypeError(f"need() returns text settings only, got {names}")
        return values


class WatchdogSettings(BaseModel):
    """Environment of the watchdog function (docs/run-lifecycle.md, "The watchdog"): where
    the exports, their pointers, pauses and runs are, how to write a schedule as config-sync
    does, the export function it starts missed runs on, and how far back and how late."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    config_bucket: str = Field(alias="CONFIG_BUCKET", min_length=3)
    run_history_table: str = Field(alias="RUN_HISTORY_TABLE", min_length=3)
    schedule_group: str = Field(alias="SCHEDULE_GROUP", min_length=1)
    export_function_arn: str = Field(alias="EXPORT_FUNCTION_ARN")
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN")
    schedule_dlq_arn: str = Field(alias="SCHEDULE_DLQ_ARN")
    # Scheduled times older than this are not looked at: a pass every hour sees each one a
    # day long, and more than a day of catching up is a replay's work.
    lookback_hours: int = Field(default=26, alias="WATCHDOG_LOOKBACK_HOURS", ge=2, le=7 * 24)
    # How long after a time (and its flexible window) a run may still not be on record
    # without being missed: Lambda's queue holds a fleet's 02:00 deliveries a while.
    grace_minutes: int = Field(default=60, alias="WATCHDOG_GRACE_MINUTES", ge=5, le=24 * 60)
    # Runs one pass starts at most; the rest wait for the next pass.
    max_starts: int = Field(default=200, alias="WATCHDOG_MAX_STARTS", ge=1, le=10_000)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    dynamodb_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL_DYNAMODB")
    region: str = Field(default="us-east-1", alias="AWS_REGION", min_length=1)
    limits: Limits = Field(default=DEFAULT_LIMITS, exclude=True)

    @field_validator("export_function_arn", "scheduler_role_arn", "schedule_dlq_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not value.startswith("arn:"):
            raise ValueError(f"expected an ARN (arn:...), got {value!r}")
        return value

    @field_validator("endpoint_url", "dynamodb_endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _endpoint(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WatchdogSettings:
        """Read and validate the environment; SettingsError names every bad variable."""
        return _from_env(cls, environ)
