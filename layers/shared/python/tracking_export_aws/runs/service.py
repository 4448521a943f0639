"""The export use case: one scheduled run of one tenant's export, start to notification.

    claim the run (a duplicate delivery stops here, after delivering any notification the
    finished run still owes) -> tenant settings and definition (last valid versions)
    -> window (recorded) -> rows from DynamoDB -> file streamed into an S3 multipart upload
    created only if absent -> end file -> run record with its notification (outbox)
    -> the notification, channel by channel

Any failure aborts the upload (no partial object), records the run as failed (the
deltaMode window does not move) and still ends in one ``failed`` notification. The states
and who moves them: docs/run-lifecycle.md.
"""

from __future__ import annotations

import contextlib
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracking_export.engine import run_export
from tracking_export.filename import extension, object_key, render_end_file_name, render_file_name
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.model import ExportDefinition
from tracking_export.source import TrackingSource
from tracking_export.window import compute_window
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.object_tags import clean_older_than_tag
from tracking_export_aws.aws.pauses import PauseRecords
from tracking_export_aws.aws.s3_sink import (
    MIB,
    RUN_METADATA,
    MultipartSink,
    ObjectExists,
    object_metadata,
    put_if_absent,
    stored_digest,
)
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.notify.notifier import NotificationError, Notifier, fit_message
from tracking_export_aws.runs.failure import run_failure_reason
from tracking_export_aws.runs.guard import Guard, GuardedOut, GuardedSource, Heartbeat
from tracking_export_aws.runs.ledger import Claim, LeaseLostError, RunLedger
from tracking_export_aws.runs.request import ExportRequest, InvalidRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from tracking_export_aws.runs.route import Router

# ExportRequest and InvalidRequest live in request.py; imported from here too.
__all__ = ["ExportRequest", "ExportService", "InvalidRequest"]

# A run holds a short lease that its heartbeat renews; a run that dies without releasing it
# is taken over by the next delivery within LEASE_SECONDS (at once by a retry of the same invocation).
LEASE_SECONDS = 120
HEARTBEAT_SECONDS = 30
# Two deliveries of the same finished run never publish a channel twice within this lease.
DELIVERY_LEASE_SECONDS = 60
# What a run keeps of the invocation's time to complete, record and notify cleanly.
FINISH_RESERVE_SECONDS = 60
# Download links: conservative, since Lambda's credentials do not say when they expire (see
# docs/run-lifecycle.md for longer-lived links through CloudFront signed URLs).
DOWNLOAD_LINK_SECONDS = 3600
LINK_MARGIN_SECONDS = 60
MAX_NAME_CANDIDATES = 10
CONTENT_TYPES = {"CSV": "text/csv", "TSV": "text/tab-separated-values"}


