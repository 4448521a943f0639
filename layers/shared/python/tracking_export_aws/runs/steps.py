"""A run too large for one Lambda, on Step Functions (statemachine/export.asl.json):

    export function: claim -> prepare (the plan routes the run: distributed) -> hand-off
        (the plan written as the run's manifest, the claim handed to the execution: handoff.py)
    plan      -> the window's local days in shards of consecutive days (per-day log counts)
    render    -> one worker per shard: the same rendering as the single path, only that
                 shard's days, into _work/ (runs/produce.py)
    assemble  -> one object from the shards, server-side (UploadPartCopy), If-None-Match:
                 the run's ExportedFile, as the single path's upload gives it
    finish    -> runs/finish.py, as for a single run: end file, link, message, run record,
                 outbox; _work/ removed
    fail      -> (any step failed) _work/ removed, runs/finish.py's fail with the step's reason

Two functions run these steps with different permissions and collaborators: the worker
(:class:`ShardWorker`: the tracking table and the work prefix, nothing else) renders; the
coordinator (:class:`Coordinator`) plans, assembles, finishes and fails. Every step reads
the run's plan from its manifest; neither function reads the tenant's configuration.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tracking_export.engine import window_days
from tracking_export.limits import DEFAULT_LIMITS, Limits, shown
from tracking_export.source import TrackingSource
from tracking_export.window import day_range
from tracking_export_aws.aws.errors import TransientAwsError
from tracking_export_aws.aws.s3_links import DOWNLOAD_LINK_SECONDS, DownloadLinks
from tracking_export_aws.aws.s3_objects import (
    DistributedRunError,
    abort_uploads,
    assemble_object,
    delete_prefix,
    listed_keys,
    read_work_object,
)
from tracking_export_aws.aws.s3_sink import MultipartSink
from tracking_export_aws.notify.notifier import Notifier
from tracking_export_aws.runs.failure import STEP_LOG, is_transient, run_failure_reason
from tracking_export_aws.runs.finish import DELIVERY_LEASE_SECONDS, Finisher
from tracking_export_aws.runs.guard import Guard, GuardedOut, GuardedSource
from tracking_export_aws.runs.ledger import MAX_RECORDED_SKIPS, Claim, RunLedger
from tracking_export_aws.runs.manifest import WorkArea, read_manifest
from tracking_export_aws.runs.outcomes import ExportedFile, skipped_records
from tracking_export_aws.runs.payloads import (
    AnyStep,
    AssembleStep,
    FailStep,
    PlanStep,
    RenderStep,
    RunEnded,
    Shard,
    ShardPlan,
    ShardRendered,
    ShardReport,
    StepError,
)
from tracking_export_aws.runs.plan import RunPlan
from tracking_export_aws.runs.produce import render
from tracking_export_aws.runs.shards import plan_shards

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

DEFAULT_MAX_CONCURRENCY = 40
# What a worker keeps of its invocation's time to stop cleanly (guard.Guard).
WORKER_RESERVE_SECONDS = 30
MAX_SKIPS_PER_SHARD = MAX_RECORDED_SKIPS
WORKER_STEPS = frozenset({"render"})
COORDINATOR_STEPS = frozenset({"plan", "assemble", "finish", "fail"})


@dataclass
class ShardWorker:
    """Renders one shard of a distributed run into its work prefix (the render step)."""

    s3: S3Client
    bucket: str
    source_for: Callable[[str], TrackingSource]
    limits: Limits = DEFAULT_LIMITS

    def run(
        self,
        step: AnyStep,
        *,
        remaining_seconds: Callable[[], float] | None = None,
        on_claim: Callable[[Claim], None] | None = None,
    ) -> BaseModel:
        """Run a render step (``remaining_seconds``: the invocation's time left; ``on_claim`` is
        told the run's claim once the manifest is read, for the handler's log lines)."""
        if not isinstance(step, RenderStep):
            raise DistributedRunError(f"the worker runs the render step, not {shown(step.step)}")
        plan = read_manifest(self.s3, self.bucket, step.manifest_key)
        if on_claim is not None:
            on_claim(plan.ledger_claim())
        try:
            return self.render(plan, step.shard, remaining_seconds)
        except Exception as exc:
            if (transient := _step_failed(self.s3, self.bucket, plan, step, exc)) is not None:
                raise transient from exc
            raise

    def render(
        self, plan: RunPlan, shard: Shard, remaining_seconds: Callable[[], float] | None = None
    ) -> ShardRendered:
        """Render ``shard`` of the plan's file into the work prefix, its report beside it."""
        area = WorkArea.of(plan)
        # The single path's deadline rule (runs/guard.py): stop with a clear reason, not a timeout.
        # No heartbeat here: the execution holds the run's lease.
        guard = Guard(None, remaining_seconds, WORKER_RESERVE_SECONDS, area.prefix)
        source = GuardedSource(self.source_for(plan.tenant_id), guard)
        key = area.shard_key(shard.index)
        try:
            # A work file: a retried render rewrites it, so no If-None-Match here.
            with MultipartSink(
                self.s3, self.bucket, key, content_type="application/octet-stream", if_absent=False
            ) as sink:
                report = render(
                    plan, plan.export_definition(self.limits), source, GuardedOut(sink, guard), shard
                )
                guard.check()
                _, _, size = sink.complete()
        finally:
            source.close()
        kept = ShardReport(
            index=shard.index,
            key=key,
            size=size,
            rows=report.rows,
            skipped_count=report.skipped_count,
            skipped=skipped_records(report.skipped[:MAX_SKIPS_PER_SHARD]),
            read_units=source.read_units,
        )
        self.s3.put_object(
            Bucket=self.bucket,
            Key=area.report_key(shard.index),
            Body=kept.model_dump_json(by_alias=True).encode(),
        )
        return ShardRendered(index=shard.index, rows=report.rows, size=size)


