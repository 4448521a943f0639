"""Producing a run's file from its plan: shards rendered by the engine.

Both paths render through :func:`render`, with the plan's window (computed once, when the
run was prepared). The single path renders the whole file as one shard in the export
function, into the run's own multipart upload (:func:`produce_file`); on the distributed path
each worker renders one shard of consecutive local days into the work prefix, and the
assemble step joins them (runs/steps.py). Shards concatenated in order are the single path's
file: the first alone writes the BOM and header line, the last alone the never-launched rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracking_export.engine import BinaryOut, run_export
from tracking_export.limits import Limits
from tracking_export.model import ExportDefinition
from tracking_export.report import RunReport
from tracking_export.source import TrackingSource
from tracking_export_aws.aws.s3_sink import MultipartSink
from tracking_export_aws.runs.guard import Guard, GuardedOut
from tracking_export_aws.runs.outcomes import ExportedFile
from tracking_export_aws.runs.payloads import Shard
from tracking_export_aws.runs.plan import RunPlan

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client


def render(
    plan: RunPlan,
    definition: ExportDefinition,
    source: TrackingSource,
    out: BinaryOut,
    shard: Shard | None = None,
) -> RunReport:
    """Render ``shard`` of the plan's file (None: the whole file) into ``out``."""
    return run_export(
        definition,
        source,
        out,
        tenant_id=plan.tenant_id,
        timezone=plan.timezone,
        now=plan.run_at,
        previous_success_start=plan.previous_success_start,
        window=plan.window,
        days=shard.days if shard is not None else None,
        preamble=shard is None or shard.index == 0,
        unlaunched=shard is None or shard.last,
    )


def produce_file(
    plan: RunPlan,
    *,
    s3: S3Client,
    bucket: str,
    source: TrackingSource,
    guard: Guard,
    limits: Limits,
    part_size: int,
) -> ExportedFile:
    """The single path: the whole file rendered here, streamed into one multipart upload of the
    plan's key, completed only if the key is free or holds this run's own earlier object
    (adopted). An empty file is not kept when the definition says so. ``guard`` stops the run
    cleanly before the invocation's deadline or once its lease is lost."""
    with MultipartSink(
        s3,
        bucket,
        plan.object_key,
        part_size=part_size,
        content_type=plan.content_type,
        tags=plan.tags,
        run_id=plan.run_id,
    ) as sink:
        report = render(plan, plan.export_definition(limits), source, GuardedOut(sink, guard))
        guard.check()
        if report.rows == 0 and plan.delete_empty_file:
            sink.abort()
            stored = None
        else:
            stored = sink.store()
    return ExportedFile.stored(
        stored,
        rows=report.rows,
        skipped_count=report.skipped_count,
        skipped=report.skipped,
        shards=1,
        read_units=getattr(source, "read_units", None),
    )
