"""A Scrapy extension that writes the crawl's stats to ``BENCH_STATS_FILE`` when it ends.

The benchmark counts pages from Scrapy's own stats (``item_scraped_count``) in both modes, so
the plain and the consent crawl are measured by the same ruler.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scrapy import signals


class StatsDump:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.path = Path(crawler.settings["BENCH_STATS_FILE"])

    @classmethod
    def from_crawler(cls, crawler: Any) -> StatsDump:
        ext = cls(crawler)
        crawler.signals.connect(ext.closed, signal=signals.spider_closed)
        return ext

    def closed(self, spider: Any, reason: str) -> None:
        stats = dict(self.crawler.stats.get_stats())
        stats["finish_reason"] = reason
        self.path.write_text(json.dumps(stats, default=str))
