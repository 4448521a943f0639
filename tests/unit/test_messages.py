"""The notification contract (messages.py): one model per outcome the notifier publishes, the
published JSON Schemas in docs/schemas/ equal to the generated ones, and the Notifier refusing
a message that does not fit before any channel sees it.

Every message the real producers publish is checked on arrival by the integration stack
(tests/integration/conftest.py: ``Stack.notifications`` and ``Stack.events``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import pytest
from notification_samples import check_delivered, failed_run, succeeded_run

from tracking_export_aws.notify import messages
from tracking_export_aws.notify.messages import InvalidNotification, validate_notification
from tracking_export_aws.notify.notifier import DETAIL_TYPES, SUBJECTS, Notifier, fit_message

ROOT = Path(__file__).resolve().parents[2]


class RecordingChannel:
    name = "sns"

    def __init__(self) -> None:
        self.delivered: list[Mapping[str, Any]] = []

    def deliver(self, message: Mapping[str, Any]) -> str:
        self.delivered.append(message)
        return "id-1"


def _outcomes() -> set[str]:
    union = get_args(get_args(messages.Notification)[0])
    return {get_args(model.model_fields["outcome"].annotation)[0] for model in union}


def test_every_published_outcome_has_a_model_a_detail_type_and_a_subject() -> None:
    assert _outcomes() == set(DETAIL_TYPES) == set(SUBJECTS)
    assert len(_outcomes()) == 7


@pytest.mark.parametrize("name", ["notification.schema.json", "eventbridge-event.schema.json"])
def test_the_published_schema_is_the_generated_one(name: str) -> None:
    published = (ROOT / "docs" / "schemas" / name).read_text(encoding="utf-8")
    assert published == messages.render(messages.schemas()[name]), (
        f"docs/schemas/{name} is stale: run `python -m tools.schemas docs/schemas`"
    )


def test_the_regeneration_command_writes_both_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "tools.schemas", str(tmp_path)], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "eventbridge-event.schema.json",
        "notification.schema.json",
    ]
    for written in tmp_path.iterdir():  # what the README's command writes is what is published
        assert written.read_bytes() == (ROOT / "docs" / "schemas" / written.name).read_bytes(), written.name


def test_the_schema_discriminates_on_outcome() -> None:
    schema = messages.schemas()["notification.schema.json"]
    assert schema["discriminator"]["propertyName"] == "outcome"
    assert set(schema["discriminator"]["mapping"]) == set(DETAIL_TYPES)
    failed = schema["$defs"]["RunFailed"]
    assert failed["additionalProperties"] is False
    assert {"tenantId", "exportGuid", "scheduledTime", "runAt", "durationMs", "error", "outcome"} <= set(
        failed["required"]
    )


def test_a_message_that_fits_is_published_unchanged() -> None:
    channel = RecordingChannel()
    message = succeeded_run(rows=3, bytes=120)
    assert Notifier([channel]).publish(message) == ["sns"]
    assert channel.delivered == [message]


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({**failed_run(), "errorText": "typo"}, "failed.errorText: Extra inputs are not permitted"),
        ({k: v for k, v in failed_run().items() if k != "error"}, "failed.error: Field required"),
        (succeeded_run(rows="many"), "succeeded.rows: Input should be a valid integer"),
        (
            succeeded_run(skipped=[{"kind": "learner", "key": 7}]),
            "succeeded.skipped.0.reason: Field required",
        ),
        ({**failed_run(), "outcome": "ok"}, "does not match any of the expected tags"),
        ({**failed_run(), "tenantId": ""}, "failed.tenantId: String should have at least 1 character"),
    ],
)
def test_a_message_that_does_not_fit_raises_before_any_channel_sees_it(
    message: dict[str, Any], named: str
) -> None:
    channel = RecordingChannel()
    with pytest.raises(InvalidNotification) as raised:
        Notifier([channel]).publish(message)
    assert named in str(raised.value)
    assert channel.delivered == []


def test_a_cut_message_still_fits_and_says_what_it_left_out() -> None:
    skipped = [
        {"kind": "trackingLog", "key": n, "reason": "no such tracking " + "x" * 50} for n in range(500)
    ]
    recipients = [f"learner{n:04d}@acme.example" for n in range(2000)]
    fitted = fit_message(
        succeeded_run(skippedCount=9000, skipped=skipped, recipients=recipients), limit=20_000
    )
    check_delivered(json.loads(json.dumps(fitted)))
    assert fitted["skippedOmitted"] == 9000 - len(fitted["skipped"])
    assert fitted["recipientsOmitted"] == 2000 - len(fitted["recipients"])


def test_each_outcome_has_a_valid_example() -> None:
    """Hand-written messages of the non-run outcomes, with the fields their producers set."""
    examples = [
        {
            "outcome": "config-invalid",
            "tenantId": "acme",
            "exportGuid": "nightly",
            "configKey": "tenants/acme/exports/nightly.xml",
            "errorCount": 1,
            "errors": ["line 8: unknown column 'bogus'"],
            "error": "tenants/acme/exports/nightly.xml: 1 error(s); the last valid version stays in use",
            "recipients": ["ops@acme.example"],
        },
        {
            "outcome": "ingest-rejected",
            "tenantId": "acme",
            "objectKey": "incoming/acme/day.jsonl",
            "etag": '"abc"',
            "movedTo": "tenants/acme/rejected/day.jsonl",
            "written": {"learner": 2},
            "writtenTotal": 2,
            "notNewer": {},
            "rejectedCount": 1,
            "rejected": [{"line": 3, "type": "learner", "field": "name", "rule": "is required"}],
            "daysRecounted": 0,
            "invocations": 1,
        },
        {
            "outcome": "ingest-failed",
            "tenantId": "acme",
            "objectKey": "incoming/acme/day.jsonl",
            "etag": '"abc"',
            "offset": 0,
            "reason": "ObjectChanged: replaced",
            "retry": "the object stays in incoming/",
        },
        {
            "outcome": "learner-erased",
            "tenantId": "acme",
            "learnerId": 7,
            "mode": "deleted",
            "erasedAt": "2026-03-02T06:00:00+00:00",
            "learnerFound": True,
            "removed": {"learner": 1},
            "pseudonymised": {},
            "daysRecounted": ["2026-03-01"],
            "deliveredFiles": [],
            "deliveredFilesNote": "delivered files may hold the learner",
        },
    ]
    assert {type(validate_notification(m)).__name__ for m in examples} == {
        "ConfigInvalid",
        "IngestRejected",
        "IngestFailed",
        "LearnerErased",
    }
