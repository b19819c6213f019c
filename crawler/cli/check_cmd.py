"""``consent-crawler check URL``: fetch the signals live and explain the decision.

It is a one-page consent crawl (same middlewares, same identity, same network guard) into a
temporary store, so what it says is exactly what a crawl would do.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._errors import CrawlSetupError
from ._explain import explain
from .crawl_cmd import add_crawl_arguments, parse_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "check",
        help="fetch a URL's signals live and explain the decision",
        description="Fetch the URL's policy files, headers and page as a "
        "crawl would, and explain the decision: which signal, which line or "
        "value, which file and its sha256.",
    )
    parser.add_argument("url")
    parser.add_argument("--json", action="store_true", help="print decision lines as JSON")
    add_crawl_arguments(parser)
    parser.set_defaults(func=run, store=None)


def run(args: argparse.Namespace) -> int:
    from ._run import CrawlOptions, run_crawl  # Scrapy: only when crawling

    with tempfile.TemporaryDirectory(prefix="consent-check-") as tmp:
        try:
            options = CrawlOptions(
                seeds=[args.url],
                policy=args.policy,
                store=args.store or tmp,
                s3_endpoint=args.s3_endpoint,
                token=args.token,
                user_agent=args.user_agent,
                max_pages=1,
                max_depth=0,
                allow_private=args.allow_private,
                settings=parse_settings(args.settings),
                progress=False,
                log_level=args.log_level,
            )
            result = run_crawl(options)
        except CrawlSetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        lines = decision_lines(Path(options.store) / "jobs" / result.job_id)
    if not lines:
        print(
            f"{args.url}\n  no decision was recorded (the request failed before consent "
            "was decided; see the log)",
            file=sys.stderr,
        )
        return 1
    for line in lines:
        sys.stdout.write(
            json.dumps(line, ensure_ascii=False) + "\n"
            if args.json
            else explain({**line, "mode": result.manifest.get("policy", {}).get("mode", "?")})
        )
    return 0


def decision_lines(job_dir: Path) -> list[dict[str, Any]]:
    from crawler.store.parts import read_part

    lines: list[dict[str, Any]] = []
    for part in sorted((job_dir / "decisions").glob("*.jsonl.gz")):
        lines += read_part(part)
    return lines
