"""One worker's part in a multi-worker job: joining it, knowing what is safely stored, and the
job's manifest merged from every worker's.

* Joining (``join_job``, before Scrapy starts): the first worker records the job's policy
  (sha256) and store in Redis; every later worker must bring the same, or it refuses to start
  (no worker may decide under another policy).  Seeds given to any worker are added to the
  job's seed set; a worker given none crawls the job's.
* Safe: a request leaves the worker's in-flight hash only when the item and decision lines it
  produced are in stored parts that this worker's manifest (``jobs/<id>/workers/<w>.json``)
  lists.  Until then a dead worker's requests are crawled again by the others, so a kill loses
  nothing that is not crawled again.
* The job's ``manifest.json`` is what the operator tools read: every worker's parts and summed
  counts.  It is written when a worker starts (status "running") and by the last worker to
  leave, with that worker's status ("finished" once the frontier is empty everywhere).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from crawler.records import now_rfc3339
from crawler.store.writer import KINDS, stored_counts

from .frontier import Frontier
from .keys import (
    JobKeys,
    ScaleError,
    as_text,
    check_worker_name,
    connect,
    default_worker_name,
    scrub,
)
from .origin_store import SharedOriginStore
from .registry_store import SharedRegistryAnswers

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

    from crawler.context import ConsentContext
    from crawler.store import JobWriter, ObjectStore

logger = logging.getLogger(__name__)


def join_job(
    url: str,
    job_id: str,
    *,
    policy_sha256: str,
    store: str,
    seeds: list[str],
    must_exist: bool = True,
) -> list[str]:
    """Check this worker may join job ``job_id`` and add its seeds; the job's seeds.
    ``must_exist``: a worker given no seeds needs a job another worker started."""
    client = connect(url)
    keys = JobKeys(job_id)
    if not store.startswith("s3://"):  # one directory, however each worker names it
        store = str(Path(store).resolve())
    try:
        if must_exist and not seeds and not client.exists(keys.meta):
            raise ScaleError(
                f"job {job_id} is not in Redis {scrub(url)}: give seeds to start it "
                "(a worker given no seeds joins a job another worker started)"
            )
        pipe = client.pipeline(transaction=True)
        pipe.hsetnx(keys.meta, "policy_sha256", policy_sha256)
        pipe.hsetnx(keys.meta, "store", store)
        pipe.hsetnx(keys.meta, "started_at", now_rfc3339())
        pipe.hgetall(keys.meta)
        meta = pipe.execute()[-1]
    except redis.RedisError as exc:
        raise ScaleError(f"Redis {scrub(url)}: {exc}") from None
    recorded = {as_text(k): as_text(v) for k, v in meta.items()}
    if recorded["policy_sha256"] != policy_sha256:
        raise ScaleError(
            f"job {job_id} runs under policy sha256 {recorded['policy_sha256'][:12]}…, this "
            f"worker's is {policy_sha256[:12]}…: every worker of a job uses the same policy"
        )
    if recorded["store"] != store:
        raise ScaleError(
            f"job {job_id} stores into {recorded['store']}, not {store}: every worker of a "
            "job writes to the same store"
        )
    try:
        if seeds:
            client.sadd(keys.seeds, *seeds)
        members = client.smembers(keys.seeds)
    except redis.RedisError as exc:
        raise ScaleError(f"Redis {scrub(url)}: {exc}") from None
    return sorted(as_text(s) for s in members)


def scale_job_for(
    settings: BaseSettings, job_id: str, policy_sha256: str, store: str
) -> ScaleJob | None:
    """The worker's part in a multi-worker job, or None when ``CONSENT_REDIS`` is not set.
    Joins the job (again, for ``consent-crawler crawl``; first, for ``scrapy crawl``/scrapyd),
    so no worker ever crawls it under another policy or into another store."""
    url = settings.get("CONSENT_REDIS", "")
    if not url:
        return None
    if not job_id:
        raise ScaleError("multi-worker mode (CONSENT_REDIS) needs the job id (CONSENT_JOB_ID)")
    seeds = list(settings.getlist("CONSENT_SEEDS"))
    # seeds given as spider arguments (scrapy crawl -a seeds=…) arrive through the frontier
    join_job(url, job_id, policy_sha256=policy_sha256, store=store, seeds=seeds, must_exist=False)
    worker = settings.get("CONSENT_WORKER", "w0")
    if worker == "w0":  # not named: every worker would be "w0"
        worker = default_worker_name()
    check_worker_name(worker)
    return ScaleJob(
        url,
        job_id,
        worker,
        lease_seconds=settings.getfloat("CONSENT_REDIS_LEASE_SECONDS", 10),
        # a holder fetches robots.txt, then ai.txt and tdmrep.json: two timeouts at most
        lock_seconds=2 * settings.getfloat("CONSENT_POLICY_FILE_TIMEOUT", 30) + 10,
    )


class ScaleJob:
    """Created by the ``ConsentContext`` when ``CONSENT_REDIS`` is set."""

    def __init__(
        self, url: str, job_id: str, worker: str, *, lease_seconds: float, lock_seconds: float
    ) -> None:
        self.url = scrub(url)
        self.client = connect(url)
        self.keys = JobKeys(job_id)
        self.worker = worker
        self.frontier = Frontier(self.client, self.keys, worker, lease_seconds)
        self.origins = SharedOriginStore(self.client, self.keys, worker, lock_seconds)
        self.registry_answers = SharedRegistryAnswers(self.client, self.keys)
        self.writer: JobWriter | None = None
        # Requests finished by the crawl whose lines may not be stored yet: (token, the
        # writer's line counts when it finished), in the order they finished.
        self._unsafe: deque[tuple[str, dict[str, int]]] = deque()
        self._lock = threading.Lock()  # the uploader thread lets requests go too
        self._listed = dict.fromkeys(KINDS, 0)  # lines in parts our stored manifest lists
        self._published = 0  # the writer's stored_version our last manifest showed

    @staticmethod
    def manifest_key(job_id: str, worker: str) -> str:
        return f"jobs/{job_id}/workers/{worker}.json"

    # -- what is safe ----------------------------------------------------------------------

    def finished(self, token: str) -> None:
        written = self.writer.written if self.writer is not None else {}
        with self._lock:
            self._unsafe.append((token, dict(written)))

    def safe_tokens(self) -> list[str]:
        """Tokens whose lines are now listed in our stored manifest (line counts only grow,
        so the safe ones are a prefix)."""
        safe = []
        with self._lock:
            while self._unsafe and all(
                self._listed[k] >= n for k, n in self._unsafe[0][1].items() if k in self._listed
            ):
                safe.append(self._unsafe.popleft()[0])
        return safe

    def not_yet(self, tokens: list[str]) -> None:
        """Tokens found safe whose release did not reach Redis: released at the next sync."""
        with self._lock:
            self._unsafe.extendleft((token, {}) for token in reversed(tokens))

    def _listed_now(self, lines: dict[str, int]) -> None:
        """In the uploader thread, once our manifest is stored: let the safe requests go at
        once (a kill between the two would have them crawled, and stored, twice)."""
        with self._lock:
            self._listed.update(lines)
        safe = self.safe_tokens()
        try:
            self.frontier.finish(safe)
        except redis.RedisError:
            self.not_yet(safe)

    @property
    def unsafe(self) -> int:
        return len(self._unsafe)

    def publish(self, context: ConsentContext) -> None:
        """Our manifest, when parts were stored since the last one; once it is stored, the
        requests whose lines those parts hold are safe."""
        writer = self.writer
        if writer is None or writer.stored_version == self._published:
            return
        version, parts, tally = writer.stored_state()
        self._published = version
        manifest = {
            **context.manifest("running"),
            "worker": self.worker,
            "counts": stored_counts(tally),
            "parts": parts,
        }
        lines = {kind: tally.get(f"lines:{kind}", 0) for kind in KINDS}
        writer.write_manifest(manifest, on_done=lambda: self._listed_now(lines))

    # -- the job's manifest ----------------------------------------------------------------

    def merged_manifest(
        self, context: ConsentContext, status: str, reason: str | None
    ) -> dict[str, Any]:
        objects = context.store.objects
        workers = _worker_manifests(objects, self.keys.job_id)
        try:
            taken_over = {as_text(w) for w in self.client.smembers(self.keys.taken_over)}
            seeds = sorted(as_text(s) for s in self.client.smembers(self.keys.seeds))
        except redis.RedisError:
            taken_over, seeds = set(), list(context.seeds)
        merged = context.manifest(status, reason)
        counts: dict[str, Any] = {"decisions": {"kept": 0, "refused": 0}, "items": 0}
        by_signal: dict[str, int] = {}
        parts: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        summary: dict[str, Any] = {}
        for name, manifest in sorted(workers.items()):
            c = manifest.get("counts") or {}
            for outcome in ("kept", "refused"):
                counts["decisions"][outcome] += (c.get("decisions") or {}).get(outcome, 0)
            for key, value in c.items():
                if isinstance(value, int):
                    counts[key] = counts.get(key, 0) + value
            for signal, n in (c.get("refused_by_signal") or {}).items():
                by_signal[signal] = by_signal.get(signal, 0) + n
            for kind in KINDS:
                parts[kind] += (manifest.get("parts") or {}).get(kind) or []
            summary[name] = {
                "status": manifest.get("status"),
                "finish_reason": manifest.get("finish_reason"),
                "taken_over": name in taken_over,
                "counts": c,
            }
        counts["refused_by_signal"] = dict(sorted(by_signal.items()))
        runs = sorted({r for m in workers.values() for r in m.get("runs") or []})
        started = [m["started_at"] for m in workers.values() if m.get("started_at")]
        merged.update(
            counts=counts,
            parts={kind: sorted(parts[kind], key=lambda p: p["name"]) for kind in KINDS},
            workers=summary,
            seeds=seeds or merged["seeds"],
            runs=runs or merged["runs"],
            started_at=min(started, default=merged["started_at"]),
            registry=_summed_registry([m.get("registry") for m in workers.values()]),
            redis=self.url,
        )
        return merged

    def write_merged(self, context: ConsentContext, status: str, reason: str | None) -> None:
        merged = self.merged_manifest(context, status, reason)
        data = json.dumps(merged, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        context.store.objects.put(f"jobs/{self.keys.job_id}/manifest.json", data.encode())

    def finish(
        self, context: ConsentContext, status: str, reason: str | None, stored: bool
    ) -> bool:
        """After our last lines are stored (``stored``): let our requests go, leave the job,
        and, as its last worker, write the job's manifest.  True when we wrote it."""
        try:
            if not stored:  # our lines wait in the spool: the others crawl our requests again
                self.frontier.stop_heartbeat()
                return False
            for what, counts in (
                ("origins", self.origins.counts),
                ("registry", self.registry_answers.counts),
            ):
                for name, count in counts.items():
                    context.stats.set_value(f"consent/scale/{what}/{name}", count)
            self.frontier.finish(token for token, _ in self._unsafe)
            self._unsafe.clear()
            if self.frontier.leave():
                return False  # others are still at it; the last one writes the job's manifest
            self.write_merged(context, status, reason)
            return True
        except Exception as exc:  # Redis or the store: our own parts and manifest are stored
            logger.error("consent: could not write the job's merged manifest: %s", exc)
            return False


def _worker_manifests(objects: ObjectStore, job_id: str) -> dict[str, dict[str, Any]]:
    folder = f"jobs/{job_id}/workers/"
    found: dict[str, dict[str, Any]] = {}
    for key in objects.list(folder):
        if key.endswith(".json"):
            found[key[len(folder) : -len(".json")]] = json.loads(objects.get(key))
    return found


def _summed_registry(summaries: list[Any]) -> dict[str, Any] | None:
    present = [s for s in summaries if isinstance(s, dict)]
    if not present:
        return None
    total: dict[str, Any] = {"name": present[0].get("name")}
    for summary in present:
        for key, value in summary.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total
