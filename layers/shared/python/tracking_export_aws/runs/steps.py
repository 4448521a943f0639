"""A run too large for one Lambda, on Step Functions (statemachine/export.asl.json):

    export function: claim -> definition -> window -> row estimate -> above MAX_ROWS_PER_WORKER:
        write the run's manifest, hand the claim to the execution, start it (route.py's Router)
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

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracking_export.engine import run_export, window_days
from tracking_export.limits import DEFAULT_LIMITS, Limits, shown
from tracking_export.source import TrackingSource
from tracking_export.window import compute_window, day_range
from tracking_export_aws.aws.s3_objects import (
    DistributedRunError,
    abort_uploads,
    assemble_object,
    delete_prefix,
    listed_keys,
    object_sha256,
)
from tracking_export_aws.aws.s3_sink import MultipartSink
from tracking_export_aws.runs.failure import run_failure_reason
from tracking_export_aws.runs.guard import Guard, GuardedOut, GuardedSource
from tracking_export_aws.runs.ledger import MAX_RECORDED_SKIPS, Claim, LeaseLostError, RunLedger
from tracking_export_aws.runs.manifest import Manifest
from tracking_export_aws.runs.service import ExportService
from tracking_export_aws.runs.shards import plan_shards

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

DEFAULT_MAX_CONCURRENCY = 40
# What a worker keeps of its invocation's time to stop cleanly (guard.Guard).
WORKER_RESERVE_SECONDS = 30
MAX_SKIPS_PER_SHARD = MAX_RECORDED_SKIPS
STEP_LOG = "the distributed export's step log"


@dataclass
class Steps:
    """The state machine's Lambda steps; every collaborator injected (AWS adapters or fakes).

    ``runs`` is the export service: the run's end goes through its ``complete_run`` /
    ``fail_run`` (outbox) and its rules for end files, download links and failure reasons.
    The shard worker has none (it renders, and ends no run).
    """

    s3: S3Client
    bucket: str
    runs: ExportService | None
    source_for: Callable[[str], TrackingSource]
    limits: Limits = DEFAULT_LIMITS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def service(self) -> ExportService:
        """The export service the run ends through (the coordinator's steps only)."""
        if self.runs is None:
            raise DistributedRunError("this function renders shards only; it ends no run")
        return self.runs

    @property
    def ledger(self) -> RunLedger:
        return self.service.ledger

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
        definition = manifest.definition(self.limits)
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
        definition = manifest.definition(self.limits)
        # The single path's deadline rule (runs/guard.py): stop with a clear reason, not a timeout.
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
        for key in sorted(listed_keys(self.s3, self.bucket, manifest.work)):
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
        definition = manifest.definition(self.limits)
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
        definition = manifest.definition(self.limits)
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
                message["endFileKey"] = self.service.write_end_file(
                    manifest.tenant_id, definition, local_time, claim, object_key
                )
            if definition.email_report.include_download_link:
                message.update(self.service.download_link(object_key))
        result = self._end(claim, message, self.service.complete_run)
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
        result = self._end(manifest.claim(), message, self.service.fail_run)
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
            self.service.deliver(
                claim.tenant_id, claim.export_guid, claim.scheduled_time, holder=claim.invocation_id
            )
            return stored.notification or message

    def _duration_ms(self, manifest: Manifest) -> int:
        return int((self.clock() - manifest.started_at).total_seconds() * 1000)


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
