"""Measure ``consent-crawler decide`` throughput (issue #2 acceptance).

Generates N input lines, each with a *different* robots.txt of about 20 KiB (so the parse cache
cannot help), runs the real console script on one core (``taskset -c 0`` when available) and
reports lines per second.  A second run with one shared robots.txt shows the cached case.

    python bench/decide_throughput.py [--lines 10000] [--kib 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def robots_file(rng: random.Random, size: int) -> str:
    lines: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        if roll < 0.06:
            line = (
                f"\nUser-agent: {rng.choice(['*', 'GPTBot', 'CCBot', 'Bot'])}{rng.randint(0, 99)}"
            )
        elif roll < 0.12:
            line = f"# {rng.random():.12f} maintenance note"
        elif roll < 0.15:
            line = f"Content-Usage: /{rng.randint(0, 999)}/ train-ai={rng.choice('yn')}"
        else:
            kind = rng.choice(["Allow", "Disallow"])
            line = f"{kind}: /{rng.choice('abcdefgh')}/{rng.randint(0, 99999)}/*.html"
        lines.append(line)
        total += len(line) + 1
    return "User-agent: *\nDisallow: /private/\n" + "\n".join(lines) + "\n"


def make_input(path: Path, count: int, kib: int, shared: bool) -> int:
    rng = random.Random(7)
    size = 0
    common = robots_file(rng, kib * 1024)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            body = common if shared else robots_file(rng, kib * 1024)
            line = json.dumps(
                {
                    "url": f"https://site{i}.example/{rng.choice('abcdefgh')}/{i}/page.html",
                    "robots_txt": {"status": 200, "body": body},
                    "ai_txt": {"status": 404, "body": ""},
                    "tdmrep_json": {
                        "status": 200,
                        "body": '[{"location": "/x/", "tdm-reservation": 1}]',
                    },
                    "headers": {"X-Robots-Tag": ["noindex"], "Content-Usage": ["search=y"]},
                }
            )
            size += len(line) + 1
            out.write(line + "\n")
    return size


def run(path: Path) -> tuple[float, int]:
    exe = shutil.which("consent-crawler")
    if exe is None:
        sys.exit("consent-crawler is not installed (pip install -e .)")
    cmd = [exe, "decide"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    start = time.perf_counter()
    with path.open("rb") as stdin:
        done = subprocess.run(cmd, stdin=stdin, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(done.stderr.decode())
    return elapsed, done.stdout.count(b"\n")


def in_process(count: int, kib: int) -> dict[str, int]:
    """decide() itself, on one core, with the policy files already parsed (as in the crawler,
    where an origin's files are fetched and parsed once): decisions per second."""
    from crawler.core import Evidence, FetchedFile, Headers, decide, load_policy
    from crawler.core._html import meta_from_html

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    policy = load_policy(Path(__file__).resolve().parents[1] / "policies" / "default.toml")
    rng = random.Random(3)
    files = {
        f"{kib} KiB robots.txt": FetchedFile(200, robots_file(rng, kib * 1024).encode()),
        "small robots.txt": FetchedFile(
            200, b"User-agent: *\nDisallow: /private/\n\nUser-agent: GPTBot\nDisallow: /\n"
        ),
    }
    ai_txt, tdmrep = (
        FetchedFile(404),
        FetchedFile(200, b'[{"location": "/x/", "tdm-reservation": 1}]'),
    )
    headers = Headers([("Content-Type", "text/html"), ("X-Robots-Tag", "noindex")])
    meta = meta_from_html("<html><head><meta name='robots' content='index'></head></html>")
    out = {}
    for name, robots in files.items():
        evidence = [
            Evidence(
                url=f"https://e.example/a/{i}/p.html",
                robots_txt=robots,
                ai_txt=ai_txt,
                tdmrep_json=tdmrep,
                headers=headers,
                meta=meta,
            )
            for i in range(count)
        ]
        decide(evidence[0], policy)  # parse once: the cached case
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            for item in evidence:
                decide(item, policy)
            best = max(best, count / (time.perf_counter() - start))
        out[name] = round(best)
        print(f"decide() in process, cached {name:22} {best:,.0f} decisions/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--kib", type=int, default=20)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, shared in (
            ("distinct robots.txt per line", False),
            ("one cached robots.txt", True),
        ):
            path = Path(tmp) / "input.jsonl"
            size = make_input(path, args.lines, args.kib, shared)
            elapsed, answers = run(path)
            assert answers == args.lines
            results[label] = {
                "lines": args.lines,
                "input_mib": round(size / 2**20, 1),
                "seconds": round(elapsed, 2),
                "lines_per_second": round(args.lines / elapsed),
            }
            print(
                f"{label:32} {args.lines} lines, {size / 2**20:.0f} MiB: {elapsed:.2f} s "
                f"({args.lines / elapsed:,.0f} lines/s)"
            )
    results["in-process decide(), cached files, decisions/s"] = in_process(args.lines, args.kib)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
