"""Complete notification messages (messages.py) for the tests that publish one by hand.

Each builder returns a message of one outcome with every required field, the fields a test
cares about given by keyword (JSON names): ``failed_run(error="boom")``; and the checks the
integration stack applies to every message and event it receives. ``tests/conftest.py``
puts this folder on ``sys.path``, so both tiers ``import notification_samples``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tracking_export_aws.notify.messages import EventBridgeEvent, validate_notification

RUN = {
    "tenantId": "acme",
    "exportGuid": "nightly",
    "scheduledTime": "2026-03-02T06:00:00+00:00",
    "runAt": "2026-03-02T06:00:00+00:00",
    "runNumber": 1,
    "attempt": 1,
    "durationMs": 1200,
}


def failed_run(**fields: Any) -> dict[str, Any]:
    """A ``failed`` run message."""
    return {
        **RUN,
        "outcome": "failed",
        "error": "S3 unavailable",
        "window": None,
        "objectKey": None,
        **fields,
    }


def succeeded_run(**fields: Any) -> dict[str, Any]:
    """A ``succeeded`` run message with an empty file's counts."""
    return {
        **RUN,
        "outcome": "succeeded",
        "window": {
            "kind": "delta",
            "firstDay": "2026-03-01",
            "lastDay": "2026-03-01",
            "start": "2026-03-01T06:00:00+00:00",
            "end": "2026-03-02T06:00:00+00:00",
        },
        "rows": 0,
        "skippedCount": 0,
        "skipped": [],
        "bytes": 0,
        "bucket": "exports",
        "objectKey": "acme/nightly.csv",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "recipients": [],
        **fields,
    }


SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
_NOTIFICATION = Draft202012Validator(json.loads((SCHEMAS / "notification.schema.json").read_text()))
_EVENT = Draft202012Validator(json.loads((SCHEMAS / "eventbridge-event.schema.json").read_text()))


def check_delivered(message: dict[str, Any]) -> None:
    """Raise unless a message as a subscriber received it fits the contract: its outcome's
    model (messages.py) and the published JSON Schema (docs/schemas/notification.schema.json)."""
    validate_notification(message)
    _NOTIFICATION.validate(message)


def check_event(envelope: dict[str, Any]) -> None:
    """Raise unless an event as a rule's target received it fits the published event schema."""
    EventBridgeEvent.model_validate(envelope)
    _EVENT.validate(envelope)
