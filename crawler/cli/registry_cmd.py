"""``consent-crawler registry check URL…``: ask the configured opt-out registry, print answers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._common import load_policy_or_exit


def register(sub: Any) -> None:
    parser = sub.add_parser("registry", help="ask an external opt-out registry")
    inner = parser.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    check = inner.add_parser(
        "check",
        help="print the registry's answer for each URL",
        description="Ask the registry (--registry, else the policy's "
        "registry.url or registry.file) about each URL.",
    )
    check.add_argument("urls", nargs="+", metavar="URL")
    check.add_argument(
        "--registry",
        metavar="URL|FILE",
        help="a Spawning-compatible API URL or a local opt-out file",
    )
    check.add_argument("--policy", help="policy file or bundled name (default: default)")
    check.add_argument("--json", action="store_true", help="one JSON object per URL")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from crawler.registry import RegistryError, open_registry

    policy = load_policy_or_exit(args.policy)
    location = args.registry or policy.registry.url or policy.registry.file
    if not location:
        print(
            "error: no registry: give --registry URL|FILE or set registry.url/file in the policy",
            file=sys.stderr,
        )
        return 2
    try:
        answers = open_registry(location, policy).lookup(args.urls)
    except RegistryError as exc:
        print(f"error: registry unavailable: {exc}", file=sys.stderr)
        return 1
    for url in args.urls:
        answer = answers[url]
        if args.json:
            print(json.dumps({"url": url, **answer.to_dict()}, ensure_ascii=False))
        else:
            state = (
                "UNAVAILABLE: " + answer.error
                if answer.error
                else "OPTED OUT"
                if answer.opted_out
                else "opted in"
                if answer.opted_in
                else "not opted out"
            )
            extra = f" ({answer.detail})" if answer.detail else ""
            print(f"{url}\t{state}{extra}\t[{answer.source}]")
    return 1 if any(answers[u].error for u in args.urls) else 0
