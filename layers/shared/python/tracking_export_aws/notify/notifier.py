"""Run outcomes to tenants, through channels: an SNS message (filterable attributes), an
EventBridge event, and whatever else implements :class:`Channel` (an email channel, say).

A notification is delivered channel by channel. The caller learns which channels took it
(``on_delivered``, with what the channel answered: a message id, or the e-mail channel's
report of suppressed and rejected addresses) so the run's outbox (``ledger.RunLedger``) can
record each one as it goes: a retry then delivers only the channels still missing, and none
of them twice.

Every message fits SNS's and EventBridge's 256 KB: :func:`fit_message` cuts long lists
(skipped records, recipients, configuration errors) and says exactly how many entries it left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tracking_export_aws.notify.messages import validate_notification

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient

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
SUBJECTS = {
    "succeeded": "Export succeeded",
    "failed": "Export failed",
    "config-invalid": "Export configuration invalid",
    "ingested": "Tracking file ingested",
    "ingest-rejected": "Tracking file ingested with rejected lines",
    "ingest-failed": "Tracking file ingestion failed",
    "learner-erased": "Learner erased",
}
# SNS and EventBridge both take 256 KB per message, envelope included; the rest is headroom
# (SNS subject and attributes, the event's envelope, JSON escaping by the subscriber's protocol).
MAX_MESSAGE_BYTES = 200_000
# A single text field (a failure reason) never takes more than this many characters.
MAX_TEXT_CHARS = 8_000
# Lists a message may carry, with the field holding their exact total when there is one.
LIST_FIELDS = {"skipped": "skippedCount", "errors": "errorCount", "recipients": None, "warnings": None}
# What only the tenant's own channels carry; the event bus gets them only when the operator opts in.
PRIVATE_FIELDS = ("downloadUrl", "recipients", "recipientsOmitted")


class NotificationError(RuntimeError):
    """A channel did not take the notification; ``failed`` names the channels that did not."""

    def __init__(self, message: str, failed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)


class Channel(Protocol):
    """Where a notification goes. ``deliver`` raises when the message was not taken."""

    name: str

    def deliver(self, message: Mapping[str, Any]) -> Any: ...


def _size(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False, default=str).encode())


def _cut_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} characters omitted)"


def fit_message(message: Mapping[str, Any], limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The message with every long text cut to ``MAX_TEXT_CHARS`` and, while its JSON exceeds
    ``limit`` bytes, its lists cut from the end, largest first.

    A cut list ``name`` gets ``{name}Omitted``: how many entries of the whole are not listed —
    counted against the exact total (``skippedCount``, ``errorCount``) when the message has one,
    so a list the engine already capped reports every record it does not show.
    """
    fitted: dict[str, Any] = {
        k: _cut_text(v, MAX_TEXT_CHARS) if isinstance(v, str) else v for k, v in message.items()
    }
    for name, count_field in LIST_FIELDS.items():
        entries = fitted.get(name)
        if not isinstance(entries, list):
            continue
        total = fitted.get(count_field) if count_field else None
        total = total if isinstance(total, int) and total >= len(entries) else len(entries)
        if total > len(entries):
            fitted[f"{name}Omitted"] = total - len(entries)
    if _size(fitted) <= limit:
        return fitted
    present = [n for n in LIST_FIELDS if isinstance(fitted.get(n), list)]
    for name in sorted(present, key=lambda n: -_size({n: fitted[n]})):
        entries = list(fitted[name])
        already_omitted = int(fitted.get(f"{name}Omitted", 0))
        low, high = 0, len(entries)  # the most entries that fit lie in [low, high]
        while low < high:
            middle = (low + high + 1) // 2
            trial = {
                **fitted,
                name: entries[:middle],
                f"{name}Omitted": already_omitted + len(entries) - middle,
            }
            if _size(trial) <= limit:
                low = middle
            else:
                high = middle - 1
        fitted[name] = entries[:low]
        if len(entries) - low + already_omitted:
            fitted[f"{name}Omitted"] = already_omitted + len(entries) - low
        if _size(fitted) <= limit:
            return fitted
    # Still too large without any list: the texts share what is left.
    for key, value in sorted(fitted.items(), key=lambda kv: -_size({kv[0]: kv[1]})):
        if isinstance(value, str) and _size(fitted) > limit:
            fitted[key] = _cut_text(value, max(0, len(value) - (_size(fitted) - limit) - 64))
    return fitted


