"""Each function's environment as its own settings model, read and validated once.

One model per Lambda function of ``template.yaml``, holding exactly the variables that
function's template gives it and its code reads (``tests/unit/test_function_settings.py``
compares both ways). The shared pieces compose by inheritance: where clients connect
(:class:`FunctionSettings`), the configuration the runs read (:class:`ConfigSettings`), the
tenant-facing channels (:class:`ChannelSettings`, :class:`EmailSettings`), the caps of
docs/limits.md (every model: optional overrides, ``MAX_DEFINITION_BYTES``…).

A handler builds its model on its first invocation (not at import, so tests and the local
run set the environment first) and keeps it for the execution environment's life. An
invalid or missing variable raises :class:`SettingsError`, which names every one of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tracking_export.addresses import address_problem
from tracking_export.limits import DEFAULT_LIMITS, Limits, LimitsError


class SettingsError(RuntimeError):
    """The environment is missing or has an invalid variable; the message names them."""


def _problems(exc: ValidationError, settings: type[BaseSettings]) -> str:
    """One ``VARIABLE: what is wrong`` per error, located by the variable's name."""
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        field = settings.model_fields.get(name)
        problems.append(f"{variable_name(field) if field is not None else name}: {error['msg']}")
    return "; ".join(problems)


def variable_name(field: FieldInfo) -> str:
    """The environment variable a field reads (its first name when it has alternatives)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field.alias)


class _Limits(PydanticBaseSettingsSource):
    """The caps from their own variables (``Limits`` lives in the engine, which reads no
    environment): one source beside the environment's, so the model is still read once."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        try:
            return {"limits": Limits.from_env(os.environ)}
        except LimitsError as exc:
            raise SettingsError(f"invalid environment: {exc}") from None


class FunctionSettings(BaseSettings):
    """What every function reads: where its clients connect, its region, the caps.

    ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_DYNAMODB`` are declared empty in the
    template's Globals (``sam local invoke --env-vars`` overrides only declared variables):
    empty means "not set", i.e. the real AWS endpoints. ``AWS_REGION`` is the Lambda
    runtime's (``AWS_DEFAULT_REGION`` elsewhere).
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", case_sensitive=True, env_ignore_empty=True, validate_by_name=False
    )

    # The variables a model reads beyond its fields: the caps of docs/limits.md (all optional).
    OPTIONAL_OVERRIDES: ClassVar[frozenset[str]] = frozenset(
        str(field.alias) for field in Limits.model_fields.values()
    )

    endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    # DynamoDB may live elsewhere locally (dynalite); the variable boto3 itself honours.
    dynamodb_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL_DYNAMODB")
    region: str = Field(validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"), min_length=1)
    limits: Limits = Field(default=DEFAULT_LIMITS, exclude=True)

    @field_validator("endpoint_url", "dynamodb_endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The process environment only: no .env file, no secrets directory in a Lambda.
        return init_settings, env_settings, _Limits(settings_cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The function's settings from the process environment (or ``environ``, for tests and
        the local tools); SettingsError names every missing or invalid variable."""
        try:
            if environ is None:
                return cls()  # type: ignore[call-arg]  # the required values come from the environment
            values: dict[str, Any] = {name: value for name, value in environ.items() if value != ""}
            try:
                values["limits"] = Limits.from_env(environ)
            except LimitsError as exc:
                raise SettingsError(f"invalid environment: {exc}") from None
            return cls.model_validate(values, by_name=False, by_alias=True)
        except ValidationError as exc:
            raise SettingsError("invalid environment: " + _problems(exc, cls)) from None

    @classmethod
    def variables(cls) -> dict[str, bool]:
        """Every variable the model reads (the caps' overrides aside): name -> required."""
        return {
            variable_name(field): field.is_required()
            for name, field in cls.model_fields.items()
            if name != "limits" and variable_name(field) not in cls.OPTIONAL_OVERRIDES
        }


def _arn(value: str | None) -> str | None:
    if value is not None and not value.startswith("arn:"):
        raise ValueError(f"expected an ARN (arn:...), got {value!r}")
    return value


class ConfigSettings(FunctionSettings):
    """The tenants' configuration as runs see it: the last valid version of each object, which
    config-sync points at in the run-history table (``CONFIG`` items)."""

    config_bucket: str = Field(validation_alias="CONFIG_BUCKET", min_length=3)
    run_history_table: str = Field(validation_alias="RUN_HISTORY_TABLE", min_length=3)


