"""Per-crawl consent state shared by the middlewares and the pipeline.

One ``ConsentContext`` per Scrapy crawler: the policy (with command-line identity overrides),
the job id, the store, the origin cache and the counters that end up in the manifest.  It is
created by the first component that asks for it, during crawler set-up, so a bad policy or an
unusable store stops the crawl before anything is fetched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import task

from crawler.cli._common import policy_path
from crawler.core import Decision, Policy, PolicyError, PolicyIssue, load_policy
from crawler.network_guard import network_rules
from crawler.ops.index import store_index
from crawler.ops.index_feed import IndexFeed
from crawler.ops.jobs import Job
from crawler.origin_cache import OriginCache
from crawler.records import OriginFiles, crawler_identity, new_job_id, now_rfc3339, versions
from crawler.registry_lookups import RegistryLookups, SharedAnswers
from crawler.store import JobWriter, ObjectStore, open_objects
from crawler.store.writer import SpoolError

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from crawler.scale.job import ScaleJob

logger = logging.getLogger(__name__)
# botocore logs every signed request at DEBUG (access key id, session token), urllib3 every
# request line (a key typed into a registry URL's query): a crawl's DEBUG log must carry no
# credentials, so these libraries log from INFO up whatever the crawl's level.
for _library in ("botocore", "boto3", "s3transfer", "urllib3"):
    logging.getLogger(_library).setLevel(logging.INFO)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str


# Every CONSENT_* setting, its default and effect (the README table is generated from this).
SETTINGS = (
    Setting("CONSENT_ENABLED", True, "Turn the consent layer on or off."),
    Setting("CONSENT_POLICY", "default", "Policy file path, or a bundled policy name."),
    Setting("CONSENT_STORE", "crawl-data", "Store: a local directory or s3://bucket/prefix."),
    Setting(
        "CONSENT_S3_ENDPOINT",
        "",
        "S3-compatible endpoint URL (MinIO, R2, Ceph); default AWS or AWS_ENDPOINT_URL.",
    ),
    Setting(
        "CONSENT_SPOOL_DIR",
        "",
        "Local spool for lines not yet stored; default <store>/.spool or the user cache.",
    ),
    Setting("CONSENT_RESUME", False, "Continue the job CONSENT_JOB_ID (see crawl --resume)."),
    Setting("CONSENT_WORKER", "w0", "This worker's name in part file names."),
    Setting(
        "CONSENT_REDIS",
        "",
        "Redis URL: crawl as one of many workers sharing the job's frontier and caches.",
    ),
    Setting(
        "CONSENT_REDIS_ORIGINS",
        4,
        "Origins a worker crawls at once in multi-worker mode (each by one worker at a time).",
    ),
    Setting(
        "CONSENT_REDIS_LEASE_SECONDS",
        10,
        "A worker's lease on an origin and its heartbeat; a dead worker's work is redone after.",
    ),
    Setting(
        "CONSENT_REDIS_IDLE_SECONDS",
        1.0,
        "How long the whole job must be idle before the workers finish.",
    ),
    Setting(
        "CONSENT_UPLOAD_TIMEOUT",
        300,
        "Seconds the end of a crawl waits for the store before leaving the spool to resume.",
    ),
    Setting("CONSENT_JOB_ID", "", "Job id; a new one (UTC time + random) when empty."),
    Setting("CONSENT_TOKEN", "", "Override the policy's product token."),
    Setting("CONSENT_USER_AGENT", "", "Override the policy's User-Agent."),
    Setting(
        "CONSENT_ALLOW_PRIVATE",
        False,
        "Let loopback and private addresses through the network guard (local sites, tests).",
    ),
    Setting("CONSENT_SEEDS", [], "Seed URLs, recorded in the manifest."),
    Setting(
        "CONSENT_REGISTRY",
        "",
        "Opt-out registry (Spawning-compatible URL or local file); overrides the policy's.",
    ),
    Setting("CONSENT_REGISTRY_CACHE_SIZE", 100_000, "Registry answers kept (LRU, with TTL)."),
    Setting(
        "CONSENT_REGISTRY_PREFETCH_WAIT_MS",
        500,
        "Longest a URL asked ahead of need waits to share a registry batch.",
    ),
    Setting(
        "CONSENT_REGISTRY_LOOKAHEAD",
        5000,
        "Seeds read ahead so their URLs go to the registry together.",
    ),
    Setting("CONSENT_ORIGIN_CACHE_SIZE", 10_000, "Origins whose policy files are kept (LRU)."),
    Setting("CONSENT_POLICY_FILE_TIMEOUT", 30, "Seconds allowed for each policy-file fetch."),
    Setting(
        "CONSENT_MAX_PAGE_BYTES",
        10 * 1024 * 1024,
        "Largest page body, as received and after decompression (sets DOWNLOAD_MAXSIZE, and "
        "DOWNLOAD_WARNSIZE to half); a larger one is refused with a reason.",
    ),
    Setting(
        "CONSENT_DOWNLOAD_TIMEOUT",
        30,
        "Seconds a page download may take in all (sets DOWNLOAD_TIMEOUT); a slower one is "
        "refused with a reason.",
    ),
    Setting("CONSENT_PART_MAX_LINES", 10_000, "Lines per stored part before it is rotated."),
    Setting("CONSENT_PART_MAX_BYTES", 64 * 1024 * 1024, "Uncompressed bytes per part."),
    Setting("CONSENT_PART_MAX_SECONDS", 300, "Seconds a part stays open before rotation."),
    Setting(
        "CONSENT_GC_TUNING",
        True,
        "While the crawl runs, keep what exists at start-up out of Python's garbage "
        "collections (gc.freeze) and collect young objects every 5,000 allocations, not 700 "
        "(crawler/collector.py).",
    ),
    Setting(
        "CONSENT_FRONTIER_MEMORY",
        10_000,
        "Scheduled requests kept in memory, over all queues, on top of the JOBDIR disk queues "
        "(crawler/disk_queue.py); older ones are written to disk. 0: every request is.",
    ),
)
DEFAULTS = {s.name: s.default for s in SETTINGS}


def settings_markdown() -> str:
    """The settings reference table (pasted into the README; a test keeps them equal)."""
    rows = ["| setting | default | effect |", "| --- | --- | --- |"]
    rows += [f"| `{s.name}` | `{s.default!r}` | {s.doc} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def spool_dir(setting: str, location: str, job_id: str, worker: str) -> Path:
    """Where lines wait until they are stored; it must survive the process (resume)."""
    if setting:
        return Path(setting) / job_id / worker
    if not location.startswith("s3://"):
        return Path(location) / ".spool" / job_id / worker
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:12]
    return cache / "consent-crawler" / "spool" / digest / job_id / worker


def read_manifest(objects: ObjectStore, job_id: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(objects.get(f"jobs/{job_id}/manifest.json"))
    except KeyError:
        return None
    return data


def load_crawl_policy(policy_arg: str, token: str = "", user_agent: str = "") -> Policy:
    """The policy for a crawl, with the command line's identity overrides applied."""
    policy = load_policy(policy_path(policy_arg))
    ident = policy.identity
    if token and not user_agent:
        # Keep the policy's User-Agent shape, with the new token in place of the old one.
        user_agent = re.sub(re.escape(ident.token), token, ident.user_agent, flags=re.I)
    if token or user_agent:
        ident = dataclasses.replace(
            ident, token=token or ident.token, user_agent=user_agent or ident.user_agent
        )
        if ident.token.lower() not in ident.user_agent.lower():
            raise PolicyError(
                [
                    PolicyIssue(
                        "command line",
                        "identity.user_agent",
                        f"must contain the product token {ident.token!r}",
                    )
                ]
            )
        policy = policy.replace(identity=ident)
    network_rules(policy)  # its [network] entries are checked before anything is fetched
    return policy


