"""Replay and backfill (``tracking-export-admin replay``; docs/run-lifecycle.md, "Replays").

A replay runs an export again for the times its schedule had in a range of days, each as the
schedule would have run it then: the request is ``{"tenantId", "exportGuid", "runAt": <the
scheduled time>, "replayId", "quiet"?}``, so the run's time (name tokens, time frames) is the
scheduled time, and its deltaMode window starts from the latest scheduled success before that
time (spec §5; ``RunLedger.previous_success_before``). A replay is its own run
(``RUN#{time}#R#{replayId}``): no scheduled delivery of that time answers it ``duplicate`` nor is
answered by it, and it never moves a later run's window. Its run number (``%i``) is the
number of the scheduled run it replays, when there is one.

Which times (:meth:`Replays.plan`): the occurrences of the export's schedule (its last valid
definition, in its zone, DST as the watchdog has it: a local time the spring change skipped is
the first valid instant after the gap, a repeated autumn time one run at its first instant)
whose day, in that zone, lies in ``[from, to]``, from when the schedule in force took effect
(``scheduleSince``), and not after now; plus the scheduled times of runs on record in the range
(times of an earlier schedule). ``rate()`` schedules have no fixed times: their phase is taken
from the runs on record, as the watchdog does. ``only``: ``missing`` keeps the times with no run
on record (scheduled or replayed), ``failed`` those whose every run on record failed.

How the runs go (:meth:`Replays.run`): at most ``max_concurrent`` at a time (a long backfill
must not take the function's concurrency from the night's schedule), each through ``start``
(the export function: Lambda Invoke in AWS, the handler in-process locally), which answers the
outcome. A run that went distributed is followed on its run record until it ends.
"""

from __future__ import annotations

import secrets
import time as time_module
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tracking_export import schedule as expressions
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export_aws.aws import keys
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.config.sync import export_schedule
from tracking_export_aws.config.versions import ConfigVersions
from tracking_export_aws.ops.watchdog import _rate_missed
from tracking_export_aws.runs.ledger import FAILED, RUNNING, SUCCEEDED, RunLedger, RunRecord

Only = Literal["missing", "failed"]
DEFAULT_MAX_CONCURRENT = 2
# A distributed run's record is read this often until it ends, at most this long (the state
# machine's timeout and a margin).
FOLLOW_EVERY_SECONDS = 15.0
FOLLOW_AT_MOST = timedelta(hours=6, minutes=20)
# What a line says when the run could not be started or followed to its end.
ERROR, UNFINISHED = "error", "unfinished"


class ReplayError(ValueError):
    """The range or the export cannot be replayed; the message says why."""


@dataclass(frozen=True)
class ReplayTime:
    """One scheduled time to run again, and what is on record for it."""

    scheduled_time: datetime
    records: tuple[RunRecord, ...]  # the scheduled run and earlier replays of this time

    @property
    def state(self) -> str:
        """``none`` (no run on record), ``succeeded`` (one of them succeeded), ``failed`` (every
        one failed), else ``running``."""
        if not self.records:
            return "none"
        if any(r.status == SUCCEEDED for r in self.records):
            return SUCCEEDED
        if all(r.status == FAILED for r in self.records):
            return FAILED
        return RUNNING


@dataclass(frozen=True)
class ReplayResult:
    """How one replayed run ended: the interface line ``run=… outcome=… object=… sha256=…``."""

    scheduled_time: datetime
    outcome: str  # succeeded, failed, error (not started), unfinished (still running when left)
    object_key: str | None = None
    sha256: str | None = None
    detail: str | None = None  # the error, for standard error

    def line(self) -> str:
        """The stable one-line form (docs/operations.md)."""
        return (
            f"run={iso(self.scheduled_time)} outcome={self.outcome} "
            f"object={self.object_key or '-'} sha256={self.sha256 or '-'}"
        )


