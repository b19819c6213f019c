"""The shared frontier on Redis: what every worker's scheduler reads and writes.

* dupefilter: a SET of request fingerprints (Scrapy's own fingerprinter); a request is queued
  only by the worker whose SADD added its fingerprint, so pushing the same seeds from several
  workers is harmless;
* a queue per origin (LIST) and the SET of origins whose queue holds requests;
* leases: a worker crawls an origin only while it holds ``lease:<origin>`` (SET NX PX, renewed
  at every sync), so each origin is crawled by one worker at a time and politeness stays per
  origin;
* in flight: a request taken from a queue moves, in the same script, into the worker's
  ``inflight`` HASH, and leaves it only once everything it produced (follow-up requests pushed,
  item and decision lines in the store) is safe; a worker whose heartbeat expired is dead, and
  the first survivor to notice puts its in-flight requests back at the front of their queues.

Each script runs atomically in Redis, and a sync is one round trip (a pipeline), whatever the
number of requests it carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from .keys import JobKeys, as_text

# Entry: b"<token> <origin> <serialized request>"; the token names it in the in-flight hash.
_ORIGIN_OF_ENTRY = """
local function origin_of(e)
  local a = string.find(e, " ", 1, true)
  local b = string.find(e, " ", a + 1, true)
  return string.sub(e, a + 1, b - 1)
end
"""

# KEYS: seen, ready, pages; ARGV: prefix, cap, then (fingerprint, origin, entry, front, counted)*
PUSH = """
local prefix, cap = ARGV[1], tonumber(ARGV[2])
local added, dropped, capped = 0, 0, 0
for i = 3, #ARGV, 5 do
  local fp, origin, entry, front, counted = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local new = (fp == "") or (redis.call("SADD", KEYS[1], fp) == 1)
  if new and counted == "1" and cap > 0 and redis.call("INCR", KEYS[3]) > cap then
    new = false
    capped = capped + 1
  end
  if new then
    local q = prefix .. "q:" .. origin
    if front == "1" then redis.call("LPUSH", q, entry) else redis.call("RPUSH", q, entry) end
    redis.call("SADD", KEYS[2], origin)
    added = added + 1
  else
    dropped = dropped + 1
  end
