"""Redrive the export dead letters: each message run or ended exactly once.

What lands in the export dead-letter queue (template.yaml: ``ExportDlq``, which is also the
schedules' dead-letter queue, ``SCHEDULE_DLQ_ARN``):

- **scheduler payloads** Scheduler could not deliver after its retries (the body is the
  schedule's target input, ``{"tenantId", "exportGuid", "scheduledTime"}``): the export
  function **runs** it;
- **Lambda destination records** ``{requestContext, requestPayload, responsePayload}`` of
  invocations Lambda gave up on: the recovery function's own failures (their
  ``requestPayload`` is the export invocation's record it was ending), or an export
  invocation's record: the recovery path **ends** the run (recorded failed and notified once,
  or its missing notifications delivered).

A message is deleted only once its outcome is known (the function answered). A message whose
processing fails stays: it comes back after its visibility timeout and is reported. The run
ledger makes both actions idempotent (a finished run is never claimed again: a second
delivery answers ``duplicate``, with no second file and no second notification), so a redrive
that crashed between an outcome and the delete is simply run again. A message of any other
shape, or naming no valid tenant, export and time, is left in place and reported.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tracking_export_aws.aws.dead_letters import DeadLetter
from tracking_export_aws.runs.request import ExportRequest, InvalidRequest

# The export function's timeout (900 s) and a margin: a message being run stays hidden from
# every other reader until its run has answered.
RUN_VISIBILITY_SECONDS = 960
# A dry run only reads: each message it has listed is handed back at once when it is done.
LIST_VISIBILITY_SECONDS = 120
METRIC = "RedrivenMessages"

# Shapes (what the message is) and actions (what redrive does with it).
SCHEDULER_PAYLOAD = "scheduler-payload"
EXPORT_FAILURE = "export-failure"  # the destination record of an export invocation
RECOVERY_FAILURE = "recovery-failure"  # the destination record of a recovery invocation
UNKNOWN = "unknown"
RUN, END, LEAVE = "run", "end", "leave"


class Functions(Protocol):
    """The functions as the operator's runner reaches them (Lambda Invoke, or in-process)."""

    def run_export(self, payload: Mapping[str, Any]) -> dict[str, Any]: ...

    def end_run(self, record: Mapping[str, Any]) -> dict[str, Any]: ...


class DeadLetterQueue(Protocol):
    """A queue read message by message (``aws.dead_letters.SqsDeadLetters``)."""

    @property
    def name(self) -> str: ...

    def receive(self, max_messages: int, visibility_seconds: int) -> list[DeadLetter]: ...

    def delete(self, message: DeadLetter) -> None: ...

    def release(self, message: DeadLetter) -> None: ...


@dataclass(frozen=True)
class Plan:
    """What a message is and what redrive does with it."""

    shape: str
    action: str
    request: ExportRequest | None = None
    event: Mapping[str, Any] | None = None  # what the function is given
    reason: str | None = None  # why a message is left


def plan(body: str) -> Plan:
    """Read one message body: its shape, the run it names, and the action."""
    try:
        data = json.loads(body)
    except ValueError:
        return Plan(UNKNOWN, LEAVE, reason="the body is not JSON")
    if not isinstance(data, dict):
        return Plan(UNKNOWN, LEAVE, reason="the body is not a JSON object")
    if _is_destination_record(data):
        inner = data["requestPayload"]
        if _is_destination_record(inner):
            return _planned(RECOVERY_FAILURE, END, inner["requestPayload"], inner)
        return _planned(EXPORT_FAILURE, END, inner, data)
    if "tenantId" in data or "detail" in data:
        return _planned(SCHEDULER_PAYLOAD, RUN, data, data)
    return Plan(UNKNOWN, LEAVE, reason="neither a scheduler payload nor a Lambda destination record")


def _is_destination_record(data: Any) -> bool:
    return (
        isinstance(data, dict) and isinstance(data.get("requestContext"), dict) and "requestPayload" in data
    )


def _planned(shape: str, action: str, payload: Any, event: Mapping[str, Any]) -> Plan:
    try:
        request = ExportRequest.from_event(payload)
    except InvalidRequest as exc:
        return Plan(shape, LEAVE, reason=f"not a valid export request: {exc}")
    if request.scheduled_time is None and request.run_at is None:
        # Without a time the run is keyed by the clock: a second redrive could not tell it is
        # the same run. `replay` runs a given time.
        return Plan(
            shape, LEAVE, request, reason="names no scheduledTime nor runAt, so it cannot run exactly once"
        )
    return Plan(shape, action, request, event)


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: one line of the report."""

    queue: str
    message_id: str
    shape: str
    action: str
    outcome: str  # the run's (succeeded, failed, duplicate, distributed), or dry-run, left, error
    deleted: bool
    tenant_id: str | None = None
    export_guid: str | None = None
    time: datetime | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "messageId": self.message_id,
            "shape": self.shape,
            "tenantId": self.tenant_id,
            "exportGuid": self.export_guid,
            "time": self.time.isoformat() if self.time else None,
            "action": self.action,
            "outcome": self.outcome,
            "deleted": self.deleted,
            "reason": self.reason,
        }

    def line(self) -> str:
        """``queue=… message=… shape=… tenant=… export=… time=… action=… outcome=… deleted=…``."""
        words = [
            f"queue={self.queue}",
            f"message={self.message_id}",
            f"shape={self.shape}",
            f"tenant={self.tenant_id or '-'}",
            f"export={self.export_guid or '-'}",
            f"time={self.time.isoformat() if self.time else '-'}",
            f"action={self.action}",
            f"outcome={self.outcome}",
            f"deleted={'yes' if self.deleted else 'no'}",
        ]
        if self.reason:
            words.append(f"reason={json.dumps(self.reason)}")
        return " ".join(words)


@dataclass
class RedriveReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def redriven(self) -> int:
        """Messages run or ended, and deleted."""
        return sum(1 for outcome in self.outcomes if outcome.deleted)

    @property
    def left(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.outcome == "left")

    @property
    def failed(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.outcome == "error")

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was left behind."""
        return self.left == 0 and self.failed == 0

    def summary(self) -> dict[str, int]:
        return {
            "messages": len(self.outcomes),
            "redriven": self.redriven,
            "left": self.left,
            "failed": self.failed,
        }


