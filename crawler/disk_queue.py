"""The JOBDIR frontier's queue: Scrapy's LIFO disk queue with its newest requests kept in memory.

Scrapy's ``PickleLifoDiskQueue`` turns every request into a dict, pickles it and writes it when
it is scheduled, then seeks, reads, truncates, unpickles and rebuilds it when it is popped:
24-37 µs a request (bench/RESULTS.md, Session 8), spent only so that a crawl stopped gracefully
can resume.  A LIFO queue pops what was pushed last, so the top of the stack is kept as
``Request`` objects in memory and only what sinks below it is written:

* ``push`` puts a request on top, in memory.  When the crawl's requests held in memory, over
  all its queues, exceed ``CONSENT_FRONTIER_MEMORY``, the pushing queue writes its oldest half
  to disk (the bottom of its stack), so memory stays bounded however large the frontier grows;
* ``pop`` takes the top: from memory while there is any, else from disk;
* ``close`` (a graceful stop; Scrapy calls it for every queue) writes what is in memory on top
  of what is on disk, oldest first, so the resumed crawl pops in the order the stopped one
  would have.

What a graceful stop leaves in JOBDIR is exactly what Scrapy's own queue would leave.  After a
``kill -9`` JOBDIR is not trusted in either case (the crawl restarts from its seeds; README,
"Storing in S3, and never losing a line").  A request that cannot be pickled stays in
memory, is crawled in this run (after the rest of its queue) and is not kept for a resume, as
with Scrapy's queue (stat ``consent/frontier/unserializable``).
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from scrapy.squeues import PickleLifoDiskQueue

from crawler.context import DEFAULTS

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class _Budget:
    """How many requests the crawl's queues hold in memory, and how many they may."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.warned_unserializable = False


_BUDGETS: weakref.WeakKeyDictionary[Crawler, _Budget] = weakref.WeakKeyDictionary()


class _RequestDiskQueue(Protocol):
    """What Scrapy's generated disk queue classes do (typed by Scrapy as a plain BaseQueue)."""

    def push(self, request: Request) -> None: ...
    def pop(self) -> Request | None: ...
    def peek(self) -> Request | None: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...


_DISK_QUEUE: Any = PickleLifoDiskQueue  # pickles Request.to_dict(), as Scrapy's default does


class BufferedLifoDiskQueue:
    """A ``SCHEDULER_DISK_QUEUE`` (one per priority and download slot, built by Scrapy's
    priority queues): LIFO, persistent on ``close``, its newest requests in memory."""

    def __init__(self, crawler: Crawler, key: str) -> None:
        self._crawler = crawler
        self._disk: _RequestDiskQueue = _DISK_QUEUE.from_crawler(crawler, key)
        self._top: list[Request] = []  # newest last
        self._stuck: list[Request] = []  # could not be pickled: memory only, oldest first
        budget = _BUDGETS.get(crawler)
        if budget is None:
            budget = _BUDGETS[crawler] = _Budget(
                crawler.settings.getint(
                    "CONSENT_FRONTIER_MEMORY", DEFAULTS["CONSENT_FRONTIER_MEMORY"]
                )
            )
        self._budget = budget

    @classmethod
    def from_crawler(cls, crawler: Crawler, key: str) -> Self:
        return cls(crawler, key)

    def push(self, request: Request) -> None:
        self._top.append(request)
        self._budget.held += 1
        if self._budget.held > self._budget.limit:
            self._spill(max(1, len(self._top) // 2))

    def pop(self) -> Request | None:
        if self._top:
            self._budget.held -= 1
            return self._top.pop()
        request = self._disk.pop()
        if request is None and self._stuck:
            self._budget.held -= 1
            return self._stuck.pop()
        return request

    def peek(self) -> Request | None:
        if self._top:
            return self._top[-1]
        request = self._disk.peek()
        if request is None and self._stuck:
            return self._stuck[-1]
        return request

    def close(self) -> None:
        self._spill(len(self._top))
        if self._stuck:
            logger.warning(
                "consent: %d scheduled request(s) could not be pickled and are not kept in "
                "JOBDIR for a resume (first: %s)",
                len(self._stuck),
                self._stuck[0],
            )
        self._budget.held -= len(self._stuck)
        self._stuck.clear()
        self._disk.close()

    def __len__(self) -> int:
        return len(self._top) + len(self._disk) + len(self._stuck)

    def _spill(self, count: int) -> None:
        """Write the ``count`` oldest requests held in memory to disk, oldest first."""
        oldest, self._top = self._top[:count], self._top[count:]
        for request in oldest:
            try:
                self._disk.push(request)
            except ValueError as exc:  # Scrapy's serializer raises this for what won't pickle
                self._unserializable(request, exc)
                continue
            self._budget.held -= 1

    def _unserializable(self, request: Request, exc: ValueError) -> None:
        self._stuck.append(request)
        stats = self._crawler.stats
        if stats is not None:
            stats.inc_value("consent/frontier/unserializable")
        if not self._budget.warned_unserializable:
            self._budget.warned_unserializable = True
            logger.warning(
                "consent: request %s cannot be pickled for JOBDIR (%s); it is crawled in this "
                "run only (no more such requests will be logged; see the stats)",
                request,
                exc,
            )
