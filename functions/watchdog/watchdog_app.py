"""Watchdog function: once an hour, finds the runs schedules should have started and did not,
starts them, and repairs schedules that are missing or disabled without a pause
(docs/run-lifecycle.md, "The watchdog").

Metrics: ``MissedRuns`` (times Scheduler had and did not deliver, started now; alarmed),
``SpringForwardRuns`` (local times the spring-forward change skipped, started at the first
instant after the gap), ``SchedulesRepaired`` (alarmed), ``DeferredRuns`` (missed times left to
the next pass by WATCHDOG_MAX_STARTS) and ``WatchdogFailures`` (exports the pass could not
check; alarmed). The pass never raises for one export: the others must still be checked.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.ops.watchdog import Watchdog
from tracking_export_aws.runtime.settings import FunctionSettings, WatchdogSettings
from tracking_export_aws.runtime.wiring import watchdog

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
SETTINGS: dict[str, type[FunctionSettings]] = {"handler": WatchdogSettings}


@functools.cache
def _watchdog() -> Watchdog:
    """Built from the function's settings on the first invocation (not at import: tests and
    the local run set the environment first) and kept."""
    return watchdog(WatchdogSettings.from_env())


def reset() -> None:
    """Forget what was built from the environment (a test gives the handler a new one)."""
    _watchdog.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    report = _watchdog().sweep()
    counts = {
        "MissedRuns": report.missed_runs,
        "SpringForwardRuns": report.spring_forward_runs,
        "SchedulesRepaired": report.schedules_repaired,
        "DeferredRuns": report.deferred_runs,
        "WatchdogFailures": report.failures,
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    summary = {"exports": len(report.exports), **counts}
    for check in report.noteworthy():
        logger.warning("watchdog acted on an export", extra=check.as_dict())
    logger.info("watchdog pass done", extra=summary)
    return {**summary, "actions": [check.as_dict() for check in report.noteworthy()]}
