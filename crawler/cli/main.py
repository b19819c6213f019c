"""Entry point of the ``consent-crawler`` console script."""

from __future__ import annotations

import argparse
import sys

from crawler import __version__

from . import (
    check_cmd,
    crawl_cmd,
    decide_cmd,
    demo_cmd,
    policy_cmd,
    provenance_cmd,
    recheck_cmd,
    registry_cmd,
    report_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consent-crawler",
        description="A Scrapy crawler for AI training data that honours every machine-readable "
        "do-not-train signal and records why each kept page was allowed.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        crawl_cmd,
        check_cmd,
        demo_cmd,
        decide_cmd,
        policy_cmd,
        provenance_cmd,
        report_cmd,
        registry_cmd,
        recheck_cmd,
    ):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
