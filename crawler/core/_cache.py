"""A small bounded LRU cache for parsed policy files, keyed by content hash."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """Least-recently-used mapping with a fixed capacity.

    Parsing is the expensive part of a decision; the same robots.txt or tdmrep.json is seen for
    every URL of an origin, so parsed forms are kept by (kind, sha256, limits).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[Hashable, V] = OrderedDict()

    def get_or_create(self, key: Hashable, factory: Callable[[], V]) -> V:
        try:
            value = self._data[key]
        except KeyError:
            value = factory()
            self._data[key] = value
            if len(self._data) > self.capacity:
                self._data.popitem(last=False)
            return value
        self._data.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


# One cache for every parsed file kind; the key's first element names the kind.
PARSED_FILES: BoundedCache[object] = BoundedCache(capacity=4096)
