"""The origin-policy cache shared by the workers of a job, on Redis.

An origin's policy files (robots.txt, ai.txt, tdmrep.json, as ``OriginFiles``) are a hash per
origin that Redis deletes at the entry's own ``expires_at`` (PEXPIREAT): ≤ 24 h for robots.txt,
``robots.error_ttl_seconds`` after a failure, exactly as the local cache keeps it, so every
worker decides on the same files a single worker would.  A failed fetch is shared too: it
refuses (robots.txt unreachable is a complete disallow), it never allows.

Fetching is single-flight across workers: the worker that wins ``origin-lock:<origin>`` (SET NX
PX) fetches; the others poll for the entry, and take the lock over if its holder's heartbeat
has expired.  If Redis itself fails, the worker fetches the files on its own: the sharing is
lost, never a decision.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

from crawler.core import FetchedFile
from crawler.origin_cache import Fetch
from crawler.records import OriginFiles

from .keys import JobKeys, as_text

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
_FILE_FIELDS = ("status", "content_type", "redirects", "url", "fetched_at", "final_url", "error")


def encode(entry: OriginFiles) -> dict[str, bytes]:
    """Hash fields: the facts as JSON, each body as raw bytes."""
    files = {name: {k: getattr(f, k) for k in _FILE_FIELDS} for name, f in entry.files.items()}
    meta = {
        "origin": entry.origin,
        "fetched_at": entry.fetched_at,
        "expires_at": entry.expires_at,
        "files": files,
    }
    fields = {"meta": json.dumps(meta).encode("utf-8")}
    for name, file in entry.files.items():
        fields["body:" + name] = file.body
    return fields


def decode(fields: dict[Any, Any]) -> OriginFiles:
    """The entry from its hash fields (bytes, as redis-py returns them)."""
    meta = json.loads(fields[b"meta"])

    def file(name: str) -> FetchedFile | None:
        facts = meta["files"].get(name)
        if facts is None:
            return None
        return FetchedFile(body=fields[f"body:{name}".encode()], **facts)

    robots = file("robots")
    assert robots is not None, "an origin entry always holds robots.txt"
    return OriginFiles(
        origin=meta["origin"],
        robots=robots,
        ai_txt=file("ai-txt"),
        tdmrep=file("tdmrep"),
        fetched_at=float(meta["fetched_at"]),
        expires_at=float(meta["expires_at"]),
    )


async def _sleep(seconds: float) -> None:
    from twisted.internet import reactor  # here: importing it earlier would install a reactor

    await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))


class SharedOriginStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: JobKeys,
        worker: str,
        lock_seconds: float,
        clock: Any = time.time,
    ) -> None:
        self.client = client
        self.keys = keys
        self.worker = worker
        self.lock_ms = int(lock_seconds * 1000)
        self.clock = clock
        # For the crawl's stats (consent/scale/origins/...).
        self.counts = dict.fromkeys(("shared", "fetched", "waits", "redis_errors"), 0)

    async def get(self, origin: str, fetch: Fetch) -> OriginFiles:
        try:
            while True:
                found = self._load(origin)
                if found is not None:
                    self.counts["shared"] += 1
                    return found
                lock = self.keys.origin_lock(origin)
                if self.client.set(lock, self.worker, nx=True, px=self.lock_ms):
                    break
                holder = self.client.get(lock)
                if holder is not None and not self.client.exists(self.keys.alive(as_text(holder))):
                    self.client.delete(lock)  # its fetcher died: take over
                    continue
                self.counts["waits"] += 1
                await _sleep(POLL_SECONDS)
        except redis.RedisError as exc:
            self.counts["redis_errors"] += 1
            logger.warning("consent: shared origin cache down (%s); fetching %s", exc, origin)
            return await fetch(origin)
        try:
            entry = await fetch(origin)
            self.counts["fetched"] += 1
            self._save(entry)
            return entry
        finally:
            self._unlock(origin)

    def _load(self, origin: str) -> OriginFiles | None:
        fields = self.client.hgetall(self.keys.origin_files(origin))
        if not fields:
            return None
        entry = decode(fields)
        return entry if self.clock() < entry.expires_at else None

    def _save(self, entry: OriginFiles) -> None:
        if entry.expires_at <= self.clock():
            return
        key = self.keys.origin_files(entry.origin)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=encode(entry))  # type: ignore[arg-type]
            pipe.pexpireat(key, int(entry.expires_at * 1000))
            pipe.execute()
        except redis.RedisError as exc:
            self.counts["redis_errors"] += 1
            logger.warning("consent: could not share the policy files of %s: %s", entry.origin, exc)

    def _unlock(self, origin: str) -> None:
        lock = self.keys.origin_lock(origin)
        try:
            if self.client.get(lock) == self.worker.encode("utf-8"):
                self.client.delete(lock)
        except redis.RedisError:
            pass  # it expires on its own
