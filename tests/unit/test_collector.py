"""The collector's thresholds are raised while runs are in progress, and given back after."""

from __future__ import annotations

import gc
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from engine_helpers import load, provider

from tracking_export.collector import RUN_THRESHOLDS, fewer_collections
from tracking_export.engine import run_export
from tracking_export.source import InMemorySource, Raw, TimeRange


@pytest.fixture(autouse=True)
def host_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_a_run_raises_the_thresholds_and_gives_the_hosts_back() -> None:
    with fewer_collections():
        assert gc.get_threshold() == RUN_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_give_the_hosts_back_when_the_last_ends() -> None:
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first run ends while the second goes on
    assert gc.get_threshold() == RUN_THRESHOLDS
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failing_run_gives_the_thresholds_back() -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_higher_thresholds_and_a_disabled_collector_are_left_as_the_host_set_them() -> None:
    gc.set_threshold(100_000, 5, 1_000)
    with fewer_collections():
        assert gc.get_threshold() == (100_000, RUN_THRESHOLDS[1], 1_000)
    gc.set_threshold(0, 10, 10)  # threshold 0: automatic collection off
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


class _Watching(InMemorySource):
    """Notes the thresholds in force when the engine reads the logs."""

    seen: tuple[int, int, int] | None = None

    def logs_in_ranges(self, ranges: list[TimeRange]) -> Iterator[list[Raw]]:  # type: ignore[override]
        self.seen = gc.get_threshold()
        yield from super().logs_in_ranges(ranges)


def test_the_engine_runs_with_raised_thresholds() -> None:
    source = _Watching("acme", [])
    definition = load(provider("<reportId/>"))
    now = datetime(2026, 11, 28, 2, tzinfo=UTC)
    run_export(definition, source, io.BytesIO(), tenant_id="acme", timezone="UTC", now=now)
    assert source.seen == RUN_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)