@dataclass
class ExportService:
    """Runs exports; every collaborator is injected (AWS adapters in Lambda, fakes in tests).

    The run lifecycle (claim, lease and heartbeat, outbox, takeover, recovery) is
    docs/run-lifecycle.md.
    """

    config: ConfigStore
    ledger: RunLedger
    notifier: Notifier
    # None: run recovery, which writes no file.
    s3: S3Client | None
    export_bucket: str
    source_for: Callable[[str], TrackingSource]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    limits: Limits = DEFAULT_LIMITS
    part_size: int = 8 * MIB
    # The client that presigns download links (SigV4, regional endpoint); ``s3`` when None.
    presigner: S3Client | None = None
    lease_seconds: int = LEASE_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    delivery_lease_seconds: int = DELIVERY_LEASE_SECONDS
    finish_reserve_seconds: float = FINISH_RESERVE_SECONDS
    download_link_seconds: int = DOWNLOAD_LINK_SECONDS
    # Routes runs above MAX_ROWS_PER_WORKER estimated rows to the state machine (route.py).
    router: Router | None = None
    # Operators' pauses: a scheduled delivery of a paused export starts no run. None: no pauses.
    pauses: PauseRecords | None = None

    @property
    def files(self) -> S3Client:
        """The client of the export bucket; the run recovery's service, which writes no file,
        has none."""
        if self.s3 is None:
            raise RuntimeError("this export service writes no file: it was built without an S3 client")
        return self.s3

    # -- one delivery ------------------------------------------------------------------------

    def run(
        self,
        request: ExportRequest,
        *,
        invocation_id: str | None = None,
        remaining_seconds: Callable[[], float] | None = None,
        on_claim: Callable[[Claim], None] | None = None,
    ) -> dict[str, Any]:
        """Run one delivery of a scheduled export; returns the notification message sent
        (``outcome`` succeeded/failed), or a ``duplicate`` summary for a delivery that found
        the run done or in progress (after delivering what its notification still missed), or
        ``paused`` for a scheduled delivery of a paused export whose run never started (no
        record, no file, no notification; a replay, with ``runAt``, runs regardless).

        ``invocation_id`` is the Lambda request id (a retry of a crashed invocation takes the
        run over at once); ``remaining_seconds`` the invocation's time left (the run stops
        cleanly, failed, ``finish_reserve_seconds`` before it); ``on_claim`` is told the claim
        as soon as it is known (the handler puts the run id, number and attempt on its log
        lines). Raises when the outcome could not be recorded or notified, so that the
        delivery is retried.
        """
        wall_start = self.clock()
        run_time = request.run_at or request.scheduled_time or wall_start
        run_key = request.scheduled_time or request.run_at or wall_start
        base = _base_message(request.tenant_id, request.export_guid, run_key, run_time)
        if (paused := self._paused(request, run_key)) is not None:
            return {**base, **paused}
        claim = self.ledger.claim(
            request.tenant_id,
            request.export_guid,
            run_key,
            wall_start,
            self.lease_seconds,
            run_start=run_time,
            invocation_id=invocation_id,
        )
        if on_claim is not None:
            on_claim(claim)
        if not claim.claimed:
            return self._duplicate(claim, base, invocation_id)
        started = time.monotonic()
        message: dict[str, Any] = {**base, "runNumber": claim.run_number, "attempt": claim.attempt}
        context = _RunContext()
        try:
            with Heartbeat(self._renewer(claim), self.heartbeat_seconds) as heartbeat:
                guard = Guard(heartbeat, remaining_seconds, self.finish_reserve_seconds, claim.run_id)
                try:
                    self._export(request, claim, run_time, message, context, guard)
                    if context.handed_off:
                        return message  # the state machine records and notifies this run
                except LeaseLostError:
                    raise
                except Exception as exc:  # every failure is recorded and notified, then reported
                    message.update(
                        outcome="failed",
                        error=run_failure_reason(exc),
                        durationMs=int((time.monotonic() - started) * 1000),
                        window=context.window or self._window_or_none(request, run_time),
                        objectKey=None,
                    )
                    return self.fail_run(claim, message)
            message["durationMs"] = int((time.monotonic() - started) * 1000)
            return self.complete_run(claim, message)
        except LeaseLostError:
            # Another delivery took the run over; it records and notifies the outcome.
            return {**base, "outcome": "duplicate", "existingStatus": "running", "objectKey": None}
        except BaseException:
            # Not recorded (the ledger failed, or the process is going down): give the run back
            # at once so the retry (or the next delivery) takes it over; unless an execution
            # holds it now.
            if not context.handed_off:
                with contextlib.suppress(Exception):
                    self.ledger.release(claim)
            raise

    def _paused(self, request: ExportRequest, run_key: datetime) -> dict[str, Any] | None:
        """The answer to a scheduled delivery of a paused export whose run has not started;
        None when the run goes on. A run already on record (started before the pause, or a
        finished one that still owes notifications) goes on as usual."""
        if self.pauses is None or request.run_at is not None:
            return None
        pause = self.pauses.paused(request.tenant_id, request.export_guid)
        if pause is None or self.ledger.get(request.tenant_id, request.export_guid, run_key) is not None:
            return None
        return {
            "outcome": "paused",
            "pauseScope": pause.scope,
            "pausedAt": keys.instant_key(pause.paused_at),
            "objectKey": None,
        }

    def _renewer(self, claim: Claim) -> Callable[[], bool]:
        return lambda: self.ledger.renew(claim, self.clock(), self.lease_seconds)

    def _duplicate(self, claim: Claim, base: dict[str, Any], invocation_id: str | None) -> dict[str, Any]:
        existing = claim.existing
        redelivered: list[str] = []
        if existing is not None and existing.finished and existing.pending_channels:
            redelivered = self.deliver(
                claim.tenant_id, claim.export_guid, claim.scheduled_time, holder=invocation_id
            )
        return {
            **base,
            "outcome": "duplicate",
            "existingStatus": existing.status if existing else None,
            "objectKey": existing.object_key if existing else None,
            "redelivered": redelivered,
        }

    # -- finishing (also called by the distributed path) --------------------------------------

    def complete_run(self, claim: Claim, message: dict[str, Any]) -> dict[str, Any]:
        """Record the run succeeded with its notification (``message``, outcome ``succeeded``,
        with window, rows, bytes, objectKey, sha256, durationMs, skippedCount, skipped), move
        the window, and deliver the notification; returns the message as delivered."""
        message = fit_message({**message, "outcome": "succeeded"})
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
            channels=self.notifier.channel_names,
        )
        self.deliver(claim.tenant_id, claim.export_guid, claim.scheduled_time, holder=claim.invocation_id)
        return message

    def fail_run(self, claim: Claim, message: dict[str, Any]) -> dict[str, Any]:
        """Record the run failed with its notification (``message``: ``error``, ``window``,
        ``durationMs``) and deliver it; the window does not move. Returns the message."""
        if "recipients" not in message:
            message = {**message, "recipients": self._failure_recipients(claim.tenant_id, claim.export_guid)}
        message = fit_message({**message, "outcome": "failed"})
        self.ledger.record_failure(
            claim,
            finished_at=self.clock(),
            error=message["error"],
            duration_ms=message.get("durationMs") or 0,
            window=message.get("window"),
            notification=message,
            channels=self.notifier.channel_names,
        )
        self.deliver(claim.tenant_id, claim.export_guid, claim.scheduled_time, holder=claim.invocation_id)
        return message

    def deliver(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, *, holder: str | None = None
    ) -> list[str]:
        """Deliver a finished run's notification to the channels that have not taken it yet
        (the outbox); returns the channels delivered now. NotificationError when one failed,
        or when another delivery holds the delivery lease while channels are still pending
        (so that the caller's retry comes back to them)."""
        record = self.ledger.take_delivery(
            tenant_id, export_guid, scheduled_time, self.clock(), self.delivery_lease_seconds, holder=holder
        )
        if record is None:
            current = self.ledger.get(tenant_id, export_guid, scheduled_time)
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
                    tenant_id, export_guid, scheduled_time, channel, answer
                ),
            )
        finally:
            # Left behind, the delivery lease simply expires.
            with contextlib.suppress(Exception):
                self.ledger.end_delivery(tenant_id, export_guid, scheduled_time)

    def recover(
        self,
        request: ExportRequest,
        *,
        invocation_id: str | None,
        reason: str,
        on_claim: Callable[[Claim], None] | None = None,
    ) -> dict[str, Any]:
        """Lambda gave up on a delivery (the OnFailure destination): make sure the run ends
        (``on_claim`` as for ``run``).

        A finished run gets its missing notifications; a run that is absent, or running under
        this invocation or an expired lease, is claimed and recorded failed with ``reason`` and
        notified.
        A run another live invocation holds raises RunInProgress (retried later).
        """
        now = self.clock()
        run_time = request.run_at or request.scheduled_time or now
        run_key = request.scheduled_time or request.run_at or now
        base = _base_message(request.tenant_id, request.export_guid, run_key, run_time)
        claim = self.ledger.claim(
            request.tenant_id,
            request.export_guid,
            run_key,
            now,
            self.lease_seconds,
            run_start=run_time,
            invocation_id=invocation_id,
        )
        if on_claim is not None:
            on_claim(claim)
        if not claim.claimed:
            existing = claim.existing
            if existing is not None and existing.finished:
                return self._duplicate(claim, base, invocation_id)
            if existing is not None and existing.path == "distributed":
                # Handed to the state machine, which ends the run itself (fail state included).
                return self._duplicate(claim, base, invocation_id)
            holder = existing.invocation_id if existing else None
            raise RunInProgress(f"run {claim.run_id} is still held by invocation {holder} under a live lease")
        previous = claim.existing
        window = previous.window if previous is not None else None
        if window is None:
            window = self._window_or_none(request, run_time)
        message = {
            **base,
            "runNumber": claim.run_number,
            "attempt": claim.attempt,
            "outcome": "failed",
            "error": f"the export function gave up on this run after its retries: {reason}",
            "durationMs": 0,
            "window": window,
            "objectKey": None,
        }
        return self.fail_run(claim, message)

    def _failure_recipients(self, tenant_id: str, export_guid: str) -> list[str]:
        """Who hears of a failed run: the tenant's ``notificationEmails`` and, when the definition
        is valid, its ``targetEmail``; what the configuration cannot tell is left out."""
        found: set[str] = set()
        with contextlib.suppress(Exception):  # the failure being reported matters more
            found.update(self.config.tenant_settings(tenant_id).notification_emails)
        with contextlib.suppress(Exception):
            data = self.config.export_definition(tenant_id, export_guid)
            found.update(checked_definition(data, export_guid, self.limits).email_report.target_emails)
        return sorted(found)

    def _window_or_none(self, request: ExportRequest, run_time: datetime) -> dict[str, Any] | None:
        """The window the run would cover, for a run lost before it recorded one; None when the
        configuration cannot tell (no valid definition)."""
        try:
            settings = self.config.tenant_settings(request.tenant_id)
            data = self.config.export_definition(request.tenant_id, request.export_guid)
            definition = checked_definition(data, request.export_guid)
            previous = (
                self.ledger.previous_success_start(request.tenant_id, request.export_guid)
                if definition.parameters.delta_mode
                else None
            )
            return compute_window(definition.parameters, settings.zone, run_time, previous).as_dict()
        except Exception:  # the failure being reported matters more than its window
            return None

    # -- the export itself -------------------------------------------------------------------

    def _export(
        self,
        request: ExportRequest,
        claim: Claim,
        run_time: datetime,
        message: dict[str, Any],
        context: _RunContext,
        guard: Guard,
    ) -> None:
        tenant, guid = request.tenant_id, request.export_guid
        settings = self.config.tenant_settings(tenant)
        definition_data = self.config.export_definition(tenant, guid)
        definition = checked_definition(definition_data, guid, self.limits)
        previous = (
            self.ledger.previous_success_start(tenant, guid) if definition.parameters.delta_mode else None
        )
        # Known before any record is read, and kept on the record: a run that fails (or is lost)
        # later is still reported with the window it was covering.
        context.window = compute_window(definition.parameters, settings.zone, run_time, previous).as_dict()
        self.ledger.record_window(claim, context.window)
        local_time = run_time.astimezone(settings.zone)
        run_number = claim.run_number or 1
        file_name = render_file_name(
            definition.move_to_folder, definition.file_action, local_time, run_number, guid
        )
        wanted = object_key(tenant, definition.move_to_folder, file_name)
        ext = extension(definition.file_action)
        key = self._free_key(wanted, ext, claim)
        metadata = {RUN_METADATA: claim.run_id}
        tags = {"tenant": tenant, "export": guid, **clean_older_than_tag(definition.clean_older_than_days)}
        source = GuardedSource(self.source_for(tenant), guard)
        recipients = sorted({*settings.notification_emails, *definition.email_report.target_emails})
        adopted = False
        try:
            if self.router is not None:
                route = self.router.route(
                    claim=claim,
                    source=source,
                    definition=definition,
                    definition_data=definition_data,
                    timezone=settings.timezone,
                    run_time=run_time,
                    previous_success_start=previous,
                    object_key=key,
                    requested_key=wanted,
                    content_type=_content_type(definition),
                    tags=tags,
                    recipients=recipients,
                    message={**message, "window": context.window},
                    before_hand_off=guard.stop_heartbeat,
                )
                message.update(route.as_dict())
                if route.path == "distributed":
                    context.handed_off = True
                    message.update(
                        outcome="distributed", window=context.window, executionArn=route.execution_arn
                    )
                    return
                message["shards"] = 1
            with MultipartSink(
                self.files,
                self.export_bucket,
                key,
                part_size=self.part_size,
                content_type=_content_type(definition),
                tags=tags,
                metadata=metadata,
            ) as sink:
                report = run_export(
                    definition,
                    source,
                    GuardedOut(sink, guard),
                    tenant_id=tenant,
                    timezone=settings.timezone,
                    now=run_time,
                    previous_success_start=previous,
                )
                guard.check()
                if report.rows == 0 and definition.move_to_folder.delete_empty_files:
                    sink.abort()
                    written_key, sha256, size = None, None, 0
                else:
                    try:
                        _, sha256, size = sink.complete()
                    except ObjectExists:
                        # Our own object from an attempt that died before recording it: adopt it,
                        # and report the bytes really stored. Anyone else's is never replaced.
                        if not self._ours(key, claim):
                            raise
                        sha256, size = stored_digest(self.files, self.export_bucket, key)
                        adopted = True
                    written_key = key
        finally:
            source.close()
        end_file_key = None
        if written_key is not None and definition.generate_end_file is not None:
            end_file_key = self.write_end_file(tenant, definition, local_time, claim, written_key)
        # The link is signed before the message changes: a failure here leaves a message that
        # the failure path can still send as ``failed`` (messages.RunFailed has no file fields).
        link = {}
        if written_key is not None and definition.email_report.include_download_link:
            link = self.download_link(written_key)
        message.update(
            outcome="succeeded",
            window=context.window,
            rows=report.rows,
            skippedCount=report.skipped_count,
            skipped=[s.as_dict() for s in report.skipped],
            bytes=size,
            bucket=self.export_bucket,
            objectKey=written_key,
            sha256=sha256,
            endFileKey=end_file_key,
            recipients=recipients,
        )
        if written_key is not None and written_key != wanted:
            message["requestedObjectKey"] = wanted  # the name was taken: this run's file is elsewhere
        if adopted:
            message["adoptedObject"] = True
        message.update(link)

    def _ours(self, key: str, claim: Claim) -> bool:
        metadata = object_metadata(self.files, self.export_bucket, key)
        return metadata is not None and metadata.get(RUN_METADATA) == claim.run_id

    def _free_key(self, wanted: str, ext: str, claim: Claim, avoid: str | None = None) -> str:
        """``wanted`` if no object holds it (or this run's own does), else the first free of
        ``name-r{runNumber}.ext``, ``name-r{runNumber}-2.ext``, …: deterministic, never a replacement."""
        for candidate in _candidate_keys(wanted, ext, claim.run_number or 1):
            if candidate == avoid:
                continue
            metadata = object_metadata(self.files, self.export_bucket, candidate)
            if metadata is None or metadata.get(RUN_METADATA) == claim.run_id:
                return candidate
        raise ObjectExists(self.export_bucket, wanted)

    def write_end_file(
        self,
        tenant: str,
        definition: ExportDefinition,
        local_time: datetime,
        claim: Claim,
        export_key: str,
    ) -> str:
        """Write the run's end file next to its export (never replacing another run's object);
        returns its key."""
        end = definition.generate_end_file
        assert end is not None
        name = render_end_file_name(end, local_time, claim.run_number or 1, definition.guid)
        wanted = object_key(tenant, definition.move_to_folder, name)
        ext = posixpath.splitext(name)[1]
        body = end.file_content.encode("utf-8")
        key = self._free_key(wanted, ext, claim, avoid=export_key)
        try:
            put_if_absent(self.files, self.export_bucket, key, body, Metadata={RUN_METADATA: claim.run_id})
        except ObjectExists:
            if not self._ours(key, claim):
                raise
        return key

    def download_link(self, key: str) -> dict[str, Any]:
        """A SigV4 link that lives no longer than the credentials that sign it, and when it ends."""
        presigner = self.presigner or self.files
        now = self.clock()
        seconds = self.download_link_seconds
        expiry = credentials_expiry(presigner)
        if expiry is not None:
            # A link signed with temporary credentials dies with them, whatever ExpiresIn says.
            seconds = max(0, min(seconds, int((expiry - now).total_seconds()) - LINK_MARGIN_SECONDS))
        if seconds <= 0:
            return {"downloadUrl": None, "downloadUrlOmitted": "the signing credentials expire too soon"}
        url = presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.export_bucket, "Key": key}, ExpiresIn=seconds
        )
        return {
            "downloadUrl": url,
            "downloadUrlExpiresInSeconds": seconds,
            "downloadUrlExpiresAt": (now + timedelta(seconds=seconds)).isoformat(),
        }


