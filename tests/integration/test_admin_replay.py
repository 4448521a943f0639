"""``tracking-export-admin replay``, ``runs`` and ``run show`` on the local stack (moto server,
dynalite), the export handler run in this process as the local runner runs it.

The schedule's runs are delivered first, as Scheduler would have delivered them on their days
(the run's time is its scheduled time: the clock that matters is moved); the replays come
after later successes, and are compared byte for byte with the files the schedule produced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.admin.main import main
from tools.admin.runner import InProcessRunner
from tools.admin.target import from_env_file
from tracking_export_aws.aws import keys

# 02:00 in Paris (the default schedule, cron(0 2 * * ? *)), in UTC: winter time.
MAR = {day: datetime(2026, 3, day, 1, 0, tzinfo=UTC) for day in range(1, 9)}
DELTA = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="nightly">
    <providers><trackingLogProvider>
      <columns><logDate/><timeGlobal/></columns>
      <parameters><deltaMode>yes</deltaMode></parameters>
    </trackingLogProvider></providers>
    <consolidators><moveToFolder><fileName>nightly_%Y%m%d_%i.csv</fileName></moveToFolder></consolidators>
  </export>
</export-config>
"""
# The last two days (48 hours before the run's time): another window than deltaMode's.
FRAMED = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="framed">
    <providers><trackingLogProvider>
      <columns><logDate/><timeGlobal/></columns>
      <parameters><timeFrames>2</timeFrames><timeFramesScale>less_than_n_days</timeFramesScale></parameters>
    </trackingLogProvider></providers>
    <consolidators><moveToFolder><fileName>framed_%Y%m%d_%H%M.csv</fileName></moveToFolder></consolidators>
  </export>
