"""Short outages heal without anyone (issue 19 item 1; docs/run-lifecycle.md, "Transient and
permanent failures"), over moto server and dynalite, through the export function's handlers.

A transient AWS error (a server error or throttling left after the SDK's own retries) is raised
inside botocore calls of the service's own clients for one attempt, or for every attempt; the
clock is moved by hand between Lambda's attempts, which keep the request id. What is asserted is
what a tenant and an operator see: the messages on the topic, the run record, the objects, and
the metrics the handler printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emf_documents import emf_documents, metric
from faults import Clock, fault
from nightly_export import NIGHTLY_XML, put_nightly

from tracking_export_aws.runs.service import ExportService, TransientRunError
from tracking_export_aws.runtime import wiring

T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 02:00 in Paris
PAYLOAD = {"tenantId": "acme", "exportGuid": "nightly", "scheduledTime": T0.isoformat()}
KEY = "tenants/acme/nightly.csv"
# What DynamoDB answers in an outage once the SDK's own retries are spent.
SERVER_ERROR = ClientError(
    {
        "Error": {"Code": "InternalServerError", "Message": "Internal server error"},
        "ResponseMetadata": {"HTTPStatusCode": 500},
    },
    "Query",
)
REASON = "AWS error 'InternalServerError' in Query; the run can be retried"


@dataclasses.dataclass
class Lambda:
    """The export function and its failure destination as Lambda drives them: one request id
    for an event's every attempt, the clock moved between them."""

    stack: Any
    app: Any  # export_app
    service: ExportService
    clock: Clock
    context: Any
    capsys: pytest.CaptureFixture[str]

    def attempt(self) -> dict[str, Any]:
        result: dict[str, Any] = self.app.handler(dict(PAYLOAD), self.context)
        return result

    def give_up(self, error: BaseException) -> dict[str, Any]:
        """The OnFailure record of the event whose last attempt raised ``error``."""
        record = {
            "requestContext": {"requestId": self.context.aws_request_id, "condition": "RetriesExhausted"},
            "requestPayload": dict(PAYLOAD),
            "responsePayload": {"errorType": type(error).__name__, "errorMessage": str(error)},
        }
        result: dict[str, Any] = self.app.on_failure(record, self.context)
        return result

    def metrics(self) -> list[dict[str, Any]]:
        return emf_documents(self.capsys.readouterr().out)


