"""Ingest function: data-contract JSONL files dropped under ``tenants/{tenantId}/incoming/``.

Input: the ingest bucket's S3 notification (or the same as an EventBridge S3 event), or a
continuation ``{"ingest": {...}}`` this function sent itself for the next byte range of a
large file (tracking_export_aws.ingest). Erasure requests (``Learner Erasure Requested``)
and tenant settings changes (retention) arrive here too; see erasure.py and retention.py.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.clients import client
from tracking_export_aws.ingest import IngestService, IngestSettings, ingest_requests
from tracking_export_aws.settings import AwsSettings
from tracking_export_aws.wiring import ingest_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
_service: IngestService | None = None
_function_arn: str | None = None
# Room left at the end of an invocation: a lease outlives the invocation by this much.
_LEASE_MARGIN_SECONDS = 30


def _continue(event: dict[str, Any]) -> None:
    """The next byte range runs in a new asynchronous invocation of this function."""
    assert _function_arn is not None
    client("lambda", AwsSettings.from_env()).invoke(
        FunctionName=_function_arn, InvocationType="Event", Payload=json.dumps(event).encode()
    )


def _get_service() -> IngestService:
    """Built on first use, not at import: tests and the local run set the environment first."""
    global _service
    if _service is None:
        ingest = IngestSettings.model_validate(dict(os.environ))
        continuation = _continue if ingest.continuation == "invoke" else None
        _service = ingest_service(AwsSettings.from_env(), ingest, continuation)
    return _service


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _function_arn
    _function_arn = getattr(context, "invoked_function_arn", None)
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)() / 1000
    results = []
    for request in ingest_requests(event):
        logger.append_keys(object_key=request.key, offset=request.offset)
        result = _get_service().ingest(request, lease_seconds=remaining + _LEASE_MARGIN_SECONDS)
        outcome = result["outcome"]
        metrics.add_metric(name=f"IngestOutcome_{outcome}", unit=MetricUnit.Count, value=1)
        if outcome in ("ingested", "ingest-rejected"):
            metrics.add_metric(name="IngestedRecords", unit=MetricUnit.Count, value=result["writtenTotal"])
            metrics.add_metric(name="RejectedLines", unit=MetricUnit.Count, value=result["rejectedCount"])
        summary = {k: v for k, v in result.items() if k != "rejected"}
        logger.info(f"ingestion: {outcome}", extra=summary)
        results.append(result)
    return {"results": results}
