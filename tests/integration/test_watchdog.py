"""The missed-run watchdog on the local stack, with a moved clock (issue 19 item 4).

Config-sync and the watchdog run on a hand-moved clock; "Scheduler's deliveries" are the
export handler called with the scheduler payload; the watchdog starts its runs through the same
handler (in AWS: an asynchronous invocation of the export function). What is checked is what
an outside observer sees: the run records, the files, the schedules, the counts.

The dates are worked out by hand: Europe/Paris changes on 29 March 2026 (02:00 CET ->
03:00 CEST: 02:00 does not exist) and 25 October 2026 (03:00 CEST -> 02:00 CET: 02:00-02:59
happens twice); America/New_York on 8 March 2026 (02:00 EST -> 03:00 EDT) and 1 November 2026
(02:00 EDT -> 01:00 EST: 01:00-01:59 twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import FakeLambdaContext, Stack
from faults import Clock
from nightly_export import nightly_xml

from tools.admin.pause import pause_service
from tools.admin.target import from_environment
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.s3_events import S3ObjectEvent
from tracking_export_aws.ops.watchdog import Watchdog, WatchdogReport
from tracking_export_aws.runs.ledger import RunRecord
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import ConfigSyncSettings, WatchdogSettings

TENANT, GUID = "acme", "daily"


def definition(schedule: str = "") -> str:
    """A deltaMode export whose file is named after its run's local date and time."""
    return nightly_xml(guid=GUID, folder="daily", file_name="%e_%Y%m%d_%H%M.csv", schedule=schedule)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Watch:
    """The stack with config-sync and the watchdog on a moved clock."""

    stack: Stack
    clock: Clock
    export_app: Any
    sync_app: Any
    watchdog: Watchdog
    started: list[dict[str, str]] = field(default_factory=list)

    def upload_tenant(self, settings: dict[str, Any]) -> dict[str, Any]:
        self.stack.put_tenant(TENANT, settings)
        return self._sync(keys.tenant_settings_key(TENANT))

    def upload_definition(self, text: str, guid: str = GUID) -> dict[str, Any]:
        return self._sync(
            self.stack.put_definition(TENANT, guid, text.replace(f'guid="{GUID}"', f'guid="{guid}"'))
        )

    def _sync(self, key: str) -> dict[str, Any]:
        service = wiring.config_sync_service(self.stack.settings(ConfigSyncSettings))
        service.clock = self.clock
        return service.apply(S3ObjectEvent(self.stack.config_bucket, key)).as_json()

    def deliver(self, scheduled: datetime, guid: str = GUID, **extra: str) -> dict[str, Any]:
        """Scheduler's delivery of ``scheduled`` (or a replay, with ``runAt``)."""
        payload = {"tenantId": TENANT, "exportGuid": guid, "scheduledTime": z(scheduled), **extra}
        result: dict[str, Any] = self.export_app.handler(payload, FakeLambdaContext())
        return result

    def sweep(self, now: datetime) -> WatchdogReport:
        self.clock.now = now
        return self.watchdog.sweep()

    def runs(self, guid: str = GUID) -> dict[datetime, RunRecord]:
        return {r.scheduled_time: r for r in self.stack.ledger().runs(TENANT, guid)}

    def schedule(self, guid: str = GUID) -> dict[str, Any]:
        found = self.stack.scheduler.get_schedule(
            Name=f"{TENANT}--{guid}", GroupName=self.stack.schedule_group
        )
        found.pop("ResponseMetadata", None)
        return dict(found)


@pytest.fixture
def watch(stack: Stack, handlers: Callable[[Stack], tuple[Any, Any]], records: Any) -> Watch:
    export_app, sync_app = handlers(stack)
    clock = Clock(utc(2026, 1, 1))
    started: list[dict[str, str]] = []

    def start_run(payload: dict[str, str]) -> None:
        started.append(payload)
        export_app.handler(payload, FakeLambdaContext())

    watchdog = wiring.watchdog(stack.settings(WatchdogSettings), start_run)
    watchdog.clock = clock
    stack.load(records.catalogue(TENANT))
    return Watch(stack, clock, export_app, sync_app, watchdog, started)


def started_times(watch: Watch) -> list[str]:
    return [payload["scheduledTime"] for payload in watch.started]


