"""One run's values (runs/plan.py, runs/outcomes.py, runs/payloads.py): the frozen, versioned
plan that is also the distributed run's manifest, the state machine's payloads read at the
step's edge, and what a log line may carry (declared once, on the models)."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from tracking_export.report import SkippedRecord as EngineSkippedRecord
from tracking_export.report import Window
from tracking_export_aws.aws.s3_objects import DistributedRunError
from tracking_export_aws.notify.messages import RunFailed, RunSucceeded, log_fields
from tracking_export_aws.runs.manifest import read_manifest
from tracking_export_aws.runs.outcomes import ExportedFile, RunDuplicate, RunHandedOff, RunPaused
from tracking_export_aws.runs.payloads import FinishStep, RenderStep, read_step
from tracking_export_aws.runs.plan import ClaimRef, EndFile, Route, RunPlan
from tracking_export_aws.runs.steps import Coordinator, ShardWorker

PARIS_WINTER = timezone(timedelta(hours=1))
RUN_AT = datetime(2026, 3, 11, 2, 0, tzinfo=PARIS_WINTER)  # given with its offset, as a replay's runAt
SCHEDULED = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)
DEFINITION = '<?xml version="1.0" encoding="ISO-8859-1"?><export-config guid="daily">é</export-config>'
MANIFEST_KEY = "_work/acme/daily/7-2/manifest.json"


def _plan(**changes: Any) -> RunPlan:
    fields: dict[str, Any] = {
        "tenant_id": "acme",
        "export_guid": "daily",
        "scheduled_time": SCHEDULED,
        "run_at": RUN_AT,
        "claim": ClaimRef(
            run_number=7, attempt=2, token="t0k3n", holder="states:acme-daily-2-abc", started_at=RUN_AT
        ),
        "claimed_at": datetime(2026, 3, 11, 1, 0, 3, 250_000, tzinfo=UTC),
        "window": Window(
            "timeFrame",
            first_day=date(2026, 3, 8),
            last_day=date(2026, 3, 11),
            start=datetime(2026, 3, 8, 1, 0, 0, 123_456, tzinfo=UTC),
            end=datetime(2026, 3, 11, 1, 0, tzinfo=UTC),
        ),
        "recipients": ("lms@acme.example", "training@acme.example"),
        "timezone": "Europe/Paris",
        "previous_success_start": None,
        "definition": DEFINITION.encode("latin-1"),
        "definition_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "object_key": "tenants/acme/daily-r7.csv",
        "requested_key": "tenants/acme/daily.csv",
        "end_file": EndFile(key="tenants/acme/daily.done", content="OK"),
        "content_type": "text/csv",
        "tags": {"tenant": "acme", "export": "daily"},
        "download_link": True,
        "delete_empty_file": False,
        "route": Route(path="distributed", estimated_rows=1_200_000, max_rows_per_worker=1_000_000),
    }
    return RunPlan(**(fields | changes))


class _Bucket:
    """The S3 calls a manifest read makes, on one stored object."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.body)}


# -- the plan as the manifest -------------------------------------------------------------------


def test_the_manifest_is_the_plan_and_reads_back_equal() -> None:
    plan = _plan()
    text = plan.model_dump_json(by_alias=True)
    stored = json.loads(text)
    assert stored["version"] == 3
    # camelCase as every other JSON of the service; the definition's bytes as base64 text.
    assert {"tenantId", "runAt", "objectKey", "requestedKey", "endFile", "definitionVersion"} <= set(stored)
    read = read_manifest(_Bucket(text.encode()), "exports", MANIFEST_KEY)
    assert read == plan
    assert read.definition == DEFINITION.encode("latin-1")  # any encoding, byte for byte
    # The frozen engine Window, not a dict; its instants and the run's keep their values and
    # offsets, so the messages built from either plan say the same.
    assert isinstance(read.window, Window) and read.window == plan.window
    assert read.window.as_dict() == plan.window.as_dict()
    assert read.run_at.isoformat() == "2026-03-11T02:00:00+01:00"
    assert read.scheduled_time.isoformat() == SCHEDULED.isoformat() == "2026-03-11T01:00:00+00:00"
    assert read.ledger_claim() == plan.ledger_claim()
    assert read.run_id == "acme/daily/2026-03-11T01:00:00.000000Z"


