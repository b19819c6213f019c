"""Downloader middleware: Scrapy's HttpCompressionMiddleware, with its failures decided.

A separate component from ``download_failures`` because it must sit in another slot (590,
where decompression happens), and a failure there is raised where no other middleware sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response

from crawler.context import ConsentContext
from crawler.middlewares.download_failures import record_download_failure, size_text
from crawler.middlewares.origin_policy import is_consent_target

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class DecompressionFailuresMiddleware(HttpCompressionMiddleware):
    """Scrapy's HttpCompressionMiddleware in its slot (590), with its failures decided.

    A body that inflates past ``DOWNLOAD_MAXSIZE`` (a gzip bomb) or cannot be decoded
    (``Content-Encoding: gzip`` over bytes that are not) fails here, after the response left
    the downloader and where no later middleware sees it.  The refusal is recorded, and an
    undecodable body leaves as ``IgnoreRequest`` instead of an unhandled exception.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler=crawler)
        self.context = ConsentContext.of(crawler)
        self.max_size = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("COMPRESSION_ENABLED"):
            raise NotConfigured
        return cls(crawler)

    # The base still accepts Scrapy's deprecated ``spider`` argument; Scrapy passes it only to
    # methods that require it, so this one never gets it.
    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest:  # the only refusal of the base class: the size cap
            if is_consent_target(request):
                cap = request.meta.get("download_maxsize", self.max_size)
                detail = (
                    f"response inflates past the {size_text(cap)} cap (DOWNLOAD_MAXSIZE) "
                    f"when decoded ({self._encoding(response)}, {len(response.body)} bytes "
                    "as sent)"
                )
                record_download_failure(self.context, request, "decompressed_too_large", detail)
            raise
        except Exception as exc:
            if not is_consent_target(request):
                raise  # a policy file: its fetcher records it as unreadable
            detail = (
                f"body could not be decoded ({self._encoding(response)}): "
                f"{type(exc).__name__}: {exc}"
            )
            record_download_failure(self.context, request, "undecodable", detail)
            raise IgnoreRequest(f"consent: not downloaded ({detail})") from exc

    @staticmethod
    def _encoding(response: Response) -> str:
        values = response.headers.getlist(b"Content-Encoding")
        return "Content-Encoding: " + ", ".join(v.decode("latin-1") for v in values)
