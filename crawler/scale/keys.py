"""The Redis key layout of one multi-worker job, and connecting to Redis.

Every key of job ``J`` starts with ``cc:{J}:``; the braces are a Redis Cluster hash tag, so all
of a job's keys live in one slot and the frontier's scripts can touch several at once.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any

import redis

WORKER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ScaleError(RuntimeError):
    """Multi-worker mode cannot start or go on (Redis unreachable, job mismatch, bad name)."""


@dataclass(frozen=True)
class JobKeys:
    job_id: str

    @property
    def prefix(self) -> str:
        return f"cc:{{{self.job_id}}}:"

    def key(self, name: str) -> str:
        return self.prefix + name

    # -- the frontier ----------------------------------------------------------------------
    @property
    def seen(self) -> str:  # SET of request fingerprints (the dupefilter)
        return self.key("seen")

    @property
    def ready(self) -> str:  # SET of origins whose queue holds requests
        return self.key("ready")

    def queue(self, origin: str) -> str:  # LIST of requests for one origin
        return self.key("q:" + origin)

    def lease(self, origin: str) -> str:  # STRING: the worker crawling the origin (PX)
        return self.key("lease:" + origin)

    def inflight(self, worker: str) -> str:  # HASH token -> request taken, not yet stored
        return self.key("inflight:" + worker)

    @property
    def pages(self) -> str:  # counter of pages admitted (the job-wide --max-pages)
        return self.key("pages")

    # -- workers ---------------------------------------------------------------------------
    @property
    def workers(self) -> str:  # SET of workers that joined and have not left
        return self.key("workers")

    def alive(self, worker: str) -> str:  # heartbeat (PX)
        return self.key("alive:" + worker)

    @property
    def taken_over(self) -> str:  # SET of workers that died and whose requests were requeued
        return self.key("taken-over")

    # -- the job ---------------------------------------------------------------------------
    @property
    def meta(self) -> str:  # HASH: policy sha256, store, started_at
        return self.key("meta")

    @property
    def seeds(self) -> str:  # SET of every seed any worker was given
        return self.key("seeds")

    # -- shared caches ---------------------------------------------------------------------
    def origin_files(self, origin: str) -> str:  # HASH: the origin's policy files (PEXPIREAT)
        return self.key("origin:" + origin)

    def origin_lock(self, origin: str) -> str:  # STRING: the worker fetching them (NX PX)
        return self.key("origin-lock:" + origin)

    def registry(self, url_digest: str) -> str:  # STRING: a registry answer (PX)
        return self.key("registry:" + url_digest)


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (redis://, rediss://, unix://), checked with a PING."""
    try:
        client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=30, socket_connect_timeout=10, health_check_interval=30
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise ScaleError(f"Redis {scrub(url)}: {exc}") from None
    return client


def scrub(url: str) -> str:
    """A Redis URL fit for logs and manifests: no password."""
    return re.sub(r"//[^@/]*@", "//", url)


def default_worker_name() -> str:
    """hostname-pid: unique per process, and says where a part came from."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def check_worker_name(name: str) -> str:
    if not WORKER_NAME.match(name):
        raise ScaleError(
            f"worker name {name!r}: use letters, digits, '.', '_' and '-' (it names part files)"
        )
    return name


def as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
