"""Spider middleware: every item leaves with the evidence of why it may be kept.

Items produced from a response the consent layer allowed get the contract's response facts
(url, final_url, fetched_at, status, content_type, content_sha256) and their provenance.  An
item from a response that carries no consent decision is dropped and counted: we keep nothing
we cannot account for.  Works for any spider, so the add-on can join an existing project.
Once the spider's output for a page is through, the page is unlinked from its selector, so it
is freed at once rather than by Python's cycle collector.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from itemadapter import ItemAdapter, is_item
from scrapy import Request
from scrapy.http import Response, TextResponse

from crawler.context import ConsentComponent
from crawler.policy_fetch import origin_of
from crawler.records import now_rfc3339, provenance

logger = logging.getLogger(__name__)


class ProvenanceMiddleware(ConsentComponent):
    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        consent = response.meta.get("consent")
        async for obj in result:
            if isinstance(obj, Request) or not is_item(obj):  # most output is requests
                yield obj
            elif consent is None:
                self.context.stats.inc_value("consent/items_dropped/no_decision")
                logger.warning(
                    "consent: dropped an item from %s: no consent decision", response.url
                )
            else:
                yield self._stamp(obj, response, consent)
        if isinstance(response, TextResponse):
            # The spider is done with the page.  Its selector and the response refer to each
            # other, so the page (body, text, lxml tree) would wait for Python's cycle
            # collector, a few pages later; unlinked, it is freed as soon as Scrapy lets go.
            # (Scrapy rebuilds the selector if anything asks for it again.)
            response._cached_selector = None

    def _stamp(self, item: Any, response: Response, consent: dict[str, Any]) -> Any:
        context = self.context
        hops = consent["hops"]
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        fields = {
            "url": hops[0].url if hops else response.url,
            "final_url": response.url,
            "fetched_at": consent.get("fetched_at") or now_rfc3339(),
            "status": response.status,
            "content_type": content_type or None,
            "content_sha256": consent["content_sha256"],
            "provenance": provenance(
                job_id=context.job_id,
                item_id=consent["item_id"],
                policy=context.policy,
                decision=consent["decision"],
                origin=context.origins.peek(origin_of(response.url)),
                hops=hops,
                registry=consent.get("registry"),
                headers=consent.get("headers"),
                reasons=consent.get("reasons"),
            ),
        }
        if type(item) is dict:  # the common case, without the adapter's per-key dispatch
            html, body_sha = item.get("html"), fields["content_sha256"]
            if isinstance(html, str) and isinstance(response, TextResponse) and body_sha:
                # The writer need not hash the page's text again (crawler/store/text_hashes.py)
                context.store.text_hashes.note_if_body(html, response.body, body_sha)
            item.update(fields)
            return item
        adapter = ItemAdapter(item)
        try:
            for key, value in fields.items():
                adapter[key] = value
        except KeyError:  # an Item class without these fields: carry it as a plain dict
            item = {**adapter.asdict(), **fields}
        return item
