"""A run too large for one Lambda, on Step Functions (statemachine/export.asl.json):

    export function: claim -> definition -> window -> row estimate -> above MAX_ROWS_PER_WORKER:
        write the run's manifest, hand the claim to the execution, start it (this module's Router)
    plan      -> the window's local days in shards of consecutive days (per-day log counts)
    render    -> one worker per shard: the same engine, only that shard's days, into _work/
    assemble  -> one object from the shards, server-side (UploadPartCopy), If-None-Match
    finish    -> end file, then ExportService.complete_run (run record with its notification,
                 delivered through the outbox), _work/ removed
    fail      -> (any step failed) _work/ removed, ExportService.fail_run

The run's lifecycle is the single path's (docs/run-lifecycle.md): the execution holds the
claim (``RunLedger.hand_off``), the outcome and its notification are recorded together and
delivered once per channel, and a retried finish or fail step only delivers what is missing.

The shards' bytes, concatenated in order, are the single path's file: the first shard alone
writes the BOM and header line, the last alone the never-launched rows, and every shard
renders whole local days in the engine's order. A gzip file is one gzip member per shard
(a valid gzip file whose decompressed bytes are the single path's).

Everything a step needs is in the run's manifest (``_work/{tenant}/{export}/{run}-{attempt}/
manifest.json``), written once by the export function: every step sees the same definition
even if the tenant uploads a new one meanwhile, and the state machine's payloads stay small.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from tracking_export.engine import run_export, window_days
from tracking_export.limits import DEFAULT_LIMITS, Limits, shown
from tracking_export.model import ExportDefinition
from tracking_export.source import TrackingSource, parse_instant
from tracking_export.window import compute_window, day_range
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.s3_sink import MIB, MIN_PART_SIZE, RUN_METADATA, MultipartSink, ObjectExists
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.runs.guard import Guard, GuardedOut, GuardedSource
from tracking_export_aws.runs.ledger import MAX_RECORDED_SKIPS, Claim, LeaseLostError, RunLedger
from tracking_export_aws.runs.service import ExportService, run_failure_reason

WORK_PREFIX = "_work/"
# Rows one worker renders. Measured by bench/distributed.py (docs/capacity.md): 8,500 rows per
# CPU-second on the e2e definition (a busy shared machine; issue 7 measured 13,800), so a 900 s
# one-vCPU worker could do 7.6M rows. A sixth of that, rounded down: one shard takes about two
# minutes and finishes well inside the timeout on a slow day, under throttling or a cold start.
DEFAULT_MAX_ROWS_PER_WORKER = 1_000_000
DEFAULT_MAX_CONCURRENCY = 40
# The state machine's own timeout (TimeoutSeconds in the ASL) plus a margin: the claim is held
# this long for the execution, so a duplicate delivery meanwhile does nothing.
EXECUTION_TIMEOUT_SECONDS = 6 * 3600
DISTRIBUTED_LEASE_SECONDS = EXECUTION_TIMEOUT_SECONDS + 900
# What a worker keeps of its invocation's time to stop cleanly (run_guard.Guard).
WORKER_RESERVE_SECONDS = 30
# A Map state's items travel in the execution's payload (256 KB): the plan never makes more.
MAX_SHARDS = 2000
MAX_SKIPS_PER_SHARD = MAX_RECORDED_SKIPS
MAX_COPY_PART = 5 * 1024 * MIB  # UploadPartCopy's largest part
READ_CHUNK = 8 * MIB
STEP_LOG = "the distributed export's step log"


class DistributedRunError(RuntimeError):
    """A step of a distributed run cannot go on; the message says what is wrong."""


# ---------------------------------------------------------------- manifest


def work_prefix(tenant_id: str, export_guid: str, run_number: int, attempt: int) -> str:
    """The internal prefix of one attempt of one run (never under the tenants' ``tenants/``)."""
    tenant, guid = keys.validate_tenant_id(tenant_id), keys.validate_export_guid(export_guid)
    return f"{WORK_PREFIX}{tenant}/{guid}/{run_number}-{attempt}/"


def execution_name(tenant_id: str, export_guid: str, scheduled: datetime, attempt: int) -> str:
    """A name unique per (tenant, export, scheduled time, attempt): a repeated StartExecution of
    the same attempt is the same execution, never a second one."""
    digest = hashlib.sha256(f"{tenant_id}/{export_guid}/{keys.instant_key(scheduled)}".encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{tenant_id[:24]}-{export_guid[:24]}")
    return f"{readable}-{attempt}-{digest[:24]}"


@dataclass(frozen=True)
class Manifest:
    """What every step of one distributed run needs (JSON in the work prefix)."""

    bucket: str
    work: str
    data: Mapping[str, Any]

    @property
    def tenant_id(self) -> str:
        return str(self.data["tenantId"])

    @property
    def export_guid(self) -> str:
        return str(self.data["exportGuid"])

    @property
    def timezone(self) -> str:
        return str(self.data["timezone"])

    @property
    def run_time(self) -> datetime:
        return _instant(self.data["runAt"])

    @property
    def previous_success_start(self) -> datetime | None:
        value = self.data.get("previousSuccessStart")
        return _instant(value) if value else None

    @property
    def object_key(self) -> str:
        return str(self.data["objectKey"])

    def definition(self, limits: Limits = DEFAULT_LIMITS) -> ExportDefinition:
        return checked_definition(base64.b64decode(self.data["definition"]), self.export_guid, limits)

    def claim(self) -> Claim:
        """The claim the execution holds (its name is the run's holder)."""
        return Claim(
            self.tenant_id,
            self.export_guid,
            _instant(self.data["scheduledTime"]),
            claimed=True,
            run_number=int(self.data["runNumber"]),
            token=str(self.data["claimToken"]),
            started_at=_instant(self.data["runStart"]),
            attempt=int(self.data["attempt"]),
            invocation_id=str(self.data["holder"]),
        )

    def shard_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}"

    def report_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}.json"

    def error_key(self, index: int | None) -> str:
        """Where a failed step keeps its reason (a shard's, or a coordinator step's)."""
        return (
            f"{self.work}shard-{index:05d}.error.json" if index is not None else f"{self.work}step.error.json"
        )

    @property
    def plan_key(self) -> str:
        return f"{self.work}plan.json"

    @classmethod
    def read(cls, s3: Any, bucket: str, key: str) -> Manifest:
        if not key.startswith(WORK_PREFIX) or not key.endswith("/manifest.json"):
            raise DistributedRunError(f"manifestKey must be {WORK_PREFIX}.../manifest.json, got {shown(key)}")
        data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return cls(bucket, key.removesuffix("manifest.json"), data)


