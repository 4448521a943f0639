"""One EventBridge Scheduler schedule per export, in the tenant's time zone, targeting the export function."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from tracking_export_aws.aws import keys

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import (
        CreateScheduleInputTypeDef,
        FlexibleTimeWindowTypeDef,
        RetryPolicyTypeDef,
    )

MAX_NAME_LENGTH = 64
# A longer name keeps its first characters and ends with "-" and this many hex digits of a hash.
NAME_HASH_LENGTH = 16
# Scheduler replaces this placeholder with the run's scheduled time: the run's idempotency key.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
RETRY_POLICY: RetryPolicyTypeDef = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
ENABLED: Final = "ENABLED"
DISABLED: Final = "DISABLED"
# What UpdateSchedule takes of what GetSchedule returns: it replaces the whole schedule.
_UPDATABLE = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "Description",
    "State",
    "KmsKeyArn",
    "Target",
    "FlexibleTimeWindow",
    "ActionAfterCompletion",
)


def schedule_name(tenant_id: str, export_guid: str) -> str:
    """``{tenant}--{guid}``; when longer than 64 characters, a prefix of it plus a hash of the whole."""
    name = f"{keys.validate_tenant_id(tenant_id)}--{keys.validate_export_guid(export_guid)}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:NAME_HASH_LENGTH]
    return f"{name[: MAX_NAME_LENGTH - NAME_HASH_LENGTH - 1]}-{digest}"


def schedule_input(tenant_id: str, export_guid: str) -> str:
    return json.dumps({"tenantId": tenant_id, "exportGuid": export_guid, "scheduledTime": SCHEDULED_TIME})


class ScheduleManager:
    def __init__(
        self, client: EventBridgeSchedulerClient, group: str, target_arn: str, role_arn: str, dlq_arn: str
    ) -> None:
        self.client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.dlq_arn = dlq_arn

    def upsert(
        self,
        tenant_id: str,
        export_guid: str,
        expression: str,
        timezone: str,
        *,
        flexible_window_minutes: int = 0,
        enabled: bool = True,
    ) -> str:
        """Create the export's schedule, or update it when it exists; returns its name.

        ``flexible_window_minutes`` > 0 lets Scheduler start the run up to that many minutes
        after its time (a fleet's 02:00 runs spread out); the run's scheduled time, its
        idempotency key and window, stays the nominal one. ``enabled`` False writes it
        DISABLED (a paused export).
        """
        request = self._request(
            tenant_id, export_guid, expression, timezone, flexible_window_minutes, enabled=enabled
        )
        try:
            self.client.create_schedule(**request)
        except self.client.exceptions.ConflictException:
            self.client.update_schedule(**request)
        return str(request["Name"])

    def _request(
        self,
        tenant_id: str,
        export_guid: str,
        expression: str,
        timezone: str,
        flexible_window_minutes: int,
        *,
        enabled: bool,
    ) -> CreateScheduleInputTypeDef:
        """The CreateSchedule / UpdateSchedule request of the export's schedule (they take the
        same members)."""
        name = schedule_name(tenant_id, export_guid)
        window: FlexibleTimeWindowTypeDef = (
            {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": flexible_window_minutes}
            if flexible_window_minutes > 0
            else {"Mode": "OFF"}
        )
        return {
            "Name": name,
            "GroupName": self.group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "Description": f"tracking log export {tenant_id}/{export_guid}",
            "State": ENABLED if enabled else DISABLED,
            "FlexibleTimeWindow": window,
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": schedule_input(tenant_id, export_guid),
                "RetryPolicy": RETRY_POLICY,
                "DeadLetterConfig": {"Arn": self.dlq_arn},
            },
        }

    def differences(
        self,
        current: dict[str, Any],
        tenant_id: str,
        export_guid: str,
        expression: str,
        timezone: str,
        *,
        flexible_window_minutes: int = 0,
        enabled: bool = True,
    ) -> list[str]:
        """What of ``current`` (as :meth:`get` returns it) differs from the schedule
        :meth:`upsert` would write for the export: the names of the fields, [] when none."""
        wanted = self._request(
            tenant_id, export_guid, expression, timezone, flexible_window_minutes, enabled=enabled
        )
        found = [
            name
            for name in ("ScheduleExpression", "ScheduleExpressionTimezone", "State")
            if current.get(name) != wanted[name]
        ]
        window = current.get("FlexibleTimeWindow") or {}
        if _window_minutes(window) != _window_minutes(wanted["FlexibleTimeWindow"]):
            found.append("FlexibleTimeWindow")
        target, wanted_target = current.get("Target") or {}, wanted["Target"]
        for name in ("Arn", "RoleArn", "DeadLetterConfig"):
            if target.get(name) != wanted_target[name]:
                found.append(f"Target.{name}")
        if _json(target.get("Input")) != _json(wanted_target["Input"]):
            found.append("Target.Input")
        return found

    def delete(self, tenant_id: str, export_guid: str) -> bool:
        """Delete the export's schedule; False when there was none."""
        try:
            self.client.delete_schedule(Name=schedule_name(tenant_id, export_guid), GroupName=self.group)
        except self.client.exceptions.ResourceNotFoundException:
            return False
        return True

    def get(self, tenant_id: str, export_guid: str) -> dict[str, Any] | None:
        """The schedule as GetSchedule describes it; None when there is none."""
        try:
            response = self.client.get_schedule(
                Name=schedule_name(tenant_id, export_guid), GroupName=self.group
            )
        except self.client.exceptions.ResourceNotFoundException:
            return None
        return {name: value for name, value in response.items() if name != "ResponseMetadata"}

    def set_state(self, tenant_id: str, export_guid: str, *, enabled: bool) -> bool | None:
        """Enable or disable the export's schedule, all else unchanged; True when its state
        changed, False when it already was so, None when there is no schedule."""
        current = self.get(tenant_id, export_guid)
        if current is None:
            return None
        state = ENABLED if enabled else DISABLED
        if current.get("State") == state:
            return False
        request = {k: current[k] for k in _UPDATABLE if current.get(k) is not None}
        try:
            self.client.update_schedule(**{**request, "State": state})
        except self.client.exceptions.ResourceNotFoundException:
            return None  # deleted in between
        return True


