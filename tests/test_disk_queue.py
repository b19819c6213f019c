"""The JOBDIR frontier queue: LIFO over memory and disk, bounded memory, persistent on close."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from crawler.addon import ConsentAddon
from crawler.disk_queue import BufferedLifoDiskQueue


class _Spider(Spider):
    name = "frontier"


def _crawler(memory: int) -> Crawler:
    crawler = get_crawler(_Spider, settings_dict={"CONSENT_FRONTIER_MEMORY": memory})
    crawler.spider = crawler._create_spider()
    return crawler


def _urls(n: int, start: int = 0) -> list[str]:
    return [f"https://example.org/p{i}" for i in range(start, start + n)]


def _drain(queue: BufferedLifoDiskQueue) -> list[str]:
    out = []
    while len(queue):
        request = queue.pop()
        assert request is not None
        out.append(request.url)
    assert queue.pop() is None
    return out


@pytest.mark.parametrize("memory", [0, 1, 3, 1000])
def test_pops_newest_first_whatever_sits_in_memory_or_on_disk(tmp_path: Path, memory: int) -> None:
    queue = BufferedLifoDiskQueue.from_crawler(_crawler(memory), str(tmp_path / "q"))
    for url in _urls(10):
        queue.push(Request(url))
    assert len(queue) == 10
    peeked = queue.peek()
    assert peeked is not None and peeked.url == _urls(10)[-1]
    popped = [queue.pop() for _ in range(4)]  # then more pushes on top of what is left
    for url in _urls(3, start=10):
        queue.push(Request(url))
    rest = _drain(queue)
    assert [r.url for r in popped if r is not None] + rest == (
        _urls(10)[::-1][:4] + _urls(3, start=10)[::-1] + _urls(10)[::-1][4:]
    )
    queue.close()
    assert not (tmp_path / "q").exists()  # an empty queue leaves no file


def test_older_requests_go_to_disk_when_memory_is_full(tmp_path: Path) -> None:
    queue = BufferedLifoDiskQueue.from_crawler(_crawler(4), str(tmp_path / "q"))
    for url in _urls(9):
        queue.push(Request(url))
    assert len(queue._top) <= 4  # the budget holds
    assert len(queue._disk) == 9 - len(queue._top) > 0
    assert _drain(queue) == _urls(9)[::-1]
    queue.close()


def test_memory_is_bounded_over_all_queues_of_a_crawl(tmp_path: Path) -> None:
    crawler = _crawler(5)
    queues = [BufferedLifoDiskQueue.from_crawler(crawler, str(tmp_path / f"q{i}")) for i in "ab"]
    for i, url in enumerate(_urls(40)):
        queues[i % 2].push(Request(url))
        assert sum(len(q._top) for q in queues) <= 5
    assert sum(len(q) for q in queues) == 40
    assert sorted(_drain(queues[0]) + _drain(queues[1])) == sorted(_urls(40))
    for queue in queues:
        queue.close()


def test_close_keeps_the_frontier_in_order_for_a_resume(tmp_path: Path) -> None:
    key = str(tmp_path / "q")
    queue = BufferedLifoDiskQueue.from_crawler(_crawler(3), key)
    for url in _urls(8):
        queue.push(Request(url, meta={"depth": 2}, headers={"X-Test": "1"}))
    queue.close()  # a graceful stop: what was in memory goes on top of what was on disk
    resumed = BufferedLifoDiskQueue.from_crawler(_crawler(3), key)
    assert len(resumed) == 8
    first = resumed.pop()
    assert first is not None and first.meta["depth"] == 2 and first.headers["X-Test"] == b"1"
    assert [first.url, *_drain(resumed)] == _urls(8)[::-1]
    resumed.close()


def test_a_request_that_cannot_be_pickled_is_crawled_but_not_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crawler = _crawler(1)
    key = str(tmp_path / "q")
    queue = BufferedLifoDiskQueue.from_crawler(crawler, key)
    queue.push(Request("https://example.org/odd", meta={"hook": lambda: None}))
    for url in _urls(3):
        queue.push(Request(url))
    assert crawler.stats is not None
    assert crawler.stats.get_value("consent/frontier/unserializable") == 1
    assert "cannot be pickled" in caplog.text
    assert len(queue) == 4
    top = queue.pop()
    assert top is not None and top.url == _urls(3)[-1]
    with caplog.at_level(logging.WARNING):
        queue.close()
    assert "1 scheduled request(s) could not be pickled" in caplog.text
    resumed = BufferedLifoDiskQueue.from_crawler(_crawler(1), key)
    assert _drain(resumed) == _urls(2)[::-1]  # the unpicklable one is not in JOBDIR
    resumed.close()


def test_an_unpicklable_request_is_popped_after_the_rest_of_its_queue(tmp_path: Path) -> None:
    queue = BufferedLifoDiskQueue.from_crawler(_crawler(1), str(tmp_path / "q"))
    queue.push(Request("https://example.org/odd", meta={"hook": lambda: None}))
    for url in _urls(2):
        queue.push(Request(url))
    peeked = queue.peek()
    assert peeked is not None and peeked.url == _urls(2)[-1]
    assert _drain(queue) == [*_urls(2)[::-1], "https://example.org/odd"]
    queue.close()


def test_the_addon_makes_it_the_jobdir_queue_unless_the_project_chose_one() -> None:
    crawler = get_crawler(_Spider, settings_dict={"ADDONS": {ConsentAddon: 0}})
    assert crawler.settings["SCHEDULER_DISK_QUEUE"] is BufferedLifoDiskQueue
    own = "scrapy.squeues.PickleFifoDiskQueue"
    crawler = get_crawler(
        _Spider, settings_dict={"ADDONS": {ConsentAddon: 0}, "SCHEDULER_DISK_QUEUE": own}
    )
    assert crawler.settings["SCHEDULER_DISK_QUEUE"] == own