@pytest.fixture
def lam(
    stack: Any,
    records: Any,
    handlers: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Lambda:
    put_nightly(stack, records)
    app, _ = handlers(stack)
    clock = Clock(T0)
    service = dataclasses.replace(wiring.export_service(stack.settings()), clock=clock, heartbeat_seconds=0)
    monkeypatch.setattr(app, "_service", service)
    capsys.readouterr()
    return Lambda(stack, app, service, clock, lambda_context, capsys)


@contextmanager
def outage(client: Any, *operations: str) -> Iterator[None]:
    """Every call of ``operations`` on ``client`` answers a server error while the block runs."""
    with ExitStack() as faults:
        for operation in operations:
            faults.enter_context(fault(client, operation, SERVER_ERROR, times=10**6))
        yield


def _tracking_client(service: ExportService) -> Any:
    """The client of the run's tracking reads (its own, unvalidated: aws/clients.py)."""
    return service.source_for("acme").client  # type: ignore[attr-defined]


def _record(stack: Any) -> Any:
    return stack.ledger().get("acme", "nightly", T0)


SERVICE = {"service": "tracking-export"}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_outage_of_one_attempt_heals_with_lambdas_retry_and_no_failure_is_told(lam: Lambda) -> None:
    dynamodb = _tracking_client(lam.service)
    with outage(dynamodb, "Query"), pytest.raises(TransientRunError) as raised:
        lam.attempt()
    assert str(raised.value) == REASON
    # Handed back at once, with the reason; nobody told, nothing written, the window unmoved.
    record = _record(lam.stack)
    assert (record.status, record.lease_until, record.last_error) == ("running", 0, REASON)
    assert record.window is not None and record.window["kind"] == "delta"
    assert lam.stack.notifications() == [] and lam.stack.events() == []
    assert lam.stack.object_keys() == [] and lam.stack.pending_uploads() == []
    documents = lam.metrics()
    assert metric(documents, "RunsRetried") == [{**SERVICE, "value": 1.0}]
    assert metric(documents, "ExportRuns") == []

    # Lambda retries the event a minute later, same request id: the retry takes the run over at once.
    lam.clock.advance(60)
    result = lam.attempt()
    assert (result["outcome"], result["runNumber"], result["attempt"], result["rows"]) == (
        "succeeded",
        1,
        2,
        2,
    )
    [note] = lam.stack.notifications()
    assert note.attributes["outcome"] == "succeeded" and note.message["objectKey"] == KEY
    assert [e["detail-type"] for e in lam.stack.events()] == ["Export Run Succeeded"]
    assert lam.stack.object_keys() == [KEY]
    assert _record(lam.stack).status == "succeeded"
    assert lam.stack.ledger().previous_success_start("acme", "nightly") == T0
    documents = lam.metrics()
    assert metric(documents, "ExportRuns") == [{"outcome": "succeeded", **SERVICE, "value": 1.0}]
    assert metric(documents, "RunsRetried") == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_outage_over_every_attempt_ends_in_one_failure_naming_it(lam: Lambda) -> None:
    dynamodb = _tracking_client(lam.service)
    # The first attempt and Lambda's two retries (about 1 and 3 minutes later) all meet it.
    for wait in (0, 60, 120):
        lam.clock.advance(wait)
        with outage(dynamodb, "Query"), pytest.raises(TransientRunError) as raised:
            lam.attempt()
    assert lam.stack.notifications() == [] and lam.stack.events() == []
    assert metric(lam.metrics(), "RunsRetried") == [{**SERVICE, "value": 1.0}] * 3
    assert _record(lam.stack).attempt == 3

    # Lambda gives up: the failure destination ends the run, once, naming the transient error.
    lam.clock.advance(5)
    ended = lam.give_up(raised.value)
    assert ended["outcome"] == "failed"
    assert ended["error"] == (
        f"the export function gave up on this run after its retries: RetriesExhausted ({REASON})"
    )
    assert ended["window"]["kind"] == "delta"
    [note] = lam.stack.notifications()
    assert note.attributes["outcome"] == "failed" and note.message["error"] == ended["error"]
    assert [e["detail-type"] for e in lam.stack.events()] == ["Export Run Failed"]
    record = _record(lam.stack)
    assert (record.status, record.error) == ("failed", ended["error"])
    assert lam.stack.object_keys() == []
    assert lam.stack.ledger().previous_success_start("acme", "nightly") is None
    assert metric(lam.metrics(), "ExportRuns") == [{"outcome": "failed", **SERVICE, "value": 1.0}]
    # The destination delivered again, or the schedule's late duplicate: nothing more.
    assert lam.give_up(raised.value)["outcome"] == "duplicate"
    assert lam.attempt()["outcome"] == "duplicate"
    assert lam.stack.notifications() == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_recovery_names_the_last_transient_error_from_the_run_record(lam: Lambda) -> None:
    dynamodb = _tracking_client(lam.service)
    with outage(dynamodb, "Query"), pytest.raises(TransientRunError):
        lam.attempt()
    # The last attempt was killed (no words of its own reached Lambda): the record still has them.
    lam.clock.advance(60)
    record = {
        "requestContext": {"requestId": lam.context.aws_request_id, "condition": "RetriesExhausted"},
        "requestPayload": dict(PAYLOAD),
        "responsePayload": {"errorType": "Runtime.ExitError", "errorMessage": "/var/task/x: killed"},
    }
    ended = lam.app.on_failure(record, lam.context)
    assert ended["error"] == (
        "the export function gave up on this run after its retries: RetriesExhausted (Runtime.ExitError); "
        f"the last attempt failed with: {REASON}"
    )
    assert len(lam.stack.notifications()) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_outage_before_the_claim_leaves_nothing_and_heals_too(lam: Lambda) -> None:
    dynamodb = lam.service.ledger.client
    with outage(dynamodb, "GetItem", "UpdateItem", "Query"), pytest.raises(TransientRunError) as raised:
        lam.attempt()
    assert "InternalServerError" in str(raised.value)
    assert _record(lam.stack) is None and lam.stack.notifications() == []
    assert metric(lam.metrics(), "RunsRetried") == [{**SERVICE, "value": 1.0}]
    lam.clock.advance(60)
    assert lam.attempt()["outcome"] == "succeeded"
    assert len(lam.stack.notifications()) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_throttled_upload_is_retried_and_the_file_written_once(lam: Lambda) -> None:
    slow_down = ClientError(
        {"Error": {"Code": "SlowDown", "Message": "Please reduce your rate"}, "ResponseMetadata": {}},
        "PutObject",
    )
    with (
        fault(lam.service.s3, "PutObject", slow_down),
        pytest.raises(TransientRunError) as raised,
    ):
        lam.attempt()
    assert str(raised.value) == "AWS error 'SlowDown' in PutObject; the run can be retried"
    assert lam.stack.object_keys() == [] and lam.stack.pending_uploads() == []
    lam.clock.advance(60)
    result = lam.attempt()
    assert (result["outcome"], result["objectKey"], result["attempt"]) == ("succeeded", KEY, 2)
    assert len(lam.stack.notifications()) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_transient_error_after_the_file_is_written_adopts_it_on_the_retry(lam: Lambda) -> None:
    # The end file's write throttled: the export object is there, the run is not recorded.
    end_file = (
        "<generateEndFile><fileName>nightly.end</fileName><fileContent>OK</fileContent></generateEndFile>"
    )
    xml = NIGHTLY_XML.replace("</moveToFolder>", "</moveToFolder>" + end_file)
    lam.stack.put_definition("acme", "nightly", xml)
    throttled = ClientError(
        {"Error": {"Code": "SlowDown", "Message": "Please reduce your rate"}, "ResponseMetadata": {}},
        "PutObject",
    )

    def end_file_write(params: dict[str, Any]) -> bool:
        return str(params.get("Key", "")).endswith(".end")

    with fault(lam.service.s3, "PutObject", throttled, when=end_file_write), pytest.raises(TransientRunError):
        lam.attempt()
    assert lam.stack.object_keys() == [KEY]
    stored = lam.stack.read(KEY)
    lam.clock.advance(60)
    result = lam.attempt()
    assert (result["outcome"], result["adoptedObject"]) == ("succeeded", True)
    assert lam.stack.read(KEY) == stored
    assert sorted(lam.stack.object_keys()) == sorted([KEY, "tenants/acme/nightly.end"])
    assert len(lam.stack.notifications()) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_permanent_error_fails_the_run_at_once_without_retry(lam: Lambda) -> None:
    denied = ClientError(
        {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "PutObject",
    )
    with fault(lam.service.s3, "PutObject", denied):
        result = lam.attempt()  # returns: Lambda does not retry
    assert result["outcome"] == "failed"
    assert result["error"] == "AWS error 'AccessDenied' in PutObject; the run can be retried"
    [note] = lam.stack.notifications()
    assert note.attributes["outcome"] == "failed"
    assert _record(lam.stack).status == "failed" and _record(lam.stack).last_error is None
    documents = lam.metrics()
    assert metric(documents, "RunsRetried") == []
    assert metric(documents, "ExportRuns") == [{"outcome": "failed", **SERVICE, "value": 1.0}]
    assert lam.stack.object_keys() == [] and lam.stack.pending_uploads() == []


class Crash(BaseException):
    """The process going down (killed, out of memory): nothing catches it."""


def _clients(service: ExportService) -> list[Any]:
    channels = [getattr(channel, "client", None) for channel in service.notifier.channels]
    tracking = _tracking_client(service)
    return [service.ledger.client, tracking, service.s3, *(c for c in channels if c is not None)]


@contextmanager
def at_call(service: ExportService, number: int, error: BaseException) -> Iterator[list[str]]:
    """Raise ``error`` at the ``number``-th AWS call the service makes (counting from 0, over all
    its clients); yields the operations called, in order."""
    calls: list[str] = []

    def hook(model: Any, **_: Any) -> None:
        calls.append(model.name)
        if len(calls) - 1 == number:
            raise error

    clients = _clients(service)
    for client in clients:
        client.meta.events.register("before-parameter-build", hook)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build", hook)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("kind", ["crash", "transient"])
def test_a_failure_at_any_call_ends_in_one_notification_after_lambdas_retries(lam: Lambda, kind: str) -> None:
    """Every AWS call of a run in turn fails once — the process killed there, or a transient
    error — and Lambda's retry (same request id) runs again: each run ends with its file once
    and exactly one notification per channel, whatever the call (but the record of a channel's
    delivery: that channel may then see it twice, the documented at-least-once window)."""
    with at_call(lam.service, -1, Crash()) as calls:  # a clean run, to count its calls
        assert lam.attempt()["outcome"] == "succeeded"
    total = len(calls)
    assert total > 10
    lam.stack.notifications()
    lam.stack.events()
    for number in range(total):
        day = T0 + timedelta(days=number + 1)
        payload = {**PAYLOAD, "scheduledTime": day.isoformat()}
        error: BaseException = Crash() if kind == "crash" else SERVER_ERROR
        lam.clock.now = day
        with at_call(lam.service, number, error) as calls, contextlib.suppress(Exception, Crash):
            lam.app.handler(dict(payload), lam.context)
        where = calls[number] if number < len(calls) else "?"
        lam.clock.advance(60)  # Lambda's retry, same request id
        retry = lam.app.handler(dict(payload), lam.context)
        assert retry["outcome"] in ("succeeded", "duplicate"), (number, where, retry)
        record = lam.stack.ledger().get("acme", "nightly", day)
        assert (record.status, record.pending_channels) == ("succeeded", ()), (number, where)
        # The one window docs/run-lifecycle.md owns to: a channel took the message and the
        # record of it failed; the retry publishes that channel again (no de-duplication).
        before = calls[number - 1] if 0 < number <= len(calls) else None
        published_twice = where == "UpdateItem" and before in ("Publish", "PutEvents")
        expected_sns = 2 if published_twice and before == "Publish" else 1
        expected_events = 2 if published_twice and before == "PutEvents" else 1
        assert len(lam.stack.notifications()) == expected_sns, (number, where)
        assert len(lam.stack.events()) == expected_events, (number, where)
        assert lam.stack.pending_uploads() == [], (number, where)
