"""Item pipeline: write kept items, with their provenance, to the job's store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.context import ConsentComponent
from crawler.records import ITEM_FIELDS

if TYPE_CHECKING:
    pass


class ConsentStorePipeline(ConsentComponent):
    def process_item(self, item: Any) -> Any:
        # A dict item is copied shallowly: the line is serialized at once, and asdict()'s deep
        # copy of the nested provenance cost ~1 ms per item.
        line = dict(item) if isinstance(item, dict) else ItemAdapter(item).asdict()
        if not isinstance(line.get("provenance"), dict):
            self.context.stats.inc_value("consent/items_dropped/no_provenance")
            raise DropItem("consent: item has no provenance; not stored")
        for key in ITEM_FIELDS:
            line.setdefault(key, None)
        self.context.record_item(line)
        return item