@dataclass
class Redrive:
    """Reads the queues one message at a time and runs or ends each one."""

    queues: Sequence[DeadLetterQueue]
    functions: Functions
    # ``count(name, value)``: publishes a metric (RedrivenMessages); None publishes nothing.
    count: Callable[[str, int], None] | None = None
    run_visibility_seconds: int = RUN_VISIBILITY_SECONDS
    list_visibility_seconds: int = LIST_VISIBILITY_SECONDS

    def run(
        self,
        *,
        dry_run: bool = False,
        max_messages: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> RedriveReport:
        """Redrive (or, ``dry_run``, list) at most ``max_messages`` messages of the queues, in
        order; ``on_outcome`` hears of each message as soon as it is done."""
        report = RedriveReport()
        try:
            for queue in self.queues:
                remaining = None if max_messages is None else max_messages - len(report.outcomes)
                if remaining is not None and remaining <= 0:
                    break
                read = self._list if dry_run else self._redrive
                for outcome in read(queue, remaining):
                    report.outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
        finally:
            if self.count is not None and report.redriven:
                self.count(METRIC, report.redriven)
        return report

    def _redrive(self, queue: DeadLetterQueue, limit: int | None) -> Any:
        """One message at a time, hidden for as long as its run may take: a batch would leave
        the last messages hidden for less time than the runs before them take."""
        left: list[DeadLetter] = []
        seen: set[str] = set()
        try:
            while limit is None or len(seen) < limit:
                batch = queue.receive(1, self.run_visibility_seconds)
                if not batch:
                    return
                for message in batch:
                    if message.message_id in seen:
                        continue  # back after its timeout while this redrive still runs
                    seen.add(message.message_id)
                    outcome = self._handle(queue, message)
                    if outcome.outcome == "left":
                        left.append(message)
                    yield outcome
        finally:
            # Left messages are visible again for the next reader (a redrive loop above must not
            # see them twice, hence at the end); failed ones wait for their visibility timeout.
            _release(queue, left)

    def _handle(self, queue: DeadLetterQueue, message: DeadLetter) -> Outcome:
        planned = plan(message.body)
        if planned.action == LEAVE or planned.event is None:
            return _outcome(queue, message, planned, "left", reason=planned.reason)
        try:
            if planned.action == RUN:
                answer = self.functions.run_export(planned.event)
            else:
                answer = self.functions.end_run(planned.event)
        except Exception as exc:  # reported; the message stays for its visibility timeout
            return _outcome(queue, message, planned, "error", reason=str(exc)[:500])
        outcome = str(answer.get("outcome") or "answered")
        try:
            queue.delete(message)
        except Exception as exc:  # the run is done; the next redrive finds it a duplicate
            return _outcome(queue, message, planned, outcome, reason=f"not deleted: {str(exc)[:300]}")
        return _outcome(queue, message, planned, outcome, deleted=True)

    def _list(self, queue: DeadLetterQueue, limit: int | None) -> Any:
        """Every visible message once, each handed back at once when the listing ends."""
        listed: list[DeadLetter] = []
        seen: set[str] = set()
        try:
            while limit is None or len(seen) < limit:
                wanted = 10 if limit is None else min(10, limit - len(seen))
                batch = [
                    m for m in queue.receive(wanted, self.list_visibility_seconds) if m.message_id not in seen
                ]
                if not batch:
                    return
                for message in batch:
                    seen.add(message.message_id)
                    listed.append(message)
                    planned = plan(message.body)
                    yield _outcome(queue, message, planned, "dry-run", reason=planned.reason)
        finally:
            _release(queue, listed)


def _outcome(
    queue: DeadLetterQueue,
    message: DeadLetter,
    planned: Plan,
    outcome: str,
    *,
    deleted: bool = False,
    reason: str | None = None,
) -> Outcome:
    request = planned.request
    return Outcome(
        queue=queue.name,
        message_id=message.message_id,
        shape=planned.shape,
        action=planned.action,
        outcome=outcome,
        deleted=deleted,
        tenant_id=request.tenant_id if request else None,
        export_guid=request.export_guid if request else None,
        time=(request.scheduled_time or request.run_at) if request else None,
        reason=reason,
    )


def _release(queue: DeadLetterQueue, messages: Sequence[DeadLetter]) -> None:
    """Hand messages back at once; best effort: one not handed back is visible again after
    its visibility timeout anyway."""
    for message in messages:
        with contextlib.suppress(Exception):
            queue.release(message)
