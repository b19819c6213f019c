"""``consent-crawler decide``: evidence JSON lines on stdin → decisions on stdout (offline)."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from typing import Any, TextIO

from crawler.core import Evidence, EvidenceError, decide

from ._common import load_policy_or_exit
from ._explain import explain

HELP = "offline: evidence JSON lines on stdin, one decision line per input on stdout"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "decide",
        help=HELP,
        description=(
            "Read one JSON object per line (design.md §5: url, token, robots_txt, ai_txt, "
            "tdmrep_json, headers, html, document, registry) and print one decision per line, in "
            'order. A malformed line prints {"url": …, "error": …} and the rest go on; the exit '
            "status is 1 if any line failed."
        ),
    )
    parser.add_argument("--policy", help="policy file or bundled name (default: default)")
    parser.add_argument(
        "--explain", action="store_true", help="print each decision in words instead of JSON lines"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policy = load_policy_or_exit(args.policy)
    # Everything loaded so far lives for the whole run: keep it out of the cyclic collector's
    # scans, which otherwise revisit it on every collection of a long stream.
    gc.freeze()
    return decide_stream(sys.stdin, sys.stdout, policy, explain_text=args.explain)


def decide_stream(source: TextIO, sink: TextIO, policy: Any, explain_text: bool = False) -> int:
    failed = False
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def dumps(answer: dict[str, Any]) -> str:
        return explain(answer) if explain_text else encode(answer)

    for lineno, line in enumerate(source, start=1):
        if not line.strip():
            continue
        url: Any = None
        try:
            obj = json.loads(line)
            if isinstance(obj, dict):
                url = obj.get("url")
            evidence = Evidence.from_json(obj)
            out: dict[str, Any] = decide(evidence, policy).to_dict()
        except (ValueError, EvidenceError) as exc:
            failed = True
            what = "not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            out = {"url": url if isinstance(url, str) else None, "error": f"line {lineno}: {what}"}
        sink.write(dumps(out) + "\n")
    sink.flush()
    return 1 if failed else 0
