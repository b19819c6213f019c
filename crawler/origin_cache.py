"""Policy files per origin: fetched once, shared by concurrent requests, kept for a while.

* single-flight: the first request for a new origin fetches; requests arriving meanwhile wait
  for that one fetch instead of starting their own;
* TTL: an entry expires at its ``expires_at`` (≤ 24 h for robots.txt, a few minutes after a
  failure, see ``crawler.core.freshness``), and the next request refetches;
* bounded: least recently used origins are dropped beyond ``capacity``.

A failed fetch is an entry too (robots.txt status 0 → complete disallow), never an allow.

``shared`` (multi-worker mode, ``crawler.scale.origin_store``) stands between this cache and
the fetch: a miss here asks the workers' shared cache, which fetches only when no worker has.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from crawler.records import OriginFiles

Fetch = Callable[[str], Awaitable[OriginFiles]]


class SharedOrigins(Protocol):
    async def get(self, origin: str, fetch: Fetch) -> OriginFiles: ...


class OriginCache:
    def __init__(
        self,
        capacity: int,
        clock: Callable[[], float] = time.time,
        shared: SharedOrigins | None = None,
    ) -> None:
        self.capacity = capacity
        self.clock = clock
        self.shared = shared
        self._entries: OrderedDict[str, OriginFiles] = OrderedDict()
        self._waiting: dict[str, list[Deferred[OriginFiles]]] = {}
        self.hits = self.misses = self.expired = self.waits = 0

    def peek(self, origin: str) -> OriginFiles | None:
        """The entry for ``origin`` if present, fresh or not (for a request already decided)."""
        return self._entries.get(origin)

    async def get(self, origin: str, fetch: Fetch) -> OriginFiles:
        entry = self._entries.get(origin)
        if entry is not None:
            if self.clock() < entry.expires_at:
                self.hits += 1
                self._entries.move_to_end(origin)
                return entry
            self.expired += 1
        waiters = self._waiting.get(origin)
        if waiters is not None:
            self.waits += 1
            waiter: Deferred[OriginFiles] = Deferred()
            waiters.append(waiter)
            return await maybe_deferred_to_future(waiter)
        self.misses += 1
        self._waiting[origin] = []
        try:
            if self.shared is None:
                entry = await fetch(origin)
            else:
                entry = await self.shared.get(origin, fetch)
        except Exception as exc:
            for waiter in self._waiting.pop(origin):
                waiter.errback(exc)
            raise
        self._entries[origin] = entry
        self._entries.move_to_end(origin)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        for waiter in self._waiting.pop(origin):
            waiter.callback(entry)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