@pytest.mark.parametrize(("version", "shown"), [(2, "'2'"), ("3", "'3'"), (None, "'None'")])
def test_a_manifest_of_another_version_is_refused_naming_both_versions(version: Any, shown: str) -> None:
    stored = json.loads(_plan().model_dump_json(by_alias=True)) | {"version": version}
    with pytest.raises(DistributedRunError) as refused:
        read_manifest(_Bucket(json.dumps(stored).encode()), "exports", MANIFEST_KEY)
    assert f"is version {shown}; this service reads version 3" in str(refused.value)


def test_a_manifest_without_a_version_is_refused() -> None:
    stored = json.loads(_plan().model_dump_json(by_alias=True))
    del stored["version"]
    with pytest.raises(DistributedRunError, match="is version 'missing'; this service reads version 3"):
        read_manifest(_Bucket(json.dumps(stored).encode()), "exports", MANIFEST_KEY)


def test_a_manifest_that_does_not_fit_the_plan_names_the_fields() -> None:
    stored = json.loads(_plan().model_dump_json(by_alias=True))
    del stored["objectKey"]
    stored["claim"]["attempt"] = 0
    with pytest.raises(DistributedRunError) as refused:
        read_manifest(_Bucket(json.dumps(stored).encode()), "exports", MANIFEST_KEY)
    message = str(refused.value)
    assert "objectKey: Field required" in message and "claim.attempt" in message


def test_a_manifest_is_read_only_at_its_own_runs_key() -> None:
    text = _plan().model_dump_json(by_alias=True).encode()
    with pytest.raises(DistributedRunError, match="the plan of another run"):
        read_manifest(_Bucket(text), "exports", "_work/acme/daily/7-1/manifest.json")


def test_the_plan_is_frozen_and_needs_its_window() -> None:
    plan = _plan()
    with pytest.raises(ValidationError):
        plan.object_key = "tenants/acme/elsewhere.csv"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="window"):
        _plan(window=None)


# -- the state machine's payloads ---------------------------------------------------------------


def test_a_step_is_read_into_its_model() -> None:
    step = read_step(
        {
            "step": "render",
            "manifestKey": MANIFEST_KEY,
            "shard": {"index": 2, "firstDay": "2026-03-09", "lastDay": "2026-03-10", "last": False},
        },
        {"render"},
    )
    assert isinstance(step, RenderStep)
    assert (step.manifest_key, step.shard.index, step.shard.days) == (
        MANIFEST_KEY,
        2,
        (date(2026, 3, 9), date(2026, 3, 10)),
    )


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (
            {"step": "render", "manifestKey": MANIFEST_KEY, "shard": {"firstDay": None}},
            "shard.index: Field required",
        ),
        (
            {"step": "render", "manifestKey": 12, "shard": {"index": 0, "last": True}},
            "manifestKey: Input should be",
        ),
        (
            {"step": "finish", "manifestKey": MANIFEST_KEY, "file": {"objectKey": None}},
            "file.bytes: Field required",
        ),
    ],
)
def test_a_step_that_does_not_fit_is_refused_naming_the_field(event: dict[str, Any], named: str) -> None:
    with pytest.raises(DistributedRunError) as refused:
        read_step(event)
    assert named in str(refused.value)
    assert str(refused.value).startswith(f"the {event['step']} step's input does not fit: ")


def test_a_function_runs_only_its_own_steps() -> None:
    with pytest.raises(DistributedRunError, match=r"runs the steps \['render'\], not 'plan'"):
        read_step({"step": "plan", "manifestKey": MANIFEST_KEY}, {"render"})


def test_the_assembled_file_travels_to_the_finish_step_unchanged() -> None:
    file = ExportedFile.stored(
        None,
        rows=0,
        skipped_count=2_500,
        skipped=[EngineSkippedRecord("trackingLog", (5, "x"), "progression: not an integer")],
        shards=4,
    )
    payload = json.loads(json.dumps(file.model_dump(mode="json", by_alias=True)))
    assert payload["objectKey"] is None and payload["bytes"] == 0 and payload["skippedCount"] == 2_500
    assert payload["skipped"] == [
        {"kind": "trackingLog", "key": [5, "x"], "reason": "progression: not an integer"}
    ]
    step = read_step({"step": "finish", "manifestKey": MANIFEST_KEY, "file": payload})
    assert isinstance(step, FinishStep) and step.file == file


# -- what a log line may carry ------------------------------------------------------------------


SECRET_URL = "https://exports.s3.eu-west-1.amazonaws.com/tenants/acme/a.csv?X-Amz-Signature=abc"