# -- spring forward: the skipped 02:00 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "schedule", "day_before", "skipped_at", "file_time", "rows"),
    [
        # The issue's own example: the default schedule in Paris. 02:00 CET on the 28th is
        # 01:00 UTC; 02:00 does not exist on the 29th: the day's run is at 03:00 CEST, 01:00 UTC.
        # Its deltaMode window runs from the 28th (the previous run's day) through the 29th:
        # log 1 (15:00 UTC on the 28th) and log 2 (00:30 UTC on the 29th, 01:30 CET).
        (
            "Europe/Paris",
            "",
            utc(2026, 3, 28, 1),
            utc(2026, 3, 29, 1),
            "20260329_0300",
            ["2026-03-28;120", "2026-03-29;60"],
        ),
        # 02:30 EST on the 7th is 07:30 UTC; on the 8th 02:30 does not exist: 03:00 EDT, 07:00
        # UTC. Log 2 (00:30 UTC on the 8th) is 19:30 EST on the 7th.
        (
            "America/New_York",
            "<schedule>cron(30 2 * * ? *)</schedule>",
            utc(2026, 3, 7, 7, 30),
            utc(2026, 3, 8, 7),
            "20260308_0300",
            ["2026-03-07;120", "2026-03-07;60"],
        ),
    ],
)
def test_a_time_the_spring_change_skips_runs_at_the_first_instant_after_the_gap(
    watch: Watch,
    records: Any,
    zone: str,
    schedule: str,
    day_before: datetime,
    skipped_at: datetime,
    file_time: str,
    rows: list[str],
) -> None:
    watch.clock.now = utc(2026, 3, 1)
    watch.upload_tenant({"timezone": zone})
    assert watch.upload_definition(definition(schedule))["action"] == "scheduled"
    watch.stack.load(
        [
            records.log(TENANT, 1, z(day_before.replace(hour=15, minute=0)), 120),  # the day before
            records.log(TENANT, 2, z(skipped_at.replace(hour=0, minute=30)), 60),  # the night of the change
        ]
    )
    assert watch.deliver(day_before)["outcome"] == "succeeded"  # Scheduler's run the day before

    # The pass before the run is due (the grace after it is an hour) starts nothing.
    early = watch.sweep(skipped_at.replace(minute=50))
    assert (early.missed_runs, early.spring_forward_runs, watch.started) == (0, 0, [])

    report = watch.sweep(skipped_at.replace(hour=skipped_at.hour + 1, minute=20))

    assert started_times(watch) == [z(skipped_at)]
    assert (report.missed_runs, report.spring_forward_runs, report.schedules_repaired) == (0, 1, 0)
    run = watch.runs()[skipped_at]
    assert run.status == "succeeded"
    key = f"tenants/{TENANT}/daily/{GUID}_{file_time}.csv"
    assert run.object_key == key
    assert watch.stack.read(key).decode() == "".join(f"{line}\r\n" for line in ["logDate;timeGlobal", *rows])
    # That day's run: its window ends on the local day of the change.
    assert run.rows == 2
    assert run.window is not None
    assert (run.window["kind"], run.window["firstDay"], run.window["lastDay"]) == (
        "delta",
        rows[0][:10],
        file_time[:4] + "-" + file_time[4:6] + "-" + file_time[6:8],
    )
    # A later pass starts nothing more: the run is on record.
    again = watch.sweep(skipped_at.replace(hour=skipped_at.hour + 3))
    assert (again.missed_runs, again.spring_forward_runs, len(watch.started)) == (0, 0, 1)


# -- autumn: the repeated hour runs once ------------------------------------------------------------