def _instant(value: Any) -> datetime:
    parsed = parse_instant(value)
    if parsed is None:
        raise DistributedRunError(f"expected an ISO 8601 instant, got {shown(str(value))}")
    return parsed


def _iso(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).isoformat() if instant is not None else None


# ---------------------------------------------------------------- routing (export function)


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

    s3: Any
    sfn: Any
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


# ---------------------------------------------------------------- plan


def plan_shards(days: Sequence[date], estimates: Sequence[int], max_rows: int) -> list[tuple[date, date]]:
    """Consecutive days grouped so each group's estimate stays within ``max_rows`` (a day larger
    than that is a shard of its own), at most MAX_SHARDS groups; at least one group."""
    if not days:
        return []
    target = max(max_rows, -(-sum(estimates) // MAX_SHARDS), 1)
    shards: list[tuple[date, date]] = []
    first, total = days[0], 0
    previous = days[0]
    for day, estimate in zip(days, estimates, strict=True):
        if day != first and total + estimate > target:
            shards.append((first, previous))
            first, total = day, 0
        total += estimate
        previous = day
    shards.append((first, previous))
    return shards


@dataclass
class Steps:
    """The state machine's Lambda steps; every collaborator injected (AWS adapters or fakes).

    ``runs`` is the export service: the run's end goes through its ``complete_run`` /
    ``fail_run`` (outbox) and its rules for end files, download links and failure reasons.
    """

    s3: Any
    bucket: str
    runs: ExportService
    source_for: Callable[[str], TrackingSource]
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def ledger(self) -> RunLedger:
        return self.runs.ledger

    def dispatch(
        self,
        event: Mapping[str, Any],
        *,
        remaining_seconds: Callable[[], float] | None = None,
        on_claim: Callable[[Claim], None] | None = None,
    ) -> dict[str, Any]:
        """Run the step the state machine names in ``event["step"]``; ``remaining_seconds`` is
        the invocation's time left (a shard stops cleanly before its timeout); ``on_claim`` is
        told the run's claim once the manifest is read (for the handler's log lines)."""
        step = event.get("step")
        manifest_key = event.get("manifestKey")
        if not isinstance(manifest_key, str):
            raise DistributedRunError(f"the {shown(str(step))} step needs a manifestKey string")
        manifest = Manifest.read(self.s3, self.bucket, manifest_key)
        if on_claim is not None:
            on_claim(manifest.claim())
        try:
            if step == "plan":
                return self.plan(manifest)
            if step == "render":
                return self.render(manifest, event.get("shard"), remaining_seconds)
            if step == "assemble":
                return self.assemble(manifest)
            if step == "finish":
                return self.finish(manifest, event.get("file") or {})
        except Exception as exc:
            self._record_error(manifest, step, event.get("shard"), exc)
            raise
        if step == "fail":
            return self.fail(manifest, event.get("error") or {})
        raise DistributedRunError(
            f"unknown step {shown(str(step))}: expected plan, render, assemble, finish or fail"
        )

    def plan(self, manifest: Manifest) -> dict[str, Any]:
        definition = manifest.definition(self.runs.limits)
        tz = ZoneInfo(manifest.timezone)
        window = compute_window(definition.parameters, tz, manifest.run_time, manifest.previous_success_start)
        source = self.source_for(manifest.tenant_id)
        try:
            days = window_days(window, source, tz)
            estimated_logs = getattr(source, "estimated_logs", None)
            ranges = [day_range(day, tz) for day in days]
            estimates = estimated_logs(ranges) if estimated_logs is not None else [0] * len(days)
        finally:
            source.close()
        groups = plan_shards(days, estimates, int(manifest.data["maxRowsPerWorker"]))
        shards = [
            {"index": i, "firstDay": first.isoformat(), "lastDay": last.isoformat()}
            for i, (first, last) in enumerate(groups)
        ] or [{"index": 0, "firstDay": None, "lastDay": None}]  # no data: one shard, header only
        last = len(shards) - 1
        for shard in shards:
            shard["last"] = shard["index"] == last
        self.s3.put_object(Bucket=self.bucket, Key=manifest.plan_key, Body=json.dumps(shards).encode())
        self.ledger.record_route(
            manifest.claim(), "distributed", int(manifest.data["estimatedRows"]), shards=len(shards)
        )
        return {"shards": shards, "maxConcurrency": self.max_concurrency}

    def render(
        self, manifest: Manifest, shard: Any, remaining_seconds: Callable[[], float] | None = None
    ) -> dict[str, Any]:
        if not isinstance(shard, Mapping) or not isinstance(shard.get("index"), int):
            raise DistributedRunError("the render step needs a shard with an integer index")
        index = int(shard["index"])
        first, last = shard.get("firstDay"), shard.get("lastDay")
        days = (date.fromisoformat(first), date.fromisoformat(last)) if first and last else None
        definition = manifest.definition(self.runs.limits)
        # The single path's deadline rule (run_guard): stop with a clear reason, not a timeout.
        # No heartbeat here: the execution holds the run's lease.
        guard = Guard(None, remaining_seconds, WORKER_RESERVE_SECONDS, manifest.work)
        source = GuardedSource(self.source_for(manifest.tenant_id), guard)
        key = manifest.shard_key(index)
        try:
            # A work file: a retried render rewrites it, so no If-None-Match here.
            with MultipartSink(
                self.s3, self.bucket, key, content_type="application/octet-stream", if_absent=False
            ) as sink:
                report = run_export(
                    definition,
                    source,
                    GuardedOut(sink, guard),
                    tenant_id=manifest.tenant_id,
                    timezone=manifest.timezone,
                    now=manifest.run_time,
                    previous_success_start=manifest.previous_success_start,
                    days=days,
                    preamble=index == 0,
                    unlaunched=bool(shard.get("last")),
                )
                guard.check()
                _, _, size = sink.complete()
        finally:
            source.close()
        summary = {
            "index": index,
            "key": key,
            "size": size,
            "rows": report.rows,
            "window": report.window.as_dict(),
            "skippedCount": report.skipped_count,
            "skipped": [s.as_dict() for s in report.skipped[:MAX_SKIPS_PER_SHARD]],
        }
        self.s3.put_object(
            Bucket=self.bucket, Key=manifest.report_key(index), Body=json.dumps(summary).encode()
        )
        return {"index": index, "rows": report.rows, "size": size}

    def _record_error(self, manifest: Manifest, step: Any, shard: Any, exc: Exception) -> None:
        """Keep a failed step's reason (the tenant-safe one, ``run_failure_reason``) in the work
        prefix: the Map state reports only that its failure threshold was exceeded, and a
        Lambda error's cause may quote internal text; the fail step names the real cause."""
        index = shard.get("index") if step == "render" and isinstance(shard, Mapping) else None
        if step == "render" and not isinstance(index, int):
            return
        reason = run_failure_reason(exc, log=STEP_LOG)
        if isinstance(index, int):
            reason = f"shard {index} failed: {reason}"
        body = json.dumps({"step": step, "index": index, "error": reason}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=manifest.error_key(index), Body=body)

    def _step_error(self, manifest: Manifest) -> str | None:
        """The reason the first failed step recorded, if any did."""
        for key in sorted(_listed(self.s3, self.bucket, manifest.work)):
            if key.endswith(".error.json"):
                found = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                return str(found["error"])
        return None

    def _reports(self, manifest: Manifest) -> list[dict[str, Any]]:
        """Every shard's report, in order; a shard without one failed (or never ran)."""
        shards = json.loads(self.s3.get_object(Bucket=self.bucket, Key=manifest.plan_key)["Body"].read())
        reports = []
        for shard in shards:
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=manifest.report_key(shard["index"]))["Body"]
            except self.s3.exceptions.NoSuchKey:
                reason = self._step_error(manifest) or f"shard {shard['index']} wrote no output"
                raise ShardMissing(reason) from None
            reports.append(json.loads(body.read()))
        return reports

    def assemble(self, manifest: Manifest) -> dict[str, Any]:
        reports = self._reports(manifest)
        definition = manifest.definition(self.runs.limits)
        rows = sum(int(r["rows"]) for r in reports)
        file: dict[str, Any] = {
            "rows": rows,
            "shards": len(reports),
            "window": reports[0]["window"],
            "skippedCount": sum(int(r["skippedCount"]) for r in reports),
        }
        if rows == 0 and definition.move_to_folder.delete_empty_files:
            return {**file, "objectKey": None, "bytes": 0, "sha256": None}
        pieces = [(str(r["key"]), int(r["size"])) for r in reports]
        # The run's id (as the single path writes it): a retried step, or a later attempt of the
        # same run, renders the same bytes and accepts the file the run already completed.
        size = assemble_object(
            self.s3,
            self.bucket,
            manifest.object_key,
            pieces,
            content_type=str(manifest.data["contentType"]),
            tags=manifest.data.get("tags") or {},
            run_id=manifest.claim().run_id,
        )
        sha256 = object_sha256(self.s3, self.bucket, manifest.object_key)
        return {**file, "objectKey": manifest.object_key, "bytes": size, "sha256": sha256}

    def finish(self, manifest: Manifest, file: Mapping[str, Any]) -> dict[str, Any]:
        definition = manifest.definition(self.runs.limits)
        claim = manifest.claim()
        object_key = file.get("objectKey")
        message: dict[str, Any] = {
            **manifest.data["message"],
            "outcome": "succeeded",
            "window": file["window"],
            "rows": int(file["rows"]),
            "skippedCount": int(file["skippedCount"]),
            "skipped": [s for r in self._reports(manifest) for s in r["skipped"]][:MAX_RECORDED_SKIPS],
            "bytes": int(file["bytes"]),
            "bucket": self.bucket,
            "objectKey": object_key,
            "sha256": file.get("sha256"),
            "endFileKey": None,
            "recipients": manifest.data["recipients"],
            "path": "distributed",
            "shards": int(file["shards"]),
            "estimatedRows": int(manifest.data["estimatedRows"]),
            "durationMs": self._duration_ms(manifest),
        }
        if object_key is not None:
            requested = manifest.data.get("requestedObjectKey")
            if requested and requested != object_key:
                message["requestedObjectKey"] = requested  # the name was taken
            if definition.generate_end_file is not None:
                local_time = manifest.run_time.astimezone(ZoneInfo(manifest.timezone))
                message["endFileKey"] = self.runs.write_end_file(
                    manifest.tenant_id, definition, local_time, claim, object_key
                )
            if definition.email_report.include_download_link:
                message.update(self.runs.download_link(object_key))
        result = self._end(claim, message, self.runs.complete_run)
        delete_prefix(self.s3, self.bucket, manifest.work)
        return {k: v for k, v in result.items() if k not in ("skipped", "downloadUrl")}

    def fail(self, manifest: Manifest, error: Mapping[str, Any]) -> dict[str, Any]:
        reason = self._step_error(manifest) or failure_reason(error)
        abort_uploads(self.s3, self.bucket, manifest.object_key)
        try:
            window = self._reports(manifest)[0]["window"]
        except Exception:  # the plan or a shard's report may not exist: the recorded one stays
            window = manifest.data["message"].get("window")
        message: dict[str, Any] = {
            **manifest.data["message"],
            "outcome": "failed",
            "error": reason,
            "durationMs": self._duration_ms(manifest),
            "window": window,
            "objectKey": None,
            "path": "distributed",
            "estimatedRows": int(manifest.data["estimatedRows"]),
        }
        result = self._end(manifest.claim(), message, self.runs.fail_run)
        delete_prefix(self.s3, self.bucket, manifest.work)
        return result

    def _end(
        self,
        claim: Claim,
        message: dict[str, Any],
        record: Callable[[Claim, dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Record the outcome with its notification and deliver it (``record``: complete_run or
        fail_run). A retried step whose attempt already recorded the run (its delivery failed)
        delivers only the channels still pending, and returns the message as recorded."""
        try:
            return record(claim, message)
        except LeaseLostError:
            stored = self.ledger.get(claim.tenant_id, claim.export_guid, claim.scheduled_time)
            if stored is None or not stored.finished or stored.claim_token != claim.token:
                raise  # another attempt holds (or ended) the run
            self.runs.deliver(
                claim.tenant_id, claim.export_guid, claim.scheduled_time, holder=claim.invocation_id
            )
            return stored.notification or message

    def _duration_ms(self, manifest: Manifest) -> int:
        started = _instant(manifest.data["startedAt"])
        return int((self.clock() - started).total_seconds() * 1000)


class ShardMissing(DistributedRunError):
    """A shard left no report: it failed, or never ran."""


# Error names of the Step Functions runtime, told in words (their causes are not quoted).
_STATES_ERRORS = {
    "States.Timeout": "a step of the distributed run timed out",
    "States.HeartbeatTimeout": "a step of the distributed run stopped responding",
    "States.ExceedToleratedFailureThreshold": "a shard of the distributed run failed",
    "States.ItemReaderFailed": "the distributed run could not read its shards",
    "States.ResultWriterFailed": "the distributed run could not write its shards' results",
    "States.Runtime": "the distributed run's state machine failed",
}


def failure_reason(error: Mapping[str, Any]) -> str:
    """A readable reason from a Catch's ``{"Error", "Cause"}`` when no step recorded one (the
    function was killed, timed out, or the state machine itself failed). Only the error's name
    is used: a cause may quote internal text (paths, data values), which the notification
    must not carry; the cause stays in the execution's history for operators."""
    name = str(error.get("Error") or "States.TaskFailed")
    if name in _STATES_ERRORS:
        return _STATES_ERRORS[name]
    return f"a step of the distributed run failed ({shown(name)}); the details are in {STEP_LOG}"


# ---------------------------------------------------------------- S3 helpers


def part_plan(pieces: Sequence[tuple[str, int]]) -> list[list[tuple[str, int, int]]]:
    """The parts of the final object: each a list of (source key, first byte, end byte) ranges.

    A part made of one range of at least 5 MiB is copied server-side (UploadPartCopy); ranges
    shorter than that are gathered with the following bytes until the part reaches 5 MiB (they
    are downloaded and uploaded as one part). Only the last part may be shorter than 5 MiB.
    """
    parts: list[list[tuple[str, int, int]]] = []
    gathering: list[tuple[str, int, int]] = []
    gathered = 0
    for key, size in pieces:
        offset = 0
        if gathering:
            take = min(size, MIN_PART_SIZE - gathered)
            if take:
                gathering.append((key, 0, take))
                gathered += take
                offset = take
            if gathered >= MIN_PART_SIZE:
                parts.append(gathering)
                gathering, gathered = [], 0
        remaining = size - offset
        if remaining <= 0:
            continue
        if remaining >= MIN_PART_SIZE:
            count = -(-remaining // MAX_COPY_PART)
            step = -(-remaining // count)
            for start in range(offset, size, step):
                parts.append([(key, start, min(start + step, size))])
        else:
            gathering.append((key, offset, size))
            gathered += remaining
    if gathering:
        parts.append(gathering)
    return parts


def assemble_object(
    s3: Any,
    bucket: str,
    key: str,
    pieces: Sequence[tuple[str, int]],
    *,
    content_type: str,
    tags: Mapping[str, str],
    run_id: str,
) -> int:
    """Write ``key`` as the concatenation of the ``pieces`` (source key, size), atomically and only
    if it does not exist yet (If-None-Match); returns its size. An object already written by the
    same run (a retried step) is accepted as is."""
    total = sum(size for _, size in pieces)
    extra: dict[str, Any] = {"ContentType": content_type, "Metadata": {RUN_METADATA: run_id}}
    if tags:
        extra["Tagging"] = urlencode(dict(tags))
    try:
        if total < MIN_PART_SIZE:
            body = b"".join(_read_range(s3, bucket, k, 0, size) for k, size in pieces if size)
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", **extra)
            return total
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
        try:
            parts = []
            for number, ranges in enumerate(part_plan(pieces), start=1):
                if len(ranges) == 1 and ranges[0][2] - ranges[0][1] >= MIN_PART_SIZE:
                    source, start, end = ranges[0]
                    response = s3.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": bucket, "Key": source},
                        CopySourceRange=f"bytes={start}-{end - 1}",
                    )
                    etag = response["CopyPartResult"]["ETag"]
                else:
                    body = b"".join(_read_range(s3, bucket, k, start, end) for k, start, end in ranges)
                    etag = s3.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                    )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
            )
        except BaseException:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
        existing = s3.head_object(Bucket=bucket, Key=key)
        if existing.get("Metadata", {}).get(RUN_METADATA) != run_id:
            raise ObjectExists(bucket, key) from None
        return int(existing["ContentLength"])
    return total


def _read_range(s3: Any, bucket: str, key: str, start: int, end: int) -> bytes:
    if end <= start:
        return b""
    body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()
    if len(body) != end - start:
        raise DistributedRunError(
            f"s3://{bucket}/{key}: expected {end - start} bytes at {start}, got {len(body)}"
        )
    return bytes(body)


def object_sha256(s3: Any, bucket: str, key: str) -> str:
    """SHA-256 of an object, streamed (a server-side assembled file is never in our memory)."""
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(READ_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _listed(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    token: dict[str, Any] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
        yield from (item["Key"] for item in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return
        token = {"ContinuationToken": page["NextContinuationToken"]}


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under a work prefix; returns how many."""
    if not prefix.startswith(WORK_PREFIX):
        raise DistributedRunError(f"refusing to delete outside {WORK_PREFIX}: {prefix!r}")
    deleted = 0
    batch: list[dict[str, str]] = []
    for key in _listed(s3, bucket, prefix):
        batch.append({"Key": key})
        if len(batch) == 1000:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            deleted += len(batch)
            batch = []
    if batch:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        deleted += len(batch)
    return deleted


def abort_uploads(s3: Any, bucket: str, key: str) -> None:
    """Abort any multipart upload left on ``key`` (an assemble step that died half-way)."""
    response = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in response.get("Uploads", []):
        if upload.get("Key") == key:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
