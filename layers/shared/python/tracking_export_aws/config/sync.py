"""The config-sync use case: a definition uploaded or deleted -> its schedule follows.

Valid upload: create or update the export's schedule (expression and zone from the
definition's ``<schedule>``, default daily 02:00 in the tenant's zone) and record the
upload's S3 version as the last valid one (runs read that version). Deletion: delete the
schedule and the pointer. Invalid upload: leave the schedule and the pointer untouched and
publish one ``config-invalid`` notification listing every error (once per version).
``tenant.json`` uploads are validated and pointed at the same way.

A paused export (an operator's pause of it or of its tenant, ``aws/pauses.py``) keeps its
schedule DISABLED through every upload: config-sync creates or updates it disabled and never
enables it; only ``resume`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracking_export.errors import DefinitionError
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.model import ExportDefinition
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.pauses import PauseRecords
from tracking_export_aws.aws.s3_events import S3ObjectEvent
from tracking_export_aws.aws.scheduler import ScheduleManager
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.config.results import (
    ConfigRejected,
    ExportScheduled,
    ScheduleRemoved,
    SettingsApplied,
    SettingsRemoved,
    SyncIgnored,
    SyncResult,
)
from tracking_export_aws.config.store import (
    ConfigError,
    ConfigInvalid,
    ConfigNotFound,
    ConfigStore,
    TenantSettings,
    parse_config_key,
    parse_tenant_settings,
)
from tracking_export_aws.config.versions import ConfigVersion, ConfigVersions, settings_pk
from tracking_export_aws.notify.notifier import Notifier, fit_message

DEFAULT_EXPRESSION = "cron(0 2 * * ? *)"
# How many older versions config-sync reads to find the last valid one of an object that has
# no pointer yet (uploaded before the pointers existed).
MAX_VERSIONS_SEARCHED = 10


@dataclass(frozen=True)
class ExportSchedule:
    """The schedule an export has: its expression and zone, and the flexible window."""

    expression: str
    timezone: str
    flexible_window_minutes: int

    @property
    def key(self) -> str:
        """What decides its scheduled times (the window only delays them)."""
        return f"{self.expression} {self.timezone}"


def export_schedule(definition: ExportDefinition, settings: TenantSettings) -> ExportSchedule:
    """The export's schedule: ``<schedule>`` (default daily 02:00), in its own zone else the
    tenant's, with its own flexible window else the tenant's default."""
    schedule = definition.schedule
    own_window = schedule.flexible_window_minutes if schedule else None
    return ExportSchedule(
        expression=schedule.expression if schedule else DEFAULT_EXPRESSION,
        timezone=(schedule.timezone if schedule else None) or settings.timezone,
        flexible_window_minutes=settings.flexible_window_minutes if own_window is None else own_window,
    )


def write_schedule(
    schedules: ScheduleManager,
    versions: ConfigVersions | None,
    tenant: str,
    guid: str,
    schedule: ExportSchedule,
    paused: bool,
    now: datetime,
) -> str:
    """Create or update the export's schedule (DISABLED while ``paused``) and note since when it
    is this one (``scheduleSince``); returns its name. Config-sync and the watchdog's repair."""
    name = schedules.upsert(
        tenant,
        guid,
        schedule.expression,
        schedule.timezone,
        flexible_window_minutes=schedule.flexible_window_minutes,
        enabled=not paused,
    )
    if versions is not None:
        versions.note_schedule(keys.export_pk(tenant, guid), schedule.key, now)
    return name


_TENANT_SETTINGS_KEY_RE = re.compile(r"^tenants/([^/]+)/tenant\.json$")


def _tenant_of_settings_key(key: str) -> str | None:
    """The tenant whose ``tenant.json`` ``key`` is (validated); None for any other key."""
    match = _TENANT_SETTINGS_KEY_RE.fullmatch(key)
    if not match:
        return None
    try:
        return keys.validate_tenant_id(match.group(1))
    except keys.InvalidKeyError:
        return None


