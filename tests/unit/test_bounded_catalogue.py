"""What a run caches stays within a byte budget (issue 15), and the budget never changes the file.

A run over a catalogue far bigger than its cache budget drops and fetches trackings again;
its file, its skipped records (each listed once) and their count are those of a run whose
cache holds everything.
"""

from __future__ import annotations

import io
import random
import sys
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from engine_helpers import definition_xml, provider

from tools.sample_data import SampleShape, dataset
from tracking_export import engine
from tracking_export.bounded import ENTRY_OVERHEAD, BoundedCache, size_of
from tracking_export.definition import load_definition
from tracking_export.engine import CACHE_BYTES, run_export
from tracking_export.records import PARSERS, RECORD_FIELDS, InvalidRecord, parse_tracking_log
from tracking_export.report import RunReport
from tracking_export.source import InMemorySource, Raw, TimeRange

TENANT = "acme"
# 3,000 logs over 600 trackings and 60 learners, on six days (sample data, deterministic).
SHAPE = replace(
    SampleShape(tenant_id=TENANT), logs=3_000, logs_per_day=500, trackings=600, learners=60, contents=40
)
NOW = datetime(2026, 11, 28, 2, tzinfo=UTC)
COLUMNS = (
    "<logDate/><reportId/><registrationGuid/><candidateId/><candidateName/><candidateEntityAncestors/>"
    "<candidateSmartgroups/><trainingTitle/><sessionTitle/><contentGuid/><contentTitle/>"
    "<trainingContentFolder/><firstLaunchDate/><completionTime/><progression/><score/><status/><timeGlobal/>"
)


class CountingSource(InMemorySource):
    """Counts the catalogue records the engine asks for, by kind, and the calls asking for
    trackings; with ``page_logs``, a day's logs come in pages of that many (as DynamoDB's)."""

    def __init__(self, records: list[Raw], page_logs: int | None = None) -> None:
        super().__init__(TENANT, records)
        self.asked: Counter[str] = Counter()
        self.tracking_calls = 0
        self.page_logs = page_logs

    def get_records(self, wanted: Mapping[str, Collection[Any]]) -> dict[str, dict[Any, Raw]]:
        for kind, keys in wanted.items():
            self.asked[kind] += len(keys)
        self.tracking_calls += "tracking" in wanted
        return super().get_records(wanted)

    def log_pages_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[Iterator[list[Raw]]]:
        size = self.page_logs
        for raws in self.logs_in_ranges(ranges):
            # As the DynamoDB source: a valid log as the engine's TrackingLog, any other as is.
            logs = [_validated(raw) for raw in raws]
            yield iter([logs[i : i + size] for i in range(0, len(logs), size)] if size else [logs])


def _validated(raw: Raw) -> Any:
    try:
        return parse_tracking_log(raw)
    except InvalidRecord:
        return raw


def _records() -> list[Raw]:
    """The sample tenant with bad records in it: a tracking whose learner does not exist, an
    invalid learner, an entity whose parent is invalid, an invalid tracking, a session whose
    training does not exist, and invalid logs."""
    records = list(dataset(SHAPE))
    for record in records:
        kind = record["type"]
        if kind == "tracking" and record["trackingId"] == 7:
            record["learnerId"] = 999_999
        elif kind == "tracking" and record["trackingId"] == 11:
            record["contentGuid"] = 12  # not a GUID
        elif kind == "learner" and record["learnerId"] == 5:
            record["smartgroupIds"] = "everyone"
        elif kind == "entity" and record["entityId"] == 3:
            record["name"] = 42
        elif kind == "session" and record["sessionId"] == 401:
            record["trainingId"] = 77_777
        elif kind == "trackingLog" and record["logId"] % 997 == 0:
            record["status"] = "lost"
    return records


def _export(
    parameters: str, cache_bytes: int, page_logs: int | None = None
) -> tuple[bytes, RunReport, CountingSource]:
    definition = load_definition(definition_xml(provider(COLUMNS, parameters)), name="bounded.xml")
    source = CountingSource(_records(), page_logs)
    out = io.BytesIO()
    report = run_export(
        definition, source, out, tenant_id=TENANT, timezone="Europe/Paris", now=NOW, cache_bytes=cache_bytes
    )
    return out.getvalue(), report, source


