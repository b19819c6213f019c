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
        names = {origin.base_url: origin.name for origin in site.origins}
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
    print(origin_table(Path(args.store) / "jobs" / result.job_id, names), end="")
    print(summary_table(result), end="")
    return 0


def origin_table(job_dir: Path, names: dict[str, str]) -> str:
    """Per demo origin: what it shows, pages kept, pages refused and by which signal."""
    import tomllib
    from collections import Counter, defaultdict

    from crawler.ops.fields import refusing_signals
    from crawler.policy_fetch import origin_of
    from crawler.store.parts import read_part

    shows = {
        name: spec.get("shows", "")
        for name, spec in tomllib.loads((SITE / "EXPECTED.toml").read_text(encoding="utf-8"))[
            "origins"
        ].items()
    }
    kept: Counter[str] = Counter()
    refused: dict[str, Counter[str]] = defaultdict(Counter)
    for part in sorted((job_dir / "decisions").glob("*.jsonl.gz")):
        for line in read_part(part):
            name = names.get(origin_of(line["url"]), "?")
            if line["fetch"] == "allowed" and line["use"] == "allowed":
                kept[name] += 1
            for signal in refusing_signals(line):
                refused[name][signal] += 1
    rows = [("origin", "kept", "refused (signal)", "what it shows")]
    for name in sorted(names.values()):
        signals = ", ".join(f"{n} {s}" for s, n in sorted(refused[name].items())) or "-"
        rows.append((name, str(kept[name]), signals, shows.get(name, "")[:60]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "demo site: one signal per origin\n" + "\n".join(lines) + "\n\n"
