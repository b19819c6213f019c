"""One benchmark crawl, run as its own process so its CPU and peak RSS are its own.

    python bench/child.py CONFIG.json RESULT.json

Modes (the same spider, ``crawler.spiders.consent.ConsentSpider``, in both):

* ``plain``: Scrapy with the project settings minus ``ADDONS`` (no consent middleware, no
  provenance, no store pipeline), ``ROBOTSTXT_OBEY = True``, the policy's User-Agent, items
  written by Scrapy's feed export as gzipped JSON lines: the same kind of output as the consent
  store, without provenance.
* ``consent``: ``crawler.cli._run.run_crawl``, exactly what ``consent-crawler crawl`` runs
  (every signal of the default policy, provenance, gzipped parts, spool, JOBDIR), into a local
  directory or ``s3://`` store.

The result file holds wall time and CPU time of the crawl itself (imports excluded, the same
for both), and Scrapy's stats; the parent adds the process's peak RSS from ``wait4``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

STATS_EXTENSION = {"bench_stats.StatsDump": 0}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_plain(cfg: dict[str, Any]) -> None:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    import crawler.settings as project
    from crawler.context import load_crawl_policy
    from crawler.spiders.consent import ConsentSpider
    from crawler.store.journal import PART_COMPRESSLEVEL

    settings = Settings()
    values = {k: getattr(project, k) for k in dir(project) if k.isupper() and k != "ADDONS"}
    settings.setdict(values, priority="project")
    feed = Path(cfg["out"]) / "items.jsonl.gz"
    settings.setdict(
        {
            "ROBOTSTXT_OBEY": True,
            "USER_AGENT": load_crawl_policy("default", "", "").identity.user_agent,
            "LOG_LEVEL": "WARNING",
            "EXTENSIONS": STATS_EXTENSION,
            "BENCH_STATS_FILE": cfg["stats"],
            "FEEDS": {
                str(feed): {
                    "format": "jsonlines",
                    "postprocessing": ["scrapy.extensions.postprocessing.GzipPlugin"],
                    "gzip_compresslevel": PART_COMPRESSLEVEL,  # as the consent store's parts
                }
            },
            **cfg.get("settings", {}),
        },
        priority="cmdline",
    )
    process = CrawlerProcess(settings)
    process.crawl(ConsentSpider, seeds=cfg["seeds"], max_pages=cfg["max_pages"])
    process.start()


def run_consent(cfg: dict[str, Any]) -> None:
    from crawler.cli._run import CrawlOptions, run_crawl

    settings = {"EXTENSIONS": STATS_EXTENSION, "BENCH_STATS_FILE": cfg["stats"]}
    result = run_crawl(
        CrawlOptions(
            seeds=cfg["seeds"],
            store=cfg["store"],
            max_pages=cfg["max_pages"],
            allow_private=True,
            settings={**settings, **cfg.get("settings", {})},
            progress=False,
            log_level="WARNING",
            s3_endpoint=cfg.get("s3_endpoint", ""),
            spool=cfg.get("spool", ""),
        )
    )
    if result.manifest.get("finish_reason") != "finished":
        sys.exit(f"consent crawl did not finish: {result.manifest.get('finish_reason')}")


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    # Import what both modes import before the clock starts.
    import scrapy.crawler  # noqa: F401

    import crawler.spiders.consent  # noqa: F401

    cpu, wall = _cpu(), time.perf_counter()
    (run_plain if cfg["mode"] == "plain" else run_consent)(cfg)
    result = {"wall_s": time.perf_counter() - wall, "cpu_s": _cpu() - cpu}
    result["stats"] = json.loads(Path(cfg["stats"]).read_text())
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
