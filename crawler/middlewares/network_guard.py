"""Downloader middleware: the network guard at connect time, and its refusals as decisions.

The URL check runs earlier, in the origin-policy middleware (before any policy file is
fetched).  This one puts the connect-time check in place (``crawler/guarded_resolver.py``) and
registers the crawl's network rules with it; when a connection was refused there, it records
the decision (signal ``policy``, stage ``request``, fetch refused) and drops the request.  A
refused policy-file fetch is only dropped: the fetcher records that file as unreachable.

Its priority (950) is above every built-in middleware's (the highest, HttpCache, is 900), so
its ``process_exception`` sees a refused connection first: before RetryMiddleware (550) would
retry it as a DNS failure, and before download-failure handling would record it as a network
error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request, signals
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

from crawler.context import ConsentComponent
from crawler.core import Decision
from crawler.guarded_resolver import GUARD, install
from crawler.middlewares.origin_policy import is_consent_target, refuse_request
from crawler.network_guard import guard_refusal

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_DEFAULT_PORTS = {"http": 80, "https": 443}


def connect_refusal(request: Request, exception: BaseException) -> str | None:
    """Why the guard refused the connection this download failed on, or None."""
    if not isinstance(exception, CannotResolveHostError | DNSLookupError):
        return None
    parts = urlparse_cached(request)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    if not parts.hostname or port is None:
        return None
    return GUARD.refusal(parts.hostname, port)


class NetworkGuardMiddleware(ConsentComponent):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.rules = self.context.network
        self._installed = False
        GUARD.add(self.rules)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    def _closed(self) -> None:
        GUARD.remove(self.rules)

    async def process_request(self, request: Request) -> None:
        # Here, not at start-up: Scrapy installs TWISTED_DNS_RESOLVER when the reactor starts,
        # which may be after the components are built; no connection is made before this.
        if not self._installed:
            from twisted.internet import reactor

            install(reactor)
            self._installed = True

    async def process_exception(self, request: Request, exception: Exception) -> None:
        why = connect_refusal(request, exception)
        if why is None:
            return
        context = self.context
        context.stats.inc_value("consent/network_guard/refused_connections")
        reason = guard_refusal(why)
        if not is_consent_target(request):  # a policy file: unreachable, the fetcher says so
            raise IgnoreRequest(reason.detail)
        decision = Decision(request.url, "refused", "n/a", context.policy.mode, (reason,))
        refuse_request(context, request, decision, None)
