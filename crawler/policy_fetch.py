"""Fetching an origin's policy files through Scrapy's own downloader.

robots.txt, ai.txt and /.well-known/tdmrep.json are requested concurrently with
``engine.download_async``, so they carry our User-Agent and pass every downloader middleware
(timeouts, proxies, the network guard).  Redirects are followed here, not by Scrapy, so that at
most ``robots.max_redirects`` are taken and the rules found apply to the original origin
(RFC 9309 §2.3.1.2).  Bodies are cut at ``robots.max_bytes`` by stopping the download, not
failing it: RFC 9309 §2.5 wants the first 500 KiB parsed, not the file rejected.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.exceptions import StopDownload
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import DeferredList

from crawler.core import Evidence, FetchedFile, decide, file_ttl
from crawler.records import OriginFiles, now_rfc3339

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.context import ConsentContext

logger = logging.getLogger(__name__)

PATHS = {"robots": "/robots.txt", "ai-txt": "/ai.txt", "tdmrep": "/.well-known/tdmrep.json"}
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.I)


class PolicyFileFetcher:
    def __init__(self, crawler: Crawler, context: ConsentContext) -> None:
        self.crawler = crawler
        self.context = context
        self.timeout = crawler.settings.getfloat("CONSENT_POLICY_FILE_TIMEOUT", 30)
        crawler.signals.connect(self._bytes_received, signal=signals.bytes_received)
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)

    def _headers_received(self, headers: Any, request: Request) -> None:
        """Read the first bytes of a policy file however large it says it is (RFC 9309 §2.5).

        Scrapy refuses a response whose Content-Length exceeds DOWNLOAD_MAXSIZE before reading
        it, which would make a huge robots.txt "unreachable" instead of cut.  For an
        uncompressed file our byte cap bounds what is read, so that check is lifted (Scrapy
        reads ``download_maxsize`` after this signal); a compressed one keeps it, as it also
        bounds the decompression.
        """
        if request.meta.get("consent_max_bytes") is not None and not headers.get(
            b"Content-Encoding"
        ):
            request.meta["download_maxsize"] = 0

    def _bytes_received(self, data: bytes, request: Request) -> None:
        cap = request.meta.get("consent_max_bytes")
        if cap is None:
            return
        received = request.meta.get("_consent_bytes", 0) + len(data)
        request.meta["_consent_bytes"] = received
        if received >= cap:
            raise StopDownload(fail=False)  # keep what arrived; the parser reads the first cap

    async def fetch_origin(self, origin: str) -> OriginFiles:
        """robots.txt first, then ai.txt and tdmrep.json together, where robots.txt allows.

        An unreachable robots.txt disallows everything, the other policy files included
        (RFC 9309 §2.3.1.4), so they wait for its answer: one round trip more than a plain
        robots-obeying crawler, never more.
        """
        policy = self.context.policy
        fetched: dict[str, tuple[FetchedFile, int | None]] = {}
        fetched["robots"] = await self.fetch_file(origin + PATHS["robots"], "robots")
        kinds = [
            kind
            for kind, honour in (("ai-txt", policy.ai_txt.honour), ("tdmrep", policy.tdmrep.honour))
            if honour and self._robots_allows(origin + PATHS[kind], fetched["robots"][0])
        ]
        deferreds = [deferred_from_coro(self.fetch_file(origin + PATHS[k], k)) for k in kinds]
        results = await maybe_deferred_to_future(DeferredList(deferreds, consumeErrors=True))
        value: Any
        for kind, (ok, value) in zip(kinds, results, strict=True):
            if ok:
                fetched[kind] = value
            else:  # fetch_file catches download errors; anything else is a bug, not an allow
                logger.error("consent: fetching %s for %s failed: %s", kind, origin, value)
                fetched[kind] = (self._failed(origin + PATHS[kind], str(value.value)), None)
        now = self.context.origins.clock()
        ttl = min(file_ttl(f, policy, max_age) for f, max_age in fetched.values())
        return OriginFiles(
            origin=origin,
            robots=fetched["robots"][0],
            ai_txt=fetched.get("ai-txt", (None, None))[0],
            tdmrep=fetched.get("tdmrep", (None, None))[0],
            fetched_at=now,
            expires_at=now + ttl,
        )

    def _robots_allows(self, url: str, robots: FetchedFile) -> bool:
        policy = self.context.policy
        evidence = Evidence(url=url, token=policy.identity.token, robots_txt=robots)
        return decide(evidence, policy).fetch == "allowed"

    def _failed(self, url: str, error: str) -> FetchedFile:
        return FetchedFile(
            status=0, body=b"", url=url, fetched_at=now_rfc3339(), final_url=url, error=error
        )

    async def fetch_file(self, url: str, kind: str) -> tuple[FetchedFile, int | None]:
        """Fetch one policy file, following at most ``max_redirects`` redirects by hand."""
        rp = self.context.policy.robots
        stats = self.crawler.stats
        current, hops = url, 0
        while True:
            request = Request(
                current,
                callback=NO_CALLBACK,
                priority=1000,
                dont_filter=True,
                meta={
                    "consent_policy_file": kind,
                    "dont_redirect": True,
                    "dont_retry": True,
                    "handle_httpstatus_all": True,
                    "download_timeout": self.timeout,
                    "consent_max_bytes": rp.max_bytes,
                    "dont_merge_cookies": True,
                },
            )
            stats.inc_value(f"consent/policy_files/requests/{kind}")
            try:
                response = await self.crawler.engine.download_async(request)
            except Exception as exc:  # DNS, refused, timeout, guard: all "unreachable"
                stats.inc_value(f"consent/policy_files/errors/{kind}")
                return self._failed(url, f"{type(exc).__name__}: {exc}"), None
            stats.inc_value(f"consent/policy_files/status/{kind}/{response.status}")
            location = response.headers.get(b"Location")
            if 300 <= response.status < 400 and location:
                hops += 1
                if hops > rp.max_redirects:
                    return FetchedFile(
                        status=response.status,
                        body=b"",
                        url=url,
                        fetched_at=now_rfc3339(),
                        final_url=current,
                        redirects=hops,
                    ), None
                current = urljoin(current, location.decode("latin-1"))
                continue
            content_type = response.headers.get(b"Content-Type")
            cache_control = response.headers.get(b"Cache-Control") or b""
            max_age = _MAX_AGE.search(cache_control.decode("latin-1"))
            return FetchedFile(
                status=response.status,
                body=response.body[: rp.max_bytes + 1],
                content_type=content_type.decode("latin-1") if content_type else None,
                redirects=hops,
                url=url,
                fetched_at=now_rfc3339(),
                final_url=current,
            ), (int(max_age.group(1)) if max_age else None)


@functools.lru_cache(maxsize=4096)
def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL: the authority RFC 9309 rules apply to.

    Cached: every middleware on a request's way asks for the same URL's origin (~15 times a
    page), and parsing the URL each time was a measurable share of the crawl's CPU."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def decision_headers(headers: Any) -> list[tuple[str, str]]:
    """Scrapy response headers as (name, value) lines for the core's Headers."""
    lines: list[tuple[str, str]] = []
    for name, values in headers.items():
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        for value in values:
            lines.append((key, value.decode("latin-1") if isinstance(value, bytes) else value))
    return lines
