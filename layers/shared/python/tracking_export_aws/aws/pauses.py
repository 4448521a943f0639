"""Operators' pauses of an export or of a whole tenant (run-history table, docs/table-design.md).

A pause is one item, ``PAUSE`` on the export's pk or on the tenant's (``T#{tenant}#TENANT``),
with ``pausedAt``, ``reason`` and ``by``; no item, no pause. Lifting it keeps the last pause
that ended as a ``RESUMED`` item beside it (``pausedAt``, ``resumedAt``): the watchdog does not
count the scheduled times of a paused stretch as missed runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import string_attributes

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_REASON_LENGTH = 1000


@dataclass(frozen=True)
class Pause:
    """A pause on record; ``export_guid`` None pauses every export of the tenant."""

    tenant_id: str
    export_guid: str | None
    paused_at: datetime
    reason: str = ""
    by: str = ""

    @property
    def scope(self) -> str:
        """``tenant`` or ``export``: what the pause covers."""
        return "tenant" if self.export_guid is None else "export"


@dataclass(frozen=True)
class LiftedPause:
    """The last pause that was lifted: from ``paused_at`` to ``resumed_at``."""

    tenant_id: str
    export_guid: str | None
    paused_at: datetime
    resumed_at: datetime
    by: str = ""


def _text(item: dict[str, Any], name: str) -> str:
    return str(item.get(name, {}).get("S", ""))


class PauseRecords:
    """Reads and writes the ``PAUSE`` and ``RESUMED`` items."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=string_attributes(key), ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def get(self, tenant_id: str, export_guid: str | None = None) -> Pause | None:
        """The pause of that export (of the whole tenant: ``export_guid`` None); None if there is none."""
        item = self._get(keys.pause_key(tenant_id, export_guid))
        if item is None:
            return None
        return Pause(
            tenant_id,
            export_guid,
            keys.parse_instant_key(_text(item, "pausedAt")),
            _text(item, "reason"),
            _text(item, "by"),
        )

    def paused(self, tenant_id: str, export_guid: str) -> Pause | None:
        """What pauses the export: its own pause, else its tenant's; None when it may run."""
        return self.get(tenant_id, export_guid) or self.get(tenant_id)

    def put(self, pause: Pause) -> Pause:
        """Record ``pause`` unless one is on record already; returns the pause in force (the
        earlier one, unchanged, when there was one: its ``pausedAt`` keeps counting)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=string_attributes(
                    {
                        **keys.pause_key(pause.tenant_id, pause.export_guid),
                        "pausedAt": keys.instant_key(pause.paused_at),
                        "reason": pause.reason[:MAX_REASON_LENGTH],
                        "by": pause.by[:MAX_REASON_LENGTH],
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            current = self.get(pause.tenant_id, pause.export_guid)
            if current is not None:
                return current
            return self.put(pause)  # lifted in between: record this one
        return pause

    def lift(self, tenant_id: str, export_guid: str | None, now: datetime, by: str = "") -> Pause | None:
        """Lift the pause, keeping it as the last lifted one; returns the pause lifted, None when
        there was none. The ``RESUMED`` item is written first: should the delete not happen,
        the pause is still in force and lifting it again finishes the job."""
        pause = self.get(tenant_id, export_guid)
        if pause is None:
            return None
        self.client.put_item(
            TableName=self.table,
            Item=string_attributes(
                {
                    **keys.resumed_key(tenant_id, export_guid),
                    "pausedAt": keys.instant_key(pause.paused_at),
                    "resumedAt": keys.instant_key(now),
                    "reason": pause.reason,
                    "by": by[:MAX_REASON_LENGTH],
                }
            ),
        )
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=string_attributes(keys.pause_key(tenant_id, export_guid)),
                ConditionExpression="pausedAt = :at",
                ExpressionAttributeValues={":at": {"S": keys.instant_key(pause.paused_at)}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None  # paused again meanwhile: that pause stays in force
        return pause

    def lifted(self, tenant_id: str, export_guid: str | None = None) -> LiftedPause | None:
        """The last pause of that export (or of the whole tenant) that was lifted; None if none was."""
        item = self._get(keys.resumed_key(tenant_id, export_guid))
        if item is None:
            return None
        return LiftedPause(
            tenant_id,
            export_guid,
            keys.parse_instant_key(_text(item, "pausedAt")),
            keys.parse_instant_key(_text(item, "resumedAt")),
            _text(item, "by"),
        )
