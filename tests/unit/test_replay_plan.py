"""Which scheduled times a replay runs (``ops/replay.py``, ``Replays.plan``): the schedule's
occurrences in the days of the range, in its zone, DST as the watchdog has it; the runs on
record; ``--only missing|failed``. Expected instants worked out by hand from the tz rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tracking_export_aws.config.store import parse_tenant_settings
from tracking_export_aws.ops.replay import ReplayError, Replays
from tracking_export_aws.runs.ledger import RunRecord

DEFINITION = b"""<export-config><export guid="daily"><providers><trackingLogProvider>
<columns><logDate/></columns></trackingLogProvider></providers></export></export-config>"""
HOURLY = DEFINITION.replace(b"<providers>", b"<schedule>cron(30 * * * ? *)</schedule><providers>")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class FakeConfig:
    definition: bytes = DEFINITION
    zone: str = "Europe/Paris"

    def export_definition(self, tenant: str, guid: str) -> bytes:
        return self.definition

    def tenant_settings(self, tenant: str) -> Any:
        return parse_tenant_settings(f'{{"timezone": "{self.zone}"}}'.encode(), "tenant.json")


@dataclass
class FakeVersions:
    since: datetime | None = None

    def scheduled_since(self, pk: str) -> datetime | None:
        return self.since


@dataclass
class FakeLedger:
    records: list[RunRecord] = field(default_factory=list)

    def runs(self, tenant: str, guid: str, *, since: datetime) -> list[RunRecord]:
        found = [r for r in self.records if r.scheduled_time >= since]
        return sorted(found, key=lambda r: r.scheduled_time, reverse=True)


def replays(records: tuple[RunRecord, ...] | list[RunRecord] = (), **config: Any) -> Replays:
    """The use case over fakes, its clock at 2026-12-01T00:00:00Z."""
    fakes: Any = (FakeConfig(**config), FakeVersions(), FakeLedger(list(records)))
    return Replays(
        config=fakes[0], versions=fakes[1], ledger=fakes[2], clock=lambda: utc("2026-12-01T00:00:00Z")
    )


def times(plan: Any) -> list[str]:
    return [t.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ") for t in plan]


def test_spring_forward_runs_at_the_first_instant_after_the_gap() -> None:
    # 29 March 2026, Paris: 02:00 CET does not exist; 03:00 CEST is 01:00 UTC. The 30th: CEST.
    plan = replays().plan("acme", "daily", date(2026, 3, 28), date(2026, 3, 30))
    assert times(plan) == ["2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"]


def test_autumn_repeats_02_00_once_at_either_instant() -> None:
    # 25 October 2026, Paris: 02:00 happens at 00:00 UTC (CEST) and again at 01:00 UTC (CET).
    plan = replays().plan("acme", "daily", date(2026, 10, 24), date(2026, 10, 26))
    assert times(plan) == ["2026-10-24T00:00:00Z", "2026-10-25T00:00:00Z", "2026-10-26T01:00:00Z"]
    # Scheduler ran it at the second instant: that record is the time's run, not a second one.
    ran = RunRecord(utc("2026-10-25T01:00:00Z"), "failed")
    plan = replays([ran]).plan("acme", "daily", date(2026, 10, 25), date(2026, 10, 25))
    assert times(plan) == ["2026-10-25T01:00:00Z"] and plan[0].state == "failed"


def test_days_are_the_schedule_zone_s_and_never_after_now() -> None:
    # New York: 02:00 EST is 07:00 UTC. An hourly schedule's last day stops at the clock.
    plan = replays(zone="America/New_York").plan("acme", "daily", date(2026, 11, 30), date(2026, 11, 30))
    assert times(plan) == ["2026-11-30T07:00:00Z"]
    hourly = replays(definition=HOURLY, zone="UTC").plan(
        "acme", "daily", date(2026, 11, 30), date(2026, 12, 5)
    )
    assert len(hourly) == 24 and times(hourly)[-1] == "2026-11-30T23:30:00Z"


def test_only_missing_and_only_failed() -> None:
    records = [
        RunRecord(utc("2026-03-02T01:00:00Z"), "succeeded"),
        RunRecord(utc("2026-03-03T01:00:00Z"), "failed"),
        RunRecord(utc("2026-03-04T01:00:00Z"), "failed"),
        RunRecord(utc("2026-03-04T01:00:00Z"), "succeeded", replay_id="r1"),  # fixed by a replay
        RunRecord(utc("2026-03-05T01:00:00Z"), "running"),
    ]
    use_case = replays(records)
    first, last = date(2026, 3, 1), date(2026, 3, 6)
    assert times(use_case.plan("acme", "daily", first, last, "missing")) == [
        "2026-03-01T01:00:00Z",
        "2026-03-06T01:00:00Z",
    ]
    assert times(use_case.plan("acme", "daily", first, last, "failed")) == ["2026-03-03T01:00:00Z"]
    every = use_case.plan("acme", "daily", first, last)
    assert [t.state for t in every] == ["none", "succeeded", "failed", "succeeded", "running", "none"]


def test_times_before_the_schedule_took_effect_come_from_the_records() -> None:
    # The schedule in force since 3 March (it was 01:00 local before): its times from then,
    # and the earlier schedule's runs on record.
    earlier = RunRecord(utc("2026-03-01T00:00:00Z"), "succeeded")
    use_case = replays([earlier])
    use_case.versions = FakeVersions(utc("2026-03-03T00:00:00Z"))  # type: ignore[assignment]
    plan = use_case.plan("acme", "daily", date(2026, 3, 1), date(2026, 3, 4))
    assert times(plan) == ["2026-03-01T00:00:00Z", "2026-03-03T01:00:00Z", "2026-03-04T01:00:00Z"]


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ReplayError, match="before --from"):
        replays().plan("acme", "daily", date(2026, 3, 2), date(2026, 3, 1))
