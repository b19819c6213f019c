"""Running a consent crawl from the command line: shared by ``crawl``, ``check`` and ``demo``.

The policy and the store are checked before Scrapy starts, so a bad policy or an unusable
store exits non-zero with nothing fetched.  Progress is printed while the crawl runs and a
summary table at the end.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from twisted.internet import task

from crawler.context import ConsentContext, load_crawl_policy, read_manifest, spool_dir
from crawler.core import PolicyError
from crawler.records import new_job_id
from crawler.registry import RegistryError, registry_for
from crawler.spiders.consent import ConsentSpider, read_seeds
from crawler.store import StoreError, open_objects

from ._errors import CrawlSetupError


@dataclass
class CrawlOptions:
    seeds: list[str]
    policy: str = "default"
    store: str = "crawl-data"
    job_id: str = ""
    token: str = ""
    user_agent: str = ""
    max_pages: int | None = None
    max_depth: int | None = None
    allow_private: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    log_level: str = "WARNING"
    resume: bool = False
    s3_endpoint: str = ""
    spool: str = ""
    registry: str = ""
    redis: str = ""  # multi-worker mode: the job's Redis (crawler.scale)
    worker: str = ""  # this worker's name there (default hostname-pid)


@dataclass
class CrawlResult:
    job_id: str
    store: str
    manifest: dict[str, Any]
    context: ConsentContext | None


def prepare(options: CrawlOptions) -> Path | None:
    """Check everything that can be checked before anything is fetched; returns the JOBDIR
    (None in multi-worker mode: the frontier is in Redis)."""
    try:
        policy = load_crawl_policy(options.policy, options.token, options.user_agent)
    except PolicyError as exc:
        raise CrawlSetupError("\n".join(f"policy error: {i}" for i in exc.issues)) from None
    try:
        objects = open_objects(options.store, endpoint_url=options.s3_endpoint or None)
        objects.check_writable()
    except StoreError as exc:
        raise CrawlSetupError(f"store error: {exc}") from None
    try:
        registry = registry_for(policy, options.registry)
        if registry is not None:
            registry.check()
    except RegistryError as exc:
        raise CrawlSetupError(f"registry error: {exc}") from None
    options.job_id = options.job_id or new_job_id()
    spool = spool_dir(options.spool, options.store, options.job_id, "w0")
    jobdir = None if options.redis else spool.parent / "frontier-w0"
    if options.resume:
        manifest = read_manifest(objects, options.job_id)
        _prepare_resume(options, policy.sha256, manifest, jobdir)
        if manifest and manifest.get("registry") and registry is None:
            # Continuing without the registry would keep what it may have opted out.
            raise CrawlSetupError(
                f"--resume {options.job_id}: the job asked the opt-out registry "
                f"{manifest['registry'].get('name')}; give --registry again"
            )
    try:
        read_seeds(options.seeds, None)
    except ValueError as exc:
        raise CrawlSetupError(str(exc)) from None
    if options.redis:
        _join_job(options, policy.sha256)
    if not options.seeds:
        raise CrawlSetupError("no seeds: give SEED URLs or --seeds FILE")
    return jobdir


def _join_job(options: CrawlOptions, policy_sha: str) -> None:
    """Multi-worker mode: join the job in Redis (same policy, same store); its seeds."""
    from crawler.scale import ScaleError, default_worker_name
    from crawler.scale.job import join_job
    from crawler.scale.keys import check_worker_name

    try:
        options.worker = check_worker_name(options.worker or default_worker_name())
        options.seeds = join_job(
            options.redis,
            options.job_id,
            policy_sha256=policy_sha,
            store=options.store,
            seeds=options.seeds,
        )
    except ScaleError as exc:
        raise CrawlSetupError(str(exc)) from None


def _prepare_resume(
    options: CrawlOptions, policy_sha: str, manifest: dict[str, Any] | None, jobdir: Path | None
) -> None:
    job = options.job_id
    if manifest is None:
        raise CrawlSetupError(f"--resume {job}: no such job in {options.store}")
    if manifest.get("status") == "finished" and manifest.get("finish_reason") == "finished":
        raise CrawlSetupError(f"--resume {job}: the job already finished")
    recorded = manifest.get("policy", {}).get("sha256")
    if recorded != policy_sha:
        raise CrawlSetupError(
            f"--resume {job}: the policy changed since the job started (sha256 {recorded} "
            f"then, {policy_sha} now); resume with the same policy or start a new job"
        )
    options.seeds = options.seeds or list(manifest.get("seeds", []))
    if manifest.get("status") == "running" and jobdir is not None and jobdir.exists():
        # The process died: Scrapy's frontier files may be stale, and a request marked seen
        # but never answered would be lost. Start again from the seeds; what is already
        # stored is skipped by item id, so nothing is duplicated.
        shutil.rmtree(jobdir)


def run_crawl(options: CrawlOptions) -> CrawlResult:
    jobdir = prepare(options)
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(
        {
            "CONSENT_POLICY": options.policy,
            "CONSENT_STORE": options.store,
            "CONSENT_JOB_ID": options.job_id,
            "CONSENT_TOKEN": options.token,
            "CONSENT_USER_AGENT": options.user_agent,
            "CONSENT_ALLOW_PRIVATE": options.allow_private,
            "CONSENT_SEEDS": options.seeds,
            "CONSENT_RESUME": options.resume,
            "CONSENT_S3_ENDPOINT": options.s3_endpoint,
            "CONSENT_SPOOL_DIR": options.spool,
            "CONSENT_REGISTRY": options.registry,
            "LOG_LEVEL": options.log_level,
        },
        priority="cmdline",
    )
    if jobdir is not None:
        settings.set("JOBDIR", str(jobdir), priority="cmdline")
    if options.redis:
        settings.set("CONSENT_REDIS", options.redis, priority="cmdline")
        settings.set("CONSENT_WORKER", options.worker, priority="cmdline")
    settings.setdict(options.settings, priority="cmdline")
    process = CrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(options.log_level)
    crawler = process.create_crawler(ConsentSpider)
    process.crawl(
        crawler, seeds=options.seeds, max_pages=options.max_pages, max_depth=options.max_depth
    )
    ticker = _Progress(crawler) if options.progress else None
    if ticker is not None:
        ticker.start()
    process.start()
    if ticker is not None:
        ticker.stop()
    context: ConsentContext | None = getattr(crawler, "_consent_context", None)
    objects = open_objects(options.store, endpoint_url=options.s3_endpoint or None)
    manifest = read_manifest(objects, options.job_id) or {}
    if options.redis:  # this worker's share; the job's manifest is written by the last one
        manifest = _worker_manifest(objects, options.job_id, options.worker) or {}
    if manifest.get("finish_reason") == "finished" and jobdir is not None and jobdir.exists():
        shutil.rmtree(jobdir)  # the frontier of a finished job is of no further use
        for folder in (jobdir.parent, jobdir.parent.parent):  # <spool>/<job>, <spool>
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return CrawlResult(options.job_id, options.store, manifest, context)


def _worker_manifest(objects: Any, job_id: str, worker: str) -> dict[str, Any] | None:
    from crawler.scale.job import ScaleJob

    try:
        data: dict[str, Any] = json.loads(objects.get(ScaleJob.manifest_key(job_id, worker)))
    except KeyError:
        return None
    return data


class _Progress:
    """A status line on stderr every two seconds: pages/s, kept, refused by signal."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.show)

    def start(self) -> None:
        self.loop.start(2.0, now=False)

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop()
        if sys.stderr.isatty():
            sys.stderr.write("\n")

    def show(self) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        pages = stats.get("response_received_count", 0)
        rate = pages / max(time.monotonic() - self.started, 1e-6)
        refused = {
            k.rsplit("/", 1)[-1]: v for k, v in stats.items() if k.startswith("consent/refused/")
        }
        by_signal = ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "none"
        line = (
            f"{pages} responses ({rate:.1f}/s)  kept {stats.get('consent/items', 0)}  "
            f"refused {stats.get('consent/decisions/refused', 0)} [{by_signal}]"
        )
        end = "\r" if sys.stderr.isatty() else "\n"
        sys.stderr.write(line + end)
        sys.stderr.flush()


