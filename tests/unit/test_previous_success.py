"""The previous successful run (spec §5, issue 19 item 7) and replays' own run identity, in the
ledger: the latest *scheduled* success whose run time is strictly before the run's time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.clients import clear_cache, client
from tracking_export_aws.runs.ledger import Claim, RunLedger

ROOT = Path(__file__).resolve().parents[2]
DAY1 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
DONE: dict[str, Any] = {
    "rows": 0,
    "bytes_written": 0,
    "object_key": None,
    "sha256": None,
    "duration_ms": 1,
    "window": {},
}


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    clear_cache()
    with mock_aws():
        yield
    clear_cache()


@pytest.fixture
def ledger() -> RunLedger:
    from tools.template_tables import table_definitions

    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName="runs", **table_definitions(ROOT / "template.yaml")["RunHistoryTable"])
    return RunLedger(dynamodb, "runs")


def day(n: int) -> datetime:
    return DAY1 + timedelta(days=n - 1)


def run(ledger: RunLedger, when: datetime, outcome: str, *, replay: str | None = None) -> Claim:
    claim = ledger.claim("acme", "daily", when, now=when, lease_seconds=60, replay_id=replay)
    assert claim.claimed
    if outcome == "succeeded":
        ledger.record_success(claim, finished_at=when + timedelta(seconds=1), **DONE)
    else:
        ledger.record_failure(claim, finished_at=when + timedelta(seconds=1), error="boom", duration_ms=1)
    return claim


def test_first_run_has_no_previous_success(ledger: RunLedger) -> None:
    assert ledger.previous_success_before("acme", "daily", day(1)) is None


def test_on_time_run_reads_the_state(ledger: RunLedger) -> None:
    run(ledger, day(1), "succeeded")
    run(ledger, day(2), "failed")
    # Day 3 comes after every success: the state's lastSuccessStart is the answer.
    assert ledger.previous_success_before("acme", "daily", day(3)) == day(1)


def test_a_past_run_after_later_successes_gets_the_success_before_it(ledger: RunLedger) -> None:
    run(ledger, day(1), "succeeded")
    run(ledger, day(2), "failed")
    run(ledger, day(3), "failed")
    run(ledger, day(4), "succeeded")
    run(ledger, day(5), "succeeded")
    # What the schedule saw at each time: day 1 for days 2..4, day 4 for day 5, day 5 after it.
    assert ledger.previous_success_before("acme", "daily", day(2)) == day(1)
    assert ledger.previous_success_before("acme", "daily", day(4)) == day(1)
    assert ledger.previous_success_before("acme", "daily", day(5)) == day(4)
    assert ledger.previous_success_before("acme", "daily", day(6)) == day(5)
    # Strictly before: a run at day 1 itself has no earlier success; a microsecond later it has.
    assert ledger.previous_success_before("acme", "daily", day(1)) is None
    assert ledger.previous_success_before("acme", "daily", day(1) + timedelta(microseconds=1)) == day(1)


def test_replays_never_move_any_window(ledger: RunLedger) -> None:
    run(ledger, day(1), "succeeded")
    run(ledger, day(2), "failed")
    replay = run(ledger, day(2), "succeeded", replay="r1")
    # The replay has its own item, beside the failed scheduled run of the same time.
    assert ledger.get("acme", "daily", day(2)).status == "failed"  # type: ignore[union-attr]
    stored = ledger.get("acme", "daily", day(2), "r1")
    assert stored is not None and (stored.status, stored.replay_id) == ("succeeded", "r1")
    assert replay.run_id.endswith("/replay/r1")
    # Neither day 3 (after the replay) nor a later replay of day 3 starts from the replay.
    assert ledger.previous_success_start("acme", "daily") == day(1)
    assert ledger.previous_success_before("acme", "daily", day(3)) == day(1)
    run(ledger, day(3), "succeeded")
    assert ledger.previous_success_before("acme", "daily", day(2)) == day(1)


def test_a_replay_takes_the_run_number_of_the_run_it_replays(ledger: RunLedger) -> None:
    run(ledger, day(1), "succeeded")
    run(ledger, day(2), "failed")
    again = ledger.claim("acme", "daily", day(2), now=day(9), lease_seconds=60, replay_id="r1")
    fresh = ledger.claim("acme", "daily", day(7), now=day(9), lease_seconds=60, replay_id="r1")
    assert again.run_number == 2  # the failed run's number: its file name's %i
    assert fresh.run_number == 3  # no run at that time: the next number, as a late delivery gets


def test_a_scheduled_delivery_is_not_answered_by_a_replay_nor_the_reverse(ledger: RunLedger) -> None:
    run(ledger, day(1), "succeeded", replay="r1")
    scheduled = ledger.claim("acme", "daily", day(1), now=day(1), lease_seconds=60)
    assert scheduled.claimed and scheduled.replay_id is None
    duplicate = ledger.claim("acme", "daily", day(1), now=day(1), lease_seconds=60, replay_id="r1")
    assert not duplicate.claimed and duplicate.existing is not None
    assert duplicate.existing.status == "succeeded"


def test_claim_writes_the_listing_attributes(ledger: RunLedger) -> None:
    run(ledger, day(1), "succeeded", replay="r1")
    item = ledger.client.get_item(
        TableName="runs",
        Key={"pk": {"S": keys.export_pk("acme", "daily")}, "sk": {"S": keys.run_sk(day(1), "r1")}},
    )["Item"]
    assert item["tenantId"] == {"S": "acme"} and item["exportGuid"] == {"S": "daily"}
    assert item["scheduledTime"] == {"S": "2026-03-01T01:00:00.000000Z"}
    assert item["replayId"] == {"S": "r1"} and item["status"] == {"S": "succeeded"}


def test_the_lookup_reads_only_the_runs_before_the_previous_success(ledger: RunLedger) -> None:
    """Years of history cost nothing: the Query stops at the first success before the run."""
    for n in range(1, 41):
        run(ledger, day(n), "succeeded" if n in (1, 30) else "failed")
    calls: list[dict[str, Any]] = []
    real_query = ledger.client.query

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_query(**kwargs)

    ledger.client.query = counting  # type: ignore[method-assign]
    assert ledger.previous_success_before("acme", "daily", day(32)) == day(30)  # the state: no Query
    assert calls == []
    assert ledger.previous_success_before("acme", "daily", day(20)) == day(1)
    # 19 failures between day 1 and day 20: two pages of 10, newest first, then the success.
    assert len(calls) == 2
    assert all(call["ScanIndexForward"] is False and call["Limit"] == 10 for call in calls)
