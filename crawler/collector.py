"""Extension: Python's cyclic garbage collector kept off what lives for the whole crawl.

A full collection walks every object alive: Scrapy's, Twisted's, lxml's and our modules, the
settings, the components, the parsed policies.  CPython runs one every few hundred pages; on
the benchmark's small pages collections took ~1.5 s of CPU in 3,000 pages, 6% of the crawl
(bench/RESULTS.md, Session 7).

When the engine starts, what exists then is collected once and moved into the permanent
generation (``gc.freeze``), which no collection walks again.  Nothing else changes: objects die
by reference counting as before, and the cycles among the crawl's own objects are collected at
CPython's usual thresholds.  When the engine stops, the frozen objects go back to the oldest
generation, so a process that runs several crawls (tests, notebooks) can collect them again.

Raising the first threshold as well (young objects collected every 10,000 allocations instead
of 700) saved no measurable CPU over 30,000 pages and made peak RSS grow with the crawl's length
(276 MiB against 228 at 30,000 pages), so the thresholds are left alone.

``CONSENT_GC_TUNING = False`` leaves the collector alone.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class CollectorTuning:
    # Crawls running in this process with the tuning on: the first to start freezes, the last
    # to stop unfreezes (several crawlers may share one process and one collector).
    _running = 0

    def __init__(self) -> None:
        self._started = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("CONSENT_GC_TUNING"):
            raise NotConfigured("CONSENT_GC_TUNING is off")
        tuning = cls()
        crawler.signals.connect(tuning.engine_started, signal=signals.engine_started)
        crawler.signals.connect(tuning.engine_stopped, signal=signals.engine_stopped)
        return tuning

    def engine_started(self) -> None:
        if self._started:
            return
        self._started = True
        if CollectorTuning._running == 0:
            gc.collect()  # the start-up's garbage must not be frozen with what lives on
            gc.freeze()
        CollectorTuning._running += 1

    def engine_stopped(self) -> None:
        if not self._started:
            return
        self._started = False
        CollectorTuning._running -= 1
        if CollectorTuning._running == 0:
            gc.unfreeze()