def test_the_repeated_autumn_hour_is_one_run_delivered_at_either_instant(watch: Watch) -> None:
    # 01:30 in New York on 1 November 2026 is 05:30 UTC (EDT) and again 06:30 UTC (EST).
    watch.clock.now = utc(2026, 10, 30)
    watch.upload_tenant({"timezone": "America/New_York"})
    watch.upload_definition(definition("<schedule>cron(30 1 * * ? *)</schedule>"))
    watch.upload_definition(definition("<schedule>cron(30 1 * * ? *)</schedule>"), guid="second")
    for guid in (GUID, "second"):
        assert watch.deliver(utc(2026, 10, 31, 5, 30), guid)["outcome"] == "succeeded"  # 01:30 EDT
    # Scheduler fires the repeated time once: one export at its first instant, the other at
    # its second (AWS does not say which; either is that day's run).
    assert watch.deliver(utc(2026, 11, 1, 5, 30))["outcome"] == "succeeded"
    assert watch.deliver(utc(2026, 11, 1, 6, 30), "second")["outcome"] == "succeeded"

    report = watch.sweep(utc(2026, 11, 1, 9))

    assert (report.missed_runs, watch.started) == (0, [])
    assert sorted(watch.runs()) == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30)]


def test_a_missed_repeated_hour_is_started_once_after_its_second_instant(watch: Watch) -> None:
    watch.clock.now = utc(2026, 10, 30)
    watch.upload_tenant({"timezone": "America/New_York"})
    watch.upload_definition(definition("<schedule>cron(30 1 * * ? *)</schedule>"))
    watch.deliver(utc(2026, 10, 31, 5, 30))

    # An hour after the first instant the second has only just come: not missed yet.
    assert watch.sweep(utc(2026, 11, 1, 7, 20)).missed_runs == 0
    report = watch.sweep(utc(2026, 11, 1, 7, 40))
    later = watch.sweep(utc(2026, 11, 1, 12))

    assert started_times(watch) == ["2026-11-01T05:30:00Z"]
    assert (report.missed_runs, later.missed_runs) == (1, 0)
    assert (
        watch.runs()[utc(2026, 11, 1, 5, 30)].object_key == f"tenants/{TENANT}/daily/{GUID}_20261101_0130.csv"
    )


def test_the_default_schedule_in_paris_runs_once_on_the_autumn_night(watch: Watch) -> None:
    # 25 October 2026: 02:00 is 00:00 UTC (CEST) and 01:00 UTC (CET). Scheduler delivered it at
    # the first; nothing is missed, before or after the change.
    watch.clock.now = utc(2026, 10, 23)
    watch.upload_tenant({"timezone": "Europe/Paris"})
    watch.upload_definition(definition())
    for instant in (utc(2026, 10, 24, 0), utc(2026, 10, 25, 0), utc(2026, 10, 26, 1)):
        watch.deliver(instant)

    report = watch.sweep(utc(2026, 10, 26, 3))

    assert (report.missed_runs, report.spring_forward_runs, watch.started) == (0, 0, [])


def test_a_missed_run_in_paris_in_autumn_is_started_at_its_first_instant(watch: Watch) -> None:
    watch.clock.now = utc(2026, 10, 23)
    watch.upload_tenant({"timezone": "Europe/Paris"})
    watch.upload_definition(definition())
    watch.deliver(utc(2026, 10, 24, 0))  # 02:00 CEST

    report = watch.sweep(utc(2026, 10, 25, 2, 20))

    assert started_times(watch) == ["2026-10-25T00:00:00Z"]
    assert report.missed_runs == 1
    assert watch.runs()[utc(2026, 10, 25, 0)].object_key == f"tenants/{TENANT}/daily/{GUID}_20261025_0200.csv"


# -- schedules deleted, disabled or changed by hand --------------------------------------------------


def test_a_deleted_schedule_is_recreated_and_its_missed_runs_started(watch: Watch) -> None:
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "Europe/Paris"})
    watch.upload_definition(definition())
    before = watch.schedule()
    watch.deliver(utc(2026, 6, 2, 0))  # 02:00 CEST on 2 June
    watch.stack.scheduler.delete_schedule(Name=before["Name"], GroupName=watch.stack.schedule_group)

    report = watch.sweep(utc(2026, 6, 3, 1, 20))  # 03:20 CEST on the 3rd: the 3rd's run is missing

    assert report.schedules_repaired == 1
    [check] = report.noteworthy()
    assert check.repaired == ("missing",)
    after = watch.schedule()
    for name in ("ScheduleExpression", "ScheduleExpressionTimezone", "State", "Target", "FlexibleTimeWindow"):
        assert after[name] == before[name], name
    assert started_times(watch) == ["2026-06-03T00:00:00Z"]
    assert report.missed_runs == 1
    assert watch.runs()[utc(2026, 6, 3, 0)].status == "succeeded"


