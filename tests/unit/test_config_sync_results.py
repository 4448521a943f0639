"""Config-sync's results: frozen models, JSON at the handler's edge, log fields declared on them."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import ValidationError

from tracking_export_aws.config.results import (
    ConfigRejected,
    ExportScheduled,
    SettingsApplied,
    SyncIgnored,
)
from tracking_export_aws.notify.messages import LOGGED, log_fields

SCHEDULED = ExportScheduled(
    action="scheduled",
    key="tenants/acme/exports/daily.xml",
    tenant_id="acme",
    export_guid="daily",
    schedule="acme--daily",
    expression="cron(0 2 * * ? *)",
    timezone="Europe/Paris",
    flexible_window_minutes=0,
    warnings=(),
)


def test_a_result_is_returned_with_its_json_names_and_only_the_fields_it_has() -> None:
    assert SCHEDULED.as_json() == {
        "action": "scheduled",
        "key": "tenants/acme/exports/daily.xml",
        "tenantId": "acme",
        "exportGuid": "daily",
        "schedule": "acme--daily",
        "expression": "cron(0 2 * * ? *)",
        "timezone": "Europe/Paris",
        "flexibleWindowMinutes": 0,
        "warnings": [],
    }
    # A paused export says so; the others do not carry the field at all.
    assert SCHEDULED.model_copy(update={"paused": True}).as_json()["paused"] is True
    # An event record that names no change: its index, None for the event as a whole.
    reason = "the event is not a JSON object"
    whole = SyncIgnored(action="ignored", record=None, reason=reason)
    assert whole.as_json() == {"action": "ignored", "record": None, "reason": reason}
    settings = SettingsApplied(
        action="settings-valid",
        key="tenants/acme/tenant.json",
        tenant_id="acme",
        rescheduled=("daily",),
        retention_requested=False,
    )
    assert settings.as_json() == {
        "action": "settings-valid",
        "key": "tenants/acme/tenant.json",
        "tenantId": "acme",
        "rescheduled": ["daily"],
        "retentionRequested": False,
    }


def test_a_log_line_carries_the_fields_marked_loggable_and_no_other() -> None:
    rejected = ConfigRejected(
        action="invalid",
        key="tenants/acme/tenant.json",
        tenant_id="acme",
        errors=("timezone: 'Mars/Olympus_Mons' is not a time zone",),
        reported=True,
    )
    # Every field of config-sync's results is marked: what a log line gets is what was returned.
    assert log_fields(rejected) == rejected.as_json()

    class WithPrivate(ConfigRejected):
        recipients: tuple[str, ...] = ()
        count: Annotated[int, LOGGED] = 0

    private = WithPrivate(**rejected.model_dump(), recipients=("training@acme.example",), count=1)
    assert "recipients" in private.as_json()
    assert "recipients" not in log_fields(private) and log_fields(private)["count"] == 1


def test_results_are_frozen_and_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        SCHEDULED.expression = "rate(1 hour)"
    with pytest.raises(ValidationError, match="objectKey"):
        SyncIgnored(action="ignored", reason="x", objectKey="k")