@pytest.mark.parametrize(
    "parameters",
    [
        "",
        "<timeFrames>4</timeFrames><timeFramesScale>less_than_n_days</timeFramesScale>"
        "<timeFrameScaleMode>lastActivityCumulative</timeFrameScaleMode>",
        "<learnersSmartGroups>2</learnersSmartGroups><entityIds>2</entityIds>",
        "<withoutLaunchTime>yes</withoutLaunchTime>",
    ],
    ids=["all-data", "cumulative-time", "filters", "never-launched"],
)
def test_a_tiny_cache_budget_changes_neither_the_file_nor_the_report(parameters: str) -> None:
    roomy, roomy_report, roomy_source = _export(parameters, CACHE_BYTES)
    tight, tight_report, tight_source = _export(parameters, 40_000)

    # The budget is real: the tight run fetched trackings again (the roomy one fetched each once).
    assert roomy_source.asked["tracking"] <= SHAPE.trackings
    assert tight_source.asked["tracking"] > 2 * roomy_source.asked["tracking"]
    assert roomy_report.rows > 100
    assert tight == roomy
    assert tight_report.as_dict() == roomy_report.as_dict()
    # Each bad record listed once, whatever was dropped and fetched again.
    listed = Counter((s.kind, s.key) for s in tight_report.skipped if s.kind != "trackingLog")
    assert listed and set(listed.values()) == {1}


@pytest.mark.parametrize("cache_bytes", [CACHE_BYTES, 40_000])
def test_fetching_a_group_of_pages_ahead_changes_neither_the_file_nor_the_report(
    cache_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 30 logs. The trackings of a group of pages are fetched ahead in one call, yet
    rows and skipped records (in their order) come out as when each page fetches its own."""
    grouped, grouped_report, grouped_source = _export("", cache_bytes, page_logs=30)
    monkeypatch.setattr(engine, "PREFETCH_LOGS", 1)  # every page a group of its own
    single, single_report, single_source = _export("", cache_bytes, page_logs=30)
    whole, whole_report, _ = _export("", cache_bytes)

    assert grouped == single == whole
    assert grouped_report.as_dict() == single_report.as_dict()
    # Read a day at once, the same records are skipped (listed in another order).
    assert grouped_report.skipped_count == whole_report.skipped_count
    assert Counter(grouped_report.skipped) == Counter(whole_report.skipped)
    if cache_bytes == CACHE_BYTES:
        days = SHAPE.logs // SHAPE.logs_per_day  # 500 logs a day: one group per day
        assert single_source.tracking_calls > 50
        # One call per day fetched ahead, and a few for trackings no group fetched (bad ones).
        assert grouped_source.tracking_calls <= days + 3
        assert grouped_source.asked["tracking"] <= SHAPE.trackings


def test_bad_records_are_listed_once_each_with_their_root_cause() -> None:
    _, report, _ = _export("", 40_000)

    reasons = {(s.kind, s.key): s.reason for s in report.skipped if s.kind != "trackingLog"}
    assert reasons[("tracking", 7)] == "learner 999999 does not exist"
    assert reasons[("tracking", 11)].startswith("field 'contentGuid' must be a string")
    assert reasons[("learner", 5)] == "field 'smartgroupIds' must be a list of integers"
    assert reasons[("entity", 3)].startswith("field 'name' must be a string")
    assert reasons[("session", 401)] == "training 77777 does not exist"


def test_the_cache_keeps_its_budget_and_what_is_used_again() -> None:
    cache: BoundedCache[int, str] = BoundedCache(10_000, lambda _: 100)
    for key in range(1_000):
        cache.put(key, "x")
        assert cache.get(0) == "x"  # used at every step: never dropped

    assert cache.bytes <= 10_000
    assert len(cache) < 1_000 and cache.evicted > 0
    assert cache.get(1) is None  # used once, long ago: dropped
    assert cache.get(999) == "x"


def test_an_entry_is_counted_with_what_it_holds() -> None:
    texts = ("a" * 1_000, "b" * 2_000)
    assert size_of(texts) >= sys.getsizeof(texts) + 3_000
    cache: BoundedCache[str, tuple[str, ...]] = BoundedCache(100_000, size_of)
    cache.put("k", texts)
    cache.put("k", texts)  # replaced, not counted twice
    assert cache.bytes == size_of(texts) + ENTRY_OVERHEAD


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_parsers_read_only_the_fields_record_fields_names(kind: str) -> None:
    """A source may leave any other field out of what it hands the engine (get_records)."""
    read: set[str] = set()

    class Recording(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            read.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> Any:
            read.add(key)
            return super().__getitem__(key)

    sample = next(r for r in dataset(SHAPE) if r["type"] == kind)
    PARSERS[kind](Recording(sample))

    assert read <= set(RECORD_FIELDS[kind])
    assert set(RECORD_FIELDS) == set(PARSERS)


def test_logs_in_random_tracking_order_still_come_out_in_export_order() -> None:
    """Shuffled sources (another page order) give the same file: the order is the engine's."""
    records = _records()
    definition = load_definition(definition_xml(provider(COLUMNS)), name="bounded.xml")
    outs = []
    for seed in (1, 2):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        out = io.BytesIO()
        run_export(
            definition,
            InMemorySource(TENANT, shuffled),
            out,
            tenant_id=TENANT,
            timezone="UTC",
            now=NOW,
            cache_bytes=30_000,
        )
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
