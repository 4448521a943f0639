"""Export function: one scheduled run of one tenant's export.

Input: the scheduler payload ``{"tenantId", "exportGuid", "scheduledTime"?}``, the same
fields in an EventBridge scheduled event's ``detail``, and an optional ``runAt``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.export_service import ExportRequest, ExportService, InvalidRequest
from tracking_export_aws.settings import AwsSettings
from tracking_export_aws.time_guard import TimeGuard
from tracking_export_aws.wiring import export_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
_service: ExportService | None = None


def _get_service() -> ExportService:
    """Built on first use, not at import: tests and the local run set the environment first."""
    global _service
    if _service is None:
        _service = export_service(AwsSettings.from_env())
    return _service


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = ExportRequest.from_event(event)
    except InvalidRequest:
        # No tenant or export to notify: counted, logged, and raised so the event reaches the DLQ.
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        logger.exception(
            "invalid export request", extra={"event_keys": sorted(event) if isinstance(event, dict) else None}
        )
        raise
    logger.append_keys(
        tenant_id=request.tenant_id,
        export_guid=request.export_guid,
        run_id=getattr(context, "aws_request_id", None),
        scheduled_time=request.scheduled_time.isoformat() if request.scheduled_time else None,
        run_at=request.run_at.isoformat() if request.run_at else None,
    )
    tracer.put_annotation("tenant_id", request.tenant_id)
    tracer.put_annotation("export_guid", request.export_guid)
    service = _get_service()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    service.time_guard = TimeGuard(remaining) if callable(remaining) else None
    result = service.run(request)
    outcome = result["outcome"]
    # One metric per outcome name: a dimension would stick to every metric of the invocation.
    metrics.add_metric(name=f"ExportRuns_{outcome}", unit=MetricUnit.Count, value=1)
    if outcome == "duplicate":
        logger.info("duplicate delivery: the run is already done or in progress", extra=result)
        return result
    metrics.add_metric(name="ExportedRows", unit=MetricUnit.Count, value=result.get("rows") or 0)
    metrics.add_metric(name="ExportedBytes", unit=MetricUnit.Bytes, value=result.get("bytes") or 0)
    metrics.add_metric(name="SkippedRecords", unit=MetricUnit.Count, value=result.get("skippedCount") or 0)
    metrics.add_metric(
        name="ExportDuration", unit=MetricUnit.Milliseconds, value=result.get("durationMs") or 0
    )
    summary = {k: v for k, v in result.items() if k != "skipped"}
    if outcome == "failed":
        logger.error("export run failed", extra=summary)
    elif outcome == "distributed":
        # Rows, bytes and the notification come from the state machine's last step.
        logger.info("export run started on the state machine", extra=summary)
    else:
        logger.info("export run succeeded", extra=summary)
    return result
