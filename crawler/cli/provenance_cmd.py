"""``consent-crawler provenance show|list|stats|verify``: the operators' view of a stored job.

Light on imports on purpose (no Scrapy, nothing network-shaped): an operator looking at a job
on a laptop or a bastion host needs only the store.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crawler.core.decision import SIGNALS


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--store``, ``--s3-endpoint``, ``--job`` and ``--json``, shared with ``report``."""
    parser.add_argument(
        "--store",
        default="crawl-data",
        metavar="LOCATION",
        help="store: a directory or s3://bucket/prefix (default: ./crawl-data)",
    )
    parser.add_argument(
        "--s3-endpoint", default="", metavar="URL", help="S3-compatible endpoint URL"
    )
    parser.add_argument("--job", metavar="ID", help="job id (default: the latest job)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "provenance",
        help="look up, list, count and verify a stored job's provenance",
        description="Inspect a stored job: show one URL's or item's full record, list "
        "decisions with filters, count them, verify the store against its hashes.",
    )
    inner = parser.add_subparsers(dest="provenance_command", required=True, metavar="COMMAND")
    show = inner.add_parser(
        "show",
        help="the full record of a URL or an item id",
        description="Every item and decision line a URL (as requested, final, or a redirect "
        "hop) or an item id (or a unique prefix of 8+ hex digits) answers for: signals, "
        "verdicts, rules, evidence hashes and fetch times, redirects, attribution.",
    )
    show.add_argument("query", metavar="URL|ITEM_ID")
    add_store_arguments(show)
    show.set_defaults(func=run_show)

    listing = inner.add_parser(
        "list",
        help="one line per decision, with filters",
        description="One line per URL decided: url, fetch, use, refusing signals.",
    )
    listing.add_argument("--use", choices=("refused", "allowed", "n/a"))
    listing.add_argument("--fetch", choices=("refused", "allowed"))
    listing.add_argument("--signal", metavar="NAME", help="refused by this signal")
    listing.add_argument(
        "--domain", metavar="D", help="host and its subdomains, or host:port for one origin"
    )
    listing.add_argument("--since", metavar="TIME", help="decided at or after (RFC 3339 or date)")
    listing.add_argument("--limit", type=int, metavar="N")
    add_store_arguments(listing)
    listing.set_defaults(func=run_list)

    stats = inner.add_parser("stats", help="counts by decision, refusing signal and domain")
    stats.add_argument("--top", type=int, default=10, metavar="N", help="domains shown")
    add_store_arguments(stats)
    stats.set_defaults(func=run_stats)

    verify = inner.add_parser(
        "verify",
        help="check parts, counts, ids and evidence hashes; exit 1 on any problem",
        description="Check every listed part (present, readable, line count), the manifest's "
        "counts, item ids, html_sha256, and every referenced evidence object's hash.",
    )
    add_store_arguments(verify)
    verify.set_defaults(func=run_verify)


def open_job(args: argparse.Namespace) -> Any:
    """The job named by ``--store``/``--job``, or exit 2 with the reason."""
    from crawler.ops.jobs import Job, JobNotFound, StoreDataError
    from crawler.store.objects import StoreError, open_objects

    try:
        objects = open_objects(args.store, endpoint_url=args.s3_endpoint or None)
        return Job.open(objects, args.job)
    except (JobNotFound, StoreDataError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def open_job_index(args: argparse.Namespace) -> tuple[Any, Any]:
    from crawler.ops.index import open_index

    job = open_job(args)
    return job, open_index(job, log=lambda message: print(message, file=sys.stderr))


def _dump(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def run_show(args: argparse.Namespace) -> int:
    from crawler.ops import provenance
    from crawler.ops.jobs import StoreDataError

    job, index = open_job_index(args)
    with index:
        try:
            found = provenance.find(job, index, args.query)
        except StoreDataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if not found["items"] and not found["decisions"]:
        print(f"{args.query}: not found in job {job.job_id}", file=sys.stderr)
        return 1
    if args.json:
        _dump(found)
    else:
        sys.stdout.write(provenance.render_found(job, found))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from crawler.ops import queries

    if args.signal and args.signal not in SIGNALS:
        print(
            f"warning: {args.signal!r} is not a contract signal name ({', '.join(SIGNALS)})",
            file=sys.stderr,
        )
    filters = queries.Filters(
        args.use, args.fetch, args.signal, args.domain, args.since, args.limit
    )
    job, index = open_job_index(args)
    with index:
        try:
            rows = queries.list_decisions(index, filters)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        sys.stdout.write(queries.render_list(rows))
        print(f"{len(rows)} decision(s) in job {job.job_id}", file=sys.stderr)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from crawler.ops import queries

    job, index = open_job_index(args)
    with index:
        data = queries.stats(job, index, args.top)
    if args.json:
        _dump(data)
    else:
        sys.stdout.write(queries.render_stats(data))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from crawler.ops.verify import render, verify

    job = open_job(args)
    report = verify(job)
    if args.json:
        _dump(report.to_dict())
    else:
        sys.stdout.write(render(report, job.objects.location))
    return 0 if report.ok else 1
