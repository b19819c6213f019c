"""Spider middleware: start the registry lookups of requests as soon as they are yielded.

Requests wait in the scheduler before they reach the downloader; asking the registry about
their URLs meanwhile lets many go in one batch, so by the time a request is about to be sent
its answer is usually in the cache.  Start requests (seeds) are read ahead in chunks of
``CONSENT_REGISTRY_LOOKAHEAD``, so a seed list goes to the registry thousands at a time.
Only URLs are sent ahead; the decision itself is made by ``RegistryMiddleware`` when the
request is about to leave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import Response

from crawler.middlewares.origin_policy import is_consent_target
from crawler.middlewares.registry import RegistryComponent

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class RegistryPrefetchMiddleware(RegistryComponent):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.lookahead = crawler.settings.getint("CONSENT_REGISTRY_LOOKAHEAD", 5000)

    def _ahead(self, obj: Any) -> Any:
        if isinstance(obj, Request) and is_consent_target(obj):
            self.lookups.prefetch(obj.url)
        return obj

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        # Scrapy pulls start requests one at a time, as the downloader frees a slot; reading
        # them in chunks, the next chunk while this one is handed out, lets each chunk's URLs
        # go to the registry together, before their requests are needed.
        current = await self._chunk(start)
        while current:
            following = await self._chunk(start)
            for obj in current:
                yield obj
            current = following

    async def _chunk(self, start: AsyncIterator[Any]) -> list[Any]:
        chunk: list[Any] = []
        async for obj in start:
            chunk.append(self._ahead(obj))
            if len(chunk) >= self.lookahead:
                break
        return chunk

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for obj in result:
            yield self._ahead(obj)
