"""Downloader middleware: ask the external opt-out registry before a request is sent.

Runs after the origin check (slot 110, after 100), so URLs that robots.txt or the origin's
files already refuse are never sent to the registry.  The answer comes from
``RegistryLookups`` (batched, cached, off the event loop); an opted-out URL — or one the
registry could not answer for, since failure is never permission — is recorded as refused
with signal ``registry`` and never requested.  The answer travels with the request
(``meta["consent_registry"]``) into the response's decision and the item's provenance.
Every redirect hop is a new request and is asked about again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.exceptions import NotConfigured

from crawler.context import ConsentComponent
from crawler.core import decide, refused_before_fetch
from crawler.middlewares.origin_policy import is_consent_target, refuse_request
from crawler.middlewares.response_consent import request_evidence
from crawler.policy_fetch import origin_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class RegistryComponent(ConsentComponent):
    """A consent component that works with the crawl's registry lookups."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        if self.context.registry is None:
            raise NotConfigured  # the add-on installs it only with a registry
        self.lookups = self.context.registry


class RegistryMiddleware(RegistryComponent):
    async def process_request(self, request: Request) -> None:
        if not is_consent_target(request):
            return
        answer = await self.lookups.answer(request.url)
        request.meta["consent_registry"] = answer
        if answer.error is None and not answer.opted_out:
            return  # nothing here can refuse; the response is decided with this answer
        context = self.context
        decision = decide(request_evidence(context, request), context.policy)
        if refused_before_fetch(decision):
            files = context.origins.peek(origin_of(request.url))
            refuse_request(context, request, decision, files, registry=answer)
