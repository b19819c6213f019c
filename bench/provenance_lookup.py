"""Measure ``consent-crawler provenance show`` on a large job (issue #4 acceptance).

Synthesises a job of N items (default 100,000) in the real store layout, written through
``LocalObjects``: items with small HTML and full provenance (signals, reasons, redirects,
attribution), one decision line per item plus refused decisions, parts of 10,000 lines (the
writer's default rotation), one robots.txt evidence object per host.  Then it builds the index
and times, through the real console script, ``provenance show`` by URL and by item id (index
present), the first lookup when the index is absent (built on demand), and ``list``/``stats``/
``verify`` for scale.  Not a test: numbers depend on the machine.

    python bench/provenance_lookup.py [--items 100000] [--lookups 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crawler.ops.index import build_index, index_key
from crawler.ops.jobs import item_id_for
from crawler.store.objects import LocalObjects

JOB = "20260101T000000Z-bench0"
PART_LINES = 10_000
HOSTS = 1_000
POLICY = {
    "name": "default",
    "sha256": "10a5fcbd782107d44042f129dca99d5be3282ee0b6f225c75d39fd1c11656a86",
}
CRAWLER = {
    "name": "consent-crawler",
    "version": "0.1.0",
    "scrapy": "2.19.0",
    "user_agent": "ConsentCrawler/0.1 (+https://consent-crawler.example/bot)",
    "token": "ConsentCrawler",
    "contact_url": "https://consent-crawler.example/bot",
}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def robots_body(host: str) -> bytes:
    return f"User-agent: *\nAllow: /\nDisallow: /private/\n# {host}\n".encode()


def item_and_decision(n: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    host = f"site{n % HOSTS}.example"
    url = f"https://{host}/articles/{n}.html"
    final_url = url if n % 10 else f"https://www.{host}/articles/{n}.html"
    html = f"<html><head><title>Article {n}</title></head><body><p>Text {n} {rng.random()}</p>"
    content_sha = sha(html.encode("utf-8"))
    item_id = item_id_for(final_url, content_sha)
    robots = sha(robots_body(host))
    absent = sha(b"not found")
    when = f"2026-01-01T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}.000Z"
    reasons = [
        {
            "signal": "robots",
            "verdict": "allow",
            "scope": "fetch",
            "detail": f"Allow: / (line 2) of group 'User-agent: *' matches /articles/{n}.html",
            "evidence": robots,
        },
        {
            "signal": "ai-txt",
            "verdict": "unknown",
            "scope": "use",
            "detail": "no ai.txt (HTTP 404): the site does not publish one",
            "evidence": absent,
        },
        {
            "signal": "policy",
            "verdict": "allow",
            "scope": "use",
            "detail": "no signal reserves or permits AI training; opt-out mode uses it",
        },
    ]
    hops = [{"url": final_url, "status": 200, "decision": "allowed"}]
    if final_url != url:
        hops.insert(0, {"url": url, "status": 301, "decision": "allowed"})
    item = {
        "url": url,
        "final_url": final_url,
        "fetched_at": when,
        "status": 200,
        "content_type": "text/html; charset=utf-8",
        "content_sha256": content_sha,
        "title": f"Article {n}",
        "text": f"Text {n}",
        "language": "en",
        "html": html,
        "attribution": {
            "author": f"Author {n % 97}",
            "creator": None,
            "publisher": None,
            "license_url": None,
            "copyright": None,
            "sources": {"author": "json-ld"},
        },
        "provenance": {
            "job_id": JOB,
            "item_id": item_id,
            "crawler": CRAWLER,
            "policy": POLICY,
            "decision": {
                "fetch": "allowed",
                "use": "allowed",
                "mode": "opt-out",
                "reasons": reasons,
            },
            "signals": {
                "robots": {
                    "verdict": "allow",
                    "matched": reasons[0]["detail"],
                    "sha256": robots,
                    "url": f"https://{host}/robots.txt",
                    "status": 200,
                    "fetched_at": when,
                    "redirects": 0,
                },
                "ai-txt": {"verdict": "unknown", "matched": reasons[1]["detail"], "sha256": absent},
                "policy": {"verdict": "allow", "matched": reasons[2]["detail"]},
            },
            "redirects": hops,
        },
        "html_sha256": content_sha,
    }
    decision = {
        "url": final_url,
        "fetch": "allowed",
        "use": "allowed",
        "reasons": reasons,
        "decided_at": when,
        "evidence": {"robots.txt": robots, "ai.txt": absent},
        "stage": "body",
        "job_id": JOB,
        "status": 200,
        "item_id": item_id,
        "redirects": hops[:-1],
    }
    return item, decision


def refused_decision(n: int) -> dict[str, Any]:
    host = f"site{n % HOSTS}.example"
    robots = sha(robots_body(host))
    return {
        "url": f"https://{host}/private/{n}.html",
        "fetch": "refused",
        "use": "n/a",
        "reasons": [
            {
                "signal": "robots",
                "verdict": "refuse",
                "scope": "fetch",
                "detail": "Disallow: /private/ (line 3) of group 'User-agent: *'",
                "evidence": robots,
            }
        ],
        "decided_at": "2026-01-01T23:59:59.000Z",
        "evidence": {"robots.txt": robots},
        "stage": "request",
        "job_id": JOB,
        "status": None,
        "item_id": None,
        "redirects": [],
    }


def synthesise(store: LocalObjects, items: int) -> dict[str, Any]:
    rng = random.Random(4)
    parts: dict[str, list[dict[str, Any]]] = {"items": [], "decisions": []}
    buffers: dict[str, list[bytes]] = {"items": [], "decisions": []}
    refused = items // 5

    def flush(kind: str) -> None:
        lines = buffers[kind]
        if lines:
            name = f"part-w0-{len(parts[kind]) + 1:05d}.jsonl.gz"
            store.put(f"jobs/{JOB}/{kind}/{name}", gzip.compress(b"".join(lines), mtime=0))
            parts[kind].append({"name": name, "lines": len(lines)})
            buffers[kind] = []

    def write(kind: str, record: dict[str, Any]) -> None:
        buffers[kind].append((_dumps(record) + "\n").encode("utf-8"))
        if len(buffers[kind]) >= PART_LINES:
            flush(kind)

    for n in range(items):
        item, decision = item_and_decision(n, rng)
        write("items", item)
        write("decisions", decision)
    for n in range(refused):
        write("decisions", refused_decision(n))
    for kind in parts:
        flush(kind)
    for h in range(HOSTS):
        body = robots_body(f"site{h}.example")
        store.put(f"evidence/{sha(body)}", body)
    store.put(f"evidence/{sha(b'not found')}", b"not found")
    manifest = {
        "job_id": JOB,
        "status": "finished",
        "started_at": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-02T00:00:00.000Z",
        "policy": {**POLICY, "mode": "opt-out"},
        "identity": CRAWLER,
        "counts": {
            "items": items,
            "decisions": {"kept": items, "refused": refused},
            "refused_by_signal": {"robots": refused},
        },
        "parts": parts,
    }
    store.put(f"jobs/{JOB}/manifest.json", json.dumps(manifest, indent=2).encode())
    return manifest


def timed(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [shutil.which("consent-crawler") or "consent-crawler", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{args}: exit {done.returncode}\n{done.stderr}")
    return elapsed


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(samples), 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {"items": args.items}
    with tempfile.TemporaryDirectory(prefix="consent-bench-") as tmp:
        root = Path(tmp) / "store"
        store = LocalObjects(root)
        started = time.perf_counter()
        manifest = synthesise(store, args.items)
        results["synthesise_s"] = round(time.perf_counter() - started, 2)
        results["decisions"] = sum(p["lines"] for p in manifest["parts"]["decisions"])
        results["store_mib"] = round(sum(p.stat().st_size for p in root.rglob("*")) / 2**20, 1)
        common = ("--store", str(root), "--job", JOB)

        results["cli_startup_s"] = summary([timed("--version") for _ in range(3)])
        rng = random.Random(9)
        picks = [rng.randrange(args.items) for _ in range(args.lookups)]
        first = item_and_decision(picks[0], random.Random(4))[0]["final_url"]
        results["first_show_building_index_s"] = round(
            timed("provenance", "show", first, *common), 2
        )
        store.delete(index_key(JOB))
        started = time.perf_counter()
        data = build_index(store, JOB)
        results["build_index_s"] = round(time.perf_counter() - started, 2)
        results["index_mib"] = round(len(data) / 2**20, 1)
        store.put(index_key(JOB), data)

        urls, ids = [], []
        for n in picks:
            item, _ = item_and_decision(n, random.Random(4))
            urls.append(item["url"])
        for line in gzip.decompress(store.get(f"jobs/{JOB}/items/part-w0-00007.jsonl.gz"))[
            :2_000_000
        ].splitlines()[: args.lookups]:
            ids.append(json.loads(line)["provenance"]["item_id"])
        results["show_by_url_s"] = summary([timed("provenance", "show", u, *common) for u in urls])
        results["show_by_item_id_s"] = summary(
            [timed("provenance", "show", i, *common) for i in ids]
        )
        results["list_domain_s"] = round(
            timed("provenance", "list", "--domain", "site7.example", *common), 2
        )
        results["stats_s"] = round(timed("provenance", "stats", *common), 2)
        results["verify_s"] = round(timed("provenance", "verify", *common), 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