</export-config>
"""


@pytest.fixture
def acme(stack: Any, records: Any, tmp_path: Path) -> Any:
    """Tenant acme (Europe/Paris): one log a day, 1 to 7 March, at 09:00 UTC; two exports."""
    stack.put_tenant("acme", {"timezone": "Europe/Paris", "notificationEmails": ["training@acme.example"]})
    stack.put_definition("acme", "nightly", DELTA)
    stack.put_definition("acme", "framed", FRAMED)
    stack.load(
        [
            *records.catalogue("acme"),
            *(records.log("acme", day, f"2026-03-0{day}T09:00:00Z", 60 * day) for day in range(1, 8)),
        ]
    )
    path = stack.write_env_file(tmp_path / "env.json", "ExportFunction", "RunRecoveryFunction")
    stack.env_file = path
    stack.runner = InProcessRunner(from_env_file(path))
    return stack


def scheduled(stack: Any, guid: str, at: datetime) -> dict[str, Any]:
    """The schedule's delivery of ``at`` (the scheduler payload)."""
    answer: dict[str, Any] = stack.runner.run_export(
        {"tenantId": "acme", "exportGuid": guid, "scheduledTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    )
    return answer


def admin(stack: Any, *argv: str) -> int:
    return main(["--env-file", str(stack.env_file), *argv])


def lines(out: str) -> dict[str, dict[str, str]]:
    """The replay lines by scheduled time: {time: {outcome, object, sha256}}."""
    found = {}
    for line in out.splitlines():
        fields = dict(part.split("=", 1) for part in line.split(" "))
        assert list(fields) == ["run", "outcome", "object", "sha256"], line
        found[fields.pop("run")] = fields
    return found


def day_cells(data: bytes) -> list[str]:
    """The logDate cells' days of a file (header skipped)."""
    return [row.split(";")[0][:10] for row in data.decode("utf-8").splitlines()[1:]]


def test_replays_after_later_successes_give_the_schedules_files_byte_for_byte(
    acme: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The schedule: the 3rd, then nothing on the 4th (missed), then the 5th and the 6th.
    originals = {}
    for day in (3, 5, 6):
        for guid in ("nightly", "framed"):
            answer = scheduled(acme, guid, MAR[day])
            assert answer["outcome"] == "succeeded", answer
            originals[(guid, day)] = answer
    # By hand (deltaMode, spec §5): the 3rd is the first run: everything up to the end of the
    # 3rd; the 5th starts from the 3rd (the 4th never ran); the 6th from the 5th.
    assert day_cells(acme.read(originals[("nightly", 3)]["objectKey"])) == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]
    assert day_cells(acme.read(originals[("nightly", 5)]["objectKey"])) == [
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
    ]
    # The 48 hours before 02:00 on the 5th hold the 3rd's and the 4th's 09:00 logs.
    assert day_cells(acme.read(originals[("framed", 5)]["objectKey"])) == ["2026-03-03", "2026-03-04"]
    acme.notifications()
    acme.events()
    state_before = acme.ledger().previous_success_start("acme", "nightly")

    for guid in ("nightly", "framed"):
        assert admin(acme, "replay", "--tenant", "acme", "--export", guid, "--from", "2026-03-03", "--to",
                     "2026-03-06", "--quiet", "--max-concurrent", "2") == 0  # fmt: skip
        out = lines(capsys.readouterr().out)
        # One run per scheduled time of the range, the missed 4th included.
        assert sorted(out) == [f"2026-03-0{d}T01:00:00Z" for d in (3, 4, 5, 6)]
        assert all(line["outcome"] == "succeeded" for line in out.values())
        for day in (3, 5, 6):
            original = originals[(guid, day)]
            replayed = out[f"2026-03-0{day}T01:00:00Z"]
            assert replayed["object"] != original["objectKey"]  # never over the schedule's file
            assert acme.read(replayed["object"]) == acme.read(original["objectKey"])
            assert replayed["sha256"] == original["sha256"]
        replay_of_4th = acme.read(out["2026-03-04T01:00:00Z"]["object"])
        if guid == "nightly":
            # What the schedule would have covered on the 4th: from the 3rd's run.
            assert day_cells(replay_of_4th) == ["2026-03-03", "2026-03-04"]
            # The name the schedule gives, the replayed run's number in it (%i): the 5th was run 2.
            assert out["2026-03-05T01:00:00Z"]["object"] == "tenants/acme/nightly_20260305_2-r2.csv"
        else:
            assert day_cells(replay_of_4th) == ["2026-03-02", "2026-03-03"]
    # Quiet: no tenant channel took anything; the records still say what happened.
    assert acme.notifications() == [] and acme.events() == []
    replays = [r for r in acme.ledger().runs("acme", "nightly") if r.replay_id is not None]
    assert len(replays) == 4 and all(r.quiet and r.notification for r in replays)
    assert all(r.notification["outcome"] == "succeeded" for r in replays)  # type: ignore[index]
    # Each run records the read capacity DynamoDB reported for its reads (usage).
    assert all(r.read_units is not None and r.read_units > 0 for r in replays)
    # No replay moved a window: the state is the 6th's, and the 7th's run starts from the 6th.
    assert acme.ledger().previous_success_start("acme", "nightly") == state_before == MAR[6]
    seventh = scheduled(acme, "nightly", MAR[7])
    assert seventh["window"]["firstDay"] == "2026-03-06"
    assert day_cells(acme.read(seventh["objectKey"])) == ["2026-03-06", "2026-03-07"]


def test_only_missing_and_failed_dry_run_and_notifications(
    acme: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for day in (1, 2, 4):
        assert scheduled(acme, "nightly", MAR[day])["outcome"] == "succeeded"
    # The 3rd's scheduled run failed (recorded as the export function records a failure).
    ledger = acme.ledger()
    claim = ledger.claim("acme", "nightly", MAR[3], now=MAR[3], lease_seconds=60)
    ledger.record_failure(
        claim, finished_at=MAR[3], error="the tracking table was unavailable", duration_ms=5
    )
    acme.notifications()
    acme.events()
    objects_before = acme.object_keys()
    items_before = acme.dynamodb.scan(TableName=acme.run_history_table)["Items"]

    argv = ["replay", "--tenant", "acme", "--export", "nightly", "--from", "2026-03-01", "--to", "2026-03-05"]
    assert admin(acme, *argv, "--dry-run") == 0
    assert list(lines(capsys.readouterr().out)) == [f"2026-03-0{d}T01:00:00Z" for d in range(1, 6)]
    assert admin(acme, *argv, "--dry-run", "--only", "missing") == 0
    assert lines(capsys.readouterr().out) == {
        "2026-03-05T01:00:00Z": {"outcome": "dry-run", "object": "-", "sha256": "-"}
    }
    assert admin(acme, *argv, "--dry-run", "--only", "failed") == 0
    assert list(lines(capsys.readouterr().out)) == ["2026-03-03T01:00:00Z"]
    # A dry run changes nothing.
    assert acme.object_keys() == objects_before
    assert acme.dynamodb.scan(TableName=acme.run_history_table)["Items"] == items_before

    # The failed 3rd again, not quiet: the tenant hears of it once, on every channel.
    assert admin(acme, *argv, "--only", "failed") == 0
    out = lines(capsys.readouterr().out)
    assert list(out) == ["2026-03-03T01:00:00Z"] and out["2026-03-03T01:00:00Z"]["outcome"] == "succeeded"
    # The window the schedule would have had: from the 2nd's run (the 3rd failed).
    assert day_cells(acme.read(out["2026-03-03T01:00:00Z"]["object"])) == ["2026-03-02", "2026-03-03"]
    (notification,) = acme.notifications()
    assert notification.message["outcome"] == "succeeded"
    assert notification.message["scheduledTime"] == "2026-03-03T01:00:00+00:00"
    # It says it is a replay (its own run beside the scheduled one, which failed).
    assert isinstance(notification.message["replayId"], str) and notification.message["replayId"]
    assert len(acme.events()) == 1
    # Replayed, the 3rd is no longer a failed time; the 5th is still missing.
    assert admin(acme, *argv, "--dry-run", "--only", "failed") == 0
    assert capsys.readouterr().out == ""
    assert admin(acme, *argv, "--dry-run", "--only", "missing") == 0
    assert list(lines(capsys.readouterr().out)) == ["2026-03-05T01:00:00Z"]

    # runs: the failed scheduled run and its replay, newest first; fleet-wide "failed since".
    assert admin(acme, "runs", "--tenant", "acme", "--export", "nightly", "--since", "2026-03-01") == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[0] for line in listed] == [
        "run=2026-03-04T01:00:00Z",
        "run=2026-03-03T01:00:00Z",  # the replay sorts after its scheduled run: newest first
        "run=2026-03-03T01:00:00Z",
        "run=2026-03-02T01:00:00Z",
        "run=2026-03-01T01:00:00Z",
    ]
    assert "outcome=succeeded replay=" in listed[1] and "replay=-" not in listed[1]
    assert "outcome=failed replay=- number=4" in listed[2]  # claimed after the 4th's run
    assert 'error="the tracking table was unavailable"' in listed[2]
    assert "window=2026-03-01..2026-03-02 rows=2" in listed[3]
    assert admin(acme, "runs", "--status", "failed", "--since", "2026-03-01", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert [(r["tenantId"], r["exportGuid"], r["scheduledTime"]) for r in document["runs"]] == [
        ("acme", "nightly", "2026-03-03T01:00:00Z")
    ]
    # run show: every field, the notification decoded, what each channel answered.
    replay_id = next(r.replay_id for r in ledger.runs("acme", "nightly") if r.replay_id)
    assert admin(acme, "run", "show", "--tenant", "acme", "--export", "nightly", "--run",
                 "2026-03-03T01:00:00Z", "--replay", replay_id) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["sk"] == keys.run_sk(MAR[3], replay_id)
    assert shown["notification"]["outcome"] == "succeeded" and shown["status"] == "succeeded"
    assert sorted(shown["notifiedChannels"]) == sorted(shown["deliveries"]) != []
    assert shown["paused"] is None


def test_runs_show_a_paused_export(acme: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert scheduled(acme, "nightly", MAR[1])["outcome"] == "succeeded"
    acme.dynamodb.put_item(
        TableName=acme.run_history_table,
        Item={
            **{k: {"S": v} for k, v in keys.pause_key("acme").items()},
            "pausedAt": {"S": keys.instant_key(MAR[2])},
            "reason": {"S": "supplier outage"},
            "by": {"S": "ann"},
        },
    )
    assert admin(acme, "runs", "--tenant", "acme", "--since", "2026-03-01") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'paused tenant=acme since=2026-03-02T01:00:00Z by=ann reason="supplier outage"'
    assert out[1].startswith("run=2026-03-01T01:00:00Z tenant=acme export=nightly outcome=succeeded")
    assert len(out) == 2


def test_bad_arguments_exit_2(acme: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert admin(acme, "runs", "--export", "nightly") == 2
    assert "--export needs --tenant" in capsys.readouterr().err
    argv = ["replay", "--tenant", "acme", "--export", "nightly"]
    assert admin(acme, *argv, "--from", "2026-03-05", "--to", "2026-03-01") == 2
    assert "before --from" in capsys.readouterr().err
    assert admin(acme, *argv, "--from", "2026-03-01", "--to", "2026-03-01", "--replay-id", "Bad#Id") == 2
    assert "invalid replay id" in capsys.readouterr().err
    assert acme.object_keys() == []


def test_a_replay_never_answers_for_nor_blocks_the_scheduled_run(acme: Any) -> None:
    """The replay of a time that has not run yet is its own run: the schedule's delivery of that
    time still runs (and is not a duplicate), with its own file."""
    replayed = acme.runner.run_export(
        {"tenantId": "acme", "exportGuid": "nightly", "runAt": "2026-03-02T01:00:00Z", "replayId": "r1"}
    )
    assert replayed["outcome"] == "succeeded"
    delivered = scheduled(acme, "nightly", MAR[2])
    assert delivered["outcome"] == "succeeded"
    assert delivered["objectKey"] != replayed["objectKey"]
    assert replayed["replayId"] == "r1" and "replayId" not in delivered  # which run is the replay
    assert acme.read(delivered["objectKey"]) == acme.read(replayed["objectKey"])
    # The same replay again is a duplicate of itself, nothing more.
    again = acme.runner.run_export(
        {"tenantId": "acme", "exportGuid": "nightly", "runAt": "2026-03-02T01:00:00Z", "replayId": "r1"}
    )
    assert again["outcome"] == "duplicate"
    assert acme.ledger().previous_success_before("acme", "nightly", MAR[3]) == MAR[2]
    assert acme.ledger().get("acme", "nightly", MAR[2] + timedelta(0), "r1").status == "succeeded"


def test_usage_sums_the_months_runs_per_export(acme: Any, capsys: pytest.CaptureFixture[str]) -> None:
    answers = [scheduled(acme, "nightly", MAR[day]) for day in (1, 2)]
    framed = scheduled(acme, "framed", MAR[2])
    # Another month's run is not this month's.
    other = acme.runner.run_export(
        {"tenantId": "acme", "exportGuid": "nightly", "runAt": "2026-04-01T00:00:00Z", "replayId": "april"}
    )
    assert all(a["outcome"] == "succeeded" for a in [*answers, framed, other])
    ledger = acme.ledger()
    runs = {(r.scheduled_time, r.replay_id): r for r in ledger.runs("acme", "nightly")}
    units = [runs[(MAR[day], None)].read_units for day in (1, 2)]
    assert all(u is not None and u > 0 for u in units)

    assert admin(acme, "usage", "--tenant", "acme", "--month", "2026-03", "--json") == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    framed_usage, nightly = tenant["exports"]  # sorted by guid
    assert (nightly["exportGuid"], nightly["runs"], nightly["succeeded"], nightly["failed"]) == (
        "nightly",
        2,
        2,
        0,
    )
    assert (
        nightly["rows"] == sum(a["rows"] for a in answers) == 1 + 2
    )  # by hand: logs to the 1st, then 1st..2nd
    assert nightly["bytes"] == sum(a["bytes"] for a in answers)
    assert nightly["readUnits"] == pytest.approx(sum(u for u in units if u is not None), abs=0.01)
    assert framed_usage["exportGuid"] == "framed" and framed_usage["rows"] == framed["rows"]
    assert tenant["runs"] == 3 and tenant["rows"] == nightly["rows"] + framed["rows"]

    # Every tenant (those with a definition), as lines: one per export, then the total.
    assert admin(acme, "usage", "--month", "2026-04") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("tenant=acme export=nightly runs=1 succeeded=1 failed=0 replays=1 ")
    assert out[1].startswith("tenant=acme export=* runs=1 ")
    assert admin(acme, "usage", "--month", "2026-13") == 2
