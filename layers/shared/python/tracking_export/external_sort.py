"""Sorting a day's rows in bounded memory: sorted runs spilled to temporary files, then merged.

A day of an export may hold any number of logs, but its rows must come out in one order
(learner, session, content, start, log id). Rows are collected with their sort keys; a day
that fits in ``run_rows`` rows is sorted in memory, as before. A bigger day is cut into
sorted runs of ``run_rows`` rows, each written to a temporary file (the function's
ephemeral ``/tmp`` in Lambda; ``TMPDIR`` is honoured), and the runs are merged with
``heapq.merge``, reading each one block by block. More than ``MAX_FAN_IN`` runs are first
merged in groups, so the merge's memory does not grow with the day either.

Both sorts are stable (``list.sort``; ``heapq.merge`` prefers the earlier run on equal
keys), so the order of rows with equal keys is the order they were added in, as with one
in-memory sort: the output does not depend on ``run_rows``.
"""

from __future__ import annotations

import heapq
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from operator import itemgetter
from types import TracebackType
from typing import Any, BinaryIO

# Rows held in memory before a sorted run is spilled (a rendered row is about 1 KiB in memory).
RUN_ROWS = 8_192
# Rows per pickled block of a run file: what the merge holds in memory per run.
BLOCK_ROWS = 128
# Runs merged at once; more are merged in groups first.
MAX_FAN_IN = 64

_LENGTH_BYTES = 8
_by_key = itemgetter(0)
_row = itemgetter(1)


class SortedRows:
    """Rows added in any order with their keys, handed back in key order by :meth:`rows`.

    Use as a context manager (or call :meth:`close`): spilled runs live in a temporary
    directory that is removed at the end.
    """

    def __init__(self, run_rows: int = RUN_ROWS, directory: str | None = None) -> None:
        if run_rows < 1:
            raise ValueError("run_rows must be at least 1")
        self._run_rows = run_rows
        self._parent = directory
        self._buffer: list[tuple[Any, Any]] = []
        self._runs: list[str] = []
        self._directory: str | None = None
        self.spilled_runs = 0

    def add(self, key: Any, row: Any) -> None:
        """Add one row; ``key`` orders it (keys of one SortedRows must be comparable)."""
        buffer = self._buffer
        buffer.append((key, row))
        if len(buffer) >= self._run_rows:
            self._spill()

    def add_all(self, pairs: list[tuple[Any, Any]]) -> None:
        """Add ``(key, row)`` pairs, as :meth:`add` of each in turn would (runs stay ``run_rows``)."""
        buffer = self._buffer
        buffer.extend(pairs)
        while len(buffer) >= self._run_rows:
            self._buffer = buffer[self._run_rows :]
            del buffer[self._run_rows :]
            self._spill_sorted(buffer)
            buffer = self._buffer

    def rows(self) -> Iterator[Any]:
        """Every row added, in key order (rows with equal keys in the order added). Once."""
        if not self._runs:
            buffer, self._buffer = self._buffer, []
            buffer.sort(key=_by_key)
            return map(_row, buffer)
        if self._buffer:
            self._spill()
        runs = self._runs
        while len(runs) > MAX_FAN_IN:
            path = self._new_path()
            _write_run(path, heapq.merge(*(_read_run(p) for p in runs[:MAX_FAN_IN]), key=_by_key))
            for done in runs[:MAX_FAN_IN]:
                os.remove(done)
            runs = [path, *runs[MAX_FAN_IN:]]
        self._runs = []
        merged = heapq.merge(*(_read_run(p) for p in runs), key=_by_key)
        return map(_row, merged)

    def close(self) -> None:
        """Forget the rows and remove the spilled runs."""
        self._buffer = []
        self._runs = []
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> SortedRows:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _new_path(self) -> str:
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="tracking-export-sort-", dir=self._parent)
        self.spilled_runs += 1
        return os.path.join(self._directory, f"run-{self.spilled_runs:06d}")

    def _spill(self) -> None:
        buffer, self._buffer = self._buffer, []
        self._spill_sorted(buffer)

    def _spill_sorted(self, buffer: list[tuple[Any, Any]]) -> None:
        buffer.sort(key=_by_key)
        path = self._new_path()
        _write_run(path, buffer)
        self._runs.append(path)


def _write_run(path: str, rows: Iterable[tuple[Any, Any]]) -> None:
    with open(path, "wb") as handle:
        block: list[tuple[Any, Any]] = []
        for row in rows:
            block.append(row)
            if len(block) == BLOCK_ROWS:
                _write_block(handle, block)
                block = []
        if block:
            _write_block(handle, block)


def _write_block(handle: BinaryIO, block: list[tuple[Any, Any]]) -> None:
    data = pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL)
    handle.write(len(data).to_bytes(_LENGTH_BYTES, "little"))
    handle.write(data)


def _read_run(path: str) -> Iterator[tuple[Any, Any]]:
    # Only runs this module wrote, in a directory it created, are ever unpickled.
    with open(path, "rb") as handle:
        while header := handle.read(_LENGTH_BYTES):
            block: list[tuple[Any, Any]] = pickle.loads(handle.read(int.from_bytes(header, "little")))
            yield from block
