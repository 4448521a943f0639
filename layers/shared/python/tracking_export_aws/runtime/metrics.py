"""Outcome counters for the handlers: one metric name, the outcome as a dimension.

Each count is its own EMF document (Powertools ``single_metric``): an ``outcome`` dimension
added to the handler's ``Metrics`` would stick to every other metric of the invocation (rows,
bytes, duration), splitting them by outcome. docs/infrastructure.md lists the names.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled


def count_outcome(name: str, outcome: str, default_dimensions: dict[str, str] | None = None) -> None:
    """Publish ``name`` = 1 with the dimension ``outcome`` (and the service, which Powertools
    adds from POWERTOOLS_SERVICE_NAME). Honours POWERTOOLS_METRICS_DISABLED, as the handler's
    ``Metrics`` does (``single_metric`` alone would print regardless, e.g. in the local run)."""
    if is_metrics_disabled():
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, default_dimensions=default_dimensions
    ) as metric:
        metric.add_dimension(name="outcome", value=outcome)