end
return {added, dropped, capped}
"""

# KEYS: ready, inflight:<worker>; ARGV: prefix, worker, lease ms, batch, new origins wanted,
# number of held origins, then (origin, requests wanted)* for the held ones.
# Returns {entries taken, origins newly leased, held origins lost to another worker}.
TAKE = """
local prefix, worker, lease = ARGV[1], ARGV[2], ARGV[3]
local batch, want, held = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out, won, lost = {}, {}, {}
local function take(origin, n)
  local q = prefix .. "q:" .. origin
  for _ = 1, n do
    local e = redis.call("LPOP", q)
    if not e then break end
    redis.call("HSET", KEYS[2], string.sub(e, 1, string.find(e, " ", 1, true) - 1), e)
    out[#out + 1] = e
  end
  if redis.call("LLEN", q) == 0 then redis.call("SREM", KEYS[1], origin) end
end
local i = 7
for _ = 1, held do
  local origin, n = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local key = prefix .. "lease:" .. origin
  local holder = redis.call("GET", key)
  if holder == worker or not holder then
    redis.call("SET", key, worker, "PX", lease)
    if n > 0 then take(origin, n) end
  else
    lost[#lost + 1] = origin
  end
end
if want > 0 then
  for _, origin in ipairs(redis.call("SRANDMEMBER", KEYS[1], 64)) do
    if want == 0 then break end
    if redis.call("SET", prefix .. "lease:" .. origin, worker, "NX", "PX", lease) then
      take(origin, batch)
      won[#won + 1] = origin
      want = want - 1
    end
  end
end
return {out, won, lost}
"""

# KEYS: none; ARGV: prefix, worker, origins to release
RELEASE = """
for i = 3, #ARGV do
  local key = ARGV[1] .. "lease:" .. ARGV[i]
  if redis.call("GET", key) == ARGV[2] then redis.call("DEL", key) end
end
return 0
"""

# KEYS: inflight:<worker>, ready; ARGV: prefix, tokens. Back to the front of their queues.
REQUEUE = (
    _ORIGIN_OF_ENTRY
    + """
local n = 0
for i = 2, #ARGV do
  local e = redis.call("HGET", KEYS[1], ARGV[i])
  if e then
    local origin = origin_of(e)
    redis.call("LPUSH", ARGV[1] .. "q:" .. origin, e)
    redis.call("SADD", KEYS[2], origin)
    redis.call("HDEL", KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""
)

# KEYS: workers, ready, taken-over; ARGV: prefix, this worker.
# Dead workers' in-flight requests go back to their queues; returns the job's state.
STATUS = (
    _ORIGIN_OF_ENTRY
    + """
local prefix, me = ARGV[1], ARGV[2]
local inflight, recovered = 0, 0
for _, w in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  local hash = prefix .. "inflight:" .. w
  if w ~= me and redis.call("EXISTS", prefix .. "alive:" .. w) == 0 then
    for _, e in ipairs(redis.call("HVALS", hash)) do
      local origin = origin_of(e)
      redis.call("LPUSH", prefix .. "q:" .. origin, e)
      redis.call("SADD", KEYS[2], origin)
      recovered = recovered + 1
    end
    redis.call("DEL", hash)
    redis.call("SREM", KEYS[1], w)
    redis.call("SADD", KEYS[3], w)
  else
    inflight = inflight + redis.call("HLEN", hash)
  end
end
return {redis.call("SCARD", KEYS[2]), inflight, recovered, redis.call("SCARD", KEYS[1])}
"""
)


@dataclass
class Outgoing:
    """A request on its way to the frontier."""

    fingerprint: str  # "" for dont_filter requests
    origin: str
    entry: bytes
    front: bool = False  # high priority: the head of its queue
    counted: bool = True  # counts towards the job-wide page cap


@dataclass
class Sync:
    """One round trip: what this worker sends, and what it asks for."""

    push: list[Outgoing] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # tokens of requests safely finished
    refill: dict[str, int] = field(default_factory=dict)  # held origin -> requests wanted
    new_origins: int = 0
    batch: int = 16
    release: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    entries: list[bytes]
    won: list[str]
    lost: list[str]
    added: int = 0
    dropped: int = 0
    capped: int = 0


@dataclass(frozen=True)
class JobState:
    ready_origins: int
    in_flight: int  # requests taken by live workers and not yet safely finished
    recovered: int  # requests of dead workers put back just now
    workers: int

    @property
    def idle(self) -> bool:
        return self.ready_origins == 0 and self.in_flight == 0


class Frontier:
    def __init__(
        self, client: redis.Redis, keys: JobKeys, worker: str, lease_seconds: float
    ) -> None:
        self.client = client
        self.keys = keys
        self.worker = worker
        self.lease_ms = max(int(lease_seconds * 1000), 1000)
        self._push = client.register_script(PUSH)
        self._take = client.register_script(TAKE)
        self._release = client.register_script(RELEASE)
        self._requeue = client.register_script(REQUEUE)
        self._status = client.register_script(STATUS)
        self.cap = 0  # job-wide page cap (0: none)

    # -- the worker ------------------------------------------------------------------------

    def join(self) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(self.keys.workers, self.worker)
        pipe.set(self.keys.alive(self.worker), "1", px=self.lease_ms)
        pipe.execute()

    def leave(self) -> int:
        """Leave the job (nothing of ours in flight any more); the number of workers left."""
        pipe = self.client.pipeline(transaction=True)
        pipe.srem(self.keys.workers, self.worker)
        pipe.delete(self.keys.alive(self.worker))
        pipe.scard(self.keys.workers)
        return int(pipe.execute()[2])

    def stop_heartbeat(self) -> None:
        """Let the others take our in-flight requests over at once (we cannot finish them)."""
        self.client.delete(self.keys.alive(self.worker))

    # -- one round trip --------------------------------------------------------------------

    def sync(self, sync: Sync) -> SyncResult:
        keys = self.keys
        pipe = self.client.pipeline(transaction=False)
        if sync.push:
            args: list[Any] = [keys.prefix, self.cap]
            for o in sync.push:
                args += [o.fingerprint, o.origin, o.entry, int(o.front), int(o.counted)]
            self._push(keys=[keys.seen, keys.ready, keys.pages], args=args, client=pipe)
        if sync.done:  # after the push: follow-ups are queued before their parent is let go
            pipe.hdel(keys.inflight(self.worker), *sync.done)
        pipe.set(keys.alive(self.worker), "1", px=self.lease_ms)
        pipe.sadd(keys.workers, self.worker)
        take_args: list[Any] = [
            keys.prefix,
            self.worker,
            self.lease_ms,
            sync.batch,
            sync.new_origins,
            len(sync.refill),
        ]
        for origin, wanted in sync.refill.items():
            take_args += [origin, wanted]
        self._take(keys=[keys.ready, keys.inflight(self.worker)], args=take_args, client=pipe)
        if sync.release:
            self._release(keys=[], args=[keys.prefix, self.worker, *sync.release], client=pipe)
        replies = pipe.execute()
        pushed = replies[0] if sync.push else [0, 0, 0]
        entries, won, lost = replies[(1 if sync.push else 0) + (1 if sync.done else 0) + 2]
        return SyncResult(
            entries=list(entries),
            won=[as_text(o) for o in won],
            lost=[as_text(o) for o in lost],
            added=int(pushed[0]),
            dropped=int(pushed[1]),
            capped=int(pushed[2]),
        )

    def requeue(self, tokens: Sequence[str]) -> int:
        """Put requests we took but will not finish back at the front of their queues."""
        if not tokens:
            return 0
        keys = self.keys
        return int(
            self._requeue(
                keys=[keys.inflight(self.worker), keys.ready], args=[keys.prefix, *tokens]
            )
        )

    def finish(self, tokens: Iterable[str]) -> None:
        tokens = list(tokens)
        if tokens:
            self.client.hdel(self.keys.inflight(self.worker), *tokens)

    def release(self, origins: Sequence[str]) -> None:
        if origins:
            self._release(keys=[], args=[self.keys.prefix, self.worker, *origins])

    def state(self) -> JobState:
        """The job's state, after requeueing what dead workers left in flight."""
        keys = self.keys
        ready, in_flight, recovered, workers = self._status(
            keys=[keys.workers, keys.ready, keys.taken_over], args=[keys.prefix, self.worker]
        )
        return JobState(int(ready), int(in_flight), int(recovered), int(workers))

    def in_flight(self, worker: str | None = None) -> int:
        return int(self.client.hlen(self.keys.inflight(worker or self.worker)))


def split_entry(entry: bytes) -> tuple[str, str, bytes]:
    """(token, origin, serialized request) of a queue entry."""
    token, origin, payload = entry.split(b" ", 2)
    return token.decode("ascii"), origin.decode("utf-8"), payload


def make_entry(token: str, origin: str, payload: bytes) -> bytes:
    return b" ".join((token.encode("ascii"), origin.encode("utf-8"), payload))
