"""A small LRU cache for parsed policy files, keyed by content hash and bounded by size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """Least-recently-used mapping bounded by entry count and by total weight.

    Parsing is the expensive part of a decision; the same robots.txt or tdmrep.json is seen for
    every URL of an origin, so parsed forms are kept by (kind, sha256, limits).  A parsed file
    takes several times its source size in memory, so the bound is on source bytes: a crawler
    of small files keeps thousands of origins, a run of huge distinct files stays small.
    """

    def __init__(self, capacity: int, max_weight: int) -> None:
        self.capacity = capacity
        self.max_weight = max_weight
        self.weight = 0
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def get_or_create(self, key: Hashable, factory: Callable[[], V], weight: int = 1) -> V:
        try:
            value, _ = self._data[key]
        except KeyError:
            value = factory()
            self._data[key] = (value, weight)
            self.weight += weight
            while self._data and (len(self._data) > self.capacity or self.weight > self.max_weight):
                _, (_, dropped) = self._data.popitem(last=False)
                self.weight -= dropped
            return value
        self._data.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
        self.weight = 0


# One cache for every parsed file kind; the key's first element names the kind.
PARSED_FILES: BoundedCache[object] = BoundedCache(capacity=8192, max_weight=8 * 1024 * 1024)