@dataclass
class ConfigSyncService:
    """Keeps schedules and the last-valid pointers in line with the config bucket."""

    config: ConfigStore
    schedules: ScheduleManager
    notifier: Notifier
    versions: ConfigVersions | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    limits: Limits = DEFAULT_LIMITS
    # ``request_retention(bucket, key)`` once a tenant.json upload is found valid: the ingest
    # function applies its retentionDays to the tenant's logs. None: no request (the operator
    # runs ``python -m tools.apply_retention``).
    request_retention: Callable[[str, str], None] | None = None
    # Operators' pauses: a paused export's schedule is written DISABLED. None: no pauses.
    pauses: PauseRecords | None = None

    def apply(self, change: S3ObjectEvent) -> SyncResult:
        """Bring the export's schedule (or the tenant's settings) in line with the bucket; returns
        what was done. Raises when a notification could not be published, so the event is retried."""
        if change.bucket and change.bucket != self.config.bucket:
            return SyncIgnored(
                action="ignored", key=change.key, reason=f"not the config bucket {change.bucket!r}"
            )
        settings_tenant = _tenant_of_settings_key(change.key)
        if settings_tenant is not None:
            return self._apply_tenant_settings(change, settings_tenant)
        try:
            tenant, guid = parse_config_key(change.key)
        except ConfigError as exc:
            return SyncIgnored(action="ignored", key=change.key, reason=str(exc))
        pointer = keys.export_pk(tenant, guid)
        if change.removed:
            if self._exists(change.key):
                # Uploaded again since (S3 events may arrive out of order): its own event decides.
                return SyncIgnored(
                    action="ignored",
                    key=change.key,
                    tenant_id=tenant,
                    export_guid=guid,
                    reason="the object exists again",
                )
            deleted = self.schedules.delete(tenant, guid)
            if self.versions is not None:
                self.versions.forget(pointer)
            return ScheduleRemoved(
                action="deleted" if deleted else "absent", key=change.key, tenant_id=tenant, export_guid=guid
            )
        try:
            found = self.config.read(change.key)
        except ConfigNotFound:
            # Deleted again before we ran: the delete event removes the schedule.
            return SyncIgnored(
                action="ignored",
                key=change.key,
                tenant_id=tenant,
                export_guid=guid,
                reason="the object no longer exists",
            )
        try:
            definition = checked_definition(found.data, guid, self.limits)
        except DefinitionError as exc:
            errors = [str(issue) for issue in exc.issues]
            self._point_at_previous_valid(
                pointer, found.version, lambda data: checked_definition(data, guid, self.limits)
            )
            return self._rejected(
                change.key, pointer, found.version, tenant, guid, errors, self._tenant_addresses(tenant)
            )
        targets = definition.email_report.target_emails
        try:
            settings = self.config.tenant_settings(tenant)
        except ConfigInvalid as exc:
            # The definition is fine but the tenant's settings cannot be used: nothing changes.
            errors = [f"{exc.key}: {problem}" for problem in exc.problems]
            return self._rejected(change.key, pointer, found.version, tenant, guid, errors, list(targets))
        except ConfigError as exc:
            errors = [str(exc)]
            return self._rejected(change.key, pointer, found.version, tenant, guid, errors, list(targets))
        if too_many := self._over_export_cap(tenant, guid):
            addresses = [*settings.notification_emails, *targets]
            return self._rejected(change.key, pointer, found.version, tenant, guid, [too_many], addresses)
        schedule = export_schedule(definition, settings)
        paused = self._paused(tenant, guid)
        name = self._upsert(tenant, guid, schedule, paused=paused)
        if self.versions is not None:
            self.versions.set_valid(pointer, found.version, self.clock())
        scheduled = ExportScheduled(
            action="scheduled",
            key=change.key,
            tenant_id=tenant,
            export_guid=guid,
            schedule=name,
            expression=schedule.expression,
            timezone=schedule.timezone,
            flexible_window_minutes=schedule.flexible_window_minutes,
            warnings=tuple(definition.warnings),
        )
        return scheduled.model_copy(update={"paused": True}) if paused else scheduled

    def _paused(self, tenant: str, guid: str) -> bool:
        return self.pauses is not None and self.pauses.paused(tenant, guid) is not None

    def _upsert(self, tenant: str, guid: str, schedule: ExportSchedule, *, paused: bool) -> str:
        return write_schedule(self.schedules, self.versions, tenant, guid, schedule, paused, self.clock())

    def _apply_tenant_settings(
        self, change: S3ObjectEvent, tenant: str
    ) -> SyncIgnored | SettingsRemoved | ConfigRejected | SettingsApplied:
        """``tenant.json``: a valid upload becomes the version runs use; an invalid one is reported
        and the last valid one stays in use; a deletion brings back the defaults."""
        pointer = settings_pk(tenant)
        if change.removed:
            if self._exists(change.key):
                return SyncIgnored(
                    action="ignored", key=change.key, tenant_id=tenant, reason="the object exists again"
                )
            if self.versions is not None:
                self.versions.forget(pointer)
            rescheduled = self._reschedule_tenant(tenant, TenantSettings())
            return SettingsRemoved(
                action="deleted", key=change.key, tenant_id=tenant, rescheduled=tuple(rescheduled)
            )
        try:
            found = self.config.read(change.key)
        except ConfigNotFound:
            return SyncIgnored(
                action="ignored", key=change.key, tenant_id=tenant, reason="the object no longer exists"
            )
        try:
            settings = parse_tenant_settings(found.data, change.key, self.limits)
        except ConfigInvalid as exc:
            self._point_at_previous_valid(
                pointer, found.version, lambda data: parse_tenant_settings(data, change.key, self.limits)
            )
            # Told to the addresses of the last valid tenant.json (none if there is none).
            addresses = self._tenant_addresses(tenant)
            return self._rejected(change.key, pointer, found.version, tenant, None, exc.problems, addresses)
        # Schedules first: should they fail, the retried event finds the pointer unmoved.
        rescheduled = self._reschedule_tenant(tenant, settings)
        if self.versions is not None:
            self.versions.set_valid(pointer, found.version, self.clock())
        # Last: should the request fail, the retried event finds everything else already done.
        if self.request_retention is not None:
            self.request_retention(self.config.bucket, change.key)
        return SettingsApplied(
            action="settings-valid",
            key=change.key,
            tenant_id=tenant,
            rescheduled=tuple(rescheduled),
            retention_requested=self.request_retention is not None,
        )

    def _reschedule_tenant(self, tenant: str, settings: TenantSettings) -> list[str]:
        """Move the schedules that follow the tenant's zone or its default flexible window (no
        zone or window of their own) to those of ``settings``; returns the export guids whose
        schedule was updated."""
        rescheduled = []
        for guid in self.config.export_guids(tenant):
            current = self.schedules.get(tenant, guid)
            if current is None:
                continue  # never valid, or deleted: nothing runs
            try:
                definition = checked_definition(
                    self.config.export_definition(tenant, guid), guid, self.limits
                )
            except (DefinitionError, ConfigError):
                continue  # its last valid version is gone: its own upload will schedule it
            own = definition.schedule
            schedule = export_schedule(definition, settings)
            own_zone = own.timezone if own else None
            own_window = own.flexible_window_minutes if own else None
            if own_zone and (
                own_window is not None or _window_of(current) == schedule.flexible_window_minutes
            ):
                continue  # follows neither the tenant's zone nor a changed default window
            self._upsert(tenant, guid, schedule, paused=self._paused(tenant, guid))
            rescheduled.append(guid)
        return rescheduled

    def _point_at_previous_valid(
        self, pointer: str, invalid: ConfigVersion, validate: Callable[[bytes], object]
    ) -> None:
        """No pointer yet (the object predates them) and the new upload is invalid: point at the
        newest older version that validates, so the export keeps running on it."""
        if self.versions is None or self.versions.valid(pointer) is not None:
            return
        for older in self.config.older_versions(invalid, limit=MAX_VERSIONS_SEARCHED):
            try:
                validate(self.config.read(older.key, older).data)
            except (DefinitionError, ConfigError):
                continue
            self.versions.set_valid(pointer, older, self.clock())
            return

    def _exists(self, key: str) -> bool:
        try:
            self.config.read(key)
        except ConfigNotFound:
            return False
        return True

    def _tenant_addresses(self, tenant: str) -> list[str]:
        """``notificationEmails`` of the tenant's last valid ``tenant.json``; none when it has none."""
        try:
            return list(self.config.tenant_settings(tenant).notification_emails)
        except ConfigError:
            return []

    def _rejected(
        self,
        key: str,
        pointer: str,
        version: ConfigVersion,
        tenant: str,
        guid: str | None,
        errors: list[str],
        recipients: list[str],
    ) -> ConfigRejected:
        """The ``invalid`` result of the upload ``key`` (``guid`` None for a tenant.json), after
        one ``config-invalid`` notification per invalid version and channel, addressed to
        ``recipients`` (the e-mail channel); ``reported`` says whether this call delivered it
        anywhere. NotificationError (the event is retried) when a channel failed."""
        message: dict[str, Any] = {
            "outcome": "config-invalid",
            "tenantId": tenant,
            "configKey": version.key,
            "errorCount": len(errors),
            "errors": errors,
            "error": f"{version.key}: {len(errors)} error(s); the last valid version stays in use",
            "recipients": sorted(set(recipients)),
        }
        if guid is not None:
            message["exportGuid"] = guid
        versions = self.versions
        if versions is None:
            reported = bool(self.notifier.publish(fit_message(message)))
        else:
            owed = versions.start_invalid_report(pointer, version, self.notifier.channel_names)
            # Nothing owed: a repeated event for a version already reported.
            reported = bool(owed) and bool(
                self.notifier.publish(
                    fit_message(message),
                    only=owed,
                    on_delivered=lambda channel, _answer: versions.mark_invalid_delivered(
                        pointer, version, channel
                    ),
                )
            )
        # A tenant.json's result leaves export_guid unset (not set to None): it is not logged.
        about = {} if guid is None else {"export_guid": guid}
        return ConfigRejected(
            action="invalid", key=key, tenant_id=tenant, errors=tuple(errors), reported=reported, **about
        )

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


def _window_of(schedule: dict[str, Any]) -> int:
    """The flexible window of a schedule as GetSchedule describes it (0: off)."""
    window = schedule.get("FlexibleTimeWindow") or {}
    return int(window.get("MaximumWindowInMinutes") or 0) if window.get("Mode") == "FLEXIBLE" else 0
