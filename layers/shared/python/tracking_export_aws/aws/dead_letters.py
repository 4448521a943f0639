"""A dead-letter queue (SQS) read message by message: receive under a visibility timeout,
delete once the message's outcome is known, or hand it back at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_sqs import SQSClient

# Long polling asks every SQS server (short polling samples some, and may answer "empty" while
# messages wait); one second is the shortest.
WAIT_SECONDS = 1


@dataclass(frozen=True)
class DeadLetter:
    """One message as received: its body, and the receipt handle that deletes it."""

    queue: str  # the queue's name in this service ("export", "schedule")
    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # string message attributes
    receive_count: int = 1


@dataclass
class SqsDeadLetters:
    """One SQS queue (``url``), named ``name`` in this service."""

    client: SQSClient
    url: str
    name: str
    wait_seconds: int = WAIT_SECONDS

    def receive(self, max_messages: int, visibility_seconds: int) -> list[DeadLetter]:
        """Up to ``max_messages`` (1..10) messages, each hidden from other readers for
        ``visibility_seconds``; an empty list when none is visible."""
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=visibility_seconds,
            WaitTimeSeconds=self.wait_seconds,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [_dead_letter(self.name, message) for message in response.get("Messages", [])]

    def delete(self, message: DeadLetter) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def release(self, message: DeadLetter) -> None:
        """Visible to the next reader at once."""
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0
        )


def _dead_letter(queue: str, message: Mapping[str, Any]) -> DeadLetter:
    attributes = {
        name: str(value.get("StringValue"))
        for name, value in (message.get("MessageAttributes") or {}).items()
        if value.get("StringValue") is not None
    }
    count = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
    return DeadLetter(
        queue=queue,
        message_id=str(message["MessageId"]),
        receipt_handle=str(message["ReceiptHandle"]),
        body=str(message.get("Body", "")),
        attributes=attributes,
        receive_count=int(count) if count and str(count).isdecimal() else 1,
    )