@dataclass
class Coordinator:
    """Plans, assembles, finishes or fails a distributed run (the coordinator's steps).

    It ends the run as the export function ends a single one (runs/finish.py), with the
    plan's recipients and keys: it reads no configuration.
    """

    s3: S3Client
    bucket: str
    ledger: RunLedger
    notifier: Notifier
    source_for: Callable[[str], TrackingSource]
    presigner: S3Client | None = None  # signs download links (SigV4, regional endpoint); ``s3`` when None
    download_link_seconds: int = DOWNLOAD_LINK_SECONDS
    delivery_lease_seconds: int = DELIVERY_LEASE_SECONDS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Told how many older files <archive> could not move after a run (runs/archive.py).
    on_archive_failures: Callable[[int], None] | None = None

    @property
    def finisher(self) -> Finisher:
        return Finisher(
            ledger=self.ledger,
            notifier=self.notifier,
            s3=self.s3,
            bucket=self.bucket,
            links=DownloadLinks(self.presigner or self.s3, self.bucket, self.download_link_seconds),
            clock=self.clock,
            delivery_lease_seconds=self.delivery_lease_seconds,
            on_archive_failures=self.on_archive_failures,
        )

    def run(self, step: AnyStep, *, on_claim: Callable[[Claim], None] | None = None) -> BaseModel:
        """Run a plan, assemble, finish or fail step (``on_claim`` as for ShardWorker.run)."""
        if isinstance(step, RenderStep):
            raise DistributedRunError("the coordinator does not render shards")
        plan = read_manifest(self.s3, self.bucket, step.manifest_key)
        if on_claim is not None:
            on_claim(plan.ledger_claim())
        if isinstance(step, FailStep):
            return self.fail(plan, step.error)
        try:
            if isinstance(step, PlanStep):
                return self.plan(plan)
            if isinstance(step, AssembleStep):
                return self.assemble(plan)
            return self.finish(plan, step.file)
        except Exception as exc:
            if (transient := _step_failed(self.s3, self.bucket, plan, step, exc)) is not None:
                raise transient from exc
            raise

    def plan(self, plan: RunPlan) -> ShardPlan:
        """The window's local days in shards of consecutive days, each within the plan's
        rows per worker by the per-day log counts; the shard count goes on the run record."""
        if plan.route is None:
            raise DistributedRunError(f"the plan of run {plan.run_id} has no route to the state machine")
        source = self.source_for(plan.tenant_id)
        try:
            days = window_days(plan.window, source, plan.zone)
            estimated_logs = getattr(source, "estimated_logs", None)
            ranges = [day_range(day, plan.zone) for day in days]
            estimates = estimated_logs(ranges) if estimated_logs is not None else [0] * len(days)
        finally:
            source.close()
        groups = plan_shards(days, estimates, plan.route.max_rows_per_worker)
        shards = tuple(
            Shard(index=i, first_day=first, last_day=last, last=i == len(groups) - 1)
            for i, (first, last) in enumerate(groups)
        ) or (Shard(index=0, last=True),)  # no data: one shard, header only
        result = ShardPlan(shards=shards, max_concurrency=self.max_concurrency)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=WorkArea.of(plan).shards_key,
            Body=result.model_dump_json(by_alias=True).encode(),
        )
        self.ledger.record_route(
            plan.ledger_claim(), "distributed", plan.route.estimated_rows, shards=len(shards)
        )
        return result

    def _reports(self, plan: RunPlan) -> list[ShardReport]:
        """Every shard's report, in order; a shard without one failed (or never ran)."""
        area = WorkArea.of(plan)
        planned = read_work_object(self.s3, self.bucket, area.shards_key)
        if planned is None:
            raise ShardMissing("the distributed run has no shard plan")
        reports = []
        for shard in ShardPlan.model_validate_json(planned).shards:
            body = read_work_object(self.s3, self.bucket, area.report_key(shard.index))
            if body is None:
                raise ShardMissing(self.step_error(plan) or f"shard {shard.index} wrote no output")
            reports.append(ShardReport.model_validate_json(body))
        return reports

    def assemble(self, plan: RunPlan) -> ExportedFile:
        """The shards joined into the run's object (If-None-Match; this run's own object from a
        retried step is adopted): the run's file, as the single path's upload gives it."""
        reports = self._reports(plan)
        rows = sum(r.rows for r in reports)
        skipped = [s for r in reports for s in r.skipped][:MAX_RECORDED_SKIPS]
        skipped_count = sum(r.skipped_count for r in reports)
        # The shards' reads (the plan step's few are not counted); unknown if any shard's is.
        units = [r.read_units for r in reports]
        read_units = None if None in units else sum(u for u in units if u is not None)
        if rows == 0 and plan.delete_empty_file:
            return ExportedFile.stored(
                None,
                rows=0,
                skipped_count=skipped_count,
                skipped=skipped,
                shards=len(reports),
                read_units=read_units,
            )
        stored = assemble_object(
            self.s3,
            self.bucket,
            plan.object_key,
            [(r.key, r.size) for r in reports],
            content_type=plan.content_type,
            tags=plan.tags,
            run_id=plan.run_id,
        )
        return ExportedFile.stored(
            stored,
            rows=rows,
            skipped_count=skipped_count,
            skipped=skipped,
            shards=len(reports),
            read_units=read_units,
        )

    def finish(self, plan: RunPlan, file: ExportedFile) -> RunEnded:
        """End the run as a single run ends (runs/finish.py), then remove its work prefix."""
        outcome = self.finisher.finish(plan, file)
        delete_prefix(self.s3, self.bucket, WorkArea.of(plan).prefix)
        return RunEnded.of(outcome)

    def fail(self, plan: RunPlan, error: StepError) -> RunEnded:
        """Fail the run with the first failed step's own reason (else the Catch's error name)."""
        return self.end(plan, self.step_error(plan) or failure_reason(error))

    def end(self, plan: RunPlan, reason: str) -> RunEnded:
        """Record the run failed with ``reason`` and notify it (once: a run its attempt already
        recorded gets its outcome as recorded), after aborting any upload left on its key; then
        remove its work prefix. The fail step, and the end of an execution that stopped without
        it (ops/stuck_runs.py)."""
        abort_uploads(self.s3, self.bucket, plan.object_key)
        outcome = self.finisher.fail(plan, reason)
        delete_prefix(self.s3, self.bucket, WorkArea.of(plan).prefix)
        return RunEnded.of(outcome)

    def step_error(self, plan: RunPlan) -> str | None:
        """The reason the first failed step recorded, if any did: a permanent one first (a
        transient one may have been healed by the step's retry)."""
        area = WorkArea.of(plan)
        transient: str | None = None
        for key in sorted(listed_keys(self.s3, self.bucket, area.prefix)):
            if key.endswith(".error.json"):
                body = read_work_object(self.s3, self.bucket, key)
                if body is not None:
                    recorded = json.loads(body)
                    if not recorded.get("transient"):
                        return str(recorded["error"])
                    transient = transient or str(recorded["error"])
        return transient