class ChannelSettings(FunctionSettings):
    """The tenant-facing channels every notifying function has: the SNS topic and the event bus."""

    topic_arn: str = Field(validation_alias="TOPIC_ARN")
    event_bus_name: str = Field(validation_alias="EVENT_BUS_NAME", min_length=1)

    _topic = field_validator("topic_arn")(_arn)


class EmailSettings(FunctionSettings):
    """Run e-mails (docs/email.md): the From address (empty turns e-mail off) and the SES
    configuration set named on every message."""

    email_sender: str | None = Field(default=None, validation_alias="EMAIL_SENDER")
    email_configuration_set: str | None = Field(default=None, validation_alias="EMAIL_CONFIGURATION_SET")

    @field_validator("email_sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        problem = address_problem(value) if value else None
        if problem is not None:
            raise ValueError(f"expected the From address (name@example.com), got {value!r}: {problem}")
        return value


class RunChannelSettings(ChannelSettings, EmailSettings):
    """The channels of run outcomes: links and recipient addresses reach the (account-wide)
    event bus only when the operator opts in."""

    events_include_private: bool = Field(validation_alias="EVENTS_INCLUDE_LINKS_AND_RECIPIENTS")


class ExportSettings(ConfigSettings, RunChannelSettings):
    """``ExportFunction`` (``export_app.handler``): one run, single path or handed to the state machine."""

    export_bucket: str = Field(validation_alias="EXPORT_BUCKET", min_length=3)
    tracking_table: str = Field(validation_alias="TRACKING_TABLE", min_length=3)
    # Download links live this long at most (and never past the signing credentials' expiry).
    download_link_seconds: int = Field(validation_alias="DOWNLOAD_LINK_SECONDS", ge=60, le=7 * 24 * 3600)
    # The state machine a run above MAX_ROWS_PER_WORKER estimated rows goes to (runs/handoff.py).
    state_machine_arn: str = Field(validation_alias="STATE_MACHINE_ARN")
    max_rows_per_worker: int = Field(validation_alias="MAX_ROWS_PER_WORKER", ge=1)

    _state_machine = field_validator("state_machine_arn")(_arn)


class RunRecoverySettings(ConfigSettings, RunChannelSettings):
    """``RunRecoveryFunction`` (``export_app.on_failure``): ends a run Lambda gave up on,
    recorded failed and notified; it reads the configuration for the lost run's window and
    recipients, and writes no file."""


class ShardWorkerSettings(FunctionSettings):
    """``ExportWorkerFunction`` (``export_steps_app.worker``): renders one shard of a distributed
    run from the tracking table into the export bucket's ``_work/``; everything else is in the
    run's manifest."""

    export_bucket: str = Field(validation_alias="EXPORT_BUCKET", min_length=3)
    tracking_table: str = Field(validation_alias="TRACKING_TABLE", min_length=3)


class CoordinatorSettings(RunChannelSettings):
    """``ExportCoordinatorFunction`` (``export_steps_app.coordinator``): plans, assembles,
    finishes or fails a distributed run, through the export function's outbox and channels; the
    run's plan carries its definition and recipients, so it reads no configuration."""

    export_bucket: str = Field(validation_alias="EXPORT_BUCKET", min_length=3)
    tracking_table: str = Field(validation_alias="TRACKING_TABLE", min_length=3)
    run_history_table: str = Field(validation_alias="RUN_HISTORY_TABLE", min_length=3)
    download_link_seconds: int = Field(validation_alias="DOWNLOAD_LINK_SECONDS", ge=60, le=7 * 24 * 3600)
    # The Map state's concurrency the plan step hands out (ShardMaxConcurrency).
    max_concurrency: int = Field(validation_alias="MAX_CONCURRENCY", ge=1)


class StuckRunsSettings(ConfigSettings, RunChannelSettings):
    """``StuckRunsFunction`` (``stuck_runs_app.handler``): ends the runs left ``running`` — a
    single run as the recovery does (its configuration, the run history), a distributed one as
    the fail step does (its plan in the export bucket); only this state machine's executions."""

    export_bucket: str = Field(validation_alias="EXPORT_BUCKET", min_length=3)
    state_machine_arn: str = Field(validation_alias="STATE_MACHINE_ARN")


class ScheduleSettings(FunctionSettings):
    """How an export's schedule is written (config-sync writes it, the watchdog repairs it): the
    schedule group, the export function it targets, the role Scheduler uses, the dead-letter
    queue of its deliveries."""

    schedule_group: str = Field(validation_alias="SCHEDULE_GROUP", min_length=1)
    export_function_arn: str = Field(validation_alias="EXPORT_FUNCTION_ARN")
    scheduler_role_arn: str = Field(validation_alias="SCHEDULER_ROLE_ARN")
    schedule_dlq_arn: str = Field(validation_alias="SCHEDULE_DLQ_ARN")

    _arns = field_validator("export_function_arn", "scheduler_role_arn", "schedule_dlq_arn")(_arn)


class ConfigSyncSettings(ConfigSettings, ScheduleSettings, ChannelSettings, EmailSettings):
    """``ConfigSyncFunction`` (``config_sync_app.handler``): validates uploads, keeps the
    schedules and the last-valid pointers, reports invalid uploads, asks for retention."""

    # The ingest function, asked to apply a valid tenant.json's retentionDays (docs/ingestion.md);
    # empty (the local stack of `make serve`, which runs no ingest function): no request.
    ingest_function_name: str | None = Field(default=None, validation_alias="INGEST_FUNCTION_NAME")


class WatchdogSettings(ConfigSettings, ScheduleSettings):
    """``WatchdogFunction`` (``watchdog_app.handler``, docs/run-lifecycle.md, "The watchdog"): the
    exports, their pointers, pauses and runs, schedules written as config-sync writes them, the
    export function it starts missed runs on, and how far back and how late it looks."""

    # Scheduled times older than this are not looked at: a pass every hour sees each one a
    # day long, and more than a day of catching up is a replay's work.
    lookback_hours: int = Field(validation_alias="WATCHDOG_LOOKBACK_HOURS", ge=2, le=7 * 24)
    # How long after a time (and its flexible window) a run may still not be on record
    # without being missed: Lambda's queue holds a fleet's 02:00 deliveries a while.
    grace_minutes: int = Field(validation_alias="WATCHDOG_GRACE_MINUTES", ge=5, le=24 * 60)
    # Runs one pass starts at most; the rest wait for the next pass.
    max_starts: int = Field(validation_alias="WATCHDOG_MAX_STARTS", ge=1, le=10_000)


class _IngestTarget(FunctionSettings):
    """Where ingestion reads files and keeps the events of files that failed for good."""

    # The only bucket whose objects are ingested; events naming another are ignored.
    ingest_bucket: str = Field(validation_alias="INGEST_BUCKET", min_length=3, max_length=63)
    # A file that fails for good leaves its event in this queue (IngestDlq), to be re-driven.
    dead_letter_queue_url: str = Field(validation_alias="INGEST_DLQ_URL", min_length=1)


class IngestFunctionSettings(ConfigSettings, ChannelSettings, _IngestTarget):
    """``IngestFunction`` (``ingest_app.handler``): ingestion, retention and erasure."""

    # The ingestion's own caps (docs/limits.md, "Tracking files"): optional, as the engine's are.
    OPTIONAL_OVERRIDES: ClassVar[frozenset[str]] = FunctionSettings.OPTIONAL_OVERRIDES | {
        "INGEST_MAX_LINE_BYTES",
        "INGEST_MAX_DECOMPRESSED_BYTES",
        "INGEST_MAX_COMPRESSION_RATIO",
    }

    export_bucket: str = Field(validation_alias="EXPORT_BUCKET", min_length=3)
    tracking_table: str = Field(validation_alias="TRACKING_TABLE", min_length=3)
    # Bytes of lines loaded by one invocation (decompressed bytes for gzip).
    max_bytes_per_invocation: int = Field(validation_alias="INGEST_MAX_BYTES_PER_INVOCATION", ge=64)
    # "invoke": the function invokes itself for the next range; "return": the caller does (local run).
    continuation: Literal["invoke", "return"] = Field(validation_alias="INGEST_CONTINUATION")
    # A longer line is rejected, read past without being held.
    max_line_bytes: int = Field(default=1024 * 1024, validation_alias="INGEST_MAX_LINE_BYTES", ge=64)
    # gzip: the decompressed size of a file, and how many times its compressed size it may be.
    max_decompressed_bytes: int = Field(
        default=4 * 1024**3, validation_alias="INGEST_MAX_DECOMPRESSED_BYTES", ge=1
    )
    max_compression_ratio: float = Field(default=200.0, validation_alias="INGEST_MAX_COMPRESSION_RATIO", gt=1)


class IngestRecoverySettings(ChannelSettings, _IngestTarget):
    """``IngestRecoveryFunction`` (``ingest_app.on_failure``): an ingestion Lambda gave up on is
    told to its tenant once (how far it got: the progress item) and its event kept in the queue;
    a retention request for the config bucket's tenant.json (config-sync's) is only kept."""

    config_bucket: str = Field(validation_alias="CONFIG_BUCKET", min_length=3)
    tracking_table: str = Field(validation_alias="TRACKING_TABLE", min_length=3)
