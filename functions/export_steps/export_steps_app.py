"""The distributed export's Lambda steps (statemachine/export.asl.json, docs/capacity.md).

Two functions share this code with different permissions and collaborators: ``worker``
renders one shard (reads the tracking table, writes the run's work prefix); ``coordinator``
plans, assembles, finishes or fails the run (writes the tenant's file, the run record and the
notification). Input: ``{"step", "manifestKey", ...}`` as the state machine sends it, read
into the step's model at this edge (runs/payloads.py); the step's output model is returned as
JSON. An error is raised: the state machine's Catch turns it into the run's failure.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.notify.messages import log_fields
from tracking_export_aws.runs.ledger import Claim
from tracking_export_aws.runs.payloads import RenderStep, RunEnded, read_step
from tracking_export_aws.runs.steps import COORDINATOR_STEPS, WORKER_STEPS, Coordinator, ShardWorker
from tracking_export_aws.runtime.log_keys import correlation_id, run_keys
from tracking_export_aws.runtime.metrics import count_outcome
from tracking_export_aws.runtime.settings import CoordinatorSettings, FunctionSettings, ShardWorkerSettings
from tracking_export_aws.runtime.wiring import coordinator as build_coordinator
from tracking_export_aws.runtime.wiring import shard_worker

logger = Logger()
# The services' own log lines (stdlib logging) come out as this logger's: JSON, with the run's keys.
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
# Each handler is its own Lambda function with its own environment (template.yaml).
SETTINGS: dict[str, type[FunctionSettings]] = {
    "worker": ShardWorkerSettings,
    "coordinator": CoordinatorSettings,
}


@functools.cache
def _get_worker() -> ShardWorker:
    """``ExportWorkerFunction``'s render step, built from its settings on the first invocation
    (not at import: tests and the local run set the environment first) and kept."""
    return shard_worker(ShardWorkerSettings.from_env())


@functools.cache
def _get_coordinator() -> Coordinator:
    """``ExportCoordinatorFunction``'s steps, built as the worker's are."""
    return build_coordinator(CoordinatorSettings.from_env())


def reset() -> None:
    """Forget what was built from the environment (a test gives each handler a new one)."""
    _get_worker.cache_clear()
    _get_coordinator.cache_clear()


def _mark_run(claim: Claim) -> None:
    """Every log line of the step names the run, its number and attempt (as the export function's do)."""
    logger.set_correlation_id(correlation_id(claim))
    logger.append_keys(**run_keys(claim))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def worker(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Render one shard into the run's work prefix."""
    step = read_step(event, WORKER_STEPS)
    shard = step.shard.model_dump(mode="json", by_alias=True) if isinstance(step, RenderStep) else None
    logger.append_keys(step=step.step, manifest_key=step.manifest_key, shard=shard)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    result = _get_worker().run(
        step,
        remaining_seconds=(lambda: remaining() / 1000) if callable(remaining) else None,
        on_claim=_mark_run,
    )
    logger.info("step done", extra={"result": log_fields(result)})
    return result.model_dump(mode="json", by_alias=True)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def coordinator(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Plan, assemble, finish or fail a distributed run."""
    step = read_step(event, COORDINATOR_STEPS)
    logger.append_keys(step=step.step, manifest_key=step.manifest_key)
    result = _get_coordinator().run(step, on_claim=_mark_run)
    logger.info("step done", extra={"result": log_fields(result)})
    if isinstance(result, RunEnded):
        _count_run(result)
    return result.model_dump(mode="json", by_alias=True)


def _count_run(result: RunEnded) -> None:
    """The run's outcome and figures, as the export function counts a run of the single path
    (its own count of a handed-off run is ``distributed``): both paths add up on the dashboard,
    and a failed distributed run raises FailedRunsAlarm."""
    count_outcome("ExportRuns", result.outcome, metrics.default_dimensions)
    metrics.add_metric(name="ExportedRows", unit=MetricUnit.Count, value=result.rows)
    metrics.add_metric(name="ExportedBytes", unit=MetricUnit.Bytes, value=result.bytes)
    metrics.add_metric(name="SkippedRecords", unit=MetricUnit.Count, value=result.skipped_count)
    metrics.add_metric(name="ExportDuration", unit=MetricUnit.Milliseconds, value=result.duration_ms)
