"""``RedisScheduler``: a Scrapy scheduler that crawls from the job's shared frontier on Redis.

Selected by the add-on when ``CONSENT_REDIS`` is set.  Requests the engine schedules are
fingerprinted with Scrapy's own fingerprinter and pushed to their origin's queue (only if no
worker has seen them); the engine is fed from origins this worker holds a lease on, round-robin.
Talking to Redis is batched: one round trip (``Frontier.sync``) pushes what was scheduled, lets
go of what is safely stored, renews the leases, refills the origins held and leases new ones.

Finishing: a worker stays while any queue holds requests or any worker has requests in flight
(their responses may still bring new ones), and finishes when the whole job has been idle for
``CONSENT_REDIS_IDLE_SECONDS``.

Two private parts of Scrapy's engine are used, both checked when the spider opens: the set of
requests in progress (a request leaves it only after its callback's output was scheduled and
its items processed: the moment it is finished) and ``nextcall`` (to wake the engine when
requests arrive from Redis rather than from its own downloads).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.request import request_from_dict
from twisted.internet import task

from crawler.context import ConsentContext
from crawler.policy_fetch import origin_of

from .frontier import Outgoing, Sync, make_entry, split_entry
from .keys import ScaleError

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler

    from .job import ScaleJob

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.2  # heartbeat, lease renewal, refills and wake-ups while crawling
MIN_SYNC_SECONDS = 0.05  # the engine asking for requests syncs at most this often


def payload_of(request: Request, spider: Spider) -> bytes:
    """A request as stored in Redis: pickled ``Request.to_dict`` (as Scrapy's JOBDIR queues)."""
    return pickle.dumps(request.to_dict(spider=spider), protocol=5)


def request_dict(payload: bytes) -> dict[str, Any]:
    data: dict[str, Any] = pickle.loads(payload)  # our own workers wrote it (Redis is private)
    return data


class RedisScheduler:
    def __init__(self, crawler: Crawler, context: ConsentContext, job: ScaleJob) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.context = context
        self.job = job
        self.frontier = job.frontier
        self.stats = crawler.stats
        self.fingerprinter = crawler.request_fingerprinter
        self.origins_wanted = settings.getint("CONSENT_REDIS_ORIGINS", 4)
        self.per_origin = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 8)
        self.batch = 2 * self.per_origin
        self.idle_seconds = settings.getfloat("CONSENT_REDIS_IDLE_SECONDS", 1.0)
        self.spider: Spider | None = None
        self._outgoing: list[Outgoing] = []
        self._seen: set[str] = set()  # fingerprints this worker pushed (saves round trips)
        self._buffers: dict[str, deque[bytes]] = {}  # origin -> entries taken, not yet handed out
        self._order: deque[str] = deque()  # origins with buffered entries, round-robin
        self._held: set[str] = set()
        self._dry: set[str] = set()  # held origins whose queue was empty at the last refill
        self._busy: Counter[str] = Counter()  # origin -> requests handed to the engine
        self._taken: dict[Request, tuple[str, str]] = {}  # request -> (token, origin)
        self._last_sync = 0.0
        self._idle_since: float | None = None
        self._ticker = task.LoopingCall(self._tick)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        context = ConsentContext.of(crawler)
        if context.scale is None:
            raise ScaleError("RedisScheduler needs CONSENT_REDIS (the job's Redis URL)")
        return cls(crawler, context, context.scale)

    # -- Scrapy's scheduler interface ------------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self._engine_slot()  # fail now, not mid-crawl, if the engine changed shape
        self.frontier.cap = int(getattr(spider, "max_pages", None) or 0)
        self.frontier.join()
        self.crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)
        self._ticker.start(TICK_SECONDS, now=False)

    def close(self, reason: str) -> None:
        if self._ticker.running:
            self._ticker.stop()
        self._reap()
        unfinished = [token for token, _ in self._taken.values()]
        unfinished += [split_entry(e)[0] for buf in self._buffers.values() for e in buf]
        self._taken.clear()
        self._buffers.clear()
        self._order.clear()
        try:
            self._sync(new_origins=False, release_all=True)  # follow-ups of finished requests
            requeued = self.frontier.requeue(unfinished)
        except Exception as exc:  # they stay in flight: requeued once our heartbeat expires
            logger.error("consent: could not hand requests back to Redis: %s", exc)
            return
        self.stats.inc_value("consent/scale/requeued", requeued)
        logger.info("consent: worker %s leaves (%s)", self.frontier.worker, reason)

    def has_pending_requests(self) -> bool:
        return bool(self._order) or bool(self._outgoing)

    def enqueue_request(self, request: Request) -> bool:
        assert self.spider is not None
        fingerprint = "" if request.dont_filter else self.fingerprinter.fingerprint(request).hex()
        if fingerprint and fingerprint in self._seen:
            self.stats.inc_value("consent/scale/duplicates")
            return False
        try:
            payload = payload_of(request, self.spider)
        except Exception as exc:  # a callback that is not a spider method, an unpicklable meta
            logger.error("consent: cannot queue %s in Redis: %s", request.url, exc)
            self.stats.inc_value("consent/scale/unqueueable")
            return False
        if fingerprint:
            self._seen.add(fingerprint)
        origin = origin_of(request.url)
        meta = request.meta
        self._outgoing.append(
            Outgoing(
                fingerprint,
                origin,
                make_entry(os.urandom(8).hex(), origin, payload),
                front=request.priority > 0,
                counted=not (request.dont_filter or "redirect_urls" in meta),
            )
        )
        return True

    def next_request(self) -> Request | None:
        if not self._order:
            self._sync_if_due()
        while self._order:
            origin = self._order.popleft()
            buffer = self._buffers[origin]
            entry = buffer.popleft()
            if buffer:
                self._order.append(origin)
            token, _, payload = split_entry(entry)
            try:
                request = request_from_dict(request_dict(payload), spider=self.spider)
            except Exception as exc:  # damaged, or from an incompatible version: never crawled
                logger.error("consent: dropping an unreadable request from Redis: %s", exc)
                self.stats.inc_value("consent/scale/unreadable")
                self.job.finished(token)
                continue
            self._taken[request] = (token, origin)
            self._busy[origin] += 1
            self.stats.inc_value("consent/scale/taken")
            return request
        return None

    def __len__(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    # -- syncing with Redis ----------------------------------------------------------------

    def _engine_slot(self) -> Any:
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is None or not hasattr(slot, "inprogress") or not hasattr(slot, "nextcall"):
            raise ScaleError("this Scrapy's engine has no slot.inprogress/nextcall")
        return slot

    def _reap(self) -> None:
        """Requests the engine is done with: their follow-ups are already in ``_outgoing``."""
        in_progress = self._engine_slot().inprogress
        for request, (token, origin) in list(self._taken.items()):
            if request not in in_progress:
                del self._taken[request]
                self._busy[origin] -= 1
                self.job.finished(token)

    def _sync_if_due(self) -> None:
        if time.monotonic() - self._last_sync >= MIN_SYNC_SECONDS:
            self._sync()

    def _sync(self, *, new_origins: bool = True, release_all: bool = False) -> None:
        self._last_sync = time.monotonic()
        self._reap()
        sync = Sync(push=self._outgoing, done=self.job.safe_tokens(), batch=self.batch)
        self._outgoing = []
        for origin in self._held:
            buffered = len(self._buffers.get(origin, ()))
            idle_here = buffered == 0 and self._busy[origin] == 0
            if release_all or (idle_here and origin in self._dry):
                sync.release.append(origin)
            else:
                sync.refill[origin] = max(0, self.batch - buffered - self._busy[origin])
        if new_origins:
            sync.new_origins = max(0, self.origins_wanted - len(sync.refill))
        try:
            result = self.frontier.sync(sync)
        except Exception:
            self._outgoing = sync.push + self._outgoing  # sent again at the next sync
            self.job.not_yet(sync.done)
            raise
        self.stats.inc_value("consent/scale/pushed", result.added)
        self.stats.inc_value("consent/scale/duplicates", result.dropped - result.capped)
        self.stats.inc_value("consent/scale/over_max_pages", result.capped)
        self._held -= set(sync.release) | set(result.lost)
        self._held |= set(result.won)
        got: Counter[str] = Counter()
        for entry in result.entries:
            _, origin, _ = split_entry(entry)
            got[origin] += 1
            if not self._buffers.get(origin):
                self._buffers[origin] = deque()
                self._order.append(origin)
            self._buffers[origin].append(entry)
        for origin, wanted in sync.refill.items():
            if wanted and not got[origin]:
                self._dry.add(origin)
            elif got[origin]:
                self._dry.discard(origin)
        self._dry &= self._held
        for origin in result.lost:  # another worker holds it now: give back what we buffered
            lost = [split_entry(e)[0] for e in self._buffers.pop(origin, ())]
            self.frontier.requeue(lost)
        self._order = deque(o for o in self._order if self._buffers.get(o))
        if result.entries:
            self._idle_since = None

    def _tick(self) -> None:
        try:
            self.job.publish(self.context)
            self._sync()
            if self._order:
                self._engine_slot().nextcall.schedule()  # requests came from Redis: crawl them
            elif not self._taken:
                self._engine_slot().nextcall.schedule()  # idle: let spider_idle look again
        except Exception as exc:  # Redis down for a moment: leases outlive a few ticks
            logger.warning("consent: Redis sync failed (%s); retrying", exc)

    def _spider_idle(self) -> None:
        """Nothing in this worker; stay while the job has work anywhere."""
        self._reap()
        if self._outgoing or self._order or self._taken:
            raise DontCloseSpider
        if self.job.unsafe:
            self.context.store.rotate()  # store our lines now, so our requests become safe
            raise DontCloseSpider
        now = time.monotonic()
        state = self.frontier.state()
        if state.recovered:
            self.stats.inc_value("consent/scale/recovered", state.recovered)
            logger.warning("consent: %d requests of a dead worker requeued", state.recovered)
        if not state.idle:
            self._idle_since = None
            raise DontCloseSpider
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.idle_seconds:
            raise DontCloseSpider
