"""``consent-crawler demo``: crawl the bundled sample site offline and show the result.

The sample site (crawler/demo/site) is several local origins, each showing one signal; it is
served on 127.0.0.1 for the duration of the crawl.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._errors import CrawlSetupError

SITE = Path(__file__).resolve().parents[1] / "demo" / "site"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="crawl the bundled sample site (offline)",
        description="Serve the bundled sample site on localhost, crawl it "
        "into the store and print the consent summary.",
    )
    parser.add_argument("--store", default="crawl-data", help="default: ./crawl-data")
    parser.add_argument("--policy", default="default")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crawler.demo.server import SiteServer

    from ._run import CrawlOptions, run_crawl, summary_table  # Scrapy: only when crawling

    with SiteServer.from_directory(SITE) as site:
        seeds = [origin.url("/") for origin in site.origins]
        print(f"serving the sample site: {len(seeds)} origins on 127.0.0.1", file=sys.stderr)
        try:
            result = run_crawl(
                CrawlOptions(
                    seeds=seeds,
                    policy=args.policy,
                    store=args.store,
                    allow_private=True,
                    max_depth=3,
                )
            )
        except CrawlSetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(summary_table(result), end="")
    return 0
