"""Ingest function: data in (ingestion), and data out (erasure, retention).

Input, one of:

- the ingest bucket's S3 notification (or the same as an EventBridge S3 event) for a file
  dropped under ``tenants/{tenantId}/incoming/``, or a continuation ``{"ingest": {...}}`` this
  function sent itself for the next range of a large file (tracking_export_aws.ingest.service);
- the config bucket's S3 notification for ``tenants/{tenantId}/tenant.json``: the tenant's
  ``retentionDays`` is applied to its logs (tracking_export_aws.ingest.retention);
- ``Learner Erasure Requested`` (EventBridge, ``detail`` = ``{"tenantId", "learnerId"}``) or
  ``{"erase": {...}}``: one learner is erased (tracking_export_aws.ingest.erasure).

Any other event, and any record naming another bucket, is ignored with its reason (counted:
``IgnoredEvents``). ``on_failure`` is the OnFailure destination of this function's
asynchronous invocations: once Lambda has given up on an ingestion, it tells the tenant.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.aws.clients import client
from tracking_export_aws.aws.s3_events import IgnoredRecord, S3ObjectEvent
from tracking_export_aws.ingest.erasure import (
    ErasureRequest,
    InvalidErasureRequest,
    LearnerEraser,
    is_erasure_event,
)
from tracking_export_aws.ingest.retention import RetentionService, settings_tenant
from tracking_export_aws.ingest.service import IngestRequest, IngestResult, IngestService, read_ingest_event
from tracking_export_aws.runs.request import destination_failure_detail
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.metrics import count_outcome
from tracking_export_aws.runtime.settings import (
    FunctionSettings,
    IngestFunctionSettings,
    IngestRecoverySettings,
)

logger = Logger()
# The services' own log lines (stdlib logging) come out as this logger's: JSON, with the run's keys.
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
# Each handler is its own Lambda function with its own environment (template.yaml).
SETTINGS: dict[str, type[FunctionSettings]] = {
    "handler": IngestFunctionSettings,
    "on_failure": IngestRecoverySettings,
}
_function_arn: str | None = None
# A range's lease outlives the invocation by this much (then a retry may take the range over).
_LEASE_MARGIN_SECONDS = 30


@functools.cache
def _settings() -> IngestFunctionSettings:
    """``IngestFunction``'s settings, read and validated on the first invocation (not at import:
    tests and the local run set the environment first), then kept for the execution environment."""
    return IngestFunctionSettings.from_env()


def _continue(event: dict[str, Any]) -> None:
    """The next range runs in a new asynchronous invocation of this function."""
    assert _function_arn is not None
    client("lambda", _settings()).invoke(
        FunctionName=_function_arn, InvocationType="Event", Payload=json.dumps(event).encode()
    )


@functools.cache
def _get_service() -> IngestService:
    settings = _settings()
    return wiring.ingest_service(settings, _continue if settings.continuation == "invoke" else None)


@functools.cache
def _eraser() -> LearnerEraser:
    return wiring.learner_eraser(_settings())


@functools.cache
def _retention_service() -> RetentionService:
    return wiring.retention_service(_settings())


@functools.cache
def _recovery_settings() -> IngestRecoverySettings:
    """``IngestRecoveryFunction``'s settings (its own environment), read as ``_settings``."""
    return IngestRecoverySettings.from_env()


@functools.cache
def _recovery() -> IngestService:
    return wiring.ingest_recovery(_recovery_settings())


def reset() -> None:
    """Forget what was built from the environment (a test gives each handler a new one)."""
    for built in (_settings, _get_service, _eraser, _retention_service, _recovery_settings, _recovery):
        built.cache_clear()


def _erase(event: dict[str, Any]) -> dict[str, Any]:
    try:
        request = ErasureRequest.from_event(event)
    except InvalidErasureRequest:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        logger.exception("invalid erasure request")
        raise
    logger.append_keys(tenant_id=request.tenant_id)
    report = _eraser().erase(request)
    metrics.add_metric(name="LearnersErased", unit=MetricUnit.Count, value=1)
    logger.info("learner erased", extra=report.logged())
    return report.as_dict()


def _ignored(record: int | None, reason: str, object_key: str | None = None) -> dict[str, Any]:
    metrics.add_metric(name="IgnoredEvents", unit=MetricUnit.Count, value=1)
    result = IngestResult(outcome="ignored", record=record, reason=reason, objectKey=object_key)
    logger.warning("event record ignored", extra=result.logged())
    return result.as_dict()


