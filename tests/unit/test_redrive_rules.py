"""Redrive's reading of dead letters and its rules, over an in-memory queue and fake functions
(the same rules over SQS and the real handlers: tests/integration/test_admin_redrive.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from tracking_export_aws.aws.dead_letters import DeadLetter
from tracking_export_aws.ops.redrive import (
    END,
    EXPORT_FAILURE,
    LEAVE,
    RECOVERY_FAILURE,
    RUN,
    SCHEDULER_PAYLOAD,
    UNKNOWN,
    Redrive,
    plan,
)

PAYLOAD = {"tenantId": "acme", "exportGuid": "nightly", "scheduledTime": "2026-03-03T01:00:00Z"}
EXPORT_RECORD = {
    "requestContext": {"requestId": "inv-1", "condition": "RetriesExhausted"},
    "requestPayload": PAYLOAD,
    "responsePayload": {"errorType": "Sandbox.Timedout"},
}
RECOVERY_RECORD = {
    "requestContext": {"requestId": "rec-1", "condition": "RetriesExhausted"},
    "requestPayload": EXPORT_RECORD,
    "responsePayload": {"errorType": "ClientError"},
}


# -- what a message is ----------------------------------------------------------------------------


def test_a_scheduler_payload_is_run_as_it_is() -> None:
    planned = plan(json.dumps(PAYLOAD))
    assert (planned.shape, planned.action, planned.event) == (SCHEDULER_PAYLOAD, RUN, PAYLOAD)
    assert planned.request is not None
    assert (planned.request.tenant_id, planned.request.export_guid) == ("acme", "nightly")
    assert planned.request.scheduled_time == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def test_an_eventbridge_scheduled_event_is_a_payload_too() -> None:
    event = {"detail": {"tenantId": "acme", "exportGuid": "nightly"}, "time": "2026-03-03T01:00:00Z"}
    planned = plan(json.dumps(event))
    assert (planned.shape, planned.action) == (SCHEDULER_PAYLOAD, RUN)
    assert planned.request is not None and planned.request.scheduled_time is not None


def test_an_export_invocations_record_is_ended_with_the_record_itself() -> None:
    planned = plan(json.dumps(EXPORT_RECORD))
    assert (planned.shape, planned.action, planned.event) == (EXPORT_FAILURE, END, EXPORT_RECORD)


def test_the_recovery_functions_own_failure_is_ended_with_the_record_it_was_given() -> None:
    # Its requestPayload is what the recovery function received: the export invocation's record.
    planned = plan(json.dumps(RECOVERY_RECORD))
    assert (planned.shape, planned.action, planned.event) == (RECOVERY_FAILURE, END, EXPORT_RECORD)
    assert planned.request is not None and planned.request.export_guid == "nightly"


@pytest.mark.parametrize(
    ("body", "shape", "reason"),
    [
        ("not json", UNKNOWN, "not JSON"),
        ("[1, 2]", UNKNOWN, "not a JSON object"),
        ('"a string"', UNKNOWN, "not a JSON object"),
        (json.dumps({"Records": []}), UNKNOWN, "neither a scheduler payload nor"),
        # A record whose payload is not a request of ours (an EventBridge event of another kind).
        (
            json.dumps({**EXPORT_RECORD, "requestPayload": {"source": "aws.states"}}),
            EXPORT_FAILURE,
            "tenantId",
        ),
        (json.dumps({**PAYLOAD, "tenantId": "Acme"}), SCHEDULER_PAYLOAD, "must be a tenant id"),
        (json.dumps({**PAYLOAD, "exportGuid": "../x"}), SCHEDULER_PAYLOAD, "must be an export guid"),
        (
            json.dumps({**PAYLOAD, "scheduledTime": "2026-03-03T01:00:00"}),
            SCHEDULER_PAYLOAD,
            "with an offset",
        ),
        # No time: the run would be keyed by the clock, and a second redrive would run it again.
        (json.dumps({"tenantId": "acme", "exportGuid": "nightly"}), SCHEDULER_PAYLOAD, "exactly once"),
    ],
)
def test_anything_else_is_left_in_place_with_its_reason(body: str, shape: str, reason: str) -> None:
    planned = plan(body)
    assert (planned.shape, planned.action) == (shape, LEAVE)
    assert planned.reason is not None and reason in planned.reason


# -- what redrive does with them ------------------------------------------------------------------


class Queue:
    """An in-memory queue: messages are hidden when received, until deleted or released."""

    def __init__(self, name: str, bodies: list[Any], *, failing_deletes: int = 0) -> None:
        self.name = name
        self.messages = {
            f"m{n}": DeadLetter(name, f"m{n}", f"r{n}", b if isinstance(b, str) else json.dumps(b))
            for n, b in enumerate(bodies)
        }
        self.hidden: set[str] = set()
        self.visibilities: list[int] = []
        self.released: list[str] = []
        self.failing_deletes = failing_deletes

    def receive(self, max_messages: int, visibility_seconds: int) -> list[DeadLetter]:
        self.visibilities.append(visibility_seconds)
        batch = [m for i, m in self.messages.items() if i not in self.hidden][:max_messages]
        self.hidden.update(m.message_id for m in batch)
        return batch

    def delete(self, message: DeadLetter) -> None:
        if self.failing_deletes:
            self.failing_deletes -= 1
            raise RuntimeError("ReceiptHandleIsInvalid")
        del self.messages[message.message_id]
        self.hidden.discard(message.message_id)

    def release(self, message: DeadLetter) -> None:
        self.hidden.discard(message.message_id)
        self.released.append(message.message_id)


class Functions:
    """The functions as a runner reaches them; ``fail`` names payload times whose run raises."""

    def __init__(self, *, fail: tuple[str, ...] = ()) -> None:
        self.ran: list[Mapping[str, Any]] = []
        self.ended: list[Mapping[str, Any]] = []
        self.fail = fail

    def run_export(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self.ran.append(payload)
        if payload.get("scheduledTime") in self.fail:
            raise RuntimeError("ExportFunction raised NotificationError: sns")
        return {"outcome": "succeeded"}

    def end_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        self.ended.append(record)
        return {"outcome": "failed"}


def test_each_message_is_run_or_ended_then_deleted_and_counted() -> None:
    queue = Queue("export", [PAYLOAD, RECOVERY_RECORD, "junk"])
    functions = Functions()
    counted: list[tuple[str, int]] = []
    heard: list[str] = []
    report = Redrive([queue], functions, count=lambda n, v: counted.append((n, v))).run(
        on_outcome=lambda o: heard.append(o.message_id)
    )
    assert [(o.shape, o.action, o.outcome, o.deleted) for o in report.outcomes] == [
        (SCHEDULER_PAYLOAD, RUN, "succeeded", True),
        (RECOVERY_FAILURE, END, "failed", True),
        (UNKNOWN, LEAVE, "left", False),
    ]
    assert heard == ["m0", "m1", "m2"]
    assert functions.ran == [PAYLOAD] and functions.ended == [EXPORT_RECORD]
    assert list(queue.messages) == ["m2"] and queue.released == ["m2"]  # left, visible again
    assert counted == [("RedrivenMessages", 2)]
    assert report.summary() == {"messages": 3, "redriven": 2, "left": 1, "failed": 0} and not report.ok
    # One message at a time, hidden for as long as a run may take (the export's 900 s and more).
    assert set(queue.visibilities) == {960}


def test_a_message_whose_processing_fails_stays_hidden_and_is_reported() -> None:
    queue = Queue("export", [PAYLOAD, {**PAYLOAD, "scheduledTime": "2026-03-04T01:00:00Z"}])
    report = Redrive([queue], Functions(fail=("2026-03-03T01:00:00Z",))).run()
    [failed, done] = report.outcomes
    assert (failed.outcome, failed.deleted) == ("error", False)
    assert failed.reason == "ExportFunction raised NotificationError: sns"
    assert (done.outcome, done.deleted) == ("succeeded", True)
    # Not deleted, not handed back: it comes back after its visibility timeout.
    assert list(queue.messages) == ["m0"] and queue.hidden == {"m0"} and queue.released == []
    assert report.summary()["failed"] == 1


def test_a_delete_that_fails_after_the_outcome_is_reported_and_the_message_stays() -> None:
    queue = Queue("export", [PAYLOAD], failing_deletes=1)
    counted: list[tuple[str, int]] = []
    report = Redrive([queue], Functions(), count=lambda n, v: counted.append((n, v))).run()
    [outcome] = report.outcomes
    assert (outcome.outcome, outcome.deleted) == ("succeeded", False)
    assert outcome.reason == "not deleted: ReceiptHandleIsInvalid"
    assert list(queue.messages) == ["m0"] and counted == []


def test_a_dry_run_lists_every_message_once_and_hands_each_back() -> None:
    bodies = [
        PAYLOAD,
        EXPORT_RECORD,
        "junk",
        *[{**PAYLOAD, "scheduledTime": f"2026-03-{d:02d}T01:00:00Z"} for d in range(4, 20)],
    ]
    queue = Queue("export", bodies)
    functions = Functions()
    counted: list[tuple[str, int]] = []
    report = Redrive([queue], functions, count=lambda n, v: counted.append((n, v))).run(dry_run=True)
    assert len(report.outcomes) == len(bodies) == 19
    assert {o.outcome for o in report.outcomes} == {"dry-run"}
    assert [o.action for o in report.outcomes[:3]] == [RUN, END, LEAVE]
    assert functions.ran == [] and functions.ended == [] and counted == []
    assert (
        len(queue.messages) == 19
        and queue.hidden == set()
        and sorted(queue.released) == sorted(queue.messages)
    )
    assert set(queue.visibilities) == {120}


def test_max_bounds_the_messages_across_queues() -> None:
    export, schedule = Queue("export", [PAYLOAD, PAYLOAD]), Queue("schedule", [PAYLOAD, PAYLOAD])
    report = Redrive([export, schedule], Functions()).run(max_messages=3)
    assert [(o.queue, o.message_id) for o in report.outcomes] == [
        ("export", "m0"),
        ("export", "m1"),
        ("schedule", "m0"),
    ]
    assert list(schedule.messages) == ["m1"] and schedule.hidden == set()
    dry = Redrive([Queue("export", [PAYLOAD] * 15)], Functions()).run(dry_run=True, max_messages=12)
    assert len(dry.outcomes) == 12


def test_each_line_says_what_happened_to_one_message() -> None:
    queue = Queue("export", [PAYLOAD, "junk"])
    first, second = Redrive([queue], Functions()).run().outcomes
    assert first.line() == (
        "queue=export message=m0 shape=scheduler-payload tenant=acme export=nightly "
        "time=2026-03-03T01:00:00+00:00 action=run outcome=succeeded deleted=yes"
    )
    assert second.line() == (
        "queue=export message=m1 shape=unknown tenant=- export=- time=- action=leave outcome=left deleted=no "
        'reason="the body is not JSON"'
    )
    assert first.as_dict()["time"] == "2026-03-03T01:00:00+00:00"