def _registry_lookups(
    policy: Policy,
    location: str,
    capacity: int,
    prefetch_wait_ms: float,
    shared: SharedAnswers | None = None,
) -> RegistryLookups | None:
    from crawler.registry import registry_for

    registry = registry_for(policy, location)
    if registry is None:
        return None
    return RegistryLookups(
        registry,
        policy.registry,
        capacity=capacity,
        prefetch_wait_ms=prefetch_wait_ms,
        shared=shared,
    )


class ConsentComponent:
    """Base of the consent layer's Scrapy components: off when ``CONSENT_ENABLED`` is false,
    and all sharing the crawler's one ``ConsentContext``."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("CONSENT_ENABLED", True):
            raise NotConfigured
        self.context = ConsentContext.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)


class ConsentContext:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.policy = load_crawl_policy(
            settings.get("CONSENT_POLICY", "default"),
            settings.get("CONSENT_TOKEN", ""),
            settings.get("CONSENT_USER_AGENT", ""),
        )
        self.job_id = settings.get("CONSENT_JOB_ID") or new_job_id()
        self.allow_private = settings.getbool("CONSENT_ALLOW_PRIVATE")
        self.network = network_rules(self.policy, self.allow_private)
        self.policy_changed: dict[str, Any] | None = None  # see _check_policy
        self.seeds = list(settings.getlist("CONSENT_SEEDS"))
        location = settings.get("CONSENT_STORE", "crawl-data")
        # Multi-worker mode (CONSENT_REDIS): frontier, origin cache and registry answers shared.
        # Imported only then: Redis's client takes ~45 ms to import, in every local crawl.
        self.scale: ScaleJob | None = None
        if settings.get("CONSENT_REDIS"):
            from crawler.scale.job import scale_job_for

            self.scale = scale_job_for(
                settings, settings.get("CONSENT_JOB_ID", ""), self.policy.sha256, location
            )
        worker = self.scale.worker if self.scale else settings.get("CONSENT_WORKER", "w0")
        objects = open_objects(location, endpoint_url=settings.get("CONSENT_S3_ENDPOINT") or None)
        objects.check_writable()
        self.resume = settings.getbool("CONSENT_RESUME")
        self.upload_timeout = settings.getfloat("CONSENT_UPLOAD_TIMEOUT", 300)
        # The job index, built from the lines as they are written.  Not for a resumed job
        # (another process wrote some of its parts) nor for several workers (the last one
        # indexes the merged job): those are indexed from the stored parts at the end.
        self.index_feed = IndexFeed() if not self.resume and self.scale is None else None
        self.store = JobWriter(
            objects,
            self.job_id,
            spool=spool_dir(settings.get("CONSENT_SPOOL_DIR", ""), location, self.job_id, worker),
            worker=worker,
            part_max_lines=settings.getint("CONSENT_PART_MAX_LINES", 10_000),
            part_max_bytes=settings.getint("CONSENT_PART_MAX_BYTES", 64 * 1024 * 1024),
            part_max_seconds=settings.getfloat("CONSENT_PART_MAX_SECONDS", 300),
            resume=self.resume,
            manifest_key=self.scale.manifest_key(self.job_id, worker) if self.scale else None,
            index_feed=self.index_feed,
        )
        if self.scale is not None:
            self.scale.writer = self.store
        previous = read_manifest(objects, self.job_id) if self.resume else None
        self.origins = OriginCache(
            settings.getint("CONSENT_ORIGIN_CACHE_SIZE", 10_000),
            shared=self.scale.origins if self.scale else None,
        )
        self.registry = _registry_lookups(
            self.policy,
            settings.get("CONSENT_REGISTRY", ""),
            settings.getint("CONSENT_REGISTRY_CACHE_SIZE", 100_000),
            settings.getfloat("CONSENT_REGISTRY_PREFETCH_WAIT_MS", 500),
            self.scale.registry_answers if self.scale else None,
        )
        self.started_at = (previous or {}).get("started_at") or now_rfc3339()
        self.runs = [*(previous or {}).get("runs", []), now_rfc3339()]
        self.purges = (previous or {}).get("purges")  # recheck runs on this job, kept on resume
        self._ticker: task.LoopingCall | None = None
        self._stopping = False
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    @classmethod
    def of(cls, crawler: Crawler) -> ConsentContext:
        context = getattr(crawler, "_consent_context", None)
        if context is None:
            context = cls(crawler)
            crawler._consent_context = context  # type: ignore[attr-defined]
        return context

    # -- recording -------------------------------------------------------------------------

    def keep_evidence(self, origin: OriginFiles | None) -> None:
        if origin is None:
            return
        for file in origin.files.values():
            self.store.put_evidence(file.sha256, file.body)

    def _spool_failed(self, exc: SpoolError) -> NoReturn:
        """The spool cannot be written (disk full): stop the crawl at once — fetching more
        would only lose more — and let the caller's request or item fail with the error."""
        if not self._stopping:
            self._stopping = True
            self.stats.set_value("consent/spool_failed", 1)
            engine = self.crawler.engine
            if engine is not None:
                deferred_from_coro(engine.close_spider_async(reason="spool_failed"))
        raise exc

    def record_decision(self, line: dict[str, Any], decision: Decision) -> None:
        try:
            written = self.store.write_decision(line)
        except SpoolError as exc:
            self._spool_failed(exc)
        if not written:
            return  # the same decision is already stored (a resumed job)
        outcome = "kept" if decision.kept else "refused"
        self.stats.inc_value(f"consent/decisions/{outcome}")
        if not decision.kept:
            scope = "fetch" if decision.fetch == "refused" else "use"
            for reason in decision.refusals():
                if reason.scope == scope:
                    self.stats.inc_value(f"consent/refused/{scope}/{reason.signal}")

    def record_item(self, line: dict[str, Any]) -> None:
        try:
            written = self.store.write_item(line)
        except SpoolError as exc:
            self._spool_failed(exc)
        if written:
            self.stats.inc_value("consent/items")
        else:
            self.stats.inc_value("consent/items_already_stored")

    # -- manifest --------------------------------------------------------------------------

    def manifest(self, status: str, reason: str | None = None) -> dict[str, Any]:
        policy = self.policy
        return {
            "job_id": self.job_id,
            "status": status,
            "finish_reason": reason,
            "started_at": self.started_at,
            "finished_at": now_rfc3339() if status != "running" else None,
            "runs": self.runs,
            "seeds": self.seeds,
            "policy": {
                "name": policy.name,
                "sha256": policy.sha256,
                "source": policy.source,
                "text": policy.text,
                "mode": policy.mode,
            },
            **({"policy_changed": self.policy_changed} if self.policy_changed else {}),
            "identity": crawler_identity(policy),
            "registry": self._registry_summary(),
            **({"purges": self.purges} if self.purges else {}),
            "versions": versions(),
            "counts": {
                "decisions": {
                    "kept": self.store.counts["kept"],
                    "refused": self.store.counts["refused"],
                },
                "items": self.store.counts["items"],
                **(
                    {"tombstones": self.store.counts["tombstones"]}
                    if self.store.counts["tombstones"]
                    else {}
                ),
                "refused_by_signal": dict(sorted(self.store.refused_by_signal.items())),
            },
        }

    def _registry_summary(self) -> dict[str, Any] | None:
        lookups = self.registry
        if lookups is None:
            return None
        return {"name": lookups.registry.name, **lookups.counts}

    def _tick(self) -> None:
        self.store.tick()
        if self._check_policy():  # operators see it in the store while the job runs
            self.store.write_manifest(self.manifest("running"))

    def _check_policy(self) -> bool:
        """Re-read the policy file and its extends chain: a change during the job is reported
        (log, stat, manifest), never applied; every decision follows the policy it began with."""
        if not self.policy.source:
            return False
        error = None
        try:
            now: str | None = load_policy(self.policy.source).sha256
        except PolicyError as exc:  # edited into an invalid policy, or removed
            now, error = None, str(exc.issues[0])
        if now == self.policy.sha256 or (self.policy_changed or {}).get("sha256_now", "") == now:
            return False
        logger.warning(
            "consent: the policy %s changed during job %s (sha256 %s at the start, %s now); "
            "the job goes on under the policy it started with",
            self.policy.source,
            self.job_id,
            self.policy.sha256,
            now or f"unreadable: {error}",
        )
        first = self.policy_changed or {"at": now_rfc3339()}
        self.policy_changed = {"at": first["at"], "sha256_now": now}
        if error:
            self.policy_changed["error"] = error
        self.stats.set_value("consent/policy_changed", 1)
        return True

    def _opened(self) -> None:
        self.store.write_manifest(self.manifest("running"))
        if self.scale is not None:
            self.scale.write_merged(self, "running", None)
        # Parts also rotate by age, even when nothing is being written.
        self._ticker = task.LoopingCall(self._tick)
        self._ticker.start(5.0, now=False)

    def _closed(self, reason: str) -> None:
        cache = self.origins
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        for name in ("hits", "misses", "expired", "waits"):
            self.stats.set_value(f"consent/origin_cache/{name}", getattr(cache, name))
        if self.registry is not None:
            self.registry.close()
            for name, count in self.registry.counts.items():
                self.stats.set_value(f"consent/registry/{name}", count)
        self._check_policy()
        status = "finished" if reason == "finished" else "interrupted"
        stored = self.store.close(self.manifest(status, reason), self.upload_timeout)
        if self.scale is not None:  # only the last worker writes (and indexes) the job
            stored = self.scale.finish(self, status, reason, stored)
        if stored:
            self._index()
            logger.info("consent: job %s stored in %s", self.job_id, self.store.location)
        if self.index_feed is not None:
            self.index_feed.close()

    def _index(self) -> None:
        """The lookup index for the operators' tools (they rebuild it if it is missing): the
        one built as the parts were written, else built from the stored parts."""
        feed = self.index_feed
        try:
            built = feed.finish(Job.open(self.store.objects, self.job_id)) if feed else None
            if feed is not None and built is None:
                logger.info("consent: building the job index from the parts (%s)", feed.broken)
            store_index(self.store.objects, self.job_id, built)
        except Exception as exc:  # a convenience: never fail a finished crawl over it
            logger.warning("consent: could not write the job index: %s", exc)
