"""The export use case: one delivery of one tenant's scheduled export, start to notification.

    claim the run (a duplicate delivery stops here, after delivering any notification the
    finished run still owes)
    -> prepare: one frozen plan (runs/plan.py): definition, window (recorded), keys, route
    -> produce: the file rendered here into the run's multipart upload (runs/produce.py), or
       the run handed to the state machine, which renders shards and assembles them
       (runs/handoff.py, runs/steps.py)
    -> finish: end file, link, message, run record and outbox (runs/finish.py)

A permanent failure aborts the upload (no partial object), records the run as failed (the
deltaMode window does not move) and still ends in one ``failed`` notification. A transient one
(runs/failure.py's ``is_transient``) hands the run back with its reason and raises
``TransientRunError``: Lambda's retry takes the run over, and only when Lambda gives up does
the recovery end it failed. The states and who moves them: docs/run-lifecycle.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.report import Window
from tracking_export.source import TrackingSource
from tracking_export.window import compute_window
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.pauses import PauseRecords
from tracking_export_aws.aws.s3_links import DOWNLOAD_LINK_SECONDS, DownloadLinks
from tracking_export_aws.aws.s3_sink import PART_SIZE
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.notify.messages import Window as WindowFields
from tracking_export_aws.notify.notifier import NotificationError, Notifier
from tracking_export_aws.runs.archive import make_room
from tracking_export_aws.runs.failure import is_transient, run_failure_reason
from tracking_export_aws.runs.finish import DELIVERY_LEASE_SECONDS, Finisher
from tracking_export_aws.runs.guard import Guard, GuardedSource, Heartbeat
from tracking_export_aws.runs.handoff import HandOff
from tracking_export_aws.runs.ledger import Claim, LeaseLostError, RunLedger
from tracking_export_aws.runs.outcomes import (
    ExportedFile,
    RunDuplicate,
    RunFailed,
    RunHandedOff,
    RunOutcome,
    RunPaused,
    RunSucceeded,
)
from tracking_export_aws.runs.plan import Planner, RunPlan, RunStart
from tracking_export_aws.runs.produce import produce_file
from tracking_export_aws.runs.request import ExportRequest, InvalidRequest

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

# ExportRequest and InvalidRequest live in request.py; imported from here too.
__all__ = ["ExportRequest", "ExportService", "InvalidRequest", "RunInProgress", "TransientRunError"]

# A run holds a short lease that its heartbeat renews; a run that dies without releasing it
# is taken over by the next delivery within LEASE_SECONDS (at once by a retry of the same invocation).
LEASE_SECONDS = 120
HEARTBEAT_SECONDS = 30
# What a run keeps of the invocation's time to complete, record and notify cleanly.
FINISH_RESERVE_SECONDS = 60


@dataclass
class ExportService:
    """Runs exports; every collaborator is injected (AWS adapters in Lambda, fakes in tests).

    The run lifecycle (claim, lease and heartbeat, outbox, takeover, recovery) is
    docs/run-lifecycle.md. ``hand_off`` is the distributed path (None: every run is rendered
    here); its ``max_rows_per_worker`` routes the runs.
    """

    config: ConfigStore
    ledger: RunLedger
    notifier: Notifier
    s3: S3Client
    export_bucket: str
    source_for: Callable[[str], TrackingSource]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    limits: Limits = DEFAULT_LIMITS
    part_size: int = PART_SIZE
    # The client that presigns download links (SigV4, regional endpoint); ``s3`` when None.
    presigner: S3Client | None = None
    lease_seconds: int = LEASE_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    delivery_lease_seconds: int = DELIVERY_LEASE_SECONDS
    finish_reserve_seconds: float = FINISH_RESERVE_SECONDS
    download_link_seconds: int = DOWNLOAD_LINK_SECONDS
    hand_off: HandOff | None = None
    # Operators' pauses: a scheduled delivery of a paused export starts no run. None: no pauses.
    pauses: PauseRecords | None = None
    # Told how many older files <archive> could not move after a run (runs/archive.py).
    on_archive_failures: Callable[[int], None] | None = None

    @property
    def planner(self) -> Planner:
        """Prepares this service's runs (its configuration, ledger, bucket and route)."""
        return Planner(
            config=self.config,
            ledger=self.ledger,
            s3=self.s3,
            bucket=self.export_bucket,
            limits=self.limits,
            max_rows_per_worker=self.hand_off.max_rows_per_worker if self.hand_off is not None else None,
            make_room=make_room,
        )

    @property
    def finisher(self) -> Finisher:
        """Ends this service's runs (its ledger, channels, bucket, links and clock)."""
        return Finisher(
            ledger=self.ledger,
            notifier=self.notifier,
            s3=self.s3,
            bucket=self.export_bucket,
            links=DownloadLinks(self.presigner or self.s3, self.export_bucket, self.download_link_seconds),
            clock=self.clock,
            delivery_lease_seconds=self.delivery_lease_seconds,
            on_archive_failures=self.on_archive_failures,
        )

    # -- one delivery ------------------------------------------------------------------------

    def run(
        self,
        request: ExportRequest,
        *,
        invocation_id: str | None = None,
        remaining_seconds: Callable[[], float] | None = None,
        on_claim: Callable[[Claim], None] | None = None,
    ) -> RunOutcome:
        """Run one delivery of a scheduled export: the run's notification as delivered
        (``RunSucceeded`` / ``RunFailed``), ``RunHandedOff`` when the run went on in a Step
        Functions execution, ``RunDuplicate`` for a delivery that found the run done or in
        progress (after delivering what its notification still missed), or ``RunPaused`` for a
        scheduled delivery of a paused export whose run never started (no record, no file, no
        notification; a replay, with ``runAt``, runs regardless).

        ``invocation_id`` is the Lambda request id (a retry of a crashed invocation takes the
        run over at once); ``remaining_seconds`` the invocation's time left (the run stops
        cleanly, failed, ``finish_reserve_seconds`` before it); ``on_claim`` is told the claim
        as soon as it is known (the handler puts the run id, number and attempt on its log
        lines). Raises when the outcome could not be recorded or notified, so that the
        delivery is retried.
        """
        wall_start = self.clock()
        run_at = request.run_at or request.scheduled_time or wall_start
        run_key = request.scheduled_time or request.run_at or wall_start
        try:
            if (paused := self._paused(request, run_key, run_at)) is not None:
                return paused
            claim = self.ledger.claim(
                request.tenant_id,
                request.export_guid,
                run_key,
                wall_start,
                self.lease_seconds,
                run_start=run_at,
                invocation_id=invocation_id,
                replay_id=request.replay_id,
                quiet=request.quiet,
            )
        except Exception as exc:
            if is_transient(exc):  # nothing claimed yet: Lambda's retry starts over
                raise TransientRunError(run_failure_reason(exc)) from exc
            raise
        if on_claim is not None:
            on_claim(claim)
        if not claim.claimed:
            return self._duplicate(claim, run_at, invocation_id)
        start = RunStart.of(claim, run_at=run_at, claimed_at=wall_start, quiet=request.quiet)
        produced: tuple[RunPlan, ExportedFile] | RunOutcome | None = None
        try:
            with Heartbeat(self._renewer(claim), self.heartbeat_seconds) as heartbeat:
                guard = Guard(heartbeat, remaining_seconds, self.finish_reserve_seconds, claim.run_id)
                produced = self._produce(start, guard)
            if isinstance(produced, tuple):
                return self.finisher.finish(*produced)
            return produced
        except LeaseLostError:
            # Another delivery took the run over; it records and notifies the outcome.
            return RunDuplicate(
                **_request_fields(claim, run_at),
                outcome="duplicate",
                existingStatus="running",
                objectKey=None,
            )
        except BaseException as exc:
            # Not recorded (a transient error, the ledger failed, or the process is going down):
            # give the run back at once so the retry (or the next delivery) takes it over;
            # unless an execution holds it now.
            if isinstance(produced, RunHandedOff):
                raise
            # A notification not delivered is recorded already: the handler's retry delivers it.
            if isinstance(exc, Exception) and not isinstance(exc, NotificationError) and is_transient(exc):
                reason = run_failure_reason(exc)
                with contextlib.suppress(Exception):  # the outage may well include the ledger
                    self.ledger.hand_back(claim, reason)
                raise TransientRunError(reason) from exc
            with contextlib.suppress(Exception):
                self.ledger.release(claim)
            raise

    def _produce(self, start: RunStart, guard: Guard) -> tuple[RunPlan, ExportedFile] | RunOutcome:
        """Prepare the run and produce its file here, or hand it to the state machine; a failure
        is recorded and notified (the failed outcome is returned)."""
        source = GuardedSource(self.source_for(start.tenant_id), guard)
        plan: RunPlan | None = None
        try:
            plan = self.planner.prepare(start, source)
            if plan.distributed:
                return self._hand_off(plan, guard)
            file = produce_file(
                plan,
                s3=self.s3,
                bucket=self.export_bucket,
                source=source,
                guard=guard,
                limits=self.limits,
                part_size=self.part_size,
            )
        except LeaseLostError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise  # handed back to Lambda's retry (run)
            # A permanent failure is recorded and notified, then reported.
            return self.finisher.fail(plan or self._known(start), run_failure_reason(exc))
        finally:
            source.close()
        return plan, file

    def _paused(self, request: ExportRequest, run_key: datetime, run_at: datetime) -> RunPaused | None:
        """The answer to a scheduled delivery of a paused export whose run has not started;
        None when the run goes on. A run already on record (started before the pause, or a
        finished one that still owes notifications) goes on as usual."""
        if self.pauses is None or request.run_at is not None:
            return None
        pause = self.pauses.paused(request.tenant_id, request.export_guid)
        if pause is None or self.ledger.get(request.tenant_id, request.export_guid, run_key) is not None:
            return None
        return RunPaused(
            tenantId=request.tenant_id,
            exportGuid=request.export_guid,
            scheduledTime=run_key.isoformat(),
            runAt=run_at.isoformat(),
            outcome="paused",
            pauseScope="tenant" if pause.export_guid is None else "export",
            pausedAt=keys.instant_key(pause.paused_at),
            objectKey=None,
        )

    def _renewer(self, claim: Claim) -> Callable[[], bool]:
        return lambda: self.ledger.renew(claim, self.clock(), self.lease_seconds)

    def _hand_off(self, plan: RunPlan, guard: Guard) -> RunHandedOff:
        assert self.hand_off is not None and plan.route is not None
        execution_arn = self.hand_off.start(plan, before_hand_off=guard.stop_heartbeat)
        return RunHandedOff(
            **_request_fields(plan.ledger_claim(), plan.run_at),
            outcome="distributed",
            runNumber=plan.claim.run_number,
            attempt=plan.claim.attempt,
            window=WindowFields.model_validate(plan.window.as_dict()),
            path="distributed",
            estimatedRows=plan.route.estimated_rows,
            executionArn=execution_arn,
        )

    def _duplicate(self, claim: Claim, run_at: datetime, invocation_id: str | None) -> RunDuplicate:
        existing = claim.existing
        redelivered: list[str] = []
        if existing is not None and existing.finished and existing.pending_channels:
            redelivered = self.deliver(
                claim.tenant_id,
                claim.export_guid,
                claim.scheduled_time,
                holder=invocation_id,
                replay_id=claim.replay_id,
            )
        return RunDuplicate(
            **_request_fields(claim, run_at),
            outcome="duplicate",
            existingStatus=existing.status if existing else None,
            objectKey=existing.object_key if existing else None,
            redelivered=redelivered,
        )

    def deliver(
        self,
        tenant_id: str,
        export_guid: str,
        scheduled_time: datetime,
        *,
        holder: str | None = None,
        replay_id: str | None = None,
    ) -> list[str]:
        """Deliver what a finished run's notification still owes (runs/finish.py, the outbox);
        returns the channels delivered now."""
        return self.finisher.deliver(
            tenant_id, export_guid, scheduled_time, holder=holder, replay_id=replay_id
        )

    def recover(
        self,
        request: ExportRequest,
        *,
        invocation_id: str | None,
        reason: str,
        on_claim: Callable[[Claim], None] | None = None,
    ) -> RunSucceeded | RunFailed | RunDuplicate:
        """Lambda gave up on a delivery (the OnFailure destination): make sure the run ends
        (``on_claim`` as for ``run``).

        A finished run gets its missing notifications; a run that is absent, or running under
        this invocation or an expired lease, is claimed and recorded failed with ``reason`` and
        notified; the reason names the transient error the last attempt handed the run back
        with, when ``reason`` does not already.
        A run another live invocation holds raises RunInProgress (retried later).
        """
        now = self.clock()
        run_at = request.run_at or request.scheduled_time or now
        run_key = request.scheduled_time or request.run_at or now
        claim = self.ledger.claim(
            request.tenant_id,
            request.export_guid,
            run_key,
            now,
            self.lease_seconds,
            run_start=run_at,
            invocation_id=invocation_id,
            replay_id=request.replay_id,
            quiet=request.quiet,
        )
        if on_claim is not None:
            on_claim(claim)
        if not claim.claimed:
            existing = claim.existing
            if existing is not None and existing.finished:
                return self._duplicate(claim, run_at, invocation_id)
            if existing is not None and existing.path == "distributed":
                # Handed to the state machine, which ends the run itself (fail state included).
                return self._duplicate(claim, run_at, invocation_id)
            holder = existing.invocation_id if existing else None
            raise RunInProgress(f"run {claim.run_id} is still held by invocation {holder} under a live lease")
        text = f"the export function gave up on this run after its retries: {reason}"
        last_error = claim.existing.last_error if claim.existing is not None else None
        if last_error and last_error not in reason:
            text += f"; the last attempt failed with: {last_error}"
        return self.end(claim, run_at, now, text, quiet=request.quiet)

    def end(
        self, claim: Claim, run_at: datetime, now: datetime, reason: str, *, quiet: bool = False
    ) -> RunSucceeded | RunFailed:
        """Record the run ``claim`` took over failed with ``reason``, with the window its lost
        attempt had recorded, and notify it once (the recovery, the sweep of stuck runs); a
        quiet replay's (``quiet``, or as its record says) is recorded and sent to no channel."""
        quiet = quiet or (claim.existing is not None and claim.existing.quiet)
        start = RunStart.of(claim, run_at=run_at, claimed_at=now, quiet=quiet)
        previous = claim.existing.window if claim.existing is not None else None
        # The window the lost attempt had recorded; lost before that, the one it would have covered.
        known = self._known(start, Window.from_dict(previous) if previous is not None else None)
        return self.finisher.fail(known, reason)

    def _known(self, start: RunStart, window: Window | None = None) -> RunStart:
        """What a run that failed before its plan can still tell: the window it was covering
        (``window``, else as it would be computed now) and who hears of it (the tenant's
        ``notificationEmails`` and, when the definition is valid, its ``targetEmail``). What the
        configuration cannot tell is left out: the failure being reported matters more."""
        recipients: set[str] = set()
        settings = definition = None
        with contextlib.suppress(Exception):
            settings = self.config.tenant_settings(start.tenant_id)
            recipients.update(settings.notification_emails)
        with contextlib.suppress(Exception):
            data = self.config.export_definition(start.tenant_id, start.export_guid)
            definition = checked_definition(data, start.export_guid, self.limits)
            recipients.update(definition.email_report.target_emails)
        if window is None and settings is not None and definition is not None:
            with contextlib.suppress(Exception):
                previous = (
                    self.ledger.previous_success_before(start.tenant_id, start.export_guid, start.run_at)
                    if definition.parameters.delta_mode
                    else None
                )
                window = compute_window(definition.parameters, settings.zone, start.run_at, previous)
        return start.model_copy(update={"window": window, "recipients": tuple(sorted(recipients))})


def _request_fields(claim: Claim, run_at: datetime) -> dict[str, Any]:
    """Which run a delivery was for, as a duplicate or hand-off outcome names it."""
    return {
        "tenantId": claim.tenant_id,
        "exportGuid": claim.export_guid,
        "scheduledTime": claim.scheduled_time.isoformat(),
        "runAt": run_at.isoformat(),
    }


class RunInProgress(RuntimeError):
    """Another invocation still holds the run under a live lease."""


class TransientRunError(RuntimeError):  # named by request.TRANSIENT_RUN_ERROR
    """The attempt met a transient error and handed the run back (lease 0, ``lastError``): the
    invocation fails so that Lambda's retry takes the run over. The message is the tenant-safe
    reason; Lambda reports the class name as the error's type (the recovery quotes the message)."""
