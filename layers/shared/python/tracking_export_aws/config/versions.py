"""Which S3 version of each configuration object was last valid (run-history table, ``CONFIG`` items).

Config-sync validates every upload of an export definition or of ``tenant.json``. A valid one
moves the object's pointer to its version (``VersionId``, and its ``ETag`` for an unversioned
bucket); an invalid one leaves the pointer where it was, so runs keep using the last valid
version while the tenant is told what is wrong. Deleting the object deletes its pointer.

The same item remembers the last invalid version and which notification channels have
reported it, so a repeated S3 event does not report it twice, and the retry of an event whose
report failed on one channel reports it on that channel only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws import keys

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient

CONFIG_SK = "CONFIG"


@dataclass(frozen=True)
class ConfigVersion:
    """One stored version of a configuration object."""

    key: str
    version_id: str | None  # None (or "null") when the bucket is not versioned
    etag: str | None

    @property
    def tag(self) -> str:
        """What names this version: its VersionId, else its ETag."""
        if self.version_id and self.version_id != "null":
            return self.version_id
        return self.etag or ""


def settings_pk(tenant_id: str) -> str:
    """The pointer of ``tenant.json`` (an export guid cannot contain ``#``, so no export shares it)."""
    return f"T#{keys.validate_tenant_id(tenant_id)}#SETTINGS"


class ConfigVersions:
    """The last-valid pointers; ``pk`` is the export's (or ``T#{tenant}#SETTINGS``), ``sk`` ``CONFIG``."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.table = table_name

    @staticmethod
    def _key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": CONFIG_SK}}

    def valid(self, pk: str) -> ConfigVersion | None:
        """The last valid version; None when no version was ever found valid (or it was deleted)."""
        item = self.client.get_item(TableName=self.table, Key=self._key(pk), ConsistentRead=True).get("Item")
        if not item or "configKey" not in item:
            return None
        return ConfigVersion(
            key=item["configKey"]["S"],
            version_id=item.get("versionId", {}).get("S"),
            etag=item.get("etag", {}).get("S"),
        )

    def set_valid(self, pk: str, version: ConfigVersion, now: datetime) -> None:
        """Point at ``version``: the one runs use from now on."""
        values: dict[str, Any] = {
            ":key": {"S": version.key},
            ":at": {"S": keys.instant_key(now)},
            ":v": {"S": version.version_id or "null"},
            ":e": {"S": version.etag or ""},
        }
        self.client.update_item(
            TableName=self.table,
            Key=self._key(pk),
            UpdateExpression="SET configKey = :key, validatedAt = :at, versionId = :v, etag = :e",
            ExpressionAttributeValues=values,
        )

    def note_schedule(self, pk: str, schedule_key: str, now: datetime) -> None:
        """Remember the schedule config-sync gave the export (``schedule_key``: its expression and
        zone) and since when (``scheduleSince``), which moves only when the key changes: the
        watchdog looks for missed runs of the schedule in force, never of an earlier one."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table,
                Key=self._key(pk),
                UpdateExpression="SET scheduleKey = :key, scheduleSince = :at",
                ConditionExpression="attribute_not_exists(scheduleKey) OR scheduleKey <> :key",
                ExpressionAttributeValues={":key": {"S": schedule_key}, ":at": {"S": keys.instant_key(now)}},
            )

    def scheduled_since(self, pk: str) -> datetime | None:
        """Since when the export's schedule has been the one in force: ``scheduleSince``, else (a
        pointer written before it existed) when a version was last found valid; None when no
        version ever was (config-sync never scheduled the export)."""
        item = self.client.get_item(TableName=self.table, Key=self._key(pk), ConsistentRead=True).get("Item")
        if not item or "configKey" not in item:
            return None
        since = item.get("scheduleSince", item.get("validatedAt", {})).get("S")
        return keys.parse_instant_key(since) if since else None

    def forget(self, pk: str) -> None:
        """The object was deleted: no version is valid any more."""
        self.client.delete_item(TableName=self.table, Key=self._key(pk))

    def start_invalid_report(self, pk: str, version: ConfigVersion, channels: list[str]) -> list[str]:
        """The channels that still owe the tenant the report of invalid ``version``: all of them
        the first time this version is seen, then only those that have not taken it yet."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(pk),
                UpdateExpression="SET invalidVersion = :tag, invalidPending = :channels "
                "REMOVE invalidNotified",
                ConditionExpression="attribute_not_exists(invalidVersion) OR invalidVersion <> :tag",
                ExpressionAttributeValues={":tag": {"S": version.tag}, ":channels": {"SS": channels}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            item = self.client.get_item(TableName=self.table, Key=self._key(pk), ConsistentRead=True).get(
                "Item"
            )
            pending = (item or {}).get("invalidPending", {}).get("SS", [])
            return [c for c in channels if c in pending]
        return list(channels)

    def mark_invalid_delivered(self, pk: str, version: ConfigVersion, channel: str) -> None:
        """``channel`` took the report of ``version``."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table,
                Key=self._key(pk),
                UpdateExpression="DELETE invalidPending :c ADD invalidNotified :c",
                ConditionExpression="invalidVersion = :tag",  # a newer version's report replaced it
                ExpressionAttributeValues={":tag": {"S": version.tag}, ":c": {"SS": [channel]}},
            )
