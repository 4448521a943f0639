"""No run stays ``running`` (issue 19 item 2; docs/run-lifecycle.md, "Stuck runs").

Two ways a run can be left ``running`` with nobody to end it, and what ends it:

- **Its execution ended without recording it** (a distributed run whose execution failed before
  its fail step could record the run, or whose fail step itself failed; an execution that timed
  out or was aborted): :meth:`StuckRuns.execution_ended`, told by the EventBridge rule on the
  state machine's "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED),
  reads the run's plan from the execution's manifest and ends the run failed through the
  coordinator (runs/steps.py), once: a run its fail step already recorded is left as it is
  (its notifications still owed are delivered).
- **Its holder died and nothing came after** (a single-path attempt killed whose retry and
  recovery never came, a handed-off run whose execution event was lost): :meth:`StuckRuns.sweep`,
  hourly, queries the run-history table's ``ByStatus`` index for runs ``running`` scheduled
  before the cutoff, keeps those whose lease ran out more than ``stuck_after`` ago, takes each
  over through the ledger's expired-lease claim (a run on record only) and records it failed
  with one notification (runs/service.py's ``end``). A handed-off run, whose lease outlives its
  execution's 6 hours, is not left that long: once it was handed off ``stuck_after`` ago, the
  sweep asks Step Functions about its execution (``DescribeExecution``) and ends the run as its
  status event would have if the execution stopped (FAILED, TIMED_OUT, ABORTED) or was never
  started (the export function stopped between the hand-off and ``StartExecution``).

Each run ended here is one ``StuckRuns`` (and one ``ExportRuns{outcome=failed}``) for the
handler to count.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracking_export.limits import shown
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.runs.handoff import DISTRIBUTED_LEASE_SECONDS
from tracking_export_aws.runs.ledger import RUNNING, RunRecord
from tracking_export_aws.runs.manifest import WorkArea, read_manifest, work_prefix
from tracking_export_aws.runs.payloads import StepError
from tracking_export_aws.runs.plan import EXECUTION_HOLDER
from tracking_export_aws.runs.service import LEASE_SECONDS, ExportService
from tracking_export_aws.runs.steps import Coordinator, failure_reason

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_stepfunctions import SFNClient

# A run is stuck once its lease ran out this long ago: Lambda's retries (about 1 and 3 minutes
# after a failure) and the recovery that follows them have had ample time, and a distributed
# run's lease (runs/handoff.py) already outlives its execution's 6-hour limit.
STUCK_AFTER = timedelta(hours=1)
_log = logging.getLogger(__name__)
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
ENDED_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# An execution the sweep found no trace of, an hour after the run was handed to it: the export
# function stopped between the hand-off and StartExecution (killed, timed out).
NEVER_STARTED = "NEVER_STARTED"
# What the tenant is told of an execution that stopped without recording its run (the
# execution's own error and cause stay in its history, for operators).
_STATUS_REASONS = {
    "TIMED_OUT": "the distributed run did not finish within the state machine's time limit",
    "ABORTED": "the distributed run was stopped before it finished (its execution was aborted)",
    NEVER_STARTED: "the distributed run's execution never started (the export function stopped "
    "after handing the run over)",
}


@dataclass
class SweepReport:
    """What a sweep did: the runs it ended, and those it could not (their run ids)."""

    ended: list[EndedRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class InvalidExecutionEvent(ValueError):
    """Not an export execution's end: says which field is missing or wrong."""


@dataclass(frozen=True)
class EndedRun:
    """A run ended here: which run, how it was found, and its outcome as recorded."""

    tenant_id: str
    export_guid: str
    scheduled_time: datetime
    found_by: str  # "execution" or "sweep"
    failed: bool  # recorded failed here (else: found succeeded, recorded by the run's own step)

    @property
    def run_id(self) -> str:
        return f"{self.tenant_id}/{self.export_guid}/{keys.instant_key(self.scheduled_time)}"


