"""The config-sync use case: a definition uploaded or deleted -> its schedule follows.

Valid upload: create or update the export's schedule (expression and zone from the
definition's ``<schedule>``, default daily 02:00 in the tenant's zone). Deletion: delete
the schedule. Invalid upload: leave the existing schedule untouched and publish one
``config-invalid`` notification listing every error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, DefinitionIssue
from tracking_export.model import ExportDefinition
from tracking_export_aws.config_store import ConfigError, ConfigNotFound, ConfigStore, parse_config_key
from tracking_export_aws.notifier import Notifier
from tracking_export_aws.scheduler import ScheduleManager

DEFAULT_EXPRESSION = "cron(0 2 * * ? *)"


@dataclass(frozen=True)
class ConfigChange:
    """One object event of the config bucket."""

    bucket: str
    key: str
    removed: bool


def config_changes(event: Mapping[str, Any]) -> Iterator[ConfigChange]:
    """The changes an S3 notification (``Records``) or an EventBridge S3 event carries."""
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        yield ConfigChange(
            bucket=str((s3.get("bucket") or {}).get("name", "")),
            # S3 notifications URL-encode keys (a space arrives as '+').
            key=unquote_plus(str((s3.get("object") or {}).get("key", ""))),
            removed=str(record.get("eventName", "")).startswith("ObjectRemoved"),
        )
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), Mapping):
        detail = event["detail"]
        yield ConfigChange(
            bucket=str((detail.get("bucket") or {}).get("name", "")),
            key=str((detail.get("object") or {}).get("key", "")),
            removed=event.get("detail-type") == "Object Deleted",
        )


def checked_definition(data: bytes, export_guid: str) -> ExportDefinition:
    """The definition stored as ``{export_guid}.xml``; its own guid, if any, must match the name."""
    definition = load_definition(data, name=f"{export_guid}.xml")
    if definition.guid != export_guid:
        raise DefinitionError(
            [
                DefinitionIssue(
                    path="/export-config/export/@guid",
                    line=None,
                    message=f"the definition's guid {definition.guid!r} differs from its file name "
                    f"{export_guid!r}; name the file after the guid",
                )
            ],
            source=f"{export_guid}.xml",
        )
    return definition


@dataclass
class ConfigSyncService:
    config: ConfigStore
    schedules: ScheduleManager
    notifier: Notifier

    def apply(self, change: ConfigChange) -> dict[str, Any]:
        """Bring the export's schedule in line with its definition; returns what was done."""
        if change.bucket and change.bucket != self.config.bucket:
            return {
                "key": change.key,
                "action": "ignored",
                "reason": f"not the config bucket {change.bucket!r}",
            }
        try:
            tenant, guid = parse_config_key(change.key)
        except ConfigError as exc:
            return {"key": change.key, "action": "ignored", "reason": str(exc)}
        result: dict[str, Any] = {"key": change.key, "tenantId": tenant, "exportGuid": guid}
        if change.removed:
            deleted = self.schedules.delete(tenant, guid)
            return {**result, "action": "deleted" if deleted else "absent"}
        try:
            data = self.config.export_definition(tenant, guid)
        except ConfigNotFound:
            # Deleted again before we ran: the delete event removes the schedule.
            return {**result, "action": "ignored", "reason": "the object no longer exists"}
        try:
            definition = checked_definition(data, guid)
        except DefinitionError as exc:
            errors = [str(issue) for issue in exc.issues]
            self.notifier.publish(
                {
                    "outcome": "config-invalid",
                    "tenantId": tenant,
                    "exportGuid": guid,
                    "configKey": change.key,
                    "errorCount": len(errors),
                    "errors": errors,
                    "error": f"{change.key}: {len(errors)} error(s); the existing schedule is unchanged",
                }
            )
            return {**result, "action": "invalid", "errors": errors}
        settings = self.config.tenant_settings(tenant)
        schedule = definition.schedule
        expression = schedule.expression if schedule else DEFAULT_EXPRESSION
        timezone = (schedule.timezone if schedule else None) or settings.timezone
        own_window = schedule.flexible_window_minutes if schedule else None
        window = settings.flexible_window_minutes if own_window is None else own_window
        name = self.schedules.upsert(tenant, guid, expression, timezone, flexible_window_minutes=window)
        return {
            **result,
            "action": "scheduled",
            "schedule": name,
            "expression": expression,
            "timezone": timezone,
            "flexibleWindowMinutes": window,
            "warnings": list(definition.warnings),
        }
