"""Opt-out registry answers shared by the workers of a job, on Redis.

One key per URL (``registry:<sha256 of the URL>``) holding the answer as JSON with the time
it stops being usable; Redis drops it then (PX = the policy's ``registry.cache_ttl_seconds``),
and a worker that takes it over keeps it only for what is left.  Errors are never shared (a
registry that could not answer refuses, or defers, again on every worker).  Called from the
lookup thread, never on the crawl's event loop; one round trip per batch each way.  If Redis
fails, the batch is simply sent to the registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from crawler.core import RegistryAnswer

from .keys import JobKeys

logger = logging.getLogger(__name__)

_FIELDS = ("opted_out", "opted_in", "source", "detail", "asked_at")


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]


class SharedRegistryAnswers:
    def __init__(self, client: redis.Redis, keys: JobKeys, clock: Any = time.time) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.counts = dict.fromkeys(("shared", "stored", "redis_errors"), 0)

    def get_many(self, urls: Sequence[str]) -> dict[str, tuple[RegistryAnswer, float]]:
        if not urls:
            return {}
        try:
            values = self.client.mget([self.keys.registry(url_digest(u)) for u in urls])
        except redis.RedisError as exc:
            self.counts["redis_errors"] += 1
            logger.warning("consent: shared registry answers unavailable: %s", exc)
            return {}
        found: dict[str, tuple[RegistryAnswer, float]] = {}
        now = self.clock()
        for url, value in zip(urls, values, strict=True):
            if value is None:
                continue
            data = json.loads(value)
            left = float(data["expires_at"]) - now
            if left > 0:
                found[url] = (RegistryAnswer(**{k: data[k] for k in _FIELDS}), left)
        self.counts["shared"] += len(found)
        return found

    def put_many(self, answers: Mapping[str, RegistryAnswer], ttl_seconds: float) -> None:
        if not answers or ttl_seconds <= 0:
            return
        expires_at = self.clock() + ttl_seconds
        try:
            pipe = self.client.pipeline(transaction=False)
            for url, answer in answers.items():
                if answer.error is not None:
                    continue  # failure is never shared as an answer
                data = {k: getattr(answer, k) for k in _FIELDS}
                data["expires_at"] = expires_at
                pipe.set(
                    self.keys.registry(url_digest(url)),
                    json.dumps(data),
                    px=max(int(ttl_seconds * 1000), 1),
                )
            pipe.execute()
            self.counts["stored"] += len(answers)
        except redis.RedisError as exc:
            self.counts["redis_errors"] += 1
            logger.warning("consent: could not share registry answers: %s", exc)
