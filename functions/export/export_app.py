"""Export function: one scheduled run of one tenant's export.

Input: the scheduler payload ``{"tenantId", "exportGuid", "scheduledTime"?}``, the same
fields in an EventBridge scheduled event's ``detail``, and an optional ``runAt``.

``on_failure`` is the OnFailure destination of the export function's asynchronous
invocations: once Lambda has given up on a delivery, it makes sure the run ends (recorded
failed and notified, or its missing notifications delivered).

The service returns a frozen model (runs/outcomes.py); this handler turns it into JSON at
its edge. Logs never carry the download link nor recipient addresses: a log line carries only
the fields the models mark ``LOGGED`` (``notify.messages.log_fields``). Traces are Lambda's own
(active tracing): no SDK in the function records subsegments or responses (docs/decisions.md,
"Deployable").
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.notify.messages import log_fields
from tracking_export_aws.notify.notifier import NotificationError
from tracking_export_aws.runs.ledger import Claim
from tracking_export_aws.runs.outcomes import (
    RunDuplicate,
    RunFailed,
    RunHandedOff,
    RunOutcome,
    RunPaused,
    RunSucceeded,
)
from tracking_export_aws.runs.request import destination_failure_detail
from tracking_export_aws.runs.service import ExportRequest, ExportService, InvalidRequest, TransientRunError
from tracking_export_aws.runtime.log_keys import correlation_id, run_keys
from tracking_export_aws.runtime.metrics import count_outcome
from tracking_export_aws.runtime.settings import ExportSettings, FunctionSettings, RunRecoverySettings
from tracking_export_aws.runtime.wiring import export_service, run_recovery

logger = Logger()
# The services' own log lines (stdlib logging) come out as this logger's: JSON, with the run's keys.
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
# Each handler is its own Lambda function with its own environment (template.yaml).
SETTINGS: dict[str, type[FunctionSettings]] = {"handler": ExportSettings, "on_failure": RunRecoverySettings}


def as_json(outcome: RunOutcome) -> dict[str, Any]:
    """The outcome as the handler returns it: the fields it has, by their JSON names."""
    return outcome.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _remaining_seconds(context: LambdaContext) -> Any:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return (lambda: remaining() / 1000) if callable(remaining) else None


def _mark_run(claim: Claim) -> None:
    """From the claim on, every log line of the invocation names the run, its number and attempt."""
    logger.set_correlation_id(correlation_id(claim))
    logger.append_keys(**run_keys(claim))


@functools.cache
def _service() -> ExportService:
    """``ExportFunction``'s service, built from its settings on the first invocation (not at
    import: tests and the local run set the environment first) and kept."""
    return export_service(ExportSettings.from_env())


@functools.cache
def _recovery() -> ExportService:
    """``RunRecoveryFunction``'s service, built as ``_service`` is."""
    return run_recovery(RunRecoverySettings.from_env())


def reset() -> None:
    """Forget what was built from the environment (a test gives each handler a new one)."""
    _service.cache_clear()
    _recovery.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = ExportRequest.from_event(event, _service().limits)
    except InvalidRequest:
        # No tenant or export to notify: counted, logged, and raised so the event reaches the DLQ.
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        # Key names only (cut short), never values: the event may carry anything.
        keys = sorted(str(k)[:64] for k in event)[:50] if isinstance(event, dict) else None
        logger.exception("invalid export request", extra={"event_keys": keys})
        raise
    logger.append_keys(
        tenant_id=request.tenant_id,
        export_guid=request.export_guid,
        scheduled_time=request.scheduled_time.isoformat() if request.scheduled_time else None,
        run_at=request.run_at.isoformat() if request.run_at else None,
    )
    try:
        result = _service().run(
            request,
            invocation_id=getattr(context, "aws_request_id", None),
            remaining_seconds=_remaining_seconds(context),
            on_claim=_mark_run,
        )
    except TransientRunError as exc:
        # Handed back: Lambda's retry (same request id) takes the run over at once; the tenant
        # hears of it only if no attempt succeeds (the recovery ends it failed, naming this).
        metrics.add_metric(name="RunsRetried", unit=MetricUnit.Count, value=1)
        logger.warning("transient failure: the run is handed to Lambda's retry", extra={"reason": str(exc)})
        raise
    except NotificationError as exc:
        # The outcome is recorded; raising makes Lambda retry, and the retry delivers what is missing.
        metrics.add_metric(name="NotificationFailures", unit=MetricUnit.Count, value=1)
        logger.error(
            "notification not delivered; the retry delivers it", extra={"failed_channels": exc.failed}
        )
        raise
    summary = log_fields(result)
    if isinstance(result, RunPaused):
        # Not a run: the export (or its tenant) is paused and this run never started.
        metrics.add_metric(name="PausedRuns", unit=MetricUnit.Count, value=1)
        logger.info("export paused: the scheduled run is not started", extra=summary)
        return as_json(result)
    count_outcome("ExportRuns", result.outcome, metrics.default_dimensions)
    if isinstance(result, RunDuplicate):
        logger.info("duplicate delivery: the run is already done or in progress", extra=summary)
        return as_json(result)
    # A failed run wrote nothing; a handed-off one's figures come from the state machine's last step.
    rows = written = skipped = 0
    if isinstance(result, RunSucceeded):
        rows, written, skipped = result.rows, result.bytes, result.skippedCount
    duration = result.durationMs if isinstance(result, RunSucceeded | RunFailed) else 0
    metrics.add_metric(name="ExportedRows", unit=MetricUnit.Count, value=rows)
    metrics.add_metric(name="ExportedBytes", unit=MetricUnit.Bytes, value=written)
    metrics.add_metric(name="SkippedRecords", unit=MetricUnit.Count, value=skipped)
    metrics.add_metric(name="ExportDuration", unit=MetricUnit.Milliseconds, value=duration)
    if isinstance(result, RunHandedOff):
        logger.info("export run started on the state machine", extra=summary)
    elif isinstance(result, RunSucceeded):
        logger.info("export run succeeded", extra=summary)
    else:
        logger.error("export run failed", extra=summary)
    return as_json(result)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def on_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The OnFailure destination record of an export invocation Lambda gave up on
    (``requestContext``, ``requestPayload``, ``responsePayload``): end its run."""
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    payload = event.get("requestPayload") if isinstance(event, dict) else None
    if not isinstance(request_context, dict) or not isinstance(payload, dict):
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        raise InvalidRequest(
            "not a Lambda destination record: requestContext and requestPayload are required"
        )
    request = ExportRequest.from_event(payload)
    response = event.get("responsePayload")
    detail = destination_failure_detail(response)
    reason = f"{request_context.get('condition') or 'RetriesExhausted'}" + (f" ({detail})" if detail else "")
    logger.append_keys(tenant_id=request.tenant_id, export_guid=request.export_guid)
    result = _recovery().recover(
        request, invocation_id=request_context.get("requestId"), reason=reason, on_claim=_mark_run
    )
    count_outcome("RecoveredRuns", result.outcome, metrics.default_dimensions)
    if result.outcome == "failed":
        # A run ended here is a failed run like any other: FailedRunsAlarm watches ExportRuns.
        count_outcome("ExportRuns", "failed", metrics.default_dimensions)
    logger.warning("export delivery given up by Lambda; run ended", extra=log_fields(result))
    return as_json(result)
