"""Stuck-runs function: no export run stays ``running`` (docs/run-lifecycle.md, "Stuck runs").

Two events:

- a "Step Functions Execution Status Change" of the export state machine (FAILED, TIMED_OUT,
  ABORTED; an EventBridge rule): the execution's run is ended failed and notified once, unless
  its fail step recorded it already;
- ``{"action": "sweep"}`` (its hourly schedule): every run still ``running`` an hour after its
  lease ran out is taken over and ended failed, each notified once.

Metrics: ``StuckRuns`` per run ended here (alarmed), and ``ExportRuns{outcome=failed}`` for each
(FailedRunsAlarm counts every failed run, whoever ended it). A sweep that could not end a run
raises once it has tried the others (the function's Errors alarm; the next pass tries again).
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.ops.stuck_runs import (
    EXECUTION_STATUS_CHANGE,
    EndedRun,
    InvalidExecutionEvent,
    StuckRuns,
)
from tracking_export_aws.runtime.metrics import count_outcome
from tracking_export_aws.runtime.settings import FunctionSettings, StuckRunsSettings
from tracking_export_aws.runtime.wiring import stuck_runs

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
SETTINGS: dict[str, type[FunctionSettings]] = {"handler": StuckRunsSettings}
SWEEP = {"action": "sweep"}


@functools.cache
def _get_stuck_runs() -> StuckRuns:
    """Built from the function's settings on the first invocation (not at import: tests set
    the environment first) and kept."""
    return stuck_runs(StuckRunsSettings.from_env())


def reset() -> None:
    """Forget what was built from the environment (a test gives the handler a new one)."""
    _get_stuck_runs.cache_clear()


def _count(run: EndedRun) -> dict[str, Any]:
    """One run ended here: StuckRuns, and a failed run among ExportRuns."""
    metrics.add_metric(name="StuckRuns", unit=MetricUnit.Count, value=1)
    if run.failed:
        count_outcome("ExportRuns", "failed", metrics.default_dimensions)
    fields = {"run_id": run.run_id, "found_by": run.found_by, "failed": run.failed}
    logger.warning("stuck run ended", extra=fields)
    return fields


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """End the run of an execution that stopped, or sweep the runs left ``running``."""
    service = _get_stuck_runs()
    if isinstance(event, dict) and event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        run = service.execution_ended(event)
        if run is None:
            status = event["detail"].get("status")
            logger.info("execution ended with its run recorded", extra={"status": status})
            return {"ended": []}
        return {"ended": [_count(run)]}
    if event != SWEEP:
        raise InvalidExecutionEvent(f"expected a {EXECUTION_STATUS_CHANGE!r} event or {SWEEP}")
    report = service.sweep()
    ended = [_count(run) for run in report.ended]
    if report.errors:
        logger.error("stuck runs the sweep could not end", extra={"runs": report.errors})
        left = len(report.errors)
        raise RuntimeError(f"the sweep could not end {left} stuck run(s); the next pass tries again")
    return {"ended": ended}
