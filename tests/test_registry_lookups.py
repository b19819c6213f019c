"""``RegistryLookups`` on its own: batching, single-flight, TTL cache, LRU bound, errors never
cached, and ``defer`` with backoff up to its limit.  Time is a ``task.Clock``; the "thread" runs
the lookup at once, so each step is exact."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from twisted.internet import defer, task

from crawler.core import RegistryAnswer
from crawler.core.policy import RegistryPolicy
from crawler.registry import RegistryError
from crawler.registry_lookups import RegistryLookups


class FakeRegistry:
    name = "fake"

    def __init__(self, opted_out: Sequence[str] = ()) -> None:
        self.opted_out = set(opted_out)
        self.calls: list[list[str]] = []
        self.failing = False

    def check(self) -> None:
        pass

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        self.calls.append(list(urls))
        if self.failing:
            raise RegistryError("HTTP 503")
        return {u: RegistryAnswer(opted_out=u in self.opted_out, source=self.name) for u in urls}


def at_once(function: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    return defer.maybeDeferred(function, *args)


def make(registry: FakeRegistry, clock: task.Clock, **settings: Any) -> RegistryLookups:
    policy = RegistryPolicy(**{"batch_wait_ms": 5, **settings})
    return RegistryLookups(
        registry,
        policy,
        capacity=3,
        clock=clock.seconds,
        reactor=clock,
        run_in_thread=at_once,
        awaitable=lambda d: d,
    )


def ask(lookups: RegistryLookups, url: str) -> list[RegistryAnswer]:
    """Start asking; the list receives the answer when it comes."""
    out: list[RegistryAnswer] = []
    defer.Deferred.fromCoroutine(lookups.answer(url)).addCallback(out.append)
    return out


def run(clock: task.Clock, seconds: float) -> None:
    """Let ``seconds`` pass in small steps (a call scheduled during a step runs in a later one)."""
    for _ in range(round(seconds / 0.005)):
        clock.advance(0.005)


@pytest.fixture
def clock() -> task.Clock:
    return task.Clock()


def test_urls_asked_together_go_in_one_batch_after_the_wait(clock: task.Clock) -> None:
    registry = FakeRegistry(opted_out=["u2"])
    lookups = make(registry, clock)
    answers = [ask(lookups, u) for u in ("u1", "u2", "u1")]
    assert registry.calls == [] and answers == [[], [], []]
    clock.advance(0.005)
    assert registry.calls == [["u1", "u2"]]  # u1 asked once though wanted twice
    assert [a[0].opted_out for a in answers] == [False, True, False]
    assert answers[0][0].asked_at is not None


def test_a_full_batch_goes_at_once(clock: task.Clock) -> None:
    registry = FakeRegistry()
    lookups = make(registry, clock, batch_size=2)
    for url in ("a", "b", "c"):
        lookups.prefetch(url)
    assert registry.calls == [["a", "b"]]
    clock.advance(0.5)  # nobody waits for "c": it waits for company up to prefetch_wait_ms
    assert registry.calls == [["a", "b"], ["c"]]


def test_prefetched_urls_wait_for_company_until_a_request_needs_one(clock: task.Clock) -> None:
    registry = FakeRegistry()
    lookups = make(registry, clock)
    lookups.prefetch("a")
    clock.advance(0.1)
    lookups.prefetch("b")
    assert registry.calls == []
    answer = ask(lookups, "b")  # now a request waits: the queue goes within batch_wait_ms
    clock.advance(0.005)
    assert registry.calls == [["a", "b"]] and answer[0].error is None


def test_answers_are_cached_until_their_ttl_and_the_cache_is_bounded(clock: task.Clock) -> None:
    registry = FakeRegistry()
    lookups = make(registry, clock, cache_ttl_seconds=60)
    for url in ("a", "b", "c", "d"):
        lookups.prefetch(url)
    clock.advance(0.5)
    assert lookups.cached("a") is None  # beyond capacity 3: the least recently used went
    assert lookups.cached("d") is not None
    hit = ask(lookups, "d")
    assert hit and lookups.counts["cache_hits"] == 1
    clock.advance(61)
    assert lookups.cached("d") is None
    again = ask(lookups, "d")
    clock.advance(0.005)
    assert again and registry.calls[-1] == ["d"]


def test_errors_refuse_at_once_and_are_never_cached(clock: task.Clock) -> None:
    registry = FakeRegistry()
    registry.failing = True
    lookups = make(registry, clock)
    first = ask(lookups, "a")
    clock.advance(0.005)
    assert first[0].error == "HTTP 503" and lookups.cached("a") is None
    registry.failing = False
    second = ask(lookups, "a")
    clock.advance(0.005)
    assert second[0].error is None and len(registry.calls) == 2


def test_defer_asks_again_with_backoff_until_it_answers(clock: task.Clock) -> None:
    registry = FakeRegistry()
    registry.failing = True
    lookups = make(registry, clock, on_error="defer", defer_max_seconds=60)
    answer = ask(lookups, "a")
    clock.advance(0.005)
    assert answer == [] and lookups.counts["deferred"] == 1
    run(clock, 1.1)  # first retry after 1 s
    assert len(registry.calls) == 2 and answer == []
    registry.failing = False
    run(clock, 2.1)  # second retry after 2 s
    assert answer and answer[0].error is None and not answer[0].opted_out


def test_defer_refuses_once_its_limit_has_passed(clock: task.Clock) -> None:
    registry = FakeRegistry()
    registry.failing = True
    lookups = make(registry, clock, on_error="defer", defer_max_seconds=5)
    answer = ask(lookups, "a")
    run(clock, 10)
    assert answer and answer[0].error == "HTTP 503"
    assert len(registry.calls) >= 3


def test_closing_answers_every_waiting_request_with_an_error(clock: task.Clock) -> None:
    registry = FakeRegistry()
    lookups = make(registry, clock)
    waiting = ask(lookups, "a")
    lookups.close()
    assert waiting[0].error is not None and "stopped" in waiting[0].error
    assert ask(lookups, "b")[0].error is not None
    clock.advance(1)
    assert registry.calls == []


def test_content_hashes_are_asked_only_where_the_registry_lists_them(clock: task.Clock) -> None:
    lookups = make(FakeRegistry(), clock)
    out: list[Any] = []
    defer.Deferred.fromCoroutine(lookups.content_answer("0" * 64)).addCallback(out.append)
    assert out == [None]