def _base_message(tenant_id: str, export_guid: str, run_key: datetime, run_time: datetime) -> dict[str, Any]:
    return {
        "tenantId": tenant_id,
        "exportGuid": export_guid,
        "scheduledTime": run_key.isoformat(),
        "runAt": run_time.isoformat(),
    }


def _candidate_keys(wanted: str, ext: str, run_number: int) -> list[str]:
    stem = wanted[: -len(ext)] if ext and wanted.endswith(ext) else wanted
    suffix = ext if ext and wanted.endswith(ext) else ""
    return [
        wanted,
        f"{stem}-r{run_number}{suffix}",
        *(f"{stem}-r{run_number}-{n}{suffix}" for n in range(2, MAX_NAME_CANDIDATES)),
    ]


def credentials_expiry(client: S3Client) -> datetime | None:
    """When the credentials a client signs with expire; None when they do not say (long-term keys,
    or Lambda's environment credentials, whose expiry botocore is not told)."""
    signer = getattr(client, "_request_signer", None)
    credentials = getattr(signer, "_credentials", None)
    expiry = getattr(credentials, "_expiry_time", None)
    return expiry if isinstance(expiry, datetime) and expiry.tzinfo is not None else None


class RunInProgress(RuntimeError):
    """Another invocation still holds the run under a live lease."""


class _RunContext:
    """What a failed run had learnt before failing (for its record and notification)."""

    window: dict[str, Any] | None = None
    handed_off = False  # the run went on in a Step Functions execution


def _content_type(definition: ExportDefinition) -> str:
    base = CONTENT_TYPES[definition.file_action.format]
    return "application/gzip" if definition.file_action.compression == "gzip" else base
