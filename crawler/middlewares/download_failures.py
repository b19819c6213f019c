"""Downloader middleware: a page that could not be downloaded is decided too.

A timeout, a response over the page-size cap, a name that does not resolve, a refused or
dropped connection, a malformed response, a redirect loop or a chain longer than
``REDIRECT_MAX_TIMES``, a non-2xx answer: each leaves a decision line (fetch ``refused``, use
``n/a``, one reason: signal ``network``, verdict ``error``, scope ``fetch``, a detail naming
the problem; stage ``download``) and is counted under ``consent/download_failures/<kind>``.
Failure is never permission: nothing from such a response is kept.

Where Scrapy tells us:

* exceptions from the download reach ``process_exception``; slot 540 is just below
  RetryMiddleware (550), so only what Scrapy gave up retrying arrives here;
* non-2xx responses reach ``process_response`` after retries, and pass on unchanged;
* RedirectMiddleware gives up on a chain by raising from its own ``process_response``, which
  no middleware sees: the last hop it would follow is sent with ``dont_redirect``, so its 3xx
  comes here instead and is refused the same way, with a reason;
* a redirect back to a URL already in the chain is dropped by the duplicate filter before it
  is sent (signal ``request_dropped``);
* a body that inflates past the cap, or cannot be decoded, fails inside
  HttpCompressionMiddleware: ``decompression_failures.DecompressionFailuresMiddleware`` takes
  its slot (590) and records it through ``record_download_failure`` here.

Policy files (``meta["consent_policy_file"]``) are not pages: the origin middleware decides
on an unreachable one.  A failure the spider handles itself (the request has an errback) goes
on to it unchanged; otherwise it leaves as ``IgnoreRequest``, recorded and logged in one line
instead of Scrapy's traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Response
from twisted.internet.error import ConnectionDone, ConnectionLost, DNSLookupError
from twisted.internet.error import TimeoutError as TxTimeoutError
from twisted.web._newclient import ParseError  # Twisted exports it nowhere public
from twisted.web.client import ResponseFailed

from crawler.context import ConsentComponent, ConsentContext
from crawler.core import Decision, Reason
from crawler.middlewares.origin_policy import is_consent_target, record_request
from crawler.policy_fetch import origin_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_DETAIL = 300


def record_download_failure(
    context: ConsentContext, request: Request, kind: str, detail: str, status: int | None = None
) -> None:
    """Record ``request`` as refused because it could not be downloaded (``kind``: stats key)."""
    reason = Reason("network", "error", "fetch", detail[:_MAX_DETAIL])
    decision = Decision(request.url, "refused", "n/a", context.policy.mode, (reason,))
    record_request(
        context,
        request,
        decision,
        stage="download",
        files=context.origins.peek(origin_of(request.url)),
        registry=request.meta.get("consent_registry"),
        status=status,
    )
    context.stats.inc_value(f"consent/download_failures/{kind}")
    logger.warning("consent: %s not downloaded: %s", request.url, reason.detail)


def size_text(size: int) -> str:
    """``10 MiB``, ``512 KiB`` or ``1000 bytes``: the cap as a person would write it."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


