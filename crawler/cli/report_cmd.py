"""``consent-crawler report``: a job's consent report in the terminal, or as one HTML page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .provenance_cmd import add_store_arguments, open_job_index


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "report",
        help="a job's consent report (terminal, or --html FILE)",
        description="Kept vs refused per signal and per domain, top refusing domains, "
        "refusals caused by errors, the policy and identity used, the job's times. With "
        "--html, also a self-contained HTML page (inline CSS and SVG charts, nothing fetched).",
    )
    add_store_arguments(parser)
    parser.add_argument("--html", metavar="FILE", type=Path, help="also write an HTML page")
    parser.add_argument("--top", type=int, default=10, metavar="N", help="domains shown")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crawler.ops.report import render_text, report_data

    job, index = open_job_index(args)
    with index:
        data = report_data(job, index, args.top)
    if args.html is not None:
        from crawler.ops.report_html import render_html

        args.html.write_text(render_html(data), encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(data))
        if args.html is not None:
            print(f"\nHTML report written to {args.html}")
    return 0
