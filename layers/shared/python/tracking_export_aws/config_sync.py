"""The config-sync use case: a definition uploaded or deleted -> its schedule follows.

Valid upload: create or update the export's schedule (expression and zone from the
definition's ``<schedule>``, default daily 02:00 in the tenant's zone). Deletion: delete
the schedule. Invalid upload: leave the existing schedule untouched and publish one
``config-invalid`` notification listing every error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, DefinitionIssue
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.model import ExportDefinition
from tracking_export_aws.config_events import ConfigChange, read_config_event
from tracking_export_aws.config_store import (
    ConfigError,
    ConfigInvalid,
    ConfigNotFound,
    ConfigStore,
    parse_config_key,
)
from tracking_export_aws.notifier import Notifier
from tracking_export_aws.scheduler import ScheduleManager

DEFAULT_EXPRESSION = "cron(0 2 * * ? *)"


__all__ = ["ConfigChange", "ConfigSyncService", "checked_definition", "config_changes"]


def config_changes(event: Any) -> Iterator[ConfigChange]:
    """The usable changes an S3 notification (``Records``) or an EventBridge S3 event carries;
    :func:`~tracking_export_aws.config_events.read_config_event` also gives the ignored ones."""
    for item in read_config_event(event):
        if isinstance(item, ConfigChange):
            yield item


def checked_definition(data: bytes, export_guid: str, limits: Limits = DEFAULT_LIMITS) -> ExportDefinition:
    """The definition stored as ``{export_guid}.xml``; its own guid, if any, must match the name."""
    definition = load_definition(data, name=f"{export_guid}.xml", limits=limits)
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
    limits: Limits = DEFAULT_LIMITS

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
            definition = checked_definition(data, guid, self.limits)
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
        try:
            settings = self.config.tenant_settings(tenant)
        except ConfigInvalid as exc:
            # The schedule's zone comes from tenant.json: leave the schedule as it is.
            self.notifier.publish(
                {
                    "outcome": "config-invalid",
                    "tenantId": tenant,
                    "exportGuid": guid,
                    "configKey": exc.key,
                    "errorCount": len(exc.problems),
                    "errors": exc.problems,
                    "error": f"{exc.key}: {len(exc.problems)} error(s); the existing schedule is unchanged",
                }
            )
            return {**result, "action": "invalid", "errors": exc.problems}
        if too_many := self._over_export_cap(tenant, guid):
            return {
                **result,
                "action": "invalid",
                "errors": [self._config_invalid(tenant, guid, change.key, too_many)],
            }
        schedule = definition.schedule
        expression = schedule.expression if schedule else DEFAULT_EXPRESSION
        timezone = (schedule.timezone if schedule else None) or settings.timezone
        name = self.schedules.upsert(tenant, guid, expression, timezone)
        return {
            **result,
            "action": "scheduled",
            "schedule": name,
            "expression": expression,
            "timezone": timezone,
            "warnings": list(definition.warnings),
        }

    def _over_export_cap(self, tenant: str, guid: str) -> str | None:
        """Why a new export may not get a schedule (the tenant has too many); None if it may.
        An export that has a schedule already keeps it, whatever the count."""
        cap = self.limits.max_exports_per_tenant
        if self.schedules.get(tenant, guid) is not None:
            return None
        if self.config.export_count(tenant, stop_after=cap + 1) <= cap:
            return None
        return (
            f"the tenant has more than {cap} export definitions; this new export gets no schedule "
            "(delete unused definitions first; setting MAX_EXPORTS_PER_TENANT)"
        )

    def _config_invalid(self, tenant: str, guid: str, key: str, problem: str) -> str:
        """Publish one ``config-invalid`` notification for a single problem; returns it."""
        self.notifier.publish(
            {
                "outcome": "config-invalid",
                "tenantId": tenant,
                "exportGuid": guid,
                "configKey": key,
                "errorCount": 1,
                "errors": [problem],
                "error": f"{key}: 1 error(s); no schedule was created",
            }
        )
        return problem
