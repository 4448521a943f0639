"""What config-sync did with one change, as frozen models: :data:`SyncResult`.

``ConfigSyncService.apply`` returns one per change; the handler turns it into JSON at its edge
(:meth:`as_json`, the fields the result has under their JSON names) and logs the fields each
model declares loggable (``Annotated[..., LOGGED]``, read by ``notify.messages.log_fields``).
Every field here is: keys, ids, the schedule, and the errors, which name what is wrong and
where (an invalid value is quoted cut short; a valid address never appears). A field added
without the marker stays out of the log lines.

``action`` tells them apart: ``ignored``, ``scheduled``, ``deleted``/``absent`` (a definition),
``invalid``, ``settings-valid`` and ``deleted`` (tenant.json).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tracking_export_aws.notify.messages import LOGGED


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel)

    def as_json(self) -> dict[str, Any]:
        """The result as the handler returns it: the fields it was given, under their JSON names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class SyncIgnored(_Result):
    """``ignored``: nothing to do, and ``reason`` says why (another bucket, a key that names no
    configuration, an object gone or uploaded again since its event, an event record that names
    no change: ``record`` is its index, None for the event as a whole)."""

    action: Annotated[Literal["ignored"], LOGGED]
    key: Annotated[str | None, LOGGED] = None
    record: Annotated[int | None, LOGGED] = None
    tenant_id: Annotated[str | None, LOGGED] = None
    export_guid: Annotated[str | None, LOGGED] = None
    reason: Annotated[str, LOGGED]


class ExportScheduled(_Result):
    """``scheduled``: a valid definition; its schedule (``schedule``, the name) created or
    updated, and runs read this version of it. ``paused`` (set only then): an operator's pause
    holds the export, and its schedule is written DISABLED."""

    action: Annotated[Literal["scheduled"], LOGGED]
    key: Annotated[str, LOGGED]
    tenant_id: Annotated[str, LOGGED]
    export_guid: Annotated[str, LOGGED]
    schedule: Annotated[str, LOGGED]
    expression: Annotated[str, LOGGED]
    timezone: Annotated[str, LOGGED]
    flexible_window_minutes: Annotated[int, LOGGED]
    warnings: Annotated[tuple[str, ...], LOGGED]
    paused: Annotated[bool, LOGGED] = False


class ScheduleRemoved(_Result):
    """``deleted``: a definition removed, its schedule and pointer with it; ``absent``: it had
    no schedule."""

    action: Annotated[Literal["deleted", "absent"], LOGGED]
    key: Annotated[str, LOGGED]
    tenant_id: Annotated[str, LOGGED]
    export_guid: Annotated[str, LOGGED]


class ConfigRejected(_Result):
    """``invalid``: a definition or tenant.json that cannot be used (``export_guid`` None for
    tenant.json); the schedule and the last valid version stay. ``reported``: whether this call
    told the tenant (once per version and channel)."""

    action: Annotated[Literal["invalid"], LOGGED]
    key: Annotated[str, LOGGED]
    tenant_id: Annotated[str, LOGGED]
    export_guid: Annotated[str | None, LOGGED] = None
    errors: Annotated[tuple[str, ...], LOGGED]
    reported: Annotated[bool, LOGGED]


class SettingsApplied(_Result):
    """``settings-valid``: a valid tenant.json is the version runs use; ``rescheduled`` are the
    exports whose schedule follows its zone or default window and moved; ``retention_requested``:
    whether the ingest function was asked to apply its retention."""

    action: Annotated[Literal["settings-valid"], LOGGED]
    key: Annotated[str, LOGGED]
    tenant_id: Annotated[str, LOGGED]
    rescheduled: Annotated[tuple[str, ...], LOGGED]
    retention_requested: Annotated[bool, LOGGED]


class SettingsRemoved(_Result):
    """``deleted``: tenant.json removed, the defaults apply; ``rescheduled`` as for
    :class:`SettingsApplied`."""

    action: Annotated[Literal["deleted"], LOGGED]
    key: Annotated[str, LOGGED]
    tenant_id: Annotated[str, LOGGED]
    rescheduled: Annotated[tuple[str, ...], LOGGED]


SyncResult = (
    SyncIgnored | ExportScheduled | ScheduleRemoved | ConfigRejected | SettingsApplied | SettingsRemoved
)