@dataclass
class StuckRuns:
    """Ends the runs nobody else will end; every collaborator injected."""

    service: ExportService  # the single path's end of a run (recovery's)
    coordinator: Coordinator  # the distributed path's end of a run, from its plan
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stuck_after: timedelta = STUCK_AFTER
    # Only this state machine's executions are ended (the rule says so too); None: any.
    state_machine_arn: str | None = None
    # Step Functions, asked by the sweep how a handed-off run's execution is doing; None: the
    # sweep waits for the run's lease (6 h 15 min) instead.
    sfn: SFNClient | None = None

    # -- an execution ended ------------------------------------------------------------------

    def execution_ended(self, event: dict[str, Any]) -> EndedRun | None:
        """End the run of the execution a status-change ``event`` reports FAILED, TIMED_OUT or
        ABORTED, unless it is recorded already; None when there was nothing to end (its fail
        or finish step recorded it; another attempt holds the run now)."""
        detail = event.get("detail") if isinstance(event, dict) else None
        if not isinstance(detail, dict) or event.get("detail-type") != EXECUTION_STATUS_CHANGE:
            raise InvalidExecutionEvent(f"not a {EXECUTION_STATUS_CHANGE!r} event")
        status = detail.get("status")
        if status not in ENDED_STATUSES:
            expected = ", ".join(sorted(ENDED_STATUSES))
            raise InvalidExecutionEvent(f"detail.status must be one of {expected}, got {shown(str(status))}")
        if self.state_machine_arn is not None and detail.get("stateMachineArn") != self.state_machine_arn:
            raise InvalidExecutionEvent("stateMachineArn is not the export state machine's")
        error = detail.get("error")
        return self._end_execution(_manifest_key(detail), status, error if isinstance(error, str) else None)

    def _end_execution(self, manifest_key: str, status: str, error: str | None) -> EndedRun | None:
        """End the run of an execution that stopped (``status``: FAILED, TIMED_OUT, ABORTED, or
        NEVER_STARTED) from its plan, unless it is recorded already (see execution_ended)."""
        s3 = self.coordinator.s3
        try:
            plan = read_manifest(s3, self.coordinator.bucket, manifest_key)
        except s3.exceptions.NoSuchKey:
            return None  # the finish or fail step recorded the run, then removed its work prefix
        ledger = self.coordinator.ledger
        record = ledger.get(plan.tenant_id, plan.export_guid, plan.scheduled_time, plan.replay_id)
        if record is None or record.claim_token != plan.claim.token:
            return None  # another attempt holds the run (or ended it): not this execution's
        if record.finished:
            # Recorded by the fail step, whose delivery or clean-up did not finish: finish them.
            self.coordinator.end(plan, record.error or "")
            return None
        if status in _STATUS_REASONS:
            reason = _STATUS_REASONS[status]
        else:
            reason = self.coordinator.step_error(plan) or failure_reason(StepError(Error=error))
        ended = self.coordinator.end(plan, reason)
        failed = ended.outcome == "failed"
        return EndedRun(plan.tenant_id, plan.export_guid, plan.scheduled_time, "execution", failed=failed)

    # -- the sweep ---------------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        """End every run still ``running`` whose lease ran out ``stuck_after`` ago or more,
        oldest first. A run that cannot be ended (its notification failed, say) does not stop
        the others: it is named in the report's ``errors``, and the next pass tries it again."""
        now = self.clock()
        cutoff = now - self.stuck_after
        report = SweepReport()
        for tenant_id, export_guid, record in self._running_before(cutoff):
            if record.lease_until is None:
                continue
            run_id = f"{tenant_id}/{export_guid}/{keys.instant_key(record.scheduled_time)}"
            try:
                if record.lease_until <= cutoff.timestamp():
                    run = self._end(tenant_id, export_guid, record, now)
                elif record.path == "distributed":
                    # Its execution holds it for 6 h 15 min; if the execution stopped and its
                    # status event was lost, or never started, it is ended now instead.
                    run = self._end_stopped_execution(tenant_id, export_guid, record, cutoff)
                else:
                    continue  # alive, or not long dead: its retry or recovery may still come
            except Exception as exc:
                _log.error("stuck run not ended: %s", run_id, exc_info=exc)
                report.errors.append(run_id)
                continue
            if run is not None:
                report.ended.append(run)
        return report

    def _end_stopped_execution(
        self, tenant_id: str, export_guid: str, record: RunRecord, cutoff: datetime
    ) -> EndedRun | None:
        """A handed-off run whose execution stopped (FAILED, TIMED_OUT, ABORTED) or never
        started, asked of Step Functions once the hand-off is ``stuck_after`` old: ended from its
        plan as its status event would have ended it. A running execution is left alone."""
        holder = record.invocation_id or ""
        if self.sfn is None or self.state_machine_arn is None or not holder.startswith(EXECUTION_HOLDER):
            return None
        assert record.lease_until is not None
        if record.lease_until - DISTRIBUTED_LEASE_SECONDS > cutoff.timestamp() or record.run_number is None:
            return None  # handed off less than stuck_after ago: its execution may be starting
        execution_arn = execution_arn_of(self.state_machine_arn, holder.removeprefix(EXECUTION_HOLDER))
        try:
            execution = self.sfn.describe_execution(executionArn=execution_arn)
        except self.sfn.exceptions.ExecutionDoesNotExist:
            status, error = NEVER_STARTED, None
        else:
            status, error = execution["status"], execution.get("error")
            if status not in ENDED_STATUSES:
                return None  # running (its own timeout ends it), or succeeded: its steps recorded it
        area = WorkArea(
            work_prefix(tenant_id, export_guid, record.run_number, record.attempt, record.replay_id)
        )
        ended = self._end_execution(area.manifest_key, status, error)
        return None if ended is None else replace(ended, found_by="sweep")

    def _running_before(self, cutoff: datetime) -> Iterator[tuple[str, str, RunRecord]]:
        """The runs ``running`` whose scheduled time is before ``cutoff`` (the ByStatus index:
        a Query, never a Scan); a run's lease can run out only after it was scheduled."""
        ledger = self.service.ledger
        for page in query_pages(
            ledger.client,
            TableName=ledger.table,
            IndexName=keys.BY_STATUS_INDEX,
            KeyConditionExpression="#s = :running AND scheduledTime < :cutoff",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":running": {"S": RUNNING},
                ":cutoff": {"S": keys.instant_key(cutoff)},
            },
        ):
            for item in page:
                tenant_id, export_guid = _run_of(item)
                record = RunRecord.from_item(item)
                # A replay's key names it (RUN#{time}#R#{replayId}); the index carries the key.
                _, mark, replay_id = item["sk"]["S"].partition(keys.REPLAY_MARK)
                if mark and record.replay_id is None:
                    record = replace(record, replay_id=replay_id)
                yield tenant_id, export_guid, record

    def _end(self, tenant_id: str, export_guid: str, record: RunRecord, now: datetime) -> EndedRun | None:
        """Take the stuck run over (its lease expired; a run on record only) and record it failed."""
        run_at = record.started_at or record.scheduled_time
        quiet = False
        if record.replay_id is not None:
            # The index does not carry ``quiet``; the takeover must keep a quiet replay quiet.
            full = self.service.ledger.get(tenant_id, export_guid, record.scheduled_time, record.replay_id)
            quiet = full is not None and full.quiet
        claim = self.service.ledger.claim(
            tenant_id,
            export_guid,
            record.scheduled_time,
            now,
            LEASE_SECONDS,
            run_start=run_at,
            existing_only=True,
            replay_id=record.replay_id,
            quiet=quiet,
        )
        if not claim.claimed:
            return None  # ended or taken over since the query
        assert record.lease_until is not None
        idle = int((now.timestamp() - record.lease_until) // 60)
        where = "its execution" if record.path == "distributed" else "its last attempt"
        reason = (
            f"the run was still running {idle} minutes after {where} stopped renewing its lease, "
            "with no retry or recovery to end it"
        )
        # The index does not carry lastError; the claim's own answer (the item as it is) does.
        last_error = claim.existing.last_error if claim.existing is not None else None
        if last_error:
            reason += f"; the last attempt failed with: {last_error}"
        outcome = self.service.end(claim, run_at, now, reason, quiet=quiet)
        failed = outcome.outcome == "failed"
        return EndedRun(tenant_id, export_guid, record.scheduled_time, "sweep", failed=failed)


def execution_arn_of(state_machine_arn: str, execution_name: str) -> str:
    """The ARN of the state machine's execution named ``execution_name``."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{execution_name}"


def _manifest_key(detail: dict[str, Any]) -> str:
    """The execution's manifest, from its input (``{"manifestKey": ...}``, runs/handoff.py)."""
    raw = detail.get("input")
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        data = None
    key = data.get("manifestKey") if isinstance(data, dict) else None
    if not isinstance(key, str):
        raise InvalidExecutionEvent("detail.input must be the execution's input, with its manifestKey")
    return key


def _run_of(item: dict[str, Any]) -> tuple[str, str]:
    """Tenant and export of a RUN# item: its ``tenantId``/``exportGuid`` (written at every claim),
    else its key (``T#{tenant}#E#{guid}``: items claimed before those were written)."""
    tenant = item.get("tenantId", {}).get("S")
    guid = item.get("exportGuid", {}).get("S")
    if isinstance(tenant, str) and isinstance(guid, str):
        return tenant, guid
    tenant, _, guid = str(item["pk"]["S"]).removeprefix("T#").partition("#E#")
    return tenant, guid
