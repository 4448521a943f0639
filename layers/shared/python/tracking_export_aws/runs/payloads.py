"""The state machine's payloads (statemachine/export.asl.json): what each step takes and returns.

Every step's input is read through :func:`read_step` at the handler's edge: a payload that
does not fit its step is refused with a DistributedRunError naming each field at fault,
before anything runs. Outputs are models too; the handler serialises them (camelCase, the
names the state machine's ``ResultSelector`` paths use). What a step's log line may carry is
marked ``LOGGED`` on the models, as for the export function's outcomes.

    plan      PlanStep     -> ShardPlan      (the Map state's items and concurrency)
    render    RenderStep   -> ShardRendered  (its ShardReport is kept in the work prefix)
    assemble  AssembleStep -> ExportedFile   (runs/outcomes.py)
    finish    FinishStep   -> RunEnded       (FinishStep.file is the assemble step's output)
    fail      FailStep     -> RunEnded       (FailStep.error is the Catch's {"Error", "Cause"})
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from tracking_export.limits import shown
from tracking_export_aws.aws.s3_objects import DistributedRunError
from tracking_export_aws.notify.messages import LOGGED, RunFailed, RunSucceeded, SkippedRecord
from tracking_export_aws.runs.outcomes import ExportedFile


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Shard(_Payload):
    """Consecutive local days of the window, rendered by one worker; ``first_day``/``last_day``
    None: the window's days as the data has them (a run without any data: one shard, header only)."""

    index: int = Field(ge=0)
    first_day: date | None = None
    last_day: date | None = None
    last: bool = Field(description="the last shard writes the never-launched rows")

    @property
    def days(self) -> tuple[date, date] | None:
        return (self.first_day, self.last_day) if self.first_day and self.last_day else None


class ShardPlan(_Payload):
    """The plan step's output: the shards, and how many the Map state renders at once."""

    shards: tuple[Shard, ...]
    max_concurrency: Annotated[int, LOGGED] = Field(ge=1)


class ShardReport(_Payload):
    """What one shard rendered, kept beside its bytes in the work prefix for the assemble step."""

    index: int = Field(ge=0)
    key: str
    size: int = Field(ge=0)
    rows: int = Field(ge=0)
    skipped_count: int = Field(ge=0)
    skipped: tuple[SkippedRecord, ...] = ()


class ShardRendered(_Payload):
    """The render step's output."""

    index: Annotated[int, LOGGED]
    rows: Annotated[int, LOGGED]
    size: Annotated[int, LOGGED]


class RunEnded(_Payload):
    """The finish and fail steps' output: how the run ended (its notification is delivered)."""

    outcome: Annotated[Literal["succeeded", "failed"], LOGGED]
    object_key: Annotated[str | None, LOGGED] = None
    # The run's figures, counted by the coordinator as the export function counts a single run's.
    rows: Annotated[int, LOGGED] = Field(default=0, ge=0)
    bytes: Annotated[int, LOGGED] = Field(default=0, ge=0)
    skipped_count: Annotated[int, LOGGED] = Field(default=0, ge=0)
    duration_ms: Annotated[int, LOGGED] = Field(default=0, ge=0)

    @classmethod
    def of(cls, outcome: RunSucceeded | RunFailed) -> RunEnded:
        """How a run ended, from the finisher's outcome."""
        if isinstance(outcome, RunSucceeded):
            return cls(
                outcome=outcome.outcome,
                object_key=outcome.objectKey,
                rows=outcome.rows,
                bytes=outcome.bytes,
                skipped_count=outcome.skippedCount,
                duration_ms=outcome.durationMs,
            )
        return cls(outcome=outcome.outcome, duration_ms=outcome.durationMs)


class StepError(BaseModel):
    """What a Catch puts in ``$.error``: the error's name and its cause (never quoted to tenants)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    Error: str | None = None
    Cause: str | None = None


class _Step(_Payload):
    manifest_key: str = Field(description="_work/{tenant}/{export}/{run}-{attempt}/manifest.json")


class PlanStep(_Step):
    step: Literal["plan"]


class RenderStep(_Step):
    step: Literal["render"]
    shard: Shard


class AssembleStep(_Step):
    step: Literal["assemble"]


class FinishStep(_Step):
    step: Literal["finish"]
    file: ExportedFile


class FailStep(_Step):
    step: Literal["fail"]
    error: StepError = StepError()


AnyStep = PlanStep | RenderStep | AssembleStep | FinishStep | FailStep
Step = Annotated[AnyStep, Field(discriminator="step")]
_STEP: TypeAdapter[Any] = TypeAdapter(Step)
STEPS = ("plan", "render", "assemble", "finish", "fail")


def read_step(event: Any, allowed: Collection[str] = STEPS) -> AnyStep:
    """The step the state machine asks for (one of ``allowed``: a function runs only its own
    steps); DistributedRunError names what does not fit."""
    name = event.get("step") if isinstance(event, dict) else None
    if name not in allowed:
        raise DistributedRunError(f"this function runs the steps {sorted(allowed)}, not {shown(str(name))}")
    try:
        step: AnyStep = _STEP.validate_python(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'][1:]) or '(input)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise DistributedRunError(f"the {name} step's input does not fit: {problems}") from None
    return step
