"""The ``consent`` spider: crawl each seed's site, keep text, metadata and attribution.

Consent is not this spider's business: the middlewares decide before and after each download,
so every response reaching ``parse`` may be kept, and provenance is stamped on the way out.

    scrapy crawl consent -a seeds=https://a.example/,https://b.example/ -a max_pages=100
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse

from crawler.extract import extract
from crawler.policy_fetch import origin_of


def read_seeds(seeds: str | list[str] | None, seeds_file: str | None) -> list[str]:
    found: list[str] = []
    if isinstance(seeds, str):
        found += [s for s in re.split(r"[\s,]+", seeds) if s]
    elif seeds:
        found += list(seeds)
    if seeds_file:
        for line in Path(seeds_file).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                found.append(line)
    bad = [s for s in found if not s.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f"seeds must be http(s) URLs: {', '.join(bad[:5])}")
    return list(dict.fromkeys(found))


class ConsentSpider(scrapy.Spider):
    name = "consent"

    def __init__(
        self,
        seeds: str | list[str] | None = None,
        seeds_file: str | None = None,
        max_depth: int | str | None = None,
        max_pages: int | str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.seed_urls = read_seeds(seeds, seeds_file)
        if not self.seed_urls:
            raise ValueError("no seeds: pass -a seeds=URL[,URL…] or -a seeds_file=FILE")
        # A seed's site is its origin: scheme, host and port (local sites differ by port).
        self.sites = {origin_of(url) for url in self.seed_urls}
        self.max_depth = int(max_depth) if max_depth not in (None, "") else None
        self.max_pages = int(max_pages) if max_pages not in (None, "") else None
        self.scheduled: set[str] = set()

    def _may_schedule(self, url: str) -> bool:
        """Schedule each page once, and no more than ``max_pages`` pages in all."""
        url = url.split("#", 1)[0]
        if url in self.scheduled:
            return False
        if self.max_pages is not None and len(self.scheduled) >= self.max_pages:
            return False
        self.scheduled.add(url)
        return True

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.seed_urls:
            if self._may_schedule(url):
                # No explicit callback: parse is the default, and a callback given by name
                # costs Scrapy a scan of the spider's members each time a request is written
                # to the JOBDIR disk queue (~0.1 ms a page).
                yield scrapy.Request(url)

    def parse(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            yield {"title": None, "text": None, "language": None, "html": None, "attribution": {}}
            return
        language = response.headers.get(b"Content-Language")
        page = extract(
            response.text,
            response.url,
            root=response.selector.root,
            content_language=language.decode("latin-1") if language else None,
        )
        yield {
            "title": page.title,
            "text": page.text,
            "language": page.language,
            "html": response.text,
            "attribution": page.attribution.to_dict(),
        }
        depth = response.meta.get("depth", 0)
        if self.max_depth is not None and depth >= self.max_depth:
            return
        for link in page.links:
            if origin_of(link) in self.sites and self._may_schedule(link):
                yield response.follow(link)  # parse, as above