class SnsChannel:
    """The tenant-facing topic: ``tenantId``, ``exportGuid`` and ``outcome`` as message attributes
    so tenants subscribe with a filter policy. Carries links and recipients."""

    name = "sns"

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def deliver(self, message: Mapping[str, Any]) -> str:
        """Publish the message; returns the SNS message id."""
        outcome = str(message["outcome"])
        attributes = {"tenantId": str(message["tenantId"]), "outcome": outcome}
        export_guid = message.get("exportGuid")
        if isinstance(export_guid, str) and export_guid:
            attributes["exportGuid"] = export_guid
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(fit_message(message), ensure_ascii=False, default=str),
            Subject=SUBJECTS[outcome],
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return str(response["MessageId"])


class EventBridgeChannel:
    """One event on the bus (``source`` ``tracking-log-export``). The bus is shared by every
    rule of the account, so links and recipient addresses go there only with ``include_private``."""

    name = "eventbridge"

    def __init__(
        self, client: EventBridgeClient, bus_name: str = "default", *, include_private: bool = False
    ) -> None:
        self.client = client
        self.bus_name = bus_name
        self.include_private = include_private

    def deliver(self, message: Mapping[str, Any]) -> str:
        """Put the event; returns its id. A refused entry (FailedEntryCount) raises."""
        detail = dict(message)
        if not self.include_private:
            for name in PRIVATE_FIELDS:
                detail.pop(name, None)
        result = self.client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPES[str(message["outcome"])],
                    "Detail": json.dumps(fit_message(detail), ensure_ascii=False, default=str),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        entry = (result.get("Entries") or [{}])[0]
        if result.get("FailedEntryCount", 0):
            raise NotificationError(
                f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}",
                [self.name],
            )
        return str(entry.get("EventId", ""))


class Notifier:
    """Delivers a notification message (``tenantId``, ``exportGuid``, ``outcome``) to its channels."""

    def __init__(self, channels: Sequence[Channel]) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be distinct, got {names}")
        self.channels = list(channels)

    @classmethod
    def for_aws(
        cls,
        sns: SNSClient,
        events: EventBridgeClient,
        topic_arn: str,
        bus_name: str = "default",
        *,
        include_private: bool = False,
    ) -> Notifier:
        """The SNS topic and the EventBridge bus, in that order."""
        return cls(
            [
                SnsChannel(sns, topic_arn),
                EventBridgeChannel(events, bus_name, include_private=include_private),
            ]
        )

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    def publish(
        self,
        message: Mapping[str, Any],
        *,
        only: Collection[str] | None = None,
        on_delivered: Callable[[str, Any], None] | None = None,
    ) -> list[str]:
        """Deliver to every channel (or those named in ``only``); returns the names that took it.

        The message must fit its outcome's model (messages.py): InvalidNotification, before any
        channel is tried, when it does not.

        Each channel is tried even when an earlier one failed, and ``on_delivered(name, answer)``
        is called right after each success with what the channel's ``deliver`` returned. If any
        channel failed, NotificationError names them (after the others were delivered): the
        caller's retry delivers only those.
        """
        validate_notification(message)  # InvalidNotification: a producer out of step with messages.py
        delivered: list[str] = []
        failures: list[tuple[str, BaseException]] = []
        for channel in self.channels:
            if only is not None and channel.name not in only:
                continue
            try:
                answer = channel.deliver(message)
            except Exception as exc:  # a channel's own failure must not stop the others
                failures.append((channel.name, exc))
                continue
            delivered.append(channel.name)
            if on_delivered is not None:
                try:
                    on_delivered(channel.name, answer)
                except Exception as exc:  # delivered but not recorded: the retry may repeat it
                    failures.append((channel.name, exc))
        if failures:
            detail = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in failures)
            raise NotificationError(
                f"the notification did not reach {len(failures)} channel(s): {detail}",
                [name for name, _ in failures],
            ) from failures[0][1]
        return delivered