def test_a_schedule_disabled_or_changed_by_hand_is_put_back(watch: Watch) -> None:
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "Europe/Paris"})
    watch.upload_definition(definition())
    watch.upload_definition(definition(), guid="second")
    scheduler = watch.stack.scheduler
    for guid, change in (
        (GUID, {"State": "DISABLED"}),
        ("second", {"ScheduleExpression": "cron(0 9 * * ? *)"}),
    ):
        current = watch.schedule(guid)
        allowed = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "State")
        request = {**{k: current[k] for k in allowed}, **change}
        scheduler.update_schedule(
            **request, FlexibleTimeWindow=current["FlexibleTimeWindow"], Target=current["Target"]
        )
        watch.deliver(utc(2026, 6, 2, 0), guid)

    report = watch.sweep(utc(2026, 6, 2, 3))

    assert report.schedules_repaired == 2
    assert {c.export_guid: c.repaired for c in report.noteworthy()} == {
        GUID: ("disabled",),
        "second": ("ScheduleExpression",),
    }
    for guid in (GUID, "second"):
        schedule = watch.schedule(guid)
        assert (schedule["State"], schedule["ScheduleExpression"]) == ("ENABLED", "cron(0 2 * * ? *)")
    assert (report.missed_runs, watch.started) == (0, [])
    # Nothing left to repair on the next pass.
    assert watch.sweep(utc(2026, 6, 2, 4)).schedules_repaired == 0


def test_times_before_the_schedule_in_force_took_effect_are_never_missed(watch: Watch) -> None:
    # Daily at 02:00 Paris until 10:00 UTC on 2 June, then 09:00: the 09:00 of the 2nd (07:00
    # UTC) came before the change and is not the new schedule's; the 3rd's is missed.
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "Europe/Paris"})
    watch.upload_definition(definition())
    watch.deliver(utc(2026, 6, 2, 0))
    watch.clock.now = utc(2026, 6, 2, 10)
    watch.upload_definition(definition("<schedule>cron(0 9 * * ? *)</schedule>"))
    # The same definition again (its schedule unchanged) does not move when it took effect.
    watch.clock.now = utc(2026, 6, 3, 5)
    watch.upload_definition(definition("<schedule>cron(0 9 * * ? *)</schedule>"))

    report = watch.sweep(utc(2026, 6, 3, 8, 20))

    assert started_times(watch) == ["2026-06-03T07:00:00Z"]
    assert report.missed_runs == 1


def test_a_flexible_window_delays_when_a_time_counts_as_missed(watch: Watch) -> None:
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "UTC", "flexibleWindowMinutes": 90})
    watch.upload_definition(definition())
    assert watch.schedule()["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 90}

    # 02:00 + 90 minutes of window + 60 of grace = 04:30.
    assert watch.sweep(utc(2026, 6, 2, 4, 20)).missed_runs == 0
    assert watch.sweep(utc(2026, 6, 2, 4, 40)).missed_runs == 1
    assert started_times(watch) == ["2026-06-02T02:00:00Z"]


def test_a_pass_starts_at_most_its_budget_and_the_next_pass_the_rest(watch: Watch) -> None:
    watch.clock.now = utc(2026, 6, 1, 0, 30)
    watch.upload_tenant({"timezone": "UTC"})
    watch.upload_definition(definition("<schedule>cron(0 * * * ? *)</schedule>"))
    watch.watchdog.max_starts = 2

    first = watch.sweep(utc(2026, 6, 1, 5, 30))  # 01:00 to 04:00 are due: four times
    second = watch.sweep(utc(2026, 6, 1, 5, 40))

    assert (first.missed_runs, first.deferred_runs, second.missed_runs, second.deferred_runs) == (2, 2, 2, 0)
    assert started_times(watch) == [f"2026-06-01T0{h}:00:00Z" for h in (1, 2, 3, 4)]


def test_an_export_config_sync_never_scheduled_is_left_alone(watch: Watch) -> None:
    # Uploaded without an event (config-sync never saw it): no pointer, nothing to repair.
    watch.stack.put_definition(TENANT, GUID, definition())

    report = watch.sweep(utc(2026, 6, 3))

    assert [(c.export_guid, c.status) for c in report.exports] == [(GUID, "unscheduled")]
    assert (report.schedules_repaired, watch.started) == (0, [])


# -- pauses ----------------------------------------------------------------------------------------


def _s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
        ]
    }


