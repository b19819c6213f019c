"""The provenance spider middleware on its own: stamping, dropping, and letting pages go."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.addon import ConsentAddon
from crawler.core import Decision, Reason
from crawler.middlewares.provenance import ProvenanceMiddleware

URL = "http://127.0.0.1:8000/page"
BODY = b"<html><head><title>Page</title></head><body><p>words</p></body></html>"


class _Spider(Spider):
    name = "provenance"


@pytest.fixture
def crawler(tmp_path: Path) -> Iterator[Crawler]:
    crawler = get_crawler(
        _Spider,
        settings_dict={
            "ADDONS": {ConsentAddon: 0},
            "CONSENT_STORE": str(tmp_path / "store"),
            "CONSENT_GC_TUNING": False,
        },
    )
    yield crawler
    context = getattr(crawler, "_consent_context", None)
    if context is not None:  # the store the components opened: close its spool files
        context.store.close({"job_id": context.job_id}, timeout=10)


def _response(consent: dict[str, Any] | None) -> HtmlResponse:
    request = Request(URL, meta={"consent": consent} if consent is not None else {})
    return HtmlResponse(
        URL, body=BODY, request=request, headers={"Content-Type": "text/html; charset=utf-8"}
    )


def _consent() -> dict[str, Any]:
    reason = Reason("robots", "allow", "fetch", "Allow: / (line 1)", "ab" * 32)
    decision = Decision(URL, "allowed", "allowed", "opt-out", (reason,))
    return {
        "decision": decision,
        "item_id": "i" * 32,
        "content_sha256": "c" * 64,
        "hops": [],
        "registry": None,
        "headers": {},
    }


async def _output(*objs: Any) -> AsyncIterator[Any]:
    for obj in objs:
        yield obj


def _run(middleware: ProvenanceMiddleware, response: HtmlResponse, *objs: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [o async for o in middleware.process_spider_output(response, _output(*objs))]

    return asyncio.run(collect())


def test_items_are_stamped_and_requests_pass(crawler: Crawler) -> None:
    middleware = ProvenanceMiddleware.from_crawler(crawler)
    follow = Request("http://127.0.0.1:8000/next")
    out = _run(middleware, _response(_consent()), {"title": "Page"}, follow)
    assert out[1] is follow
    item = out[0]
    assert item["url"] == item["final_url"] == URL
    assert item["content_sha256"] == "c" * 64 and item["status"] == 200
    assert item["content_type"] == "text/html; charset=utf-8"
    prov = item["provenance"]
    assert prov["item_id"] == "i" * 32 and prov["decision"]["use"] == "allowed"
    assert prov["decision"]["reasons"][0]["detail"] == "Allow: / (line 1)"


def test_an_item_without_a_decision_is_dropped_and_counted(crawler: Crawler) -> None:
    middleware = ProvenanceMiddleware.from_crawler(crawler)
    assert _run(middleware, _response(None), {"title": "Page"}) == []
    assert crawler.stats is not None
    assert crawler.stats.get_value("consent/items_dropped/no_decision") == 1


def test_a_page_is_freed_once_its_output_is_through_without_the_cycle_collector(
    crawler: Crawler,
) -> None:
    middleware = ProvenanceMiddleware.from_crawler(crawler)
    response = _response(_consent())
    title = response.css("title::text").get()  # the spider used the page's selector
    gone = weakref.ref(response)
    gc.disable()
    try:
        _run(middleware, response, {"title": title})
        del response
        assert gone() is None  # freed by reference counting, not left for gc
    finally:
        gc.enable()
