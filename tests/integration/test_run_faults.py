"""The run lifecycle under faults (docs/run-lifecycle.md), over moto server and dynalite.

Faults are raised inside botocore calls (an event hook on the service's own client), crashes
are exceptions that escape the service, and redeliveries of the same payload come with a fake
clock advanced by hand. Each test asserts what a tenant and an operator would see: the
messages in the queue subscribed to the topic, the events on the bus, the run record, and
the objects in the export bucket.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from faults import Clock, fault
from nightly_export import NIGHTLY_XML, put_nightly
from notification_samples import succeeded_run

from tracking_export_aws.notify.notifier import NotificationError
from tracking_export_aws.runs.ledger import RunLedger
from tracking_export_aws.runs.service import ExportRequest, ExportService, RunInProgress
from tracking_export_aws.runtime import wiring

T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 02:00 in Paris
KEY = "tenants/acme/nightly.csv"


class Crash(BaseException):
    """What the process going down looks like from inside: nothing catches it."""


@pytest.fixture
def acme(stack: Any, records: Any) -> Any:
    put_nightly(stack, records)
    return stack


def _service(stack: Any, clock: Clock, **changes: Any) -> ExportService:
    service = wiring.export_service(stack.settings())
    return dataclasses.replace(service, clock=clock, heartbeat_seconds=0, **changes)


def _tracking_client(service: ExportService) -> Any:
    """The client of the tracking reads: their own, unvalidated one (aws/clients.py), not the
    ledger's."""
    return service.source_for("acme").client  # type: ignore[attr-defined]


def _request() -> ExportRequest:
    return ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": "nightly", "scheduledTime": T0.isoformat()}
    )


def _record(stack: Any) -> Any:
    return stack.ledger().get("acme", "nightly", T0)


def _sns(service: ExportService) -> Any:
    return service.notifier.channels[0].client  # type: ignore[attr-defined]


def _events(service: ExportService) -> Any:
    return service.notifier.channels[1].client  # type: ignore[attr-defined]


def _no_uploads_left(stack: Any) -> None:
    assert stack.pending_uploads() == []


# -- notifications: the outbox -----------------------------------------------------------------