def test_a_pause_survives_uploads_and_its_times_are_never_missed(watch: Watch) -> None:
    pauses = pause_service(from_environment(watch.stack.env("ConfigSyncFunction")))
    pauses.clock = watch.clock
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "UTC"})
    watch.upload_definition(definition())
    watch.upload_definition(definition(), guid="second")
    watch.clock.now = utc(2026, 6, 2, 12)
    outcome = pauses.pause(TENANT, GUID, reason="tenant asked", by="ops")
    assert (outcome.schedules, outcome.already) == (((GUID, "disabled"),), False)
    assert watch.schedule()["State"] == "DISABLED"

    # Uploads while paused: the definition (a new schedule), tenant.json (a new zone, which
    # moves both exports), and the definition again through the handler, as S3 invokes it.
    watch.upload_definition(definition("<schedule>cron(0 3 * * ? *)</schedule>"))
    assert watch.upload_tenant({"timezone": "Europe/Paris"})["rescheduled"] == [GUID, "second"]
    event = _s3_event(watch.stack.config_bucket, f"tenants/{TENANT}/exports/{GUID}.xml")
    [result] = watch.sync_app.handler(event, FakeLambdaContext())["results"]
    assert (result["action"], result["paused"]) == ("scheduled", True)
    schedule = watch.schedule()
    assert (schedule["State"], schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "DISABLED",
        "cron(0 3 * * ? *)",
        "Europe/Paris",
    )
    assert watch.schedule("second")["State"] == "ENABLED"  # the pause is this export's only

    # A delivery that reaches the export function anyway starts nothing and tells no one.
    watch.stack.notifications()
    answer = watch.deliver(utc(2026, 6, 3, 1))
    assert (answer["outcome"], answer["pauseScope"], answer["pausedAt"]) == (
        "paused",
        "export",
        "2026-06-02T12:00:00.000000Z",
    )
    assert utc(2026, 6, 3, 1) not in watch.runs()
    assert watch.stack.object_keys() == []
    assert watch.stack.notifications() == []

    for instant in (utc(2026, 6, 3, 0), utc(2026, 6, 4, 0)):  # "second": 02:00 CEST, delivered
        watch.deliver(instant, "second")
    report = watch.sweep(utc(2026, 6, 4, 6))
    assert {c.export_guid: c.status for c in report.exports} == {GUID: "paused", "second": "checked"}
    assert (report.missed_runs, report.schedules_repaired, watch.started) == (0, 0, [])

    watch.clock.now = utc(2026, 6, 4, 6, 30)
    resumed = pauses.resume(TENANT, GUID, by="ops")
    assert (resumed.schedules, resumed.already) == (((GUID, "enabled"),), False)
    assert pauses.paused(TENANT, GUID) is None
    watch.deliver(utc(2026, 6, 5, 0), "second")

    # 03:00 CEST on the 4th (01:00 UTC) fell in the pause: not missed. The 5th's was not delivered.
    report = watch.sweep(utc(2026, 6, 5, 3))
    assert started_times(watch) == ["2026-06-05T01:00:00Z"]
    assert report.missed_runs == 1


def test_a_tenant_resume_leaves_an_export_paused_on_its_own(watch: Watch) -> None:
    pauses = pause_service(from_environment(watch.stack.env("ConfigSyncFunction")))
    pauses.clock = watch.clock
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "UTC"})
    watch.upload_definition(definition())
    watch.upload_definition(definition(), guid="second")

    tenant_pause = pauses.pause(TENANT, reason="invoice unpaid")
    assert tenant_pause.schedules == ((GUID, "disabled"), ("second", "disabled"))
    again = pauses.pause(TENANT, reason="another reason")
    assert again.already and again.pause == tenant_pause.pause  # the first pause, unchanged
    assert again.schedules == ((GUID, "unchanged"), ("second", "unchanged"))
    pauses.pause(TENANT, GUID, reason="its own")
    answer = watch.deliver(utc(2026, 6, 2, 2), "second")
    assert (answer["outcome"], answer["pauseScope"]) == ("paused", "tenant")
    # An operator's replay (runAt) runs whatever the pause.
    replay = watch.deliver(utc(2026, 6, 2, 2), "second", runAt="2026-06-02T02:00:00Z")
    assert replay["outcome"] == "succeeded"

    resumed = pauses.resume(TENANT)
    assert resumed.schedules == ((GUID, "still paused"), ("second", "enabled"))
    assert (watch.schedule()["State"], watch.schedule("second")["State"]) == ("DISABLED", "ENABLED")
    assert pauses.paused(TENANT, GUID) is not None
    assert pauses.resume(TENANT, GUID).schedules == ((GUID, "enabled"),)
    # Resuming what is not paused lifts nothing and changes nothing.
    nothing = pauses.resume(TENANT, GUID)
    assert (nothing.pause, nothing.already, nothing.schedules) == (None, True, ((GUID, "unchanged"),))


