"""Single or distributed: the export function estimates a run's rows and, above
``max_rows_per_worker``, writes the run's manifest, hands the claim to a Step Functions
execution and starts it. The export service knows this module's ``Router`` (never the steps).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracking_export.engine import window_days
from tracking_export.model import ExportDefinition
from tracking_export.source import TrackingSource
from tracking_export.window import compute_window, day_range
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.s3_objects import delete_prefix
from tracking_export_aws.runs.ledger import Claim, RunLedger
from tracking_export_aws.runs.manifest import work_prefix

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

# Rows one worker renders. Measured by bench/distributed.py (docs/capacity.md): 8,500 rows per
# CPU-second on the e2e definition (a busy shared machine; issue 7 measured 13,800), so a 900 s
# one-vCPU worker could do 7.6M rows. A sixth of that, rounded down: one shard takes about two
# minutes and finishes well inside the timeout on a slow day, under throttling or a cold start.
DEFAULT_MAX_ROWS_PER_WORKER = 1_000_000
# The state machine's own timeout (TimeoutSeconds in the ASL) plus a margin: the claim is held
# this long for the execution, so a duplicate delivery meanwhile does nothing.
EXECUTION_TIMEOUT_SECONDS = 6 * 3600
DISTRIBUTED_LEASE_SECONDS = EXECUTION_TIMEOUT_SECONDS + 900


def execution_name(tenant_id: str, export_guid: str, scheduled: datetime, attempt: int) -> str:
    """A name unique per (tenant, export, scheduled time, attempt): a repeated StartExecution of
    the same attempt is the same execution, never a second one."""
    digest = hashlib.sha256(f"{tenant_id}/{export_guid}/{keys.instant_key(scheduled)}".encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{tenant_id[:24]}-{export_guid[:24]}")
    return f"{readable}-{attempt}-{digest[:24]}"


def _iso(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).isoformat() if instant is not None else None


@dataclass(frozen=True)
class Route:
    """The path a run takes, for its record and notification."""

    path: str  # "single" or "distributed"
    estimated_rows: int | None
    execution_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "estimatedRows": self.estimated_rows}


@dataclass
class Router:
    """Estimates a run's rows and, above ``max_rows_per_worker``, starts the state machine."""

    s3: S3Client
    sfn: SFNClient
    ledger: RunLedger
    bucket: str
    state_machine_arn: str
    max_rows_per_worker: int = DEFAULT_MAX_ROWS_PER_WORKER
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def route(
        self,
        *,
        claim: Claim,
        source: TrackingSource,
        definition: ExportDefinition,
        definition_data: bytes,
        timezone: str,
        run_time: datetime,
        previous_success_start: datetime | None,
        object_key: str,
        requested_key: str,
        content_type: str,
        tags: Mapping[str, str],
        recipients: Sequence[str],
        message: Mapping[str, Any],
        before_hand_off: Callable[[], None] = lambda: None,
    ) -> Route:
        """Single or distributed; a distributed run is handed to its execution here.

        ``object_key`` is the key the single path would write (already past the collision
        rule, ``requested_key`` the one the definition names); ``before_hand_off`` stops the
        export function's heartbeat, whose short lease must not replace the execution's.
        """
        estimate = estimate_rows(source, definition, timezone, run_time, previous_success_start)
        if estimate is None or estimate <= self.max_rows_per_worker:
            self.ledger.record_route(claim, "single", estimate, shards=1)
            return Route("single", estimate)
        assert claim.run_number is not None and claim.started_at is not None
        work = work_prefix(claim.tenant_id, claim.export_guid, claim.run_number, claim.attempt)
        name = execution_name(claim.tenant_id, claim.export_guid, claim.scheduled_time, claim.attempt)
        manifest = {
            "version": 2,
            **{k: message[k] for k in ("tenantId", "exportGuid", "scheduledTime", "runAt")},
            "runStart": _iso(claim.started_at),
            "runNumber": claim.run_number,
            "attempt": claim.attempt,
            "claimToken": claim.token,
            "holder": f"states:{name}",
            "timezone": timezone,
            "previousSuccessStart": _iso(previous_success_start),
            "definition": base64.b64encode(definition_data).decode("ascii"),
            "objectKey": object_key,
            "requestedObjectKey": requested_key,
            "contentType": content_type,
            "tags": dict(tags),
            "recipients": list(recipients),
            "estimatedRows": estimate,
            "maxRowsPerWorker": self.max_rows_per_worker,
            "startedAt": _iso(self.clock()),
            "message": dict(message),
        }
        manifest_key = f"{work}manifest.json"
        self.s3.put_object(Bucket=self.bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
        # From here the execution holds the claim: a duplicate delivery, a retry of this
        # invocation and run recovery all leave the run alone until the execution ends it.
        before_hand_off()
        until = self.clock() + timedelta(seconds=DISTRIBUTED_LEASE_SECONDS)
        self.ledger.hand_off(claim, str(manifest["holder"]), until, estimated_rows=estimate)
        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps({"manifestKey": manifest_key}),
            )
        except Exception:
            delete_prefix(self.s3, self.bucket, work)
            raise
        return Route("distributed", estimate, execution_arn=str(response["executionArn"]))


def estimate_rows(
    source: TrackingSource,
    definition: ExportDefinition,
    timezone: str,
    run_time: datetime,
    previous_success_start: datetime | None,
) -> int | None:
    """The run's rows as its window's logs counted by day; None when the source keeps no counts."""
    estimated_logs = getattr(source, "estimated_logs", None)
    if estimated_logs is None:
        return None
    tz = ZoneInfo(timezone)
    window = compute_window(definition.parameters, tz, run_time, previous_success_start)
    days = window_days(window, source, tz)
    return int(sum(estimated_logs([day_range(day, tz) for day in days])))