def _step_failed(
    s3: S3Client, bucket: str, plan: RunPlan, step: AnyStep, exc: Exception
) -> TransientAwsError | None:
    """The error a failed step raises instead of ``exc`` (None: ``exc`` itself), after keeping
    its reason (the tenant-safe one, ``run_failure_reason``) in the work prefix: the Map state
    reports only that its failure threshold was exceeded, and a Lambda error's cause may quote
    internal text; the fail step names the real cause.

    A transient error (runs/failure.py) is raised as ``TransientAwsError``, which the state
    machine retries with backoff; its reason is kept marked ``transient`` (the fail step quotes
    a permanent reason first), as far as the outage allows. Anything else is raised as it is:
    the Catch fails the run.
    """
    transient = is_transient(exc)
    index = step.shard.index if isinstance(step, RenderStep) else None
    reason = run_failure_reason(exc, log=STEP_LOG)
    recorded = reason if index is None else f"shard {index} failed: {reason}"
    body = json.dumps({"step": step.step, "index": index, "error": recorded, "transient": transient}).encode()
    if not transient:
        s3.put_object(Bucket=bucket, Key=WorkArea.of(plan).error_key(index), Body=body)
        return None
    with contextlib.suppress(Exception):  # the outage may include S3
        s3.put_object(Bucket=bucket, Key=WorkArea.of(plan).error_key(index), Body=body)
    return TransientAwsError(recorded)


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


def failure_reason(error: StepError | dict[str, Any]) -> str:
    """A readable reason from a Catch's ``{"Error", "Cause"}`` when no step recorded one (the
    function was killed, timed out, or the state machine itself failed). Only the error's name
    is used: a cause may quote internal text (paths, data values), which the notification
    must not carry; the cause stays in the execution's history for operators."""
    caught = error if isinstance(error, StepError) else StepError.model_validate(error)
    name = caught.Error or "States.TaskFailed"
    if name in _STATES_ERRORS:
        return _STATES_ERRORS[name]
    return f"a step of the distributed run failed ({shown(name)}); the details are in {STEP_LOG}"
