"""Extension: Python's cyclic garbage collector tuned for the length of a crawl.

A crawl allocates a few thousand objects a page (requests, responses, Deferreds, items), and
CPython's default thresholds (700, 10, 10) then run a young collection every page or so and
a full one every few hundred pages.  A full collection walks every object alive: Scrapy's,
Twisted's, lxml's and our modules, the parsed policies, the queues.  On the benchmark's small
pages that was ~1.5 s of CPU in 3,000 pages, 6% of the crawl (bench/RESULTS.md, Session 7).

When the engine starts, what exists then (the code, the settings, the components) is collected
once and moved into the permanent generation (``gc.freeze``), which no collection walks again;
the first threshold rises so that young objects are collected every 10,000 allocations
rather than every 700.  Nothing is kept alive longer than a collection interval: objects still
die by reference counting the moment they are dropped, and the cycles among them are collected
as before, only in larger batches.  When the engine stops, the frozen objects go back to the
oldest generation and the thresholds back to what they were, so a process that runs several
crawls (tests, notebooks) never keeps garbage from an earlier one.

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

# Collect young objects every 10,000 allocations (not 700).  Measured on bench/run.py's small
# pages (3,000 of them): collections took 1.5 s untuned, 1.2 s with the freeze alone, 0.7 s
# with this; a higher first threshold (50,000) took no less and raised peak RSS from 189 to
# 251 MiB (garbage waits longer for its collection).
CRAWL_THRESHOLDS = (10_000, 10, 10)


class CollectorTuning:
    # Crawls running in this process with the tuning on: the first to start tunes, the last to
    # stop restores (several crawlers may share one process and one collector).
    _running = 0
    _saved = (700, 10, 10)

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
            CollectorTuning._saved = gc.get_threshold()
            gc.collect()  # the start-up's garbage must not be frozen with what lives on
            gc.freeze()
            gc.set_threshold(*CRAWL_THRESHOLDS)
        CollectorTuning._running += 1

    def engine_stopped(self) -> None:
        if not self._started:
            return
        self._started = False
        CollectorTuning._running -= 1
        if CollectorTuning._running == 0:
            gc.set_threshold(*CollectorTuning._saved)
            gc.unfreeze()
