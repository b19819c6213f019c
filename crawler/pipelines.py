"""Item pipeline: write kept items, with their provenance, to the job's store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from crawler.context import ConsentContext
from crawler.records import ITEM_FIELDS

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class ConsentStorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("CONSENT_ENABLED", True):
            raise NotConfigured
        self.context = ConsentContext.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        line = ItemAdapter(item).asdict()
        if not isinstance(line.get("provenance"), dict):
            self.context.stats.inc_value("consent/items_dropped/no_provenance")
            raise DropItem("consent: item has no provenance; not stored")
        for key in ITEM_FIELDS:
            line.setdefault(key, None)
        self.context.record_item(line)
        return item
