"""The export function's input: which tenant's export to run, for which time.

Two shapes arrive (docs/run-lifecycle.md): the scheduler's payload
``{"tenantId", "exportGuid", "scheduledTime"?, "runAt"?}`` and an EventBridge scheduled
event carrying the same fields in ``detail`` (its ``time`` is then the scheduled time).
Both are read through pydantic models; anything else — not an object, a wrong type, an
id that cannot be put in a key, an instant outside the run-time range — is refused as
:class:`InvalidRequest`, whose message names the field and the rule, never an exception
from deeper down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.source import parse_instant
from tracking_export_aws.aws import keys

# Longer than any instant or id: such a field is refused without being parsed.
_MAX_FIELD = 64


class InvalidRequest(ValueError):
    """The event does not name a valid tenant and export; nothing can be run or notified."""


@dataclass(frozen=True)
class ExportRequest:
    """What to run: the scheduler payload, or an EventBridge scheduled event's ``detail``."""

    tenant_id: str
    export_guid: str
    scheduled_time: datetime | None = None
    run_at: datetime | None = None

    @classmethod
    def from_event(cls, event: Any, limits: Limits = DEFAULT_LIMITS) -> ExportRequest:
        """Read either event shape; InvalidRequest names what is wrong."""
        if not isinstance(event, Mapping):
            raise InvalidRequest("the event must be a JSON object")
        context = {"limits": limits}
        try:
            if "detail" in event and "tenantId" not in event:
                scheduled_event = _ScheduledEvent.model_validate(event, context=context)
                payload = scheduled_event.detail
                scheduled = payload.scheduled_time or scheduled_event.time
                run_at = payload.run_at or scheduled_event.run_at
            else:
                payload = _Payload.model_validate(event, context=context)
                scheduled, run_at = payload.scheduled_time, payload.run_at
        except ValidationError as exc:
            raise InvalidRequest("; ".join(_problem(error) for error in exc.errors())) from None
        return cls(payload.tenant_id, payload.export_guid, scheduled, run_at)


def _request_instant(value: Any, info: ValidationInfo) -> datetime | None:
    """An optional instant field: ISO 8601 with an offset, within the run-time years."""
    if value is None or value == "":
        return None
    limits: Limits = (info.context or {}).get("limits", DEFAULT_LIMITS)
    rule = (
        "must be an ISO 8601 instant with an offset or Z, such as 2026-11-28T01:00:00Z, "
        f"in the years {limits.first_run_year}..{limits.last_run_year} "
        "(settings FIRST_RUN_YEAR, LAST_RUN_YEAR)"
    )
    parsed = parse_instant(value) if isinstance(value, str) and len(value) <= _MAX_FIELD else None
    if parsed is None or limits.run_time_problem(parsed) is not None:
        raise ValueError(rule)
    return parsed


class _Payload(BaseModel):
    """The scheduler payload (and an EventBridge event's ``detail``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str = Field(alias="tenantId")
    export_guid: str = Field(alias="exportGuid")
    scheduled_time: datetime | None = Field(default=None, alias="scheduledTime")
    run_at: datetime | None = Field(default=None, alias="runAt")

    @field_validator("tenant_id", mode="before")
    @classmethod
    def _tenant(cls, value: Any) -> str:
        try:
            return keys.validate_tenant_id(value)
        except keys.InvalidKeyError:
            raise ValueError("must be a tenant id: ^[a-z0-9][a-z0-9-]{1,62}$") from None

    @field_validator("export_guid", mode="before")
    @classmethod
    def _guid(cls, value: Any) -> str:
        try:
            return keys.validate_export_guid(value)
        except keys.InvalidKeyError:
            raise ValueError(
                "must be an export guid: 1-64 characters A-Z a-z 0-9 . _ - starting with a letter or digit"
            ) from None

    @field_validator("scheduled_time", "run_at", mode="before")
    @classmethod
    def _instants(cls, value: Any, info: ValidationInfo) -> datetime | None:
        return _request_instant(value, info)


class _ScheduledEvent(BaseModel):
    """An EventBridge scheduled event: the payload in ``detail``, the scheduled time in ``time``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    detail: _Payload
    time: datetime | None = None
    run_at: datetime | None = Field(default=None, alias="runAt")

    @field_validator("time", "run_at", mode="before")
    @classmethod
    def _instants(cls, value: Any, info: ValidationInfo) -> datetime | None:
        return _request_instant(value, info)


def _problem(error: Any) -> str:
    """One pydantic error as ``field: rule``; the input itself is never quoted."""
    where = ".".join(str(part) for part in error["loc"]) or "the event"
    if error["type"] == "missing":
        return f"{where}: is required"
    if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: must be a JSON object"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


# Lambda's own words for a timeout; any other errorMessage may quote a runtime path or a data
# value, so only the error type of those is kept.
_TIMEOUT_MESSAGE = re.compile(r"Task timed out after [0-9.]+ seconds")
_ERROR_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,99}")


def destination_failure_detail(response: Any) -> str | None:
    """What a destination record's ``responsePayload`` may tell the tenant about the failure."""
    if not isinstance(response, dict):
        return None
    message = response.get("errorMessage")
    if isinstance(message, str) and _TIMEOUT_MESSAGE.fullmatch(message):
        return message
    error_type = response.get("errorType")
    return error_type if isinstance(error_type, str) and _ERROR_TYPE.fullmatch(error_type) else None
