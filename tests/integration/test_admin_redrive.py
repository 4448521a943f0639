"""``tracking-export-admin redrive`` on the local stack (moto server, dynalite), the handlers run in
this process as the local runner runs them.

The export dead-letter queue holds what template.yaml sends there: scheduler payloads
Scheduler could not deliver, and the Lambda destination records of the recovery function's
own failures (whose ``requestPayload`` is the export invocation's record). Each test checks
what a tenant and an operator see: files, notifications, run records, and the queue.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nightly_export import nightly_xml, put_nightly

from tools.admin.main import main
from tools.admin.runner import InProcessRunner
from tools.admin.target import from_env_file
from tracking_export_aws.aws.dead_letters import DeadLetter, SqsDeadLetters
from tracking_export_aws.ops.redrive import Redrive

T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 02:00 in Paris
T1, T2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
EXPORT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:it-export"
RECOVERY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:it-run-recovery"
DEFINITION = nightly_xml(file_name="nightly_%Y%m%d.csv")


class Crash(BaseException):
    """The redrive process going down: nothing catches it."""


def payload(at: datetime) -> dict[str, Any]:
    """The schedule's target input as Scheduler sends it (scheduled time filled in)."""
    return {
        "tenantId": "acme",
        "exportGuid": "nightly",
        "scheduledTime": at.isoformat().replace("+00:00", "Z"),
    }


def export_record(at: datetime, request_id: str) -> dict[str, Any]:
    """The destination record Lambda gives the recovery function for an export it gave up on."""
    return {
        "version": "1.0",
        "timestamp": "2026-03-03T01:10:00.000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{EXPORT_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": payload(at),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorType": "Sandbox.Timedout",
            "errorMessage": "Task timed out after 900.00 seconds",
        },
    }