def _request(item: IngestRequest | S3ObjectEvent) -> IngestRequest:
    if isinstance(item, IngestRequest):
        return item
    return IngestRequest(bucket=item.bucket, key=item.key, etag=item.etag)


def _retention(item: IngestRequest | S3ObjectEvent) -> dict[str, Any]:
    """A tenant.json upload of the config bucket: the tenant's retention applied to its logs."""
    tenant = settings_tenant(item.key)
    if tenant is None or not isinstance(item, S3ObjectEvent) or item.removed:
        return _ignored(None, "only a tenant.json upload is read from the config bucket", item.key)
    summary = _retention_service().apply(tenant)
    metrics.add_metric(name="RetentionLogsUpdated", unit=MetricUnit.Count, value=summary.logs_updated)
    logger.info("retention applied", extra=summary.logged())
    return {"outcome": "retention-applied", **summary.as_dict()}


def _ingest(request: IngestRequest, lease_seconds: float) -> dict[str, Any]:
    logger.append_keys(object_key=request.key, offset=request.offset)
    result = _get_service().ingest(request, lease_seconds=lease_seconds)
    if result.outcome == "ignored":
        metrics.add_metric(name="IgnoredEvents", unit=MetricUnit.Count, value=1)
    count_outcome("IngestRequests", result.outcome, metrics.default_dimensions)
    if result.outcome in ("ingested", "ingest-rejected"):
        metrics.add_metric(name="IngestedRecords", unit=MetricUnit.Count, value=result.written_total or 0)
        metrics.add_metric(name="RejectedLines", unit=MetricUnit.Count, value=result.rejected_count or 0)
    log = logger.error if result.outcome == "ingest-failed" else logger.info
    log(f"ingestion: {result.outcome}", extra=result.logged())
    return result.as_dict()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    global _function_arn
    if isinstance(event, Mapping) and is_erasure_event(event):
        return _erase(dict(event))
    _function_arn = getattr(context, "invoked_function_arn", None)
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)() / 1000
    config_bucket = _settings().config_bucket
    results = []
    for item in read_ingest_event(event):
        if isinstance(item, IgnoredRecord):
            results.append(_ignored(item.record, item.reason))
        elif item.bucket == config_bucket:
            results.append(_retention(item))
        elif isinstance(item, S3ObjectEvent) and item.removed:
            results.append(_ignored(None, "an object removal: nothing to ingest", item.key))
        else:
            results.append(_ingest(_request(item), remaining + _LEASE_MARGIN_SECONDS))
    return {"results": results}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def on_failure(event: Any, context: LambdaContext) -> dict[str, Any]:
    """The OnFailure destination record of an invocation Lambda gave up on (``requestContext``,
    ``requestPayload``, ``responsePayload``): each ingestion it carried is told to its tenant
    (``ingest-failed``, once) and its event kept in the dead-letter queue; any other payload
    (an erasure, a retention) goes to the dead-letter queue as it is."""
    request_context = event.get("requestContext") if isinstance(event, Mapping) else None
    if not isinstance(request_context, Mapping):
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        raise ValueError("not a Lambda destination record: requestContext is required")
    payload = event.get("requestPayload")
    detail = destination_failure_detail(event.get("responsePayload"))
    condition = request_context.get("condition") or "RetriesExhausted"
    reason = f"not ingested after Lambda's retries: {condition}" + (f" ({detail})" if detail else "")
    service = _recovery()
    config_bucket = _recovery_settings().config_bucket
    results = []
    for item in read_ingest_event(payload):
        if isinstance(item, IgnoredRecord) or item.bucket == config_bucket:
            continue
        if isinstance(item, S3ObjectEvent) and item.removed:
            continue
        result = service.give_up(_request(item), reason)
        count_outcome("IngestRequests", result.outcome, metrics.default_dimensions)
        logger.error("ingestion given up by Lambda; the tenant is told", extra=result.logged())
        results.append(result.as_dict())
    if not results and service.dead_letter is not None:
        service.dead_letter(payload if isinstance(payload, dict) else {"requestPayload": payload})
        logger.error(
            "invocation given up by Lambda; its event is in the dead-letter queue", extra={"reason": reason}
        )
    return {"results": results}
