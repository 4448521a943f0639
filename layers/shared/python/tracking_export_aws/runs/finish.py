"""The end of a run, the same on both paths: the export function calls it for a single run,
the state machine's finish and fail steps for a distributed one.

- :meth:`Finisher.finish` (plan, file): the end file, the download link, the ``succeeded``
  message built once from the plan and the file, then the run record (succeeded; the
  deltaMode window moves) with its notification, delivered through the outbox.
- :meth:`Finisher.fail` (plan, or what is known of the run, and a reason): the ``failed``
  message and record (the window does not move), delivered the same way.
- :meth:`Finisher.deliver`: what a finished run's notification still owes, channel by
  channel, under the delivery lease (docs/run-lifecycle.md, step 5).

A failure writing the end file or signing the link fails the run (one ``failed``
notification); a failure to record or deliver raises, so the caller's retry comes back to it.
``<archive>`` moves the export's older files once the file and its end file exist
(runs/archive.py); it never fails a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws.s3_links import DownloadLink, DownloadLinks
from tracking_export_aws.aws.s3_sink import put_object_once
from tracking_export_aws.notify.messages import validate_notification
from tracking_export_aws.notify.notifier import NotificationError, Notifier, fit_message
from tracking_export_aws.runs.archive import archive_older_files
from tracking_export_aws.runs.failure import EXPORT_LOG, STEP_LOG, is_transient, run_failure_reason
from tracking_export_aws.runs.ledger import LeaseLostError, RunLedger
from tracking_export_aws.runs.outcomes import ExportedFile, RunFailed, RunSucceeded
from tracking_export_aws.runs.plan import RunPlan, RunStart

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

# Two deliveries of the same finished run never publish a channel twice within this lease.
DELIVERY_LEASE_SECONDS = 60


@dataclass
class Finisher:
    """Records a run's outcome with its notification and delivers it; every collaborator injected."""

    ledger: RunLedger
    notifier: Notifier
    s3: S3Client
    bucket: str
    links: DownloadLinks
    clock: Callable[[], datetime]
    delivery_lease_seconds: int = DELIVERY_LEASE_SECONDS
    # Told how many older files <archive> could not move (the functions count them).
    on_archive_failures: Callable[[int], None] | None = None

    def finish(self, plan: RunPlan, file: ExportedFile) -> RunSucceeded | RunFailed:
        """End file, link, message, record and delivery of a run that produced ``file``; returns
        the outcome as recorded (``failed`` when the end file or the link failed for good; a
        transient error is raised, for the caller's retry: the file is adopted then)."""
        try:
            message = self._succeeded(plan, file)
        except Exception as exc:  # the run's own tail failed: the run fails, and says why
            if is_transient(exc):
                raise
            return self.fail(plan, run_failure_reason(exc, log=_log_of(plan)))
        if file.key is not None:
            # Before the record: a retry of a run that died mid-move finishes the move. Never fails the run.
            kept = (file.key, *([message["endFileKey"]] if message["endFileKey"] else []))
            archive_older_files(self.s3, self.bucket, plan, kept, self.clock(), self.on_archive_failures)
        return self._record(plan, message, read_units=file.read_units)

    def fail(self, run: RunStart, reason: str) -> RunSucceeded | RunFailed:
        """Record the run failed with ``reason`` and deliver its notification. ``run`` is the
        plan, or what is known of a run that failed before it had one (its window and
        recipients as far as they could be found). Returns the outcome as recorded: a retried
        step whose attempt had already recorded the run gets that outcome, never a second one."""
        message: dict[str, Any] = {
            **_run_fields(run),
            "outcome": "failed",
            "error": reason,
            "durationMs": self._duration_ms(run),
            "window": run.window.as_dict() if run.window is not None else None,
            "objectKey": None,
            "recipients": list(run.recipients),
        }
        if isinstance(run, RunPlan):
            # A single run is one shard; how many a distributed run planned is on its record.
            single = run.route is not None and run.route.path == "single"
            message.update(_route_fields(run, 1 if single else None))
        return self._record(run, message)

    def _succeeded(self, plan: RunPlan, file: ExportedFile) -> dict[str, Any]:
        """The ``succeeded`` message of ``plan`` and ``file``, after the end file is written and
        the link signed (either may fail: the run then fails with that reason)."""
        end_file_key = None
        if file.key is not None and plan.end_file is not None:
            body = plan.end_file.content.encode("utf-8")
            end_file_key = put_object_once(
                self.s3, self.bucket, plan.end_file.key, body, run_id=plan.run_id, tags=plan.tags
            ).key
        link = (
            self.links.link(file.key, self.clock()) if file.key is not None and plan.download_link else None
        )
        message: dict[str, Any] = {
            **_run_fields(plan),
            **_route_fields(plan, file.shards),
            "outcome": "succeeded",
            "window": plan.window.as_dict(),
            "rows": file.rows,
            "skippedCount": file.skipped_count,
            "skipped": [s.model_dump(mode="json") for s in file.skipped],
            "bytes": file.size,
            "bucket": self.bucket,
            "objectKey": file.key,
            "sha256": file.sha256,
            "endFileKey": end_file_key,
            "recipients": list(plan.recipients),
            "durationMs": self._duration_ms(plan),
        }
        if file.key is not None and file.key != plan.requested_key:
            message["requestedObjectKey"] = plan.requested_key  # the name was taken: the file is elsewhere
        if file.adopted:
            message["adoptedObject"] = True
        if link is not None:
            message.update(_link_fields(link))
        return message

    def _record(
        self, run: RunStart, message: dict[str, Any], *, read_units: float | None = None
    ) -> RunSucceeded | RunFailed:
        """Record the outcome with its notification (one write), then deliver it; returns the
        message as recorded. A quiet replay records the message and owes it to no channel.

        A retried step whose attempt already recorded the run (its delivery failed) finds the
        record finished under its own claim token: it delivers only the channels still pending.
        """
        message = fit_message(message)
        claim = run.ledger_claim()
        channels = [] if run.quiet else self.notifier.channel_names
        try:
            if message["outcome"] == "succeeded":
                self.ledger.record_success(
                    claim,
                    finished_at=self.clock(),
                    window=message["window"],
                    rows=message["rows"],
                    bytes_written=message["bytes"],
                    object_key=message["objectKey"],
                    sha256=message["sha256"],
                    duration_ms=message["durationMs"],
                    skipped=message["skippedCount"],
                    skipped_records=message["skipped"],
                    notification=message,
                    channels=channels,
                    read_units=read_units,
                )
            else:
                self.ledger.record_failure(
                    claim,
                    finished_at=self.clock(),
                    error=message["error"],
                    duration_ms=message["durationMs"],
                    window=message["window"],
                    notification=message,
                    channels=channels,
                )
        except LeaseLostError:
            stored = self.ledger.get(
                claim.tenant_id, claim.export_guid, claim.scheduled_time, claim.replay_id
            )
            if stored is None or not stored.finished or stored.claim_token != claim.token:
                raise  # another attempt holds (or ended) the run
            message = stored.notification or message
        self.deliver(
            claim.tenant_id,
            claim.export_guid,
            claim.scheduled_time,
            holder=claim.invocation_id,
            replay_id=claim.replay_id,
        )
        outcome = validate_notification(message)
        assert isinstance(outcome, RunSucceeded | RunFailed)
        return outcome

    def deliver(
        self,
        tenant_id: str,
        export_guid: str,
        scheduled_time: datetime,
        *,
        holder: str | None = None,
        replay_id: str | None = None,
    ) -> list[str]:
        """Deliver a finished run's notification to the channels that have not taken it yet
        (the outbox); returns the channels delivered now. NotificationError when one failed,
        or when another delivery holds the delivery lease while channels are still pending
        (so that the caller's retry comes back to them)."""
        record = self.ledger.take_delivery(
            tenant_id,
            export_guid,
            scheduled_time,
            self.clock(),
            self.delivery_lease_seconds,
            holder=holder,
            replay_id=replay_id,
        )
        if record is None:
            current = self.ledger.get(tenant_id, export_guid, scheduled_time, replay_id)
            if current is not None and current.finished and current.pending_channels:
                raise NotificationError(
                    f"another delivery is publishing the notification of {tenant_id}/{export_guid} "
                    f"({', '.join(current.pending_channels)} pending); retry later",
                    list(current.pending_channels),
                )
            return []  # nothing pending
        if record.notification is None:
            return []
        try:
            return self.notifier.publish(
                record.notification,
                only=record.pending_channels,
                on_delivered=lambda channel, answer: self.ledger.mark_delivered(
                    tenant_id, export_guid, scheduled_time, channel, answer, replay_id=replay_id
                ),
            )
        finally:
            # Left behind, the delivery lease simply expires.
            with contextlib.suppress(Exception):
                self.ledger.end_delivery(tenant_id, export_guid, scheduled_time, replay_id=replay_id)

    def _duration_ms(self, run: RunStart) -> int:
        return max(0, int((self.clock() - run.claimed_at).total_seconds() * 1000))