def summary_table(result: CrawlResult) -> str:
    manifest = result.manifest
    counts = manifest.get("counts", {})
    decisions = counts.get("decisions", {})
    rows = [
        ("job", result.job_id),
        ("store", result.store),
        (
            "policy",
            f"{manifest.get('policy', {}).get('name')} "
            f"(sha256 {str(manifest.get('policy', {}).get('sha256'))[:12]}…)",
        ),
        ("finished", str(manifest.get("finish_reason"))),
        ("items kept", str(counts.get("items", 0))),
        ("URLs decided: kept", str(decisions.get("kept", 0))),
        ("URLs decided: refused", str(decisions.get("refused", 0))),
    ]
    for signal, count in counts.get("refused_by_signal", {}).items():
        rows.append((f"  refused by {signal}", str(count)))
    registry = manifest.get("registry")
    if registry:
        rows.append(("registry", str(registry.get("name"))))
        rows.append(
            (
                "  asked",
                f"{registry.get('urls_sent', 0)} URLs in {registry.get('requests', 0)} requests",
            )
        )
        rows.append(
            (
                "  opted out / errors",
                f"{registry.get('opted_out', 0)} / {registry.get('errors', 0)}",
            )
        )
    width = max(len(k) for k, _ in rows)
    line = "+" + "-" * (width + 2) + "+" + "-" * 44 + "+"
    body = [f"| {k.ljust(width)} | {v[:42].ljust(42)} |" for k, v in rows]
    return "\n".join(["consent summary", line, *body, line]) + "\n"
