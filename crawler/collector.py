"""Extension: Python's cyclic garbage collector kept off what lives for the whole crawl, and
run less often while the crawl runs.

A full collection walks every object alive: Scrapy's, Twisted's, lxml's and our modules, the
settings, the components, the parsed policies.  CPython runs one every few hundred pages; on
the benchmark's small pages collections took ~1.5 s of CPU in 3,000 pages, 6% of the crawl
(bench/RESULTS.md, Session 7).

When the engine starts, what exists then is collected (its two younger generations, where the
start-up's garbage is) and moved into the permanent generation (``gc.freeze``), which no
collection walks again, and the youngest generation is collected after 5,000 new container
objects instead of 700. The crawl makes little cyclic garbage (the provenance middleware
unlinks each page from its selector, so pages die by reference counting), so collecting the
young objects 700 at a time mostly walked objects that were about to die anyway: 0.36-0.48 s of
collections in 3,000 pages became 0.16 s, and peak RSS stayed at 125 MiB (bench/RESULTS.md,
Session 8). (Before pages were unlinked, each page was cyclic garbage and a raised threshold
made peak RSS grow with the crawl, so Session 7 left the thresholds alone.) When the engine
stops, the frozen objects go back to the oldest generation and the thresholds are restored, so
a process that runs several crawls (tests, notebooks) is left as it was.

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


# Container allocations between collections of the youngest generation (CPython's default: 700).
YOUNG_THRESHOLD = 5_000


class CollectorTuning:
    # Crawls running in this process with the tuning on: the first to start freezes and raises
    # the threshold, the last to stop undoes both (several crawlers may share one process and
    # one collector).
    _running = 0
    _thresholds: tuple[int, int, int] | None = None

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
            # The start-up's garbage must not be frozen with what lives on.  It is young: a full
            # collection here found ~60 objects among ~116,000 and cost ~60 ms, as much as
            # fifteen pages; the two younger generations hold it.
            gc.collect(1)
            gc.freeze()
            young, middle, old = CollectorTuning._thresholds = gc.get_threshold()
            gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
        CollectorTuning._running += 1

    def engine_stopped(self) -> None:
        if not self._started:
            return
        self._started = False
        CollectorTuning._running -= 1
        if CollectorTuning._running == 0:
            gc.unfreeze()
            if CollectorTuning._thresholds is not None:
                gc.set_threshold(*CollectorTuning._thresholds)
                CollectorTuning._thresholds = None
