"""Config-sync function: keeps each export's schedule in line with its uploaded definition."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from tracking_export_aws.aws.s3_events import IgnoredRecord, read_s3_event
from tracking_export_aws.config.results import SyncIgnored, SyncResult
from tracking_export_aws.config.sync import ConfigSyncService
from tracking_export_aws.notify.messages import log_fields
from tracking_export_aws.runtime.metrics import count_outcome
from tracking_export_aws.runtime.settings import ConfigSyncSettings, FunctionSettings
from tracking_export_aws.runtime.wiring import config_sync_service

logger = Logger()
# The services' own log lines (stdlib logging) come out as this logger's: JSON, with the run's keys.
copy_config_to_registered_loggers(source_logger=logger, include={"tracking_export_aws"})
metrics = Metrics()
SETTINGS: dict[str, type[FunctionSettings]] = {"handler": ConfigSyncSettings}


@functools.cache
def _service() -> ConfigSyncService:
    """Built from the function's settings on the first invocation (not at import: tests and
    the local run set the environment first) and kept."""
    return config_sync_service(ConfigSyncSettings.from_env())


def reset() -> None:
    """Forget what was built from the environment (a test gives the handler a new one)."""
    _service.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    results = []
    for item in read_s3_event(event):
        result: SyncResult
        if isinstance(item, IgnoredRecord):
            # A record that names no usable change: logged and counted, the others still run.
            result = SyncIgnored(action="ignored", record=item.record, reason=item.reason)
            logger.warning("config event record ignored", extra=log_fields(result))
        else:
            try:
                result = _service().apply(item)
            except Exception:
                # A report that could not be published (or an AWS error): S3's retry applies it again.
                count_outcome("ConfigChanges", "failed", metrics.default_dimensions)
                logger.exception("config change not applied; the event is retried", extra={"key": item.key})
                raise
            logger.info("config change applied", extra=log_fields(result))
        count_outcome("ConfigChanges", result.action, metrics.default_dimensions)
        results.append(result.as_json())
    if not results:
        logger.warning("event carries no config change (empty Records)")
    return {"results": results}
