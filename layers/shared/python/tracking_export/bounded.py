"""A cache that holds at most a given number of bytes, whatever the number of keys a run meets.

A run's caches (a tracking's rendered cells, catalogue records, rendered segments) used to
keep every key the run touched: memory then grew with the catalogue a day touches (issue 15),
not with anything the run could choose. :class:`BoundedCache` keeps two generations: new
entries go into the young one; when the young one holds half the budget it becomes the old
one and the previous old one is dropped; an old entry that is used again moves back into the
young one. A hit in the young generation costs one ``dict`` lookup, and what is used often
survives; the caller fetches again what was dropped (in batches, see ``engine``).

Sizes are estimates (:func:`size_of` for the usual shapes, or the caller's own): they count
the containers and the texts an entry holds, not objects it shares with others (a learner's
cells shared by its trackings are counted in the learner's segment), so the budget bounds the
cache within a small factor, which is what a memory budget needs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from sys import getsizeof
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MIB = 1 << 20
# What a dict slot and its key cost besides the value: hash, key and value pointers, the
# table's spare room, and an int or short text key.
ENTRY_OVERHEAD = 100

_ABSENT: Any = object()


class BoundedCache(Generic[K, V]):
    """A mapping that keeps about ``capacity`` bytes of entries (two generations, see above);
    ``size`` estimates an entry's bytes, computed when it enters the young generation (no
    size is stored per entry)."""

    __slots__ = ("_half", "_old", "_old_bytes", "_size", "_young", "_young_bytes", "capacity", "evicted")

    def __init__(self, capacity: int, size: Callable[[V], int]) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1 byte")
        self.capacity = capacity
        self._size = size
        self._half = capacity // 2 or 1
        self._young: dict[K, V] = {}
        self._young_bytes = 0
        self._old: dict[K, V] = {}
        self._old_bytes = 0
        self.evicted = 0  # entries dropped so far (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def get(self, key: K, default: Any = None) -> V | Any:
        """The value for ``key``, or ``default``; an old entry found moves back into the young one."""
        found = self._young.get(key, _ABSENT)
        if found is not _ABSENT:
            return found
        found = self._old.pop(key, _ABSENT)
        if found is _ABSENT:
            return default
        size = self._size(found) + ENTRY_OVERHEAD
        self._old_bytes = max(0, self._old_bytes - size)
        self._add(key, found, size)
        return found

    def found_and_missing(self, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The values of the keys held (as :meth:`get` finds them), and the keys not held, in order."""
        young = self._young.get
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in keys:
            value = young(key, _ABSENT)
            if value is _ABSENT:
                value = self.get(key, _ABSENT)
                if value is _ABSENT:
                    missing.append(key)
                    continue
            found[key] = value
        return found, missing

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, in place of what it held."""
        previous = self._young.pop(key, _ABSENT)
        if previous is not _ABSENT:
            self._young_bytes -= self._size(previous) + ENTRY_OVERHEAD
        else:
            previous = self._old.pop(key, _ABSENT)
            if previous is not _ABSENT:
                self._old_bytes = max(0, self._old_bytes - self._size(previous) - ENTRY_OVERHEAD)
        self._add(key, value, self._size(value) + ENTRY_OVERHEAD)

    def _add(self, key: K, value: V, size: int) -> None:
        if self._young_bytes + size > self._half and self._young:
            self.evicted += len(self._old)
            self._old, self._old_bytes = self._young, self._young_bytes
            self._young, self._young_bytes = {}, 0
        self._young[key] = value
        self._young_bytes += size

    @property
    def bytes(self) -> int:
        """The estimated bytes of every entry held."""
        return self._young_bytes + self._old_bytes


def size_of(value: Any) -> int:
    """Estimated bytes of a value and what it holds: texts, numbers and the containers and
    slotted records around them, one level of nesting into tuples, lists, dicts and records.

    Strings and numbers are counted each time they appear, shared or not: an over-estimate
    keeps the budget on the safe side.
    """
    total = getsizeof(value)
    kind = type(value)
    if kind is tuple or kind is list:
        for item in value:
            total += _shallow(item)
    elif kind is dict:
        for name, item in value.items():
            total += _shallow(name) + _shallow(item)
    else:
        for name in getattr(kind, "__slots__", ()):
            total += _shallow(getattr(value, name, None))
    return total


def _shallow(value: Any) -> int:
    if value is None or type(value) is bool:
        return 0  # singletons
    kind = type(value)
    if kind is tuple or kind is list:
        return getsizeof(value) + sum(getsizeof(item) for item in value if item is not None)
    if kind is dict:
        return getsizeof(value) + sum(getsizeof(k) + getsizeof(v) for k, v in value.items())
    return getsizeof(value)
