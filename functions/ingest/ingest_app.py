"""Ingest function: data in (ingestion), and data out (erasure, retention).

Input, one of:

- the ingest bucket's S3 notification (or the same as an EventBridge S3 event) for a file
  dropped under ``tenants/{tenantId}/incoming/``, or a continuation ``{"ingest": {...}}`` this
  function sent itself for the next byte range of a large file (tracking_export_aws.ingest.service);
- the config bucket's S3 notification for ``tenants/{tenantId}/tenant.json``: the tenant's
  ``retentionDays`` is applied to its logs (tracking_export_aws.ingest.retention);
- ``Learner Erasure Requested`` (EventBridge, ``detail`` = ``{"tenantId", "learnerId"}``) or
  ``{"erase": {...}}``: one learner is erased (tracking_export_aws.ingest.erasure).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.aws.clients import client
from tracking_export_aws.ingest.erasure import (
    ErasureRequest,
    InvalidErasureRequest,
    LearnerEraser,
    is_erasure_event,
)
from tracking_export_aws.ingest.retention import RetentionService, settings_tenant
from tracking_export_aws.ingest.service import IngestService, ingest_requests
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.metrics import count_outcome
from tracking_export_aws.runtime.settings import FunctionSettings, IngestFunctionSettings

logger = Logger()
# The services' own log lines (stdlib logging) come out as this logger's: JSON, with the run's keys.
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
SETTINGS: dict[str, type[FunctionSettings]] = {"handler": IngestFunctionSettings}
_function_arn: str | None = None
# A range's lease outlives the invocation by this much (then a retry may take the range over).
_LEASE_MARGIN_SECONDS = 30


@functools.cache
def _settings() -> IngestFunctionSettings:
    """Read and validated on the first invocation (not at import: tests and the local run set
    the environment first), then kept for the execution environment's life."""
    return IngestFunctionSettings.from_env()


def _continue(event: dict[str, Any]) -> None:
    """The next byte range runs in a new asynchronous invocation of this function."""
    assert _function_arn is not None
    client("lambda", _settings()).invoke(
        FunctionName=_function_arn, InvocationType="Event", Payload=json.dumps(event).encode()
    )


@functools.cache
def _service() -> IngestService:
    settings = _settings()
    return wiring.ingest_service(settings, _continue if settings.continuation == "invoke" else None)


@functools.cache
def _eraser() -> LearnerEraser:
    return wiring.learner_eraser(_settings())


@functools.cache
def _retention() -> RetentionService:
    return wiring.retention_service(_settings())


def reset() -> None:
    """Forget what was built from the environment (a test gives the handler a new one)."""
    for built in (_settings, _service, _eraser, _retention):
        built.cache_clear()


def _erase(event: dict[str, Any]) -> dict[str, Any]:
    try:
        request = ErasureRequest.from_event(event)
    except InvalidErasureRequest:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        logger.exception("invalid erasure request")
        raise
    logger.append_keys(tenant_id=request.tenant_id)
    report = _eraser().erase(request).as_dict()
    metrics.add_metric(name="LearnersErased", unit=MetricUnit.Count, value=1)
    logger.info("learner erased", extra={k: v for k, v in report.items() if k != "deliveredFiles"})
    return report


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _function_arn
    if is_erasure_event(event):
        return _erase(event)
    _function_arn = getattr(context, "invoked_function_arn", None)
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)() / 1000
    config_bucket = _settings().config_bucket
    results = []
    for request in ingest_requests(event):
        logger.append_keys(object_key=request.key, offset=request.offset)
        tenant = settings_tenant(request.key) if request.bucket == config_bucket else None
        if tenant is not None:
            summary = _retention().apply(tenant)
            metrics.add_metric(
                name="RetentionLogsUpdated", unit=MetricUnit.Count, value=summary["logsUpdated"]
            )
            logger.info("retention applied", extra=summary)
            results.append({"outcome": "retention-applied", **summary})
            continue
        result = _service().ingest(request, lease_seconds=remaining + _LEASE_MARGIN_SECONDS)
        outcome = result["outcome"]
        count_outcome("IngestRequests", outcome, metrics.default_dimensions)
        if outcome in ("ingested", "ingest-rejected"):
            metrics.add_metric(name="IngestedRecords", unit=MetricUnit.Count, value=result["writtenTotal"])
            metrics.add_metric(name="RejectedLines", unit=MetricUnit.Count, value=result["rejectedCount"])
        logger.info(f"ingestion: {outcome}", extra={k: v for k, v in result.items() if k != "rejected"})
        results.append(result)
    return {"results": results}