def _window_minutes(window: Mapping[str, Any]) -> int:
    return int(window.get("MaximumWindowInMinutes") or 0) if window.get("Mode") == "FLEXIBLE" else 0


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return text


def tenant_schedule_names(client: EventBridgeSchedulerClient, group: str, tenant_id: str) -> list[str]:
    """The schedules of ``group`` that run one of ``tenant_id``'s exports.

    Listed by the start every such name has (``{tenant}--``, or as much of it as a hashed long
    name keeps), then each confirmed by its target input, which names the tenant: the start of
    ``acme``'s names is also the start of tenant ``acme--x``'s.
    """
    prefix = f"{keys.validate_tenant_id(tenant_id)}--"[: MAX_NAME_LENGTH - NAME_HASH_LENGTH - 1]
    names: list[str] = []
    page_token: dict[str, Any] = {}
    while True:
        page = client.list_schedules(GroupName=group, NamePrefix=prefix, **page_token)
        for summary in page.get("Schedules", []):
            try:
                schedule = client.get_schedule(Name=summary["Name"], GroupName=group)
            except client.exceptions.ResourceNotFoundException:
                continue  # deleted since it was listed
            if _target_tenant(dict(schedule)) == tenant_id:
                names.append(str(summary["Name"]))
        if not page.get("NextToken"):
            return sorted(names)
        page_token = {"NextToken": page["NextToken"]}


def delete_schedule_named(client: EventBridgeSchedulerClient, group: str, name: str) -> bool:
    """Delete one schedule by name; False when there was none."""
    try:
        client.delete_schedule(Name=name, GroupName=group)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True


def _target_tenant(schedule: dict[str, Any]) -> str | None:
    """The ``tenantId`` of a schedule's target input; None when it has none."""
    data = _json((schedule.get("Target") or {}).get("Input"))
    tenant = data.get("tenantId") if isinstance(data, dict) else None
    return tenant if isinstance(tenant, str) else None
