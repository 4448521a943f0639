"""The distributed export's Lambda steps (statemachine/export.asl.json, docs/capacity.md).

Two functions share this code with different permissions: ``worker`` renders one shard
(reads the tracking table, writes the run's work prefix); ``coordinator`` plans, assembles,
finishes or fails the run (writes the tenant's file, the run record and the notification).
Input: ``{"step", "manifestKey", ...}`` as the state machine sends it. An error is raised:
the state machine's Catch turns it into the run's failure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export.limits import shown
from tracking_export_aws.aws.s3_objects import DistributedRunError
from tracking_export_aws.runs.ledger import Claim
from tracking_export_aws.runs.steps import Steps
from tracking_export_aws.runtime.log_keys import correlation_id, run_keys
from tracking_export_aws.runtime.settings import CoordinatorSettings, FunctionSettings, ShardWorkerSettings
from tracking_export_aws.runtime.wiring import coordinator_steps, worker_steps

logger = Logger()
# The services' own log lines (stdlib logging) come out as this logger's: JSON, with the run's keys.
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
COORDINATOR_STEPS = frozenset({"plan", "assemble", "finish", "fail"})
WORKER_STEPS = frozenset({"render"})
# Each handler is its own Lambda function with its own environment (template.yaml).
SETTINGS: dict[str, type[FunctionSettings]] = {
    "worker": ShardWorkerSettings,
    "coordinator": CoordinatorSettings,
}


@functools.cache
def _worker_steps() -> Steps:
    """``ExportWorkerFunction``'s steps, built from its settings on the first invocation (not at
    import: tests and the local run set the environment first) and kept."""
    return worker_steps(ShardWorkerSettings.from_env())


@functools.cache
def _coordinator_steps() -> Steps:
    """``ExportCoordinatorFunction``'s steps, built as the worker's are."""
    return coordinator_steps(CoordinatorSettings.from_env())


def reset() -> None:
    """Forget what was built from the environment (a test gives each handler a new one)."""
    _worker_steps.cache_clear()
    _coordinator_steps.cache_clear()


def _mark_run(claim: Claim) -> None:
    """Every log line of the step names the run, its number and attempt (as the export function's do)."""
    logger.set_correlation_id(correlation_id(claim))
    logger.append_keys(**run_keys(claim))


def _run(
    event: dict[str, Any], context: LambdaContext, allowed: frozenset[str], steps: Callable[[], Steps]
) -> dict[str, Any]:
    step = event.get("step") if isinstance(event, dict) else None
    if step not in allowed:
        raise DistributedRunError(f"this function runs the steps {sorted(allowed)}, not {shown(str(step))}")
    logger.append_keys(step=step, manifest_key=event.get("manifestKey"), shard=event.get("shard"))
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    result = steps().dispatch(
        event,
        remaining_seconds=(lambda: remaining() / 1000) if callable(remaining) else None,
        on_claim=_mark_run,
    )
    logger.info("step done", extra={"result": {k: v for k, v in result.items() if k != "shards"}})
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def worker(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Render one shard into the run's work prefix."""
    return _run(event, context, WORKER_STEPS, _worker_steps)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def coordinator(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Plan, assemble, finish or fail a distributed run."""
    return _run(event, context, COORDINATOR_STEPS, _coordinator_steps)