def test_log_lines_carry_the_run_fields_and_never_links_recipients_or_records() -> None:
    succeeded = RunSucceeded.model_validate(
        {
            "outcome": "succeeded",
            "tenantId": "acme",
            "exportGuid": "daily",
            "scheduledTime": "2026-03-11T01:00:00+00:00",
            "runAt": "2026-03-11T01:00:00+00:00",
            "runNumber": 7,
            "attempt": 1,
            "durationMs": 1200,
            "window": {"kind": "all", "firstDay": None, "lastDay": None, "start": None, "end": None},
            "rows": 2,
            "skippedCount": 1,
            "skipped": [{"kind": "trackingLog", "key": 5, "reason": "no such tracking"}],
            "bytes": 120,
            "bucket": "exports",
            "objectKey": "tenants/acme/a.csv",
            "sha256": "ab" * 32,
            "endFileKey": None,
            "recipients": ["training@acme.example"],
            "downloadUrl": SECRET_URL,
            "downloadUrlExpiresInSeconds": 3600,
            "downloadUrlExpiresAt": "2026-03-11T02:00:00+00:00",
            "path": "single",
            "estimatedRows": 2,
            "shards": 1,
        }
    )
    logged = log_fields(succeeded)
    assert logged == {
        "outcome": "succeeded",
        "runNumber": 7,
        "attempt": 1,
        "durationMs": 1200,
        "window": {"kind": "all", "firstDay": None, "lastDay": None, "start": None, "end": None},
        "rows": 2,
        "skippedCount": 1,
        "bytes": 120,
        "objectKey": "tenants/acme/a.csv",
        "sha256": "ab" * 32,
        "endFileKey": None,
        "path": "single",
        "estimatedRows": 2,
        "shards": 1,
    }
    assert SECRET_URL not in json.dumps(logged) and "training@" not in json.dumps(logged)
    failed = RunFailed.model_validate(
        {
            "outcome": "failed",
            "tenantId": "acme",
            "exportGuid": "daily",
            "scheduledTime": "s",
            "runAt": "r",
            "durationMs": 5,
            "error": "configuration tenants/acme/exports/daily.xml does not exist",
            "recipients": ["training@acme.example"],
            "objectKey": None,
        }
    )
    assert log_fields(failed) == {
        "outcome": "failed",
        "durationMs": 5,
        "error": "configuration tenants/acme/exports/daily.xml does not exist",
        "objectKey": None,
    }


def test_duplicate_handed_off_and_paused_outcomes_log_what_they_know() -> None:
    request = {"tenantId": "acme", "exportGuid": "daily", "scheduledTime": "s", "runAt": "r"}
    duplicate = RunDuplicate(
        **request, outcome="duplicate", existingStatus="succeeded", objectKey="k", redelivered=["sns"]
    )
    assert log_fields(duplicate) == {
        "outcome": "duplicate",
        "existingStatus": "succeeded",
        "objectKey": "k",
        "redelivered": ["sns"],
    }
    window = {"kind": "all", "firstDay": None, "lastDay": None, "start": None, "end": None}
    handed = RunHandedOff.model_validate(
        {
            **request,
            "outcome": "distributed",
            "runNumber": 3,
            "attempt": 1,
            "window": window,
            "path": "distributed",
            "estimatedRows": 2_000_000,
            "executionArn": "arn:aws:states:eu-west-1:1:execution:m:e",
        }
    )
    assert set(log_fields(handed)) == {
        "outcome",
        "runNumber",
        "attempt",
        "window",
        "path",
        "estimatedRows",
        "executionArn",
    }
    paused = RunPaused(
        **request,
        outcome="paused",
        pauseScope="tenant",
        pausedAt="2026-06-02T12:00:00.000000Z",
        objectKey=None,
    )
    assert log_fields(paused) == {
        "outcome": "paused",
        "pauseScope": "tenant",
        "pausedAt": "2026-06-02T12:00:00.000000Z",
        "objectKey": None,
    }


# -- each role gets what it uses ------------------------------------------------------------------


def test_the_worker_gets_no_notifier_mailer_nor_configuration() -> None:
    worker = {field.name for field in dataclasses.fields(ShardWorker)}
    assert worker == {"s3", "bucket", "source_for", "limits"}
    # The coordinator ends runs (channels, ledger, links) from the plan alone: no config store.
    coordinator = {field.name for field in dataclasses.fields(Coordinator)}
    assert "notifier" in coordinator and not {"config", "config_store"} & coordinator
