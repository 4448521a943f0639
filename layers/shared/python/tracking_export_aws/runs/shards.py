"""The shard plan of a distributed run: the window's local days in groups of consecutive days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

# A Map state's items travel in the execution's payload (256 KB): the plan never makes more.
MAX_SHARDS = 2000


def plan_shards(days: Sequence[date], estimates: Sequence[int], max_rows: int) -> list[tuple[date, date]]:
    """Consecutive days grouped so each group's estimate stays within ``max_rows`` (a day larger
    than that is a shard of its own), at most MAX_SHARDS groups; at least one group."""
    if not days:
        return []
    target = max(max_rows, -(-sum(estimates) // MAX_SHARDS), 1)
    shards: list[tuple[date, date]] = []
    first, total = days[0], 0
    previous = days[0]
    for day, estimate in zip(days, estimates, strict=True):
        if day != first and total + estimate > target:
            shards.append((first, previous))
            first, total = day, 0
        total += estimate
        previous = day
    shards.append((first, previous))
    return shards
