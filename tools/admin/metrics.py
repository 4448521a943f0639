"""The operator command's own metrics, in the functions' namespace and ``service`` dimension
(the values template.yaml's Globals give POWERTOOLS_METRICS_NAMESPACE and
POWERTOOLS_SERVICE_NAME), published with CloudWatch PutMetricData (this is no Lambda: no
embedded metric format to log)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from tools.admin.target import Target

NAMESPACE = "TrackingExport"
SERVICE = "tracking-export"


def publisher(target: Target) -> Callable[[str, int], None]:
    """``count(name, value)``: one Count datum; a failure to publish is said on standard error and
    does not fail the command (its work is done)."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
    service = os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE

    def count(name: str, value: int) -> None:
        try:
            target.client("cloudwatch").put_metric_data(
                Namespace=namespace,
                MetricData=[
                    {
                        "MetricName": name,
                        "Dimensions": [{"Name": "service", "Value": service}],
                        "Value": value,
                        "Unit": "Count",
                    }
                ],
            )
        except Exception as exc:  # the redriven messages are what matters
            print(f"metric {name}={value} not published: {exc}", file=sys.stderr)

    return count
