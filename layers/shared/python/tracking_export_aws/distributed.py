"""A run too large for one Lambda, on Step Functions (statemachine/export.asl.json):

    export function: claim -> definition -> window -> row estimate -> above MAX_ROWS_PER_WORKER:
        write the run's manifest, hold the claim for the execution, start it (this module's Router)
    plan      -> the window's local days in shards of consecutive days (per-day log counts)
    render    -> one worker per shard: the same engine, only that shard's days, into _work/
    assemble  -> one object from the shards, server-side (UploadPartCopy), If-None-Match
    finish    -> end file, run record, one notification, _work/ removed
    fail      -> (any step failed) _work/ removed, run recorded failed, one notification

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
from tracking_export.filename import object_key as tenant_key
from tracking_export.model import ExportDefinition
from tracking_export.source import TrackingSource, parse_instant
from tracking_export.window import compute_window, day_range
from tracking_export_aws import keys
from tracking_export_aws.config_sync import checked_definition
from tracking_export_aws.export_service import DOWNLOAD_LINK_SECONDS
from tracking_export_aws.ledger import MAX_RECORDED_SKIPS, Claim, LeaseLostError, RunLedger
from tracking_export_aws.notifier import Notifier
from tracking_export_aws.s3_sink import MIB, MIN_PART_SIZE, MultipartSink

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
# A Map state's items travel in the execution's payload (256 KB): the plan never makes more.
MAX_SHARDS = 2000
MAX_SKIPS_PER_SHARD = MAX_RECORDED_SKIPS
MAX_COPY_PART = 5 * 1024 * MIB  # UploadPartCopy's largest part
READ_CHUNK = 8 * MIB
RUN_METADATA = "export-run"  # object metadata naming the run that wrote it (idempotent assemble)


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

    def definition(self) -> ExportDefinition:
        return checked_definition(base64.b64decode(self.data["definitionXml"]), self.export_guid)

    def claim(self) -> Claim:
        return Claim(
            self.tenant_id,
            self.export_guid,
            _instant(self.data["scheduledTime"]),
            claimed=True,
            run_number=int(self.data["runNumber"]),
            token=str(self.data["claimToken"]),
            started_at=_instant(self.data["runStart"]),
            attempt=int(self.data["attempt"]),
        )

    def shard_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}"

    def report_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}.json"

    def error_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}.error.json"

    @property
    def plan_key(self) -> str:
        return f"{self.work}plan.json"

    @classmethod
    def read(cls, s3: Any, bucket: str, key: str) -> Manifest:
        if not key.startswith(WORK_PREFIX) or not key.endswith("/manifest.json"):
            raise DistributedRunError(f"manifestKey must be {WORK_PREFIX}.../manifest.json, got {key!r}")
        data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return cls(bucket, key.removesuffix("manifest.json"), data)


def _instant(value: Any) -> datetime:
    parsed = parse_instant(value)
    if parsed is None:
        raise DistributedRunError(f"expected an ISO 8601 instant, got {value!r}")
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
        definition_xml: bytes,
        timezone: str,
        run_time: datetime,
        previous_success_start: datetime | None,
        object_key: str,
        content_type: str,
        tags: Mapping[str, str],
        recipients: Sequence[str],
        message: Mapping[str, Any],
    ) -> Route:
        """Single or distributed; a distributed run is started here and recorded as such."""
        estimate = estimate_rows(source, definition, timezone, run_time, previous_success_start)
        if estimate is None or estimate <= self.max_rows_per_worker:
            route = Route("single", estimate)
            note_route(self.ledger, claim, route, shards=None)
            return route
        assert claim.run_number is not None and claim.started_at is not None
        work = work_prefix(claim.tenant_id, claim.export_guid, claim.run_number, claim.attempt)
        manifest = {
            "version": 1,
            **{k: message[k] for k in ("tenantId", "exportGuid", "scheduledTime", "runAt")},
            "runStart": _iso(claim.started_at),
            "runNumber": claim.run_number,
            "attempt": claim.attempt,
            "claimToken": claim.token,
            "timezone": timezone,
            "previousSuccessStart": _iso(previous_success_start),
            "definitionXml": base64.b64encode(definition_xml).decode("ascii"),
            "objectKey": object_key,
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
        # The execution holds the claim from here: a duplicate delivery during it does nothing.
        extend_lease(self.ledger, claim, self.clock() + timedelta(seconds=DISTRIBUTED_LEASE_SECONDS))
        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=execution_name(claim.tenant_id, claim.export_guid, claim.scheduled_time, claim.attempt),
                input=json.dumps({"manifestKey": manifest_key}),
            )
        except Exception:
            delete_prefix(self.s3, self.bucket, work)
            raise
        route = Route("distributed", estimate, execution_arn=str(response["executionArn"]))
        note_route(self.ledger, claim, route, shards=None)
        return route


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


def note_route(ledger: RunLedger, claim: Claim, route: Route, *, shards: int | None) -> None:
    """Add the path, the row estimate and the shard count to the run record (while it is ours)."""
    values: dict[str, Any] = {":path": {"S": route.path}, ":token": {"S": claim.token or ""}}
    sets = ["#path = :path"]
    if route.estimated_rows is not None:
        values[":est"] = {"N": str(route.estimated_rows)}
        sets.append("estimatedRows = :est")
    if shards is not None:
        values[":shards"] = {"N": str(shards)}
        sets.append("shards = :shards")
    if route.execution_arn is not None:
        values[":arn"] = {"S": route.execution_arn}
        sets.append("executionArn = :arn")
    _update_run(ledger, claim, "SET " + ", ".join(sets), {"#path": "path"}, values)


def extend_lease(ledger: RunLedger, claim: Claim, until: datetime) -> None:
    """Hold the claim until ``until`` (a distributed run outlives the export function's lease)."""
    _update_run(
        ledger,
        claim,
        "SET leaseUntil = :until",
        {},
        {":until": {"N": str(int(until.timestamp()) + 1)}, ":token": {"S": claim.token or ""}},
    )


def _run_item(ledger: RunLedger, claim: Claim) -> dict[str, Any]:
    """The run's item as stored (strongly consistent)."""
    response = ledger.client.get_item(
        TableName=ledger.table,
        Key={
            "pk": {"S": keys.export_pk(claim.tenant_id, claim.export_guid)},
            "sk": {"S": keys.run_sk(claim.scheduled_time)},
        },
        ConsistentRead=True,
    )
    item: dict[str, Any] = response.get("Item") or {}
    return item


def _update_run(
    ledger: RunLedger, claim: Claim, expression: str, names: dict[str, str], values: dict[str, Any]
) -> None:
    try:
        ledger.client.update_item(
            TableName=ledger.table,
            Key={
                "pk": {"S": keys.export_pk(claim.tenant_id, claim.export_guid)},
                "sk": {"S": keys.run_sk(claim.scheduled_time)},
            },
            UpdateExpression=expression,
            ConditionExpression="claimToken = :token AND #status = :running",
            ExpressionAttributeNames={**names, "#status": "status"},
            ExpressionAttributeValues={**values, ":running": {"S": "running"}},
        )
    except ledger.client.exceptions.ConditionalCheckFailedException:
        raise LeaseLostError(
            f"run {claim.tenant_id}/{claim.export_guid} at {keys.instant_key(claim.scheduled_time)} "
            "was taken over by another delivery"
        ) from None


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
    """The state machine's Lambda steps; every collaborator injected (AWS adapters or fakes)."""

    s3: Any
    bucket: str
    ledger: RunLedger
    notifier: Notifier
    source_for: Callable[[str], TrackingSource]
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def dispatch(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run the step the state machine names in ``event["step"]``."""
        step = event.get("step")
        manifest_key = event.get("manifestKey")
        if not isinstance(manifest_key, str):
            raise DistributedRunError(f"the {step!r} step needs a manifestKey string")
        manifest = Manifest.read(self.s3, self.bucket, manifest_key)
        if step == "plan":
            return self.plan(manifest)
        if step == "render":
            try:
                return self.render(manifest, event.get("shard"))
            except Exception as exc:
                self._record_shard_error(manifest, event.get("shard"), exc)
                raise
        if step == "assemble":
            return self.assemble(manifest)
        if step == "finish":
            return self.finish(manifest, event.get("file") or {})
        if step == "fail":
            return self.fail(manifest, event.get("error") or {})
        raise DistributedRunError(f"unknown step {step!r}: expected plan, render, assemble, finish or fail")

    def plan(self, manifest: Manifest) -> dict[str, Any]:
        definition = manifest.definition()
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
        claim = manifest.claim()
        extend_lease(self.ledger, claim, self.clock() + timedelta(seconds=DISTRIBUTED_LEASE_SECONDS))
        note_route(
            self.ledger,
            claim,
            Route("distributed", int(manifest.data["estimatedRows"])),
            shards=len(shards),
        )
        return {"shards": shards, "maxConcurrency": self.max_concurrency}

    def render(self, manifest: Manifest, shard: Any) -> dict[str, Any]:
        if not isinstance(shard, Mapping) or not isinstance(shard.get("index"), int):
            raise DistributedRunError(f"the render step needs a shard with an integer index, got {shard!r}")
        index = int(shard["index"])
        first, last = shard.get("firstDay"), shard.get("lastDay")
        days = (date.fromisoformat(first), date.fromisoformat(last)) if first and last else None
        definition = manifest.definition()
        source = self.source_for(manifest.tenant_id)
        key = manifest.shard_key(index)
        try:
            with MultipartSink(self.s3, self.bucket, key, content_type="application/octet-stream") as sink:
                report = run_export(
                    definition,
                    source,
                    sink,
                    tenant_id=manifest.tenant_id,
                    timezone=manifest.timezone,
                    now=manifest.run_time,
                    previous_success_start=manifest.previous_success_start,
                    days=days,
                    preamble=index == 0,
                    unlaunched=bool(shard.get("last")),
                )
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

    def _record_shard_error(self, manifest: Manifest, shard: Any, exc: Exception) -> None:
        """Keep a failed shard's reason next to its output: the Map state reports only that its
        failure threshold was exceeded, the run's failure notification names the real cause."""
        index = shard.get("index") if isinstance(shard, Mapping) else None
        if not isinstance(index, int):
            return
        reason = f"{type(exc).__name__}: {exc}"
        body = json.dumps({"index": index, "error": reason}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=manifest.error_key(index), Body=body)

    def _shard_error(self, manifest: Manifest) -> str | None:
        """The reason the first failed shard recorded, if any shard did."""
        for key in sorted(_listed(self.s3, self.bucket, manifest.work)):
            if key.endswith(".error.json"):
                found = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                return f"shard {found['index']} failed: {found['error']}"
        return None

    def _reports(self, manifest: Manifest) -> list[dict[str, Any]]:
        """Every shard's report, in order; a shard without one failed (or never ran)."""
        shards = json.loads(self.s3.get_object(Bucket=self.bucket, Key=manifest.plan_key)["Body"].read())
        reports = []
        for shard in shards:
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=manifest.report_key(shard["index"]))["Body"]
            except self.s3.exceptions.NoSuchKey:
                reason = self._shard_error(manifest) or f"shard {shard['index']} wrote no output"
                raise DistributedRunError(reason) from None
            reports.append(json.loads(body.read()))
        return reports

    def assemble(self, manifest: Manifest) -> dict[str, Any]:
        reports = self._reports(manifest)
        definition = manifest.definition()
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
        # The run number, not the attempt: a retried attempt renders the same bytes (same window,
        # same run time) and accepts the file an earlier attempt completed before failing.
        run_id = str(manifest.data["runNumber"])
        size = assemble_object(
            self.s3,
            self.bucket,
            manifest.object_key,
            pieces,
            content_type=str(manifest.data["contentType"]),
            tags=manifest.data.get("tags") or {},
            run_id=run_id,
        )
        sha256 = object_sha256(self.s3, self.bucket, manifest.object_key)
        return {**file, "objectKey": manifest.object_key, "bytes": size, "sha256": sha256}

    def finish(self, manifest: Manifest, file: Mapping[str, Any]) -> dict[str, Any]:
        definition = manifest.definition()
        skipped = [s for r in self._reports(manifest) for s in r["skipped"]][:MAX_RECORDED_SKIPS]
        object_key = file.get("objectKey")
        end_file_key = None
        tenant = manifest.tenant_id
        if object_key is not None and definition.generate_end_file is not None:
            end = definition.generate_end_file
            end_file_key = tenant_key(tenant, definition.move_to_folder, end.file_name)
            self.s3.put_object(Bucket=self.bucket, Key=end_file_key, Body=end.file_content.encode("utf-8"))
        started = _instant(manifest.data["startedAt"])
        duration_ms = int((self.clock() - started).total_seconds() * 1000)
        message: dict[str, Any] = {
            **manifest.data["message"],
            "outcome": "succeeded",
            "window": file["window"],
            "rows": int(file["rows"]),
            "skippedCount": int(file["skippedCount"]),
            "skipped": skipped,
            "bytes": int(file["bytes"]),
            "bucket": self.bucket,
            "objectKey": object_key,
            "sha256": file.get("sha256"),
            "endFileKey": end_file_key,
            "recipients": manifest.data["recipients"],
            "path": "distributed",
            "shards": int(file["shards"]),
            "estimatedRows": int(manifest.data["estimatedRows"]),
            "durationMs": duration_ms,
        }
        if object_key is not None and definition.email_report.include_download_link:
            message["downloadUrl"] = self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": object_key},
                ExpiresIn=DOWNLOAD_LINK_SECONDS,
            )
            message["downloadUrlExpiresInSeconds"] = DOWNLOAD_LINK_SECONDS
        claim = manifest.claim()
        try:
            self.ledger.record_success(
                claim,
                finished_at=self.clock(),
                window=file["window"],
                rows=message["rows"],
                bytes_written=message["bytes"],
                object_key=object_key,
                sha256=message["sha256"],
                duration_ms=duration_ms,
                skipped=message["skippedCount"],
                skipped_records=skipped,
            )
        except LeaseLostError:
            # A retried finish step (the notification failed after the record was written)
            # finds its own success: it goes on to notify. Anything else is a lost claim.
            stored = _run_item(self.ledger, claim)
            ours = stored.get("claimToken", {}).get("S") == claim.token
            if not ours or stored.get("status", {}).get("S") != "succeeded":
                raise
        self.notifier.publish(message)
        delete_prefix(self.s3, self.bucket, manifest.work)
        return {k: v for k, v in message.items() if k not in ("skipped", "downloadUrl")}

    def fail(self, manifest: Manifest, error: Mapping[str, Any]) -> dict[str, Any]:
        reason = self._shard_error(manifest) or failure_reason(error)
        abort_uploads(self.s3, self.bucket, manifest.object_key)
        started = _instant(manifest.data["startedAt"])
        duration_ms = int((self.clock() - started).total_seconds() * 1000)
        try:
            window = self._reports(manifest)[0]["window"]
        except Exception:  # the plan or a shard's report may not exist: the window stays unknown
            window = None
        message: dict[str, Any] = {
            **manifest.data["message"],
            "outcome": "failed",
            "error": reason,
            "durationMs": duration_ms,
            "window": window,
            "objectKey": None,
            "path": "distributed",
            "estimatedRows": int(manifest.data["estimatedRows"]),
        }
        delete_prefix(self.s3, self.bucket, manifest.work)
        self.ledger.record_failure(
            manifest.claim(), finished_at=self.clock(), error=reason, duration_ms=duration_ms, window=window
        )
        self.notifier.publish(message)
        return message


def failure_reason(error: Mapping[str, Any]) -> str:
    """A readable reason from a Catch's ``{"Error", "Cause"}`` (a Lambda's cause is its error JSON)."""
    name = str(error.get("Error") or "States.TaskFailed")
    cause = error.get("Cause")
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping) and parsed.get("errorMessage") is not None:
            return f"{parsed.get('errorType') or name}: {parsed['errorMessage']}"
        if cause:
            return f"{name}: {cause}"
    return name


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
            raise DistributedRunError(
                f"s3://{bucket}/{key} already exists and was written by another run"
            ) from None
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
