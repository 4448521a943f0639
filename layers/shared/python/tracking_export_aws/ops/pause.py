"""Pause and resume an export, or every export of a tenant (docs/run-lifecycle.md, "Pauses").

Pausing records the pause (``aws/pauses.py``), then disables the schedule(s); resuming lifts
it, then enables the schedule of every export no other pause holds (a tenant's resume leaves
an export paused on its own alone, and an export's resume does nothing while its tenant is
paused). Both are idempotent: run again, they finish what an interrupted run left. While a
pause is on record, config-sync writes the export's schedule DISABLED whatever is uploaded,
a scheduled delivery starts no run (``paused``), and the watchdog counts nothing missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from tracking_export_aws.aws.pauses import Pause, PauseRecords
from tracking_export_aws.aws.scheduler import ScheduleManager
from tracking_export_aws.config.store import ConfigStore

# What happened to one export's schedule.
DISABLED, ENABLED, UNCHANGED, NO_SCHEDULE, STILL_PAUSED = (
    "disabled",
    "enabled",
    "unchanged",
    "no schedule",
    "still paused",
)


@dataclass(frozen=True)
class PauseOutcome:
    """What ``pause`` or ``resume`` did: the pause concerned (None: a resume found none on
    record), whether it was already so, and each export's schedule."""

    tenant_id: str
    export_guid: str | None
    pause: Pause | None
    already: bool
    schedules: tuple[tuple[str, str], ...]  # (export guid, what happened to its schedule)


@dataclass
class PauseService:
    """Pauses and resumes; ``config`` enumerates a tenant's exports (its definitions)."""

    pauses: PauseRecords
    schedules: ScheduleManager
    config: ConfigStore
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def paused(self, tenant_id: str, export_guid: str) -> Pause | None:
        """What pauses the export (its own pause, else its tenant's); None when it runs."""
        return self.pauses.paused(tenant_id, export_guid)

    def pause(
        self, tenant_id: str, export_guid: str | None = None, *, reason: str = "", by: str = ""
    ) -> PauseOutcome:
        """Pause the export (every export of the tenant when ``export_guid`` is None) and
        disable its schedule(s). A pause already on record stays as it was (its time, reason)."""
        wanted = Pause(tenant_id, export_guid, self.clock(), reason, by)
        pause = self.pauses.put(wanted)
        done = []
        for guid in self._exports(tenant_id, export_guid):
            changed = self.schedules.set_state(tenant_id, guid, enabled=False)
            done.append((guid, NO_SCHEDULE if changed is None else DISABLED if changed else UNCHANGED))
        return PauseOutcome(tenant_id, export_guid, pause, pause != wanted, tuple(done))

    def resume(self, tenant_id: str, export_guid: str | None = None, *, by: str = "") -> PauseOutcome:
        """Lift the pause of the export (of the tenant when ``export_guid`` is None) and enable
        the schedule of each of its exports that no other pause holds."""
        lifted = self.pauses.lift(tenant_id, export_guid, self.clock(), by)
        done = []
        for guid in self._exports(tenant_id, export_guid):
            if self.pauses.paused(tenant_id, guid) is not None:
                done.append((guid, STILL_PAUSED))
                continue
            changed = self.schedules.set_state(tenant_id, guid, enabled=True)
            done.append((guid, NO_SCHEDULE if changed is None else ENABLED if changed else UNCHANGED))
        return PauseOutcome(tenant_id, export_guid, lifted, lifted is None, tuple(done))

    def _exports(self, tenant_id: str, export_guid: str | None) -> list[str]:
        return [export_guid] if export_guid is not None else self.config.export_guids(tenant_id)
