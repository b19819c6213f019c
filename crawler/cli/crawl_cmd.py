"""``consent-crawler crawl``: run a consent crawl into a store, with a summary at the end."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._errors import CrawlSetupError


def add_crawl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy", default="default", help="policy file or bundled name (default: default)"
    )
    parser.add_argument(
        "--store", default="crawl-data", help="store: a local directory (default: ./crawl-data)"
    )
    parser.add_argument("--token", default="", help="override the policy's product token")
    parser.add_argument("--user-agent", default="", help="override the policy's User-Agent")
    parser.add_argument(
        "--s3-endpoint",
        default="",
        metavar="URL",
        help="S3-compatible endpoint (MinIO, R2, Ceph); default: AWS, or AWS_ENDPOINT_URL",
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="let loopback and private addresses through the network guard (local sites, tests)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Scrapy setting, e.g. DOWNLOAD_DELAY=1",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "crawl",
        help="crawl seeds, keeping only what consent allows",
        description="Crawl each seed's site. Every URL is decided by the "
        "policy before it is requested, on its headers and on its body; "
        "kept items and every decision go to the store.",
    )
    parser.add_argument("seeds", nargs="*", metavar="SEED", help="seed URLs")
    parser.add_argument(
        "--seeds", dest="seeds_file", metavar="FILE", help="a file of seed URLs, one per line"
    )
    parser.add_argument("--job-id", default="", help="job id (default: time + random)")
    parser.add_argument(
        "--resume",
        metavar="JOB_ID",
        default="",
        help="continue an interrupted or killed job (seeds and policy from its "
        "manifest; nothing lost, nothing stored twice)",
    )
    parser.add_argument(
        "--registry",
        metavar="URL|FILE",
        default="",
        help="external opt-out registry: a Spawning-compatible API URL or a local opt-out "
        "file (overrides the policy's [registry]); opted-out URLs are never requested",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default="",
        help="multi-worker mode: crawl as one of many workers sharing the job (--job-id) "
        "through this Redis; a worker given no seeds joins the job",
    )
    parser.add_argument(
        "--worker",
        metavar="NAME",
        default="",
        help="this worker's name in multi-worker mode (default: hostname-pid)",
    )
    parser.add_argument("--max-pages", type=int, help="stop after this many pages")
    parser.add_argument("--max-depth", type=int, help="follow links this many levels deep")
    add_crawl_arguments(parser)
    parser.set_defaults(func=run)


def parse_settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CrawlSetupError(f"--set expects NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    try:
        seeds = list(args.seeds)
        if args.seeds_file:
            from crawler.spiders.consent import read_seeds

            try:
                seeds += read_seeds(None, args.seeds_file)
            except (OSError, ValueError) as exc:
                raise CrawlSetupError(f"--seeds {args.seeds_file}: {exc}") from None
        from ._run import CrawlOptions, run_crawl, summary_table  # Scrapy: only when crawling

        if args.resume and args.job_id and args.resume != args.job_id:
            raise CrawlSetupError("--resume and --job-id name different jobs")
        if args.redis and not (args.job_id or args.resume):
            raise CrawlSetupError("--redis needs --job-id: every worker of a job is given it")
        if args.worker and not args.redis:
            raise CrawlSetupError("--worker names a worker of a multi-worker job (--redis)")
        options = CrawlOptions(
            seeds=seeds,
            policy=args.policy,
            store=args.store,
            job_id=args.resume or args.job_id,
            resume=bool(args.resume),
            s3_endpoint=args.s3_endpoint,
            registry=args.registry,
            redis=args.redis,
            worker=args.worker,
            token=args.token,
            user_agent=args.user_agent,
            max_pages=args.max_pages,
            max_depth=args.max_depth,
            allow_private=args.allow_private,
            settings=parse_settings(args.settings),
            log_level=args.log_level,
        )
        result = run_crawl(options)
    except CrawlSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(result), end="")
    status = result.manifest.get("status")
    if status == "upload-pending":
        print(
            f"warning: the store could not be reached; run `consent-crawler crawl --resume "
            f"{result.job_id} --store {result.store}` to finish storing",
            file=sys.stderr,
        )
    return 0 if status == "finished" else 1
