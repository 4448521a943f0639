"""Fewer cyclic garbage collections while an export runs.

An export allocates millions of short-lived container objects (decoded DynamoDB pages,
records, sort keys, rows) and makes almost no reference cycles: reference counting frees
nearly all of it. CPython's cyclic collector still runs a young-generation pass every 700
net container allocations, and every tenth of those also walks the survivors (the run's
catalogue caches among them): measured, about a quarter of the export's CPU time
(``bench/export_e2e.py``). While at least one run is in progress the thresholds are raised;
cycles are still found, only less often. The process's own thresholds come back when the
last run ends, so a host (the CLI, a test process, a Lambda container between invocations)
keeps its settings.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Young generation every 50,000 net allocations (default 700), the middle one every 20 young
# passes (default 10), the oldest every 100 middle ones (default 10; CPython also waits until
# a quarter of the long-lived objects are new). A threshold the process set higher is kept.
RUN_THRESHOLDS = (50_000, 20, 100)

_lock = threading.Lock()
_runs = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the duration of the block (runs may overlap)."""
    global _runs, _saved
    with _lock:
        if _runs == 0:
            _saved = gc.get_threshold()
            # A zero first threshold means the process turned collection off: leave it off.
            if _saved[0]:
                raised = tuple(max(mine, theirs) for mine, theirs in zip(RUN_THRESHOLDS, _saved, strict=True))
                gc.set_threshold(*raised)
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_saved)
