"""Registry answers for a crawl: batched, off the event loop, cached, asked once per URL.

Requests ask for their URL's answer (``answer``) just before they would be sent; the spider
side asks ahead (``prefetch``) for every request as soon as it is yielded, so while requests
wait in the scheduler their URLs are already on their way to the registry, in batches.

* batching: pending URLs go together when ``batch_size`` are waiting or ``batch_wait_ms``
  after the first one a request waits for (``prefetch_wait_ms`` when only prefetched URLs,
  which no request needs yet, are waiting); while ``MAX_IN_FLIGHT`` batches are out, new URLs
  fill the next one, so a slow registry gets bigger batches rather than more requests;
* off the event loop: the client (``requests``, blocking, with its own retries) runs in the
  reactor's thread pool;
* single-flight and cached: a URL already asked is not asked again; answers are kept
  ``cache_ttl_seconds`` (least recently used dropped beyond ``capacity``);
* failure is never permission: an error answer is never cached.  With ``on_error = "refuse"``
  it goes straight back (the request is refused, signal ``registry``); with ``"defer"`` the URL
  is asked again with backoff until ``defer_max_seconds`` after it was first asked, and only
  then refused.
* shared (multi-worker mode, ``crawler.scale.registry_store``): a batch first takes the answers
  another worker already got, and sends only the rest; answers (never errors) are shared for
  what is left of their TTL.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.base import DelayedCall
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from crawler.core import RegistryAnswer
from crawler.core.policy import RegistryPolicy
from crawler.records import now_rfc3339
from crawler.registry import ContentRegistry, Registry, RegistryError

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2
RETRY_CAP_SECONDS = 30.0

Lookup = Callable[[Sequence[str]], dict[str, RegistryAnswer]]


class SharedAnswers(Protocol):
    """Answers shared by the workers of a job; called from the lookup thread."""

    def get_many(self, urls: Sequence[str]) -> dict[str, tuple[RegistryAnswer, float]]:
        """Known answers, each with the seconds it may still be used."""
        ...

    def put_many(self, answers: Mapping[str, RegistryAnswer], ttl_seconds: float) -> None: ...


class RegistryLookups:
    def __init__(
        self,
        registry: Registry,
        settings: RegistryPolicy,
        *,
        capacity: int = 100_000,
        prefetch_wait_ms: float = 500,
        clock: Callable[[], float] = time.monotonic,
        reactor: Any = None,
        run_in_thread: Callable[..., Deferred[Any]] = deferToThread,
        awaitable: Callable[[Deferred[Any]], Any] = maybe_deferred_to_future,
        shared: SharedAnswers | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.capacity = capacity
        self.prefetch_wait_ms = prefetch_wait_ms
        self.clock = clock
        if reactor is None:  # imported here: importing it earlier would install a reactor
            from twisted.internet import reactor
        self.reactor: Any = reactor  # anything with callLater (unit tests: a task.Clock)
        self.run_in_thread = run_in_thread
        self.awaitable = awaitable  # how a Deferred is awaited under the running reactor
        self.shared = shared
        self._shared_left: dict[str, float] = {}  # URL -> TTL left of an answer shared with us
        self._cache: OrderedDict[str, tuple[float, RegistryAnswer]] = OrderedDict()
        self._waiting: dict[str, list[Deferred[RegistryAnswer]]] = {}  # asked, not yet answered
        self._first_asked: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._queue: dict[str, None] = {}  # to send, in order
        self._timer: DelayedCall | None = None
        self._retries: dict[str, DelayedCall] = {}
        self._in_flight = 0
        self.closed = False
        # Counters for the crawl's stats (consent/registry/...).
        self.counts: dict[str, int] = dict.fromkeys(
            ("requests", "urls_sent", "cache_hits", "errors", "deferred", "opted_out"), 0
        )

    # -- asking ------------------------------------------------------------------------------

    def cached(self, url: str) -> RegistryAnswer | None:
        entry = self._cache.get(url)
        if entry is None:
            return None
        expires_at, answer = entry
        if self.clock() >= expires_at:
            del self._cache[url]
            return None
        self._cache.move_to_end(url)
        return answer

    def prefetch(self, url: str) -> None:
        """Start asking about ``url`` without waiting for the answer: nobody needs it yet, so
        it may wait up to ``prefetch_wait_ms`` for others to share its batch."""
        if url in self._waiting or self.closed or self.cached(url) is not None:
            return
        self._waiting[url] = []
        self._enqueue(url, urgent=False)

    async def answer(self, url: str) -> RegistryAnswer:
        found = self.cached(url)
        if found is not None:
            self.counts["cache_hits"] += 1
            return found
        if self.closed:
            return self._error_answer("the crawl stopped before the registry was asked")
        waiter: Deferred[RegistryAnswer] = Deferred()
        waiters = self._waiting.get(url)
        if waiters is None:
            self._waiting[url] = [waiter]
            self._enqueue(url)
        else:
            waiters.append(waiter)
            if url in self._queue:  # prefetched, not sent yet: a request now waits for it
                self._flush_within(self.settings.batch_wait_ms)
        answer: RegistryAnswer = await self.awaitable(waiter)
        return answer

    async def content_answer(self, sha256: str) -> RegistryAnswer | None:
        """After a fetch: the registry's answer for the content's hash, where it lists hashes."""
        if not isinstance(self.registry, ContentRegistry):
            return None
        try:
            answer: RegistryAnswer = await self.awaitable(
                self.run_in_thread(self.registry.lookup_content, sha256)
            )
        except RegistryError as exc:
            self.counts["errors"] += 1
            return self._error_answer(str(exc))
        if answer.opted_out:
            self.counts["opted_out"] += 1
        return dataclasses.replace(answer, asked_at=now_rfc3339())

    # -- batching ----------------------------------------------------------------------------

    def _enqueue(self, url: str, *, urgent: bool = True) -> None:
        self._first_asked.setdefault(url, self.clock())
        self._queue[url] = None
        if len(self._queue) >= self.settings.batch_size:
            self._flush()
        else:
            self._flush_within(self.settings.batch_wait_ms if urgent else self.prefetch_wait_ms)

    def _flush_within(self, wait_ms: float) -> None:
        """Send the queue at the latest ``wait_ms`` from now (sooner if already due)."""
        due = self.reactor.seconds() + wait_ms / 1000
        if self._timer is None:
            self._timer = self.reactor.callLater(wait_ms / 1000, self._flush)
        elif self._timer.getTime() > due:
            self._timer.reset(wait_ms / 1000)

    def _flush(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        while self._queue and self._in_flight < MAX_IN_FLIGHT:
            batch = list(self._queue)[: self.settings.batch_size]
            for url in batch:
                del self._queue[url]
            self._in_flight += 1
            self.counts["requests"] += 1
            self.counts["urls_sent"] += len(batch)
            lookup = self.registry.lookup if self.shared is None else self._lookup_shared
            sent: Deferred[Any] = self.run_in_thread(lookup, batch)
            sent.addCallbacks(
                self._answered, self._failed, callbackArgs=(batch,), errbackArgs=(batch,)
            )
            sent.addBoth(self._batch_done)

    def _lookup_shared(self, batch: Sequence[str]) -> dict[str, RegistryAnswer]:
        """In the lookup thread: answers other workers got, then the registry for the rest."""
        assert self.shared is not None
        found = self.shared.get_many(batch)
        rest = [url for url in batch if url not in found]
        answers = self.registry.lookup(rest) if rest else {}
        stamp = now_rfc3339()
        fresh = {u: dataclasses.replace(a, asked_at=stamp) for u, a in answers.items()}
        self.shared.put_many(
            {u: a for u, a in fresh.items() if a.error is None}, self.settings.cache_ttl_seconds
        )
        for url, (_, left) in found.items():
            self._shared_left[url] = left
        return {**fresh, **{url: answer for url, (answer, _) in found.items()}}

    def _batch_done(self, result: Any) -> None:
        self._in_flight -= 1
        if self._queue and self._timer is None:
            self._flush()  # these URLs have waited for a free slot already

    def _answered(self, answers: dict[str, RegistryAnswer], batch: list[str]) -> None:
        stamp = now_rfc3339()
        for url in batch:
            answer = answers.get(url) or self._error_answer("the registry gave no answer")
            if self.shared is not None:  # stamped when the registry was really asked
                self._settle(url, answer)
            else:
                self._settle(url, dataclasses.replace(answer, asked_at=stamp))

    def _failed(self, failure: Failure, batch: list[str]) -> None:
        if failure.check(RegistryError) is not None:  # type: ignore[no-untyped-call]
            why = str(failure.value)
        else:  # a bug in a client must still refuse, and be visible
            logger.error("consent: registry lookup failed", exc_info=failure.value)
            why = f"lookup failed: {failure.value!r}"
        answer = self._error_answer(why)
        for url in batch:
            self._settle(url, answer)

    def _error_answer(self, why: str) -> RegistryAnswer:
        return RegistryAnswer(source=self.registry.name, error=why, asked_at=now_rfc3339())

    # -- answers -----------------------------------------------------------------------------

    def _settle(self, url: str, answer: RegistryAnswer) -> None:
        if answer.error is not None:
            self.counts["errors"] += 1
            if self._defer(url):
                return
        else:
            if answer.opted_out:
                self.counts["opted_out"] += 1
            ttl = self._shared_left.pop(url, self.settings.cache_ttl_seconds)
            self._cache[url] = (self.clock() + ttl, answer)
            self._cache.move_to_end(url)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        self._first_asked.pop(url, None)
        self._attempts.pop(url, None)
        for waiter in self._waiting.pop(url, []):
            waiter.callback(answer)

    def _defer(self, url: str) -> bool:
        """Ask again later (``on_error = "defer"``), if the URL may still wait."""
        if self.settings.on_error != "defer" or self.closed:
            return False
        waited = self.clock() - self._first_asked.get(url, self.clock())
        left = self.settings.defer_max_seconds - waited
        if left <= 0:
            return False
        attempt = self._attempts.get(url, 0)
        self._attempts[url] = attempt + 1
        delay = min(2.0**attempt, RETRY_CAP_SECONDS, left)
        self.counts["deferred"] += 1
        self._retries[url] = self.reactor.callLater(delay, self._retry, url)
        return True

    def _retry(self, url: str) -> None:
        self._retries.pop(url, None)
        if not self.closed:
            self._enqueue(url)

    def close(self) -> None:
        """Stop asking; requests still waiting are answered with an error (and refused)."""
        self.closed = True
        for call in [self._timer, *self._retries.values()]:
            if call is not None and call.active():
                call.cancel()
        self._timer = None
        self._retries.clear()
        self._queue.clear()
        answer = self._error_answer("the crawl stopped before the registry answered")
        for url in list(self._waiting):
            for waiter in self._waiting.pop(url):
                waiter.callback(answer)