def test_a_schedule_enabled_while_paused_is_disabled_again(watch: Watch) -> None:
    pauses = pause_service(from_environment(watch.stack.env("ConfigSyncFunction")))
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "UTC"})
    watch.upload_definition(definition())
    pauses.pause(TENANT, GUID)
    current = watch.schedule()
    allowed = (
        "Name",
        "GroupName",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "FlexibleTimeWindow",
        "Target",
    )
    watch.stack.scheduler.update_schedule(**{k: current[k] for k in allowed}, State="ENABLED")

    report = watch.sweep(utc(2026, 6, 3))

    assert [(c.status, c.repaired) for c in report.exports] == [("paused", ("enabled while paused",))]
    assert watch.schedule()["State"] == "DISABLED"
    assert watch.started == []


# -- the handler ------------------------------------------------------------------------------------


def test_the_handler_counts_what_the_pass_did(
    watch: Watch, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "UTC"})
    watch.upload_definition(definition())
    watch.stack.scheduler.delete_schedule(Name=f"{TENANT}--{GUID}", GroupName=watch.stack.schedule_group)
    watch.clock.now = utc(2026, 6, 2, 3, 20)
    # The watchdog function with its own environment and IAM; its clock is the test's, and the
    # runs it starts are only counted (Scheduler's delivery is not this test's subject).
    function = watch.stack.function("WatchdogFunction")
    built = function.build("_watchdog")
    built.clock = watch.clock
    built.start_run = watch.started.append
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()

    result = function({}, FakeLambdaContext())

    assert (result["MissedRuns"], result["SchedulesRepaired"], result["WatchdogFailures"]) == (1, 1, 0)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [metrics] = [m for m in emitted if "MissedRuns" in m]
    assert (metrics["MissedRuns"], metrics["SchedulesRepaired"], metrics["SpringForwardRuns"]) == (
        [1.0],
        [1.0],
        [0.0],
    )
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TrackingExport"


def test_a_rate_schedule_is_followed_from_run_to_run(watch: Watch) -> None:
    watch.clock.now = utc(2026, 6, 1, 0, 0)
    watch.upload_tenant({"timezone": "Europe/Paris"})
    watch.upload_definition(definition("<schedule>rate(6 hours)</schedule>"))
    # Scheduler fires at once when the schedule is created, then every 6 hours; 12:00 is lost.
    for instant in (utc(2026, 6, 1, 0), utc(2026, 6, 1, 6)):
        watch.deliver(instant)

    report = watch.sweep(utc(2026, 6, 1, 13, 30))

    assert started_times(watch) == ["2026-06-01T12:00:00Z"]
    assert report.missed_runs == 1


def test_a_run_on_record_before_the_pause_is_not_turned_into_a_paused_one(watch: Watch) -> None:
    pauses = pause_service(from_environment(watch.stack.env("ConfigSyncFunction")))
    watch.clock.now = utc(2026, 6, 1, 12)
    watch.upload_tenant({"timezone": "UTC"})
    watch.upload_definition(definition())
    assert watch.deliver(utc(2026, 6, 2, 2))["outcome"] == "succeeded"
    pauses.pause(TENANT, GUID)

    # A repeated delivery of that run (Scheduler's at-least-once) is the run's duplicate.
    again = watch.deliver(utc(2026, 6, 2, 2))

    assert (again["outcome"], again["existingStatus"]) == ("duplicate", "succeeded")
