"""What the handlers print for CloudWatch (docs/infrastructure.md, Observability; issue 8 item 5):
the run's correlation id, number and attempt on its log lines, the cold-start metric, and the
run counters as one metric with an ``outcome`` dimension (EMF documents on standard output).

Powertools' Logger writes to the stream it was built with (sys.stdout at import), so the tests
point its handler at a buffer; metrics are printed at call time and read through capsys.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from emf_documents import emf_documents as _emf
from emf_documents import metric as _metric

DAILY = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="daily-tracking-log">
    <schedule timezone="Europe/Paris">cron(0 2 * * ? *)</schedule>
    <providers>
      <trackingLogProvider>
        <columns><logDate/><candidateId/><timeGlobal/></columns>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""
EVENT = {"tenantId": "acme", "exportGuid": "daily-tracking-log", "scheduledTime": "2026-11-28T01:00:00Z"}
# {tenant}/{exportGuid}/{scheduled time}, the scheduled time as the ledger writes instants
# (docs/run-lifecycle.md: the objects' export-run metadata).
RUN_ID = "acme/daily-tracking-log/2026-11-28T01:00:00.000000Z"
# A duplicate delivery or a config change adds no metric to the handler's Metrics (its counter
# is a single_metric of its own): Powertools warns that there is nothing else to flush.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture
def observed(
    make_stack: Any, records: Any, handlers: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any, Any, io.StringIO]]:
    """``(stack, export_app, config_sync_app, log buffer)``: metrics on, logs at INFO into the buffer."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    stack = make_stack()
    export, config_sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.load([*records.catalogue("acme"), records.log("acme", 9001, "2026-11-26T09:30:00Z", 180)])
    buffer = io.StringIO()
    handler = export.logger.registered_handler
    monkeypatch.setattr(handler, "stream", buffer)
    level = export.logger.log_level
    export.logger.setLevel("INFO")
    try:
        yield stack, export, config_sync, buffer
    finally:
        export.logger.setLevel(level)


def _log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_a_run_logs_its_correlation_id_number_and_attempt_and_counts_its_outcome(
    observed: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, export, _, buffer = observed
    stack.put_definition("acme", "daily-tracking-log", DAILY)
    cold_start.reset_cold_start_flag()
    capsys.readouterr()

    result = export.handler(EVENT, lambda_context)

    assert (result["outcome"], result["runNumber"], result["attempt"]) == ("succeeded", 1, 1)
    [line] = [entry for entry in _log_lines(buffer) if entry["message"] == "export run succeeded"]
    assert line["correlation_id"] == RUN_ID
    assert (line["run_number"], line["attempt"]) == (1, 1)
    assert (line["tenant_id"], line["export_guid"], line["service"]) == (
        "acme",
        "daily-tracking-log",
        "tracking-export",
    )
    # The object the run wrote names the same run.
    head = stack.s3.head_object(Bucket=stack.export_bucket, Key=result["objectKey"])
    assert head["Metadata"]["export-run"] == RUN_ID
    documents = _emf(capsys.readouterr().out)
    assert _metric(documents, "ExportRuns") == [
        {"outcome": "succeeded", "service": "tracking-export", "value": 1.0}
    ]
    [cold] = _metric(documents, "ColdStart")
    assert (cold["function_name"], cold["value"]) == ("tracking-export-it", 1.0)
    # The other metrics keep their own document, without the outcome dimension.
    [rows] = _metric(documents, "ExportedRows")
    assert rows == {"service": "tracking-export", "value": 1.0}

    # The same delivery again: a duplicate, counted under the same metric; no second cold start.
    again = export.handler(EVENT, lambda_context)

    assert again["outcome"] == "duplicate"
    documents = _emf(capsys.readouterr().out)
    assert _metric(documents, "ExportRuns") == [
        {"outcome": "duplicate", "service": "tracking-export", "value": 1.0}
    ]
    assert _metric(documents, "ColdStart") == []
    [line] = [e for e in _log_lines(buffer) if e["message"].startswith("duplicate delivery")]
    # The run it found: number 1, attempt 1.
    assert (line["correlation_id"], line["run_number"], line["attempt"]) == (RUN_ID, 1, 1)


def test_a_failed_run_logs_its_keys_on_the_service_lines_too(
    observed: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracking_export_aws.aws.clients import client

    stack, export, _, buffer = observed
    stack.put_definition("acme", "daily-tracking-log", DAILY)
    s3 = client("s3", stack.settings())

    def refuse(**_: Any) -> None:
        raise RuntimeError("disk on fire")  # unexpected: the service logs it with its traceback

    capsys.readouterr()
    s3.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    s3.meta.events.register("before-parameter-build.s3.CreateMultipartUpload", refuse)
    try:
        result = export.handler(EVENT, lambda_context)
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", refuse)
        s3.meta.events.unregister("before-parameter-build.s3.CreateMultipartUpload", refuse)

    assert result["outcome"] == "failed"
    failed = [e for e in _log_lines(buffer) if e["message"] == "export run failed"]
    # The service's own line (stdlib logging, formatted by Powertools) and the handler's.
    assert len(failed) == 2
    assert "disk on fire" in failed[0]["exception"] and "exception" not in failed[1]
    for entry in failed:
        assert (entry["correlation_id"], entry["run_number"], entry["attempt"]) == (RUN_ID, 1, 1), entry
    documents = _emf(capsys.readouterr().out)
    assert _metric(documents, "ExportRuns") == [
        {"outcome": "failed", "service": "tracking-export", "value": 1.0}
    ]


def test_a_config_change_is_counted_by_its_outcome(
    observed: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, _, config_sync, _ = observed
    stack.put_definition("acme", "daily-tracking-log", DAILY)
    key = "tenants/acme/exports/daily-tracking-log.xml"
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.config_bucket}, "object": {"key": key}},
    }
    capsys.readouterr()

    [result] = config_sync.handler({"Records": [record]}, lambda_context)["results"]

    assert result["action"] == "scheduled"
    documents = _emf(capsys.readouterr().out)
    assert _metric(documents, "ConfigChanges") == [
        {"outcome": "scheduled", "service": "tracking-export", "value": 1.0}
    ]


def test_a_run_the_recovery_function_ends_is_counted_as_a_failed_run(
    observed: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # FailedRunsAlarm watches ExportRuns{outcome=failed}: a run Lambda gave up on must be in it.
    stack, export, _, _ = observed
    stack.put_definition("acme", "daily-tracking-log", DAILY)
    record = {
        "requestContext": {"requestId": "req-1", "condition": "RetriesExhausted"},
        "requestPayload": EVENT,
        "responsePayload": {
            "errorType": "Sandbox.Timedout",
            "errorMessage": "Task timed out after 900.00 seconds",
        },
    }
    capsys.readouterr()

    assert export.on_failure(record, lambda_context)["outcome"] == "failed"

    documents = _emf(capsys.readouterr().out)
    assert _metric(documents, "RecoveredRuns") == [
        {"outcome": "failed", "service": "tracking-export", "value": 1.0}
    ]
    assert _metric(documents, "ExportRuns") == [
        {"outcome": "failed", "service": "tracking-export", "value": 1.0}
    ]

    # The destination delivered again: the run is already ended, no second failed run.
    assert export.on_failure(record, lambda_context)["outcome"] == "duplicate"

    documents = _emf(capsys.readouterr().out)
    assert _metric(documents, "RecoveredRuns") == [
        {"outcome": "duplicate", "service": "tracking-export", "value": 1.0}
    ]
    assert _metric(documents, "ExportRuns") == []