def iso(instant: datetime) -> str:
    """``2026-03-29T01:00:00Z`` (microseconds only when there are some)."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_replay_id(now: datetime) -> str:
    """A replay id: when it was started, and a random part (``20261206t195500-3fa9c1``)."""
    return f"{now.astimezone(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class Replays:
    """Plans and runs replays of one export; ``start(payload)`` answers the export function's outcome."""

    config: ConfigStore
    versions: ConfigVersions
    ledger: RunLedger
    limits: Limits = DEFAULT_LIMITS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time_module.sleep

    def plan(
        self, tenant_id: str, export_guid: str, first_day: date, last_day: date, only: Only | None = None
    ) -> list[ReplayTime]:
        """The scheduled times of the export whose local day is in ``[first_day, last_day]``,
        oldest first, restricted by ``only``; ReplayError when the export cannot be read."""
        if last_day < first_day:
            raise ReplayError(f"--to {last_day} is before --from {first_day}")
        try:
            definition = checked_definition(
                self.config.export_definition(tenant_id, export_guid), export_guid, self.limits
            )
            schedule = export_schedule(definition, self.config.tenant_settings(tenant_id))
        except Exception as exc:
            raise ReplayError(f"{tenant_id}/{export_guid}: its definition cannot be read: {exc}") from exc
        zone = ZoneInfo(schedule.timezone)
        start = datetime.combine(first_day, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        end = min(end, self.clock())
        since = self.versions.scheduled_since(keys.export_pk(tenant_id, export_guid))
        records = [r for r in self.ledger.runs(tenant_id, export_guid, since=start) if r.scheduled_time < end]
        scheduled = sorted({r.scheduled_time for r in records if r.replay_id is None})
        parsed = expressions.parse(schedule.expression)
        times: set[datetime] = set(scheduled)
        if isinstance(parsed, expressions.Rate):
            if since is not None:
                times.update(_rate_missed(parsed.every, since, max(start, since), end, scheduled))
        else:
            for occurrence in expressions.occurrences(
                parsed, schedule.timezone, max(start, since or start), end
            ):
                # A run on record at either instant of a repeated autumn time is that time's run.
                if not times.intersection(occurrence.instants):
                    times.add(occurrence.instant)
        found = [
            ReplayTime(t, tuple(r for r in records if r.scheduled_time == t))
            for t in sorted(t for t in times if start <= t < end)
        ]
        if only == "missing":
            return [t for t in found if t.state == "none"]
        if only == "failed":
            return [t for t in found if t.state == FAILED]
        return found

    def run(
        self,
        tenant_id: str,
        export_guid: str,
        times: list[ReplayTime],
        start: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        *,
        replay_id: str,
        quiet: bool = False,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        on_result: Callable[[ReplayResult], None] | None = None,
    ) -> list[ReplayResult]:
        """Run each time as replay ``replay_id`` (the same id again finishes an interrupted
        replay: what ended answers as recorded), at most ``max_concurrent`` at once; returns the
        results in the order of ``times``; ``on_result`` hears each as it ends."""
        keys.validate_replay_id(replay_id)
        if max_concurrent < 1:
            raise ReplayError("--max-concurrent must be at least 1")

        def one(replay: ReplayTime) -> ReplayResult:
            result = self._run_one(tenant_id, export_guid, replay.scheduled_time, start, replay_id, quiet)
            if on_result is not None:
                on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="replay") as pool:
            return list(pool.map(one, times))

    def _run_one(
        self,
        tenant_id: str,
        export_guid: str,
        at: datetime,
        start: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        replay_id: str,
        quiet: bool,
    ) -> ReplayResult:
        payload: dict[str, Any] = {
            "tenantId": tenant_id,
            "exportGuid": export_guid,
            "runAt": iso(at),
            "replayId": replay_id,
        }
        if quiet:
            payload["quiet"] = True
        try:
            answer = start(payload)
        except Exception as exc:  # reported on its line; the other runs go on
            return ReplayResult(at, ERROR, detail=f"{type(exc).__name__}: {exc}"[:1000])
        outcome = answer.get("outcome")
        if outcome in (SUCCEEDED, FAILED):
            return ReplayResult(
                at, str(outcome), answer.get("objectKey"), answer.get("sha256"), answer.get("error")
            )
        # distributed (the state machine ends it) or duplicate (this replay id ran it before):
        # the run record says how it ended.
        return self._follow(tenant_id, export_guid, at, replay_id)

    def _follow(self, tenant_id: str, export_guid: str, at: datetime, replay_id: str) -> ReplayResult:
        give_up = self.clock() + FOLLOW_AT_MOST
        while True:
            record = self.ledger.get(tenant_id, export_guid, at, replay_id)
            if record is not None and record.finished:
                return ReplayResult(at, record.status, record.object_key, record.sha256, record.error)
            if self.clock() >= give_up:
                state = record.status if record is not None else "absent"
                return ReplayResult(at, UNFINISHED, detail=f"the run is still {state}")
            self.sleep(FOLLOW_EVERY_SECONDS)