def recovery_record(at: datetime, request_id: str) -> dict[str, Any]:
    """What lands in the queue when the recovery function itself failed on that record."""
    return {
        "version": "1.0",
        "timestamp": "2026-03-03T01:20:00.000Z",
        "requestContext": {
            "requestId": "recovery-1",
            "functionArn": f"{RECOVERY_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": export_record(at, request_id),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ClientError", "errorMessage": "throttled"},
    }


@pytest.fixture
def acme(stack: Any, records: Any, tmp_path: Path) -> Any:
    """Tenant acme with a deltaMode export and two days of logs; ``env_file`` names the stack."""
    put_nightly(stack, records, DEFINITION)
    stack.env_file = _env_file(stack, tmp_path / "env.json")
    return stack


def _env_file(stack: Any, path: Path, **changes: str) -> Path:
    """An env file in events/env.local.json's shape: the two functions redrive runs, and
    config-sync's section (where the schedules are), each with its own environment."""
    return stack.write_env_file(
        path, "ExportFunction", "RunRecoveryFunction", "ConfigSyncFunction", **changes
    )


def _send(stack: Any, *bodies: Any) -> None:
    sqs = stack.client("sqs")
    for body in bodies:
        sqs.send_message(
            QueueUrl=stack.dlq_url, MessageBody=body if isinstance(body, str) else json.dumps(body)
        )


def _visible(stack: Any) -> list[str]:
    """The bodies visible in the queue now (each handed back at once)."""
    sqs = stack.client("sqs")
    bodies: dict[str, str] = {}
    receipts: dict[str, str] = {}
    while True:
        batch = sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        )
        if not batch:
            break
        for message in batch:
            bodies[message["MessageId"]] = message["Body"]
            receipts[message["MessageId"]] = message["ReceiptHandle"]
    for receipt in receipts.values():
        sqs.change_message_visibility(QueueUrl=stack.dlq_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return sorted(bodies.values())


def _in_flight(stack: Any) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _lines(out: str) -> dict[str, str]:
    """Each message line by the run it names (``tenant/export/time``), or its shape."""
    found = {}
    for line in out.splitlines():
        if not line.startswith("queue="):
            continue
        words = dict(
            word.split("=", 1) for word in line.split(" ") if "=" in word and not word.startswith("reason")
        )
        key = f"{words['tenant']}/{words['export']}/{words['time']}" if words["tenant"] != "-" else line
        found[key] = line
    return found


def _redriven_metric(stack: Any) -> float:
    """RedrivenMessages published so far (the session's moto CloudWatch)."""
    statistics = stack.client("cloudwatch").get_metric_statistics(
        Namespace="TrackingExport",
        MetricName="RedrivenMessages",
        Dimensions=[{"Name": "service", "Value": "tracking-export"}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in statistics)


def test_each_message_is_run_or_ended_once_and_the_others_stay(
    acme: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # T2's run was claimed by an export invocation that died; its lease has long expired.
    acme.ledger().claim("acme", "nightly", T2, T2, 120, invocation_id="inv-2")
    left = ["not json", json.dumps({"hello": "world"}), json.dumps({**payload(T0), "tenantId": "ACME/../x"})]
    published = _redriven_metric(acme)  # moto's CloudWatch is shared by the session's tests
    _send(acme, payload(T0), export_record(T1, "inv-1"), recovery_record(T2, "inv-2"), *left)

    assert main(["--env-file", str(acme.env_file), "redrive"]) == 1  # three messages are left
    lines = _lines(capsys.readouterr().out)
    assert "shape=scheduler-payload" in lines["acme/nightly/2026-03-03T01:00:00+00:00"]
    assert "action=run outcome=succeeded deleted=yes" in lines["acme/nightly/2026-03-03T01:00:00+00:00"]
    assert "shape=export-failure" in lines["acme/nightly/2026-03-04T01:00:00+00:00"]
    assert "action=end outcome=failed deleted=yes" in lines["acme/nightly/2026-03-04T01:00:00+00:00"]
    assert "shape=recovery-failure" in lines["acme/nightly/2026-03-05T01:00:00+00:00"]
    assert "action=end outcome=failed deleted=yes" in lines["acme/nightly/2026-03-05T01:00:00+00:00"]
    others = [line for key, line in lines.items() if key.startswith("queue=")]
    assert len(others) == 3 and all("action=leave outcome=left deleted=no reason=" in line for line in others)

    ledger = acme.ledger()
    assert ledger.get("acme", "nightly", T0).status == "succeeded"
    for at in (T1, T2):
        record = ledger.get("acme", "nightly", at)
        assert record.status == "failed"
        assert "gave up on this run after its retries: RetriesExhausted (Task timed out" in record.error
    assert ledger.get("acme", "nightly", T2).run_number == 1  # the lost attempt's run, ended
    outcomes = sorted((n.message["scheduledTime"], n.attributes["outcome"]) for n in acme.notifications())
    assert outcomes == [
        ("2026-03-03T01:00:00+00:00", "succeeded"),
        ("2026-03-04T01:00:00+00:00", "failed"),
        ("2026-03-05T01:00:00+00:00", "failed"),
    ]
    assert acme.object_keys() == ["tenants/acme/nightly_20260303.csv"]
    assert _visible(acme) == sorted(left)  # left in place, visible again at once
    assert _redriven_metric(acme) - published == 3

    # Again: only the messages left in place, and nothing is run or notified twice.
    assert main(["--env-file", str(acme.env_file), "redrive"]) == 1
    assert "3 message(s): 0 run or ended" in capsys.readouterr().out
    assert acme.notifications() == [] and acme.object_keys() == ["tenants/acme/nightly_20260303.csv"]
    assert _visible(acme) == sorted(left)


class _Watched:
    """The real queue, keeping what it received (to hand it back as its visibility timeout would);
    with ``crash``, the process dies at the delete: after the run's outcome is known, before the
    message is gone."""

    def __init__(self, queue: SqsDeadLetters, *, crash: bool = False) -> None:
        self.queue = queue
        self.name = queue.name
        self.crash = crash
        self.received: list[DeadLetter] = []

    def receive(self, max_messages: int, visibility_seconds: int) -> list[DeadLetter]:
        batch = self.queue.receive(max_messages, visibility_seconds)
        self.received.extend(batch)
        return batch

    def delete(self, message: DeadLetter) -> None:
        if self.crash:
            raise Crash()
        self.queue.delete(message)

    def release(self, message: DeadLetter) -> None:
        self.queue.release(message)


@pytest.mark.parametrize(
    ("body", "shape", "first_outcome"),
    [
        (payload(T0), "scheduler-payload", "succeeded"),
        (export_record(T0, "inv-1"), "export-failure", "failed"),
    ],
)
def test_a_redrive_that_crashed_before_the_delete_produces_no_second_file_or_notification(
    acme: Any, body: dict[str, Any], shape: str, first_outcome: str
) -> None:
    _send(acme, body)
    queue = SqsDeadLetters(acme.client("sqs"), acme.dlq_url, "export", wait_seconds=0)
    runner = InProcessRunner(from_env_file(acme.env_file))
    crashing = _Watched(queue, crash=True)
    with pytest.raises(Crash):
        Redrive([crashing], runner).run()
    assert acme.ledger().get("acme", "nightly", T0).status == first_outcome
    [first] = acme.notifications()
    assert first.attributes["outcome"] == first_outcome
    files = acme.object_keys()
    assert len(files) == (1 if first_outcome == "succeeded" else 0)
    assert _in_flight(acme) == 1  # still there, hidden for its visibility timeout
    # The timeout runs out: the message is visible again, and the next redrive takes it.
    for message in crashing.received:
        queue.release(message)

    report = Redrive([queue], runner).run()
    [outcome] = report.outcomes
    assert (outcome.shape, outcome.outcome, outcome.deleted) == (shape, "duplicate", True)
    assert acme.notifications() == []
    assert acme.object_keys() == files
    assert _in_flight(acme) == 0


def test_a_dry_run_lists_each_message_and_changes_nothing(
    acme: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _send(acme, payload(T0), recovery_record(T1, "inv-1"), "[]")
    published = _redriven_metric(acme)
    assert main(["--env-file", str(acme.env_file), "redrive", "--dry-run"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert "shape=scheduler-payload" in lines["acme/nightly/2026-03-03T01:00:00+00:00"]
    assert "action=run outcome=dry-run deleted=no" in lines["acme/nightly/2026-03-03T01:00:00+00:00"]
    assert "shape=recovery-failure" in lines["acme/nightly/2026-03-04T01:00:00+00:00"]
    assert "action=end outcome=dry-run deleted=no" in lines["acme/nightly/2026-03-04T01:00:00+00:00"]
    assert len(lines) == 3
    assert (
        acme.ledger().get("acme", "nightly", T0) is None and acme.ledger().get("acme", "nightly", T1) is None
    )
    assert acme.notifications() == [] and acme.object_keys() == []
    assert len(_visible(acme)) == 3  # every message visible again at once
    assert _redriven_metric(acme) == published


def test_a_message_whose_run_fails_stays_and_the_next_redrive_finishes_it(
    acme: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _send(acme, payload(T0))
    # The tenant topic is unreachable: the run is recorded, its notification is not delivered,
    # and the export function raises (so that Lambda, or here redrive, comes back to it).
    broken = _env_file(acme, tmp_path / "broken.json", TOPIC_ARN=f"{acme.topic_arn}-gone")
    queue = SqsDeadLetters(acme.client("sqs"), acme.dlq_url, "export", wait_seconds=0)
    watching = _Watched(queue)
    report = Redrive([watching], InProcessRunner(from_env_file(broken))).run()
    [outcome] = report.outcomes
    assert (outcome.outcome, outcome.deleted) == ("error", False)
    assert "NotificationError" in (outcome.reason or "")
    assert not report.ok and _in_flight(acme) == 1 and _visible(acme) == []  # hidden, not deleted
    assert acme.notifications() == []

    for message in watching.received:  # its visibility timeout runs out
        queue.release(message)
    assert main(["--env-file", str(acme.env_file), "redrive", "--queue", "schedule"]) == 0
    assert "action=run outcome=duplicate deleted=yes" in capsys.readouterr().out
    [note] = acme.notifications()
    assert note.attributes["outcome"] == "succeeded"
    assert acme.object_keys() == ["tenants/acme/nightly_20260303.csv"] and _in_flight(acme) == 0


def test_max_bounds_the_messages_redriven(acme: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _send(acme, payload(T0), payload(T1), payload(T2))
    assert main(["--env-file", str(acme.env_file), "redrive", "--max", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["summary"] == {"messages": 2, "redriven": 2, "left": 0, "failed": 0}
    assert [m["outcome"] for m in document["messages"]] == ["succeeded", "succeeded"]
    assert _in_flight(acme) == 1
