"""The missed-run watchdog (docs/run-lifecycle.md, "The watchdog").

Once a pass (hourly), for every export that has a definition in the config bucket:

1. an export config-sync never scheduled (no ``CONFIG`` pointer: never valid, or past the
   tenant's export cap) is left alone; a paused one too (its schedule is disabled if it is not);
2. its schedule is compared with the one its last valid definition and tenant settings give,
   as config-sync writes it: a schedule missing, disabled without a pause on record, or changed
   by hand is written again (``SchedulesRepaired``);
3. the times the schedule had in the lookback window (never before the schedule in force took
   effect, ``scheduleSince``, and never inside a pause), in the export's zone, are compared with
   its run records. A time with no ``RUN#`` record, once its flexible window and the grace have
   passed, is started: the export function is invoked asynchronously with the scheduler's
   payload, so the ledger's claim makes it one run with a late delivery of the same time.
   A time Scheduler had and did not deliver is a ``MissedRuns``; a local time the
   spring-forward change skipped (Scheduler never fires it) is started at the first valid
   instant after the gap and counted apart (``SpringForwardRuns``): expected, not alarmed.

``rate()`` schedules have no fixed times: the watchdog follows their phase from run to run
(a record within half an interval of the time it expects is that time's run) and expects the
next one an interval later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tracking_export import schedule as expressions
from tracking_export.errors import DefinitionError
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.pauses import LiftedPause, PauseRecords
from tracking_export_aws.aws.scheduler import DISABLED, ENABLED, ScheduleManager
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.config.store import ConfigError, ConfigStore
from tracking_export_aws.config.sync import ExportSchedule, export_schedule, write_schedule
from tracking_export_aws.config.versions import ConfigVersions
from tracking_export_aws.runs.ledger import RunLedger

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=26)
GRACE = timedelta(minutes=60)
MAX_STARTS = 200

# What the pass found for one export.
CHECKED, PAUSED, UNSCHEDULED, UNREADABLE, FAILED = "checked", "paused", "unscheduled", "unreadable", "failed"


@dataclass(frozen=True)
class StartedRun:
    """A run the watchdog started: its scheduled time, and why it had not run."""

    scheduled_time: datetime
    spring_forward: bool  # a local time the spring change skipped: Scheduler never fires it


@dataclass(frozen=True)
class ExportCheck:
    """One export's part of a pass."""

    tenant_id: str
    export_guid: str
    status: str
    started: tuple[StartedRun, ...] = ()
    repaired: tuple[str, ...] = ()  # what was wrong with the schedule it wrote again
    deferred: tuple[datetime, ...] = ()  # missed times left to the next pass (MAX_STARTS)
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the log line of the pass."""
        found: dict[str, Any] = {"tenantId": self.tenant_id, "exportGuid": self.export_guid}
        found["status"] = self.status
        if self.started:
            found["started"] = [keys.instant_key(run.scheduled_time) for run in self.started]
        if self.repaired:
            found["repaired"] = list(self.repaired)
        if self.deferred:
            found["deferred"] = len(self.deferred)
        if self.detail:
            found["detail"] = self.detail
        return found


@dataclass(frozen=True)
class WatchdogReport:
    """What one pass did."""

    now: datetime
    exports: tuple[ExportCheck, ...]

    @property
    def missed_runs(self) -> int:
        """Runs started for times Scheduler had and did not deliver."""
        return sum(not run.spring_forward for check in self.exports for run in check.started)

    @property
    def spring_forward_runs(self) -> int:
        """Runs started for local times the spring-forward change skipped."""
        return sum(run.spring_forward for check in self.exports for run in check.started)

    @property
    def schedules_repaired(self) -> int:
        return sum(bool(check.repaired) for check in self.exports)

    @property
    def deferred_runs(self) -> int:
        return sum(len(check.deferred) for check in self.exports)

    @property
    def failures(self) -> int:
        """Exports the pass could not check (an AWS error): named in the log."""
        return sum(check.status == FAILED for check in self.exports)

    def noteworthy(self) -> list[ExportCheck]:
        """The exports where something was started, repaired, deferred or went wrong."""
        return [c for c in self.exports if c.started or c.repaired or c.deferred or c.status == FAILED]


@dataclass
class Watchdog:
    """One pass over every export; ``start_run(payload)`` starts a run as Scheduler would
    (an asynchronous invocation of the export function in AWS)."""

    config: ConfigStore
    versions: ConfigVersions
    schedules: ScheduleManager
    ledger: RunLedger
    pauses: PauseRecords
    start_run: Callable[[dict[str, str]], None]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    lookback: timedelta = LOOKBACK
    grace: timedelta = GRACE
    max_starts: int = MAX_STARTS
    limits: Limits = DEFAULT_LIMITS
    # The last lifted pause of each tenant, read once a pass.
    _tenant_lifted: dict[str, LiftedPause | None] = field(default_factory=dict, init=False, repr=False)

    def sweep(self) -> WatchdogReport:
        """Check every export once; an export that fails is reported and the others go on."""
        now = self.clock()
        self._tenant_lifted.clear()
        budget = self.max_starts
        checks = []
        for tenant, guid in self.config.exports():
            try:
                check = self.check(tenant, guid, now, budget=budget)
            except Exception as exc:  # one export's AWS error must not hide the others' misses
                logger.exception("watchdog could not check %s/%s", tenant, guid)
                check = ExportCheck(tenant, guid, FAILED, detail=f"{type(exc).__name__}: {exc}"[:500])
            budget -= len(check.started)
            checks.append(check)
        return WatchdogReport(now, tuple(checks))

    def check(self, tenant: str, guid: str, now: datetime, *, budget: int) -> ExportCheck:
        """One export: its schedule repaired if needed, its missed runs (at most ``budget``) started."""
        since = self.versions.scheduled_since(keys.export_pk(tenant, guid))
        if since is None:
            return ExportCheck(tenant, guid, UNSCHEDULED)
        current = self.schedules.get(tenant, guid)
        pause = self.pauses.paused(tenant, guid)
        if pause is not None:
            # A pause whose schedule still fires (enabled by hand, or by an upload racing the
            # pause): its deliveries start nothing, but the schedule should say so.
            if current is not None and current.get("State") == ENABLED:
                self.schedules.set_state(tenant, guid, enabled=False)
                return ExportCheck(tenant, guid, PAUSED, repaired=("enabled while paused",))
            return ExportCheck(tenant, guid, PAUSED)
        try:
            definition = checked_definition(self.config.export_definition(tenant, guid), guid, self.limits)
            schedule = export_schedule(definition, self.config.tenant_settings(tenant))
        except (DefinitionError, ConfigError) as exc:
            # Its runs cannot run either: the tenant is told by the runs themselves or by
            # config-sync; nothing here to repair.
            return ExportCheck(tenant, guid, UNREADABLE, detail=str(exc)[:500])
        repaired = self._repair(tenant, guid, current, schedule, now)
        missed = self._missed(tenant, guid, schedule, since, now)
        started, deferred = missed[: max(budget, 0)], missed[max(budget, 0) :]
        for run in started:
            self.start_run(
                {
                    "tenantId": tenant,
                    "exportGuid": guid,
                    "scheduledTime": run.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        return ExportCheck(
            tenant,
            guid,
            CHECKED,
            started=tuple(started),
            repaired=tuple(repaired),
            deferred=tuple(run.scheduled_time for run in deferred),
        )

    def _repair(
        self,
        tenant: str,
        guid: str,
        current: dict[str, Any] | None,
        schedule: ExportSchedule,
        now: datetime,
    ) -> list[str]:
        """Write the schedule again, as config-sync would, when it is missing, disabled or not
        the one the definition gives; returns what was wrong ([] when nothing)."""
        if current is None:
            wrong = ["missing"]
        else:
            wrong = self.schedules.differences(
                current,
                tenant,
                guid,
                schedule.expression,
                schedule.timezone,
                flexible_window_minutes=schedule.flexible_window_minutes,
            )
            if current.get("State") == DISABLED:
                wrong = ["disabled", *(name for name in wrong if name != "State")]
        if wrong:
            write_schedule(self.schedules, self.versions, tenant, guid, schedule, False, now)
        return wrong

    def _missed(
        self, tenant: str, guid: str, schedule: ExportSchedule, since: datetime, now: datetime
    ) -> list[StartedRun]:
        """The times of the lookback window that are due and have no run record, oldest first."""
        start = max(since, now - self.lookback)
        flexible = timedelta(minutes=schedule.flexible_window_minutes)
        parsed = expressions.parse(schedule.expression)
        quiet = self._paused_stretches(tenant, guid)
        if isinstance(parsed, expressions.Rate):
            reach = parsed.every
            records = self._record_times(tenant, guid, start - reach - timedelta(hours=2))
            times = _rate_missed(parsed.every, since, start, now - flexible - self.grace, records)
            runs = [StartedRun(t, False) for t in times]
        else:
            recorded = set(self._record_times(tenant, guid, start - timedelta(hours=2)))
            runs = [
                StartedRun(o.instant, o.nonexistent)
                for o in expressions.occurrences(parsed, schedule.timezone, start, now)
                if o.latest + flexible + self.grace <= now and not recorded.intersection(o.instants)
            ]
        return [run for run in runs if not any(a <= run.scheduled_time <= b for a, b in quiet)]

    def _record_times(self, tenant: str, guid: str, since: datetime) -> list[datetime]:
        return sorted(record.scheduled_time for record in self.ledger.runs(tenant, guid, since=since))

    def _paused_stretches(self, tenant: str, guid: str) -> list[tuple[datetime, datetime]]:
        """The last lifted pause of the export and of its tenant, as (paused at, resumed at)."""
        if tenant not in self._tenant_lifted:
            self._tenant_lifted[tenant] = self.pauses.lifted(tenant)
        found: Iterable[LiftedPause | None] = (self.pauses.lifted(tenant, guid), self._tenant_lifted[tenant])
        return [(p.paused_at, p.resumed_at) for p in found if p is not None]


def _rate_missed(
    every: timedelta, since: datetime, start: datetime, due_before: datetime, records: list[datetime]
) -> list[datetime]:
    """The times a ``rate()`` schedule should have fired in ``[start, due_before]`` without a
    record. Scheduler fires one at once when it creates the schedule (``since``), then every
    interval; the phase is taken from the records themselves, since an update may restart it."""
    half = every / 2
    # Runs of an earlier schedule are not this one's (the first may be stamped a little before
    # the moment config-sync noted, which comes after the schedule was written).
    records = [t for t in records if t >= since - timedelta(minutes=1)]
    before = [t for t in records if t <= start]
    # From the last run before the window, else from the schedule's start: the first at or after it.
    expected = before[-1] + every if before else since + max(0, -(-(start - since) // every)) * every
    missed = []
    while expected <= due_before:
        near = [t for t in records if expected - half <= t < expected + half]
        if near:
            expected = near[-1] + every  # that record is this time's run: follow its phase
            continue
        if expected >= start:
            missed.append(expected)
        expected += every
    return missed
