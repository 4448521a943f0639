"""A day's rows sorted in bounded memory: runs spilled to disk and merged give the order of one
in-memory sort, and the export's bytes do not depend on where a day was cut into runs."""

from __future__ import annotations

import csv
import io
import os
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.sample_data import SampleShape, dataset
from tracking_export import engine, external_sort
from tracking_export.definition import load_definition
from tracking_export.external_sort import SortedRows
from tracking_export.source import InMemorySource


def test_rows_come_back_in_key_order_and_equal_keys_in_the_order_added(tmp_path: Path) -> None:
    rng = random.Random(3)
    added = [((rng.randrange(20), rng.choice("abc")), f"row {n}") for n in range(1_000)]
    with SortedRows(run_rows=37, directory=str(tmp_path)) as rows:
        for key, row in added:
            rows.add(key, row)
        got = list(rows.rows())
        assert rows.spilled_runs == 1_000 // 37 + 1
    # By key, then by position added (the rows are numbered in the order they were added).
    expected = [row for _, row in sorted(added, key=lambda kr: (kr[0], int(kr[1].split()[1])))]
    assert got == expected
    assert list(tmp_path.iterdir()) == []  # the runs are removed


def test_more_runs_than_the_fan_in_are_merged_in_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(external_sort, "MAX_FAN_IN", 3)
    monkeypatch.setattr(external_sort, "BLOCK_ROWS", 2)
    keys = [(n * 7919) % 101 for n in range(101)]  # 0..100, shuffled
    with SortedRows(run_rows=5, directory=str(tmp_path)) as rows:
        for key in keys:
            rows.add(key, str(key))
        assert list(rows.rows()) == [str(k) for k in range(101)]
        # 21 runs of 5 rows (the last holds 1); each merge of 3 runs into one leaves 2 fewer,
        # down to the 3 of the final merge: 9 merged runs written.
        assert rows.spilled_runs == 21 + 9


def test_a_day_that_fits_is_never_written_to_disk(tmp_path: Path) -> None:
    with SortedRows(run_rows=10, directory=str(tmp_path)) as rows:
        for key in (3, 1, 2):
            rows.add(key, key)
        assert list(rows.rows()) == [1, 2, 3]
        assert rows.spilled_runs == 0
    assert not os.listdir(tmp_path)


DEFINITION = """<export-config><export guid="order">
<providers><trackingLogProvider><columns>
<logDate/><candidateId/><sessionId/><contentGuid/><firstLaunchDate/><candidateName/><status/><timeGlobal/>
</columns><parameters><dateTimeFormat>YYYY-MM-DD hh:ii:ss</dateTimeFormat></parameters>
</trackingLogProvider></providers></export></export-config>"""


def _export(source: InMemorySource) -> bytes:
    out = io.BytesIO()
    engine.run_export(
        load_definition(DEFINITION),
        source,
        out,
        tenant_id="acme",
        timezone="Europe/Paris",
        now=datetime(2026, 11, 28, 1, tzinfo=UTC),
    )
    return out.getvalue()


def test_a_day_sorted_on_disk_gives_the_same_file(monkeypatch: pytest.MonkeyPatch) -> None:
    shape = replace(SampleShape(), logs=3_000, logs_per_day=1_500, learners=50, trackings=400)
    source = InMemorySource("acme", dataset(shape))
    in_memory = _export(source)
    monkeypatch.setattr(engine, "DAY_RUN_ROWS", 97)
    monkeypatch.setattr(external_sort, "MAX_FAN_IN", 4)
    assert _export(source) == in_memory

    # And that order is the spec's: within a local day, by learner, session, content, start.
    records = list(csv.reader(io.StringIO(in_memory.decode("utf-8")), delimiter=";"))
    header, rows = records[0], records[1:]
    assert header[:5] == ["logDate", "candidateId", "sessionId", "contentGuid", "firstLaunchDate"]
    assert len(rows) == 3_000  # every sample log is valid and kept
    order = [(r[0], int(r[1]), int(r[2]), r[3], r[4]) for r in rows]
    assert order == sorted(order)
    assert len({r[0] for r in rows}) >= 2


def test_add_all_spills_the_same_runs_as_add_one_by_one(tmp_path: Path) -> None:
    rng = random.Random(3)
    pairs = [(rng.randrange(20), n) for n in range(103)]
    one_by_one, in_batches = SortedRows(10, str(tmp_path)), SortedRows(10, str(tmp_path))
    with one_by_one, in_batches:
        for pair in pairs:
            one_by_one.add(*pair)
        for start in (0, 3, 40, 41, 97):  # batches smaller and larger than a run
            in_batches.add_all(pairs[start : {0: 3, 3: 40, 40: 41, 41: 97, 97: 103}[start]])
        assert in_batches.spilled_runs == one_by_one.spilled_runs == 10
        expected = [n for _, n in sorted(pairs, key=lambda p: p[0])]
        assert list(in_batches.rows()) == list(one_by_one.rows()) == expected
