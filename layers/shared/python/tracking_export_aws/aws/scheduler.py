"""One EventBridge Scheduler schedule per export, in the tenant's time zone, targeting the export function."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws import keys

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import (
        CreateScheduleInputTypeDef,
        FlexibleTimeWindowTypeDef,
        RetryPolicyTypeDef,
    )

MAX_NAME_LENGTH = 64
# Scheduler replaces this placeholder with the run's scheduled time: the run's idempotency key.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
RETRY_POLICY: RetryPolicyTypeDef = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}


def schedule_name(tenant_id: str, export_guid: str) -> str:
    """``{tenant}--{guid}``; when longer than 64 characters, a prefix of it plus a hash of the whole."""
    name = f"{keys.validate_tenant_id(tenant_id)}--{keys.validate_export_guid(export_guid)}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: MAX_NAME_LENGTH - len(digest) - 1]}-{digest}"


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
    ) -> str:
        """Create the export's schedule, or update it when it exists; returns its name.

        ``flexible_window_minutes`` > 0 lets Scheduler start the run up to that many minutes
        after its time (a fleet's 02:00 runs spread out); the run's scheduled time, its
        idempotency key and window, stays the nominal one.
        """
        name = schedule_name(tenant_id, export_guid)
        window: FlexibleTimeWindowTypeDef = (
            {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": flexible_window_minutes}
            if flexible_window_minutes > 0
            else {"Mode": "OFF"}
        )
        # CreateSchedule and UpdateSchedule take the same members.
        request: CreateScheduleInputTypeDef = {
            "Name": name,
            "GroupName": self.group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "Description": f"tracking log export {tenant_id}/{export_guid}",
            "State": "ENABLED",
            "FlexibleTimeWindow": window,
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": schedule_input(tenant_id, export_guid),
                "RetryPolicy": RETRY_POLICY,
                "DeadLetterConfig": {"Arn": self.dlq_arn},
            },
        }
        try:
            self.client.create_schedule(**request)
        except self.client.exceptions.ConflictException:
            self.client.update_schedule(**request)
        return name

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