class DownloadFailuresMiddleware(ConsentComponent):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.max_size = settings.getint("DOWNLOAD_MAXSIZE")
        self.max_redirects = settings.getint("REDIRECT_MAX_TIMES")
        self.redirects_on = settings.getbool("REDIRECT_ENABLED")
        crawler.signals.connect(self._request_dropped, signal=signals.request_dropped)

    async def process_request(self, request: Request) -> None:
        if not self.redirects_on or not is_consent_target(request):
            return
        meta = request.meta
        if meta.get("redirect_times", 0) >= self.max_redirects and not meta.get("dont_redirect"):
            # RedirectMiddleware would refuse this hop's redirect by raising where no
            # middleware can see it: let the 3xx through to process_response instead.
            meta["dont_redirect"] = True
            meta["consent_redirect_limit"] = True

    async def process_response(self, request: Request, response: Response) -> Response:
        if not is_consent_target(request) or 200 <= response.status < 300:
            return response
        context = self.context
        if request.meta.get("consent_redirect_limit") and self._redirects(response):
            detail = (
                f"redirect chain too long: more than {self.max_redirects} redirects "
                f"(REDIRECT_MAX_TIMES), the last to {self._location(request, response)}"
            )
            record_download_failure(context, request, "redirect_limit", detail, response.status)
            raise IgnoreRequest(f"consent: not downloaded ({detail})")
        detail = f"HTTP {response.status}"
        retries = request.meta.get("retry_times", 0)
        if retries:
            detail += f" (still after {retries} retries)"
        record_download_failure(
            context, request, f"http_{response.status}", detail, response.status
        )
        return response  # the spider's own status handling (HttpErrorMiddleware) still applies

    async def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, IgnoreRequest) or not is_consent_target(request):
            return  # decided already (a consent refusal), or not a page
        kind, detail = self._classify(request, exception)
        record_download_failure(self.context, request, kind, detail)
        if request.errback is None:
            raise IgnoreRequest(f"consent: not downloaded ({detail})") from exception

    def _request_dropped(self, request: Request) -> None:
        """A redirect hop the duplicate filter dropped: a loop if it is already in its chain."""
        chain = request.meta.get("redirect_urls") or []
        if not is_consent_target(request) or request.url not in chain:
            return
        detail = (
            f"redirect loop: {chain[-1]} redirects back to {request.url}, "
            f"requested {len(chain) - chain.index(request.url)} hop(s) earlier"
        )
        record_download_failure(self.context, request, "redirect_loop", detail)

    def _redirects(self, response: Response) -> bool:
        return response.status in _REDIRECTS and b"Location" in response.headers

    def _location(self, request: Request, response: Response) -> str:
        location = (response.headers.get(b"Location") or b"").decode("latin-1")
        return urljoin(request.url, location)

    def _classify(self, request: Request, exc: Exception) -> tuple[str, str]:
        """(kind, detail) for a download exception, in words an operator can act on."""
        parts = urlsplit(request.url)
        if isinstance(exc, DownloadTimeoutError | TxTimeoutError):
            timeout = request.meta.get("download_timeout")
            after = f" after {timeout:g} s" if isinstance(timeout, int | float) else ""
            return "timeout", f"download failed: timed out{after}"
        if isinstance(exc, DownloadCancelledError):
            cap = request.meta.get("download_maxsize", self.max_size)
            return "too_large", (
                f"response larger than the {size_text(cap)} cap (DOWNLOAD_MAXSIZE); "
                "download stopped"
            )
        if isinstance(exc, CannotResolveHostError | DNSLookupError):
            return "dns", f"DNS lookup failed for {parts.hostname}"
        if isinstance(exc, DownloadConnectionRefusedError | ConnectionRefusedError):
            return "connection_refused", f"connection refused by {parts.netloc}"
        if isinstance(exc, ResponseDataLossError):
            return "data_loss", (
                "response cut short: the connection closed before the declared "
                "Content-Length was received"
            )
        cause = exc.__cause__ if isinstance(exc, DownloadFailedError) else exc
        if isinstance(cause, ResponseFailed):
            return self._response_failed(cause)
        if isinstance(exc, ConnectionLost | ConnectionDone):
            return "connection_lost", "download failed: the connection was lost mid-response"
        return "other", f"download failed: {type(exc).__name__}: {exc}"

    def _response_failed(self, exc: ResponseFailed) -> tuple[str, str]:
        """Twisted could not read a response: malformed, or cut before its headers ended
        (Twisted also hangs up by itself on a header line over 16 KiB)."""
        reasons: list[Any] = list(getattr(exc, "reasons", []))
        for failure in reasons:
            if failure.check(ParseError):
                args = ", ".join(repr(a) for a in failure.value.args)
                return "malformed", f"malformed response: {args}"
        if any(f.check(ConnectionDone, ConnectionLost) for f in reasons):
            return "connection_lost", (
                "no complete response: the connection closed before the headers ended "
                "(a header line over 16 KiB also ends it so)"
            )
        return "other", f"download failed: {exc}"