def _run_fields(run: RunStart) -> dict[str, Any]:
    """Which run: every message of a run outcome starts with these."""
    return {
        "tenantId": run.tenant_id,
        "exportGuid": run.export_guid,
        "scheduledTime": run.scheduled_time.isoformat(),
        "runAt": run.run_at.isoformat(),
        "runNumber": run.claim.run_number,
        "attempt": run.claim.attempt,
        **({"replayId": run.replay_id} if run.replay_id is not None else {}),
    }


def _route_fields(plan: RunPlan, shards: int | None) -> dict[str, Any]:
    """The path the run took, its estimate and its shards (when known); nothing when the
    function has no distributed path."""
    if plan.route is None:
        return {}
    fields: dict[str, Any] = {"path": plan.route.path, "estimatedRows": plan.route.estimated_rows}
    if shards is not None:
        fields["shards"] = shards
    return fields


def _link_fields(link: DownloadLink) -> dict[str, Any]:
    if link.url is None:
        return {"downloadUrl": None, "downloadUrlOmitted": link.omitted}
    assert link.expires_at is not None
    return {
        "downloadUrl": link.url,
        "downloadUrlExpiresInSeconds": link.expires_in_seconds,
        "downloadUrlExpiresAt": link.expires_at.isoformat(),
    }


def _log_of(plan: RunPlan) -> str:
    """Where an operator finds the details of a failure the reason names only by its type."""
    return STEP_LOG if plan.distributed else EXPORT_LOG
