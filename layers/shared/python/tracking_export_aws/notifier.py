"""Run outcomes to tenants: one SNS message (filterable attributes) and one EventBridge event."""

from __future__ import annotations

import json
from typing import Any

SOURCE = "tracking-log-export"
DETAIL_TYPES = {
    "succeeded": "Export Run Succeeded",
    "failed": "Export Run Failed",
    "config-invalid": "Export Config Invalid",
    "ingested": "Tracking File Ingested",
    "ingest-rejected": "Tracking File Rejected Lines",
    "ingest-failed": "Tracking File Ingestion Failed",
    "learner-erased": "Learner Erased",
}
# SNS and EventBridge both take 256 KB; leave room for the envelope.
MAX_MESSAGE_BYTES = 200_000
SUBJECTS = {
    "succeeded": "Export succeeded",
    "failed": "Export failed",
    "config-invalid": "Export configuration invalid",
    "ingested": "Tracking file ingested",
    "ingest-rejected": "Tracking file ingested with rejected lines",
    "ingest-failed": "Tracking file ingestion failed",
    "learner-erased": "Learner erased",
}


class NotificationError(RuntimeError):
    """EventBridge refused the event (FailedEntryCount > 0)."""


def _fit(message: dict[str, Any]) -> str:
    """The message as JSON, its list of skipped records dropped if it would be too large."""
    body = json.dumps(message, ensure_ascii=False, default=str)
    if len(body.encode()) <= MAX_MESSAGE_BYTES:
        return body
    trimmed = {k: v for k, v in message.items() if k != "skipped"}
    trimmed["skippedTruncated"] = True
    return json.dumps(trimmed, ensure_ascii=False, default=str)


class Notifier:
    """Publishes a run's notification message (a dict with ``tenantId``, ``exportGuid``, ``outcome``)."""

    def __init__(
        self, sns_client: Any, events_client: Any, topic_arn: str, bus_name: str = "default"
    ) -> None:
        self.sns = sns_client
        self.events = events_client
        self.topic_arn = topic_arn
        self.bus_name = bus_name

    def publish(self, message: dict[str, Any]) -> str:
        """Send the message to the topic and the bus; returns the SNS message id.

        ``outcome`` is ``succeeded``, ``failed`` or ``config-invalid`` (a configuration that
        does not validate); tenants filter the topic on it.
        """
        outcome = message.get("outcome")
        if outcome not in DETAIL_TYPES:
            raise ValueError(f"outcome must be one of {', '.join(DETAIL_TYPES)}, got {outcome!r}")
        tenant_id, export_guid = message.get("tenantId"), message.get("exportGuid")
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ValueError("a notification names its tenantId")
        body = _fit(message)
        attributes = {"tenantId": tenant_id, "outcome": outcome}
        if isinstance(export_guid, str) and export_guid:
            attributes["exportGuid"] = export_guid
        response = self.sns.publish(
            TopicArn=self.topic_arn,
            Message=body,
            Subject=SUBJECTS[outcome],
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        result = self.events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPES[outcome],
                    "Detail": body,
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if result.get("FailedEntryCount", 0):
            entry = (result.get("Entries") or [{}])[0]
            raise NotificationError(
                f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )
        return str(response["MessageId"])