def test_sns_publish_failing_is_retried_and_published_exactly_once(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    with (
        fault(_sns(service), "Publish", RuntimeError("SNS is down")),
        pytest.raises(NotificationError) as err,
    ):
        service.run(_request(), invocation_id="inv-1")
    assert err.value.failed == ["sns"]
    # The run is done and recorded; only SNS still owes its message. The bus got its event.
    record = _record(acme)
    assert (record.status, record.pending_channels, record.notified_channels) == (
        "succeeded",
        ("sns",),
        ("eventbridge",),
    )
    assert acme.notifications() == []
    assert len(acme.events()) == 1
    assert acme.object_keys() == [KEY]

    # Lambda retries the same invocation a minute later: the message goes out, nothing else runs.
    clock.advance(60)
    retry = service.run(_request(), invocation_id="inv-1")
    assert (retry.outcome, retry.redelivered) == ("duplicate", ["sns"])
    [note] = acme.notifications()
    assert note.message == record.notification
    assert (note.message["outcome"], note.message["rows"], note.message["objectKey"]) == ("succeeded", 2, KEY)
    assert acme.events() == []
    assert _record(acme).notified_channels == ("eventbridge", "sns")

    # Any later delivery of the same payload: nothing at all.
    clock.advance(3600)
    assert service.run(_request(), invocation_id="inv-2").redelivered == []
    assert acme.notifications() == [] and acme.events() == []
    assert acme.object_keys() == [KEY]


def test_put_events_failing_leaves_only_the_event_to_deliver(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    with (
        fault(_events(service), "PutEvents", RuntimeError("bus unavailable")),
        pytest.raises(NotificationError),
    ):
        service.run(_request(), invocation_id="inv-1")
    assert len(acme.notifications()) == 1
    assert _record(acme).pending_channels == ("eventbridge",)
    clock.advance(90)
    service.run(_request(), invocation_id="inv-2")
    assert acme.notifications() == []
    [event] = acme.events()
    assert event["detail-type"] == "Export Run Succeeded"


def test_a_failed_run_whose_notification_failed_is_notified_not_rerun(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    acme.put_definition("acme", "nightly", NIGHTLY_XML.replace("<timeGlobal/>", "<noSuchColumn/>"))
    with fault(_sns(service), "Publish", RuntimeError("SNS is down")), pytest.raises(NotificationError):
        service.run(_request(), invocation_id="inv-1")
    assert _record(acme).status == "failed"
    clock.advance(60)
    service.run(_request(), invocation_id="inv-1")
    [note] = acme.notifications()
    assert note.attributes["outcome"] == "failed" and "noSuchColumn" in note.message["error"]
    assert _record(acme).attempt == 1  # delivered, not run again
    clock.advance(3600)
    assert service.run(_request(), invocation_id="inv-2").outcome == "duplicate"
    assert acme.notifications() == []


# -- crashes, takeovers, recovery -----------------------------------------------------------------


def _succeeded_update(params: dict[str, Any]) -> bool:
    return any(v == {"S": "succeeded"} for v in (params.get("ExpressionAttributeValues") or {}).values())


def test_record_failing_after_the_upload_is_taken_over_and_adopts_the_object(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    dynamodb = service.ledger.client
    timeout = RuntimeError("DynamoDB timeout")
    with (
        fault(dynamodb, "UpdateItem", timeout, when=_succeeded_update),
        pytest.raises(RuntimeError, match="timeout"),
    ):
        service.run(_request(), invocation_id="inv-1")
    # The object is there, nobody was told, and the run was given back at once (lease released).
    assert acme.object_keys() == [KEY]
    stored = acme.read(KEY)
    crashed = _record(acme)
    assert crashed.status == "running" and crashed.lease_until == 0
    assert crashed.window is not None and crashed.window["kind"] == "delta"
    assert acme.notifications() == []

    # A new delivery 5 seconds later takes over (same run number), finds its own object and adopts it.
    clock.advance(5)
    result = service.run(_request(), invocation_id="inv-2")
    assert (result.outcome, result.runNumber, result.attempt) == ("succeeded", 1, 2)
    assert result.adoptedObject is True
    assert (result.objectKey, result.sha256, result.bytes) == (
        KEY,
        hashlib.sha256(stored).hexdigest(),
        len(stored),
    )
    assert acme.object_keys() == [KEY] and acme.read(KEY) == stored
    _no_uploads_left(acme)
    [note] = acme.notifications()
    assert note.message["sha256"] == hashlib.sha256(stored).hexdigest()
    assert acme.ledger().previous_success_start("acme", "nightly") == T0


def test_crash_while_reading_is_taken_over_by_the_next_delivery(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    dynamodb = _tracking_client(service)
    with fault(dynamodb, "Query", Crash()), pytest.raises(Crash):
        service.run(_request(), invocation_id="inv-1")
    assert _record(acme).status == "running"
    assert acme.object_keys() == [] and acme.notifications() == []
    _no_uploads_left(acme)
    result = service.run(_request(), invocation_id="inv-2")
    assert (result.outcome, result.runNumber, result.attempt) == ("succeeded", 1, 2)
    assert len(acme.notifications()) == 1


def test_a_killed_invocation_is_taken_over_by_its_retry_or_after_the_lease(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    ledger: RunLedger = service.ledger
    # A process killed right after claiming (nothing could release the lease).
    dead = ledger.claim("acme", "nightly", T0, T0, service.lease_seconds, invocation_id="inv-1")
    assert dead.claimed
    # Another delivery inside the lease is a duplicate: the holder may be alive.
    clock.advance(30)
    assert service.run(_request(), invocation_id="inv-2").outcome == "duplicate"
    # Lambda's retry of the killed invocation (same request id) takes over at once ...
    retry = service.run(_request(), invocation_id="inv-1")
    assert (retry.outcome, retry.runNumber, retry.attempt) == ("succeeded", 1, 2)

    # ... and for another export, a delivery after the lease took it over too.
    second = T0 + timedelta(days=1)
    ledger.claim("acme", "nightly", second, clock(), service.lease_seconds, invocation_id="inv-3")
    clock.advance(service.lease_seconds + 1)
    request = ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": "nightly", "scheduledTime": second.isoformat()}
    )
    late = service.run(request, invocation_id="inv-4")
    assert (late.outcome, late.runNumber, late.attempt) == ("succeeded", 2, 2)
    assert [n.message["runNumber"] for n in acme.notifications()] == [1, 2]


def test_retries_exhausted_end_in_one_failure_notification_with_the_window(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    dynamodb = _tracking_client(service)
    # Every attempt is killed while reading (an out-of-memory, say): Lambda gives up.
    for _ in range(2):
        with fault(dynamodb, "Query", Crash()), pytest.raises(Crash):
            service.run(_request(), invocation_id="inv-1")
        clock.advance(60)
    result = service.recover(
        _request(), invocation_id="inv-1", reason="RetriesExhausted (Runtime.OutOfMemory)"
    )
    assert result.outcome == "failed" and "Runtime.OutOfMemory" in result.error
    record = _record(acme)
    assert (record.status, record.run_number) == ("failed", 1)
    assert record.window is not None and record.window["kind"] == "delta"
    [note] = acme.notifications()
    assert note.attributes["outcome"] == "failed"
    assert note.message["window"] == record.window
    assert acme.object_keys() == []
    assert acme.ledger().previous_success_start("acme", "nightly") is None  # the window never moved
    # The destination delivered twice: still one notification.
    again = service.recover(_request(), invocation_id="inv-1", reason="RetriesExhausted")
    assert again.outcome == "duplicate" and acme.notifications() == []


def test_recovery_leaves_a_run_another_invocation_holds(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    service.ledger.claim("acme", "nightly", T0, T0, service.lease_seconds, invocation_id="inv-live")
    with pytest.raises(RunInProgress):
        service.recover(_request(), invocation_id="inv-other", reason="RetriesExhausted")
    assert _record(acme).status == "running" and acme.notifications() == []


def test_a_run_out_of_time_fails_cleanly_with_its_window(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    result = service.run(_request(), invocation_id="inv-1", remaining_seconds=lambda: 45.0)
    assert result.outcome == "failed"
    assert "45 s of the function's time left" in result.error
    assert result.window.kind == "delta"
    assert acme.object_keys() == []
    _no_uploads_left(acme)
    [note] = acme.notifications()
    assert note.message["error"] == result.error and note.message["window"] == result.window.model_dump()


def test_upload_refused_is_one_failed_run_and_one_notification(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
    with fault(service.s3, "PutObject", denied):
        failed = service.run(_request(), invocation_id="inv-1")
    # An AWS error is named by its code and operation (never its message: docs/limits.md). A
    # refused permission is permanent: the run fails at once (a throttled upload is retried:
    # test_run_healing.py).
    assert failed.outcome == "failed"
    assert failed.error == "AWS error 'AccessDenied' in PutObject; the run can be retried"
    assert failed.window.kind == "delta"
    assert acme.object_keys() == []
    [note] = acme.notifications()
    assert note.attributes["outcome"] == "failed"
    assert _record(acme).window == failed.window.model_dump()
    assert [e["detail-type"] for e in acme.events()] == ["Export Run Failed"]
    # Redelivered later (Scheduler's at-least-once): the failed run is final, nothing more is sent.
    clock.advance(600)
    again = service.run(_request(), invocation_id="inv-2")
    assert (again.outcome, again.existingStatus) == ("duplicate", "failed")
    assert acme.notifications() == [] and acme.events() == [] and acme.object_keys() == []


# -- never overwrite ----------------------------------------------------------------------------


def test_a_taken_name_gets_a_run_number_suffix_and_the_other_object_stays(acme: Any) -> None:
    acme.s3.put_object(Bucket=acme.export_bucket, Key=KEY, Body=b"someone else's file")
    result = _service(acme, Clock(T0)).run(_request(), invocation_id="inv-1")
    assert result.outcome == "succeeded"
    assert (result.objectKey, result.requestedObjectKey) == ("tenants/acme/nightly-r1.csv", KEY)
    assert acme.read(KEY) == b"someone else's file"
    [note] = acme.notifications()
    assert note.message["objectKey"] == "tenants/acme/nightly-r1.csv"


def test_an_object_created_during_the_run_is_never_replaced(acme: Any) -> None:
    service = _service(acme, Clock(T0))
    s3 = acme.s3

    def race(params: dict[str, Any], **_: Any) -> None:
        # Another writer takes the name between the run's check and its write.
        if params.get("Key") == KEY and params.get("IfNoneMatch") == "*":
            s3.put_object(Bucket=acme.export_bucket, Key=KEY, Body=b"the other writer's bytes")

    service.s3.meta.events.register("before-parameter-build.s3.PutObject", race)
    try:
        result = service.run(_request(), invocation_id="inv-1")
    finally:
        service.s3.meta.events.unregister("before-parameter-build.s3.PutObject", race)
    assert result.outcome == "failed" and "never overwritten" in result.error
    assert acme.read(KEY) == b"the other writer's bytes"


def test_a_run_failing_before_its_window_is_known_still_reports_it(acme: Any) -> None:
    service = _service(acme, Clock(T0))
    state_reads = {"n": 0}

    def first_state_read(params: dict[str, Any]) -> bool:
        # The STATE item read that deltaMode needs, the first time only.
        if params.get("Key", {}).get("sk") == {"S": "STATE"}:
            state_reads["n"] += 1
            return state_reads["n"] == 1
        return False

    # A permanent error (a transient one hands the run to Lambda's retry: test_run_healing.py).
    denied = ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetItem")
    with fault(service.ledger.client, "GetItem", denied, when=first_state_read):
        result = service.run(_request(), invocation_id="inv-1")
    assert result.outcome == "failed" and "'AccessDeniedException' in GetItem" in result.error
    assert result.window is not None and result.window.kind == "delta"
    [note] = acme.notifications()
    assert note.message["window"] == result.window.model_dump() == _record(acme).window


def test_a_huge_notification_is_cut_to_fit_and_says_how_much_was_left_out(stack: Any) -> None:
    notifier = wiring.notifier(stack.settings())
    recipients = [f"learner{n:05d}@acme.example" for n in range(20_000)]
    skipped = [{"kind": "trackingLog", "key": n, "reason": "no such tracking"} for n in range(1000)]
    message = succeeded_run(skippedCount=20_000, skipped=skipped, recipients=recipients)
    assert notifier.publish(message) == ["sns", "eventbridge"]
    [note] = stack.notifications()
    got = note.message
    assert got["skippedOmitted"] == 20_000 - len(got["skipped"])
    assert got["recipientsOmitted"] == 20_000 - len(got["recipients"])
    assert got["recipients"] == recipients[: len(got["recipients"])]
    [event] = stack.events()
    assert event["detail"]["skippedOmitted"] == 20_000 - len(event["detail"]["skipped"])
    assert "recipients" not in event["detail"]


def test_a_delivery_killed_while_publishing_is_finished_by_its_retry(acme: Any) -> None:
    clock = Clock(T0)
    service = _service(acme, clock)
    with fault(_sns(service), "Publish", RuntimeError("SNS is down")), pytest.raises(NotificationError):
        service.run(_request(), invocation_id="inv-1")
    assert len(acme.events()) == 1
    # The retry of inv-1 takes the delivery lease and is killed before it can give it back.
    clock.advance(60)
    assert service.ledger.take_delivery("acme", "nightly", T0, clock(), 60, holder="inv-1") is not None

    # Another delivery meanwhile must neither publish nor return as if all were done: it raises.
    with pytest.raises(NotificationError, match="another delivery"):
        service.run(_request(), invocation_id="inv-2")
    assert acme.notifications() == []
    # Lambda's next retry of inv-1 takes its own lease over at once (inside the 60 s) and publishes, once.
    clock.advance(10)
    assert service.run(_request(), invocation_id="inv-1").redelivered == ["sns"]
    assert len(acme.notifications()) == 1 and acme.events() == []
    assert service.run(_request(), invocation_id="inv-2").redelivered == []
    assert acme.notifications() == []
