"""The crawl benchmark (issue #6): what does consent cost a crawler's throughput?

    python bench/run.py [--quick] [--variant small|paired|latency|scale|decide|registry|all]
                        [--reps N] [--json FILE]

* paired: (a) and (b) of the small workload at the same time, one per core, swapping cores
  each round: the CPU ratio b/a with the machine's drift cancelled (a diagnostic).
* small: a static multi-origin site (pages of 20-60 KiB, linked, with signal files) served by
  nginx (or Twisted) on another core; alternating runs of (a) plain Scrapy with
  ``ROBOTSTXT_OBEY = True``, (b) consent-crawler, every signal on, local store, (c) the same
  into S3 on moto; pages/s, crawler CPU ms per page, peak RSS, medians and the b/a ratio.
* latency: 100 ms per response, 50 origins, (a) vs (b): the extra time consent costs, in
  round trips (policy files are fetched concurrently).
* scale: (b) at growing page counts over 500 origins: peak RSS must stay flat.
* decide: ``bench/decide_throughput.py`` (decisions/s on one core; its cached line counts).
* registry: requests sent to an opt-out registry per 10,000 URLs (a local Spawning-compatible
  registry answering after 20 ms), for URLs found as links and for a list of seeds, and the
  crawl's pages/s with the registry on.

Each crawl is its own process pinned to core 0 (servers on core 1); see ``measure.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import Run, alternate, crawl, crawl_together, machine, summarize
from servers import CRAWLER_CPU, SERVER_CPU, moto_s3, site_server
from sitegen import SiteSpec, page_name, write_site

BENCH = Path(__file__).resolve().parent
REGISTRY_DELAY_S = 0.02


def variant_small(tmp: Path, quick: bool, reps: int) -> dict[str, Any]:
    spec = SiteSpec(origins=10, pages_per_origin=100) if quick else SiteSpec(12, 250)
    write_site(tmp / "site", spec)
    with site_server(tmp / "site", spec.origins, tmp) as (server, ports):
        seeds = [f"http://127.0.0.1:{p}/" for p in ports]
        with s3_env(), moto_s3(dict(os.environ)) as endpoint:
            bucket_for(endpoint)
            runs = alternate(
                tmp,
                reps,
                {
                    "a": Run("plain", seeds, spec.pages),
                    "b": Run("consent", seeds, spec.pages),
                    "c": Run("consent", seeds, spec.pages, s3_endpoint=endpoint),
                },
            )
    return {"site": spec.__dict__, "server": server, **summarize(runs)}


def variant_paired(tmp: Path, quick: bool, reps: int) -> dict[str, Any]:
    """(a) and (b) of the small workload run at the same time, one per core, swapping cores
    each round; CPU ms per page of each and their ratio per round (a diagnostic for noisy
    machines: the site server shares the second core, so pages/s are not comparable)."""
    spec = SiteSpec(origins=10, pages_per_origin=100) if quick else SiteSpec(12, 250)
    write_site(tmp / "site-paired", spec)
    rounds = []
    with site_server(tmp / "site-paired", spec.origins, tmp) as (server, ports):
        seeds = [f"http://127.0.0.1:{p}/" for p in ports]
        runs = {"a": Run("plain", seeds, spec.pages), "b": Run("consent", seeds, spec.pages)}
        for rep in range(reps):
            cores = [CRAWLER_CPU, SERVER_CPU] if rep % 2 == 0 else [SERVER_CPU, CRAWLER_CPU]
            row = crawl_together(tmp, runs, f"paired-{rep}", cores)
            row["cpu_ratio"] = round(row["b"]["cpu_ms_per_page"] / row["a"]["cpu_ms_per_page"], 3)
            print(f"  paired round {rep + 1}: {row}", flush=True)
            rounds.append(row)
    return {
        "site": spec.__dict__,
        "server": server,
        "rounds": rounds,
        "median_cpu_ms_per_page": {
            key: statistics.median(r[key]["cpu_ms_per_page"] for r in rounds) for key in "ab"
        },
        "median_cpu_ratio_b_to_a": statistics.median(r["cpu_ratio"] for r in rounds),
    }


def variant_latency(tmp: Path, quick: bool, reps: int) -> dict[str, Any]:
    spec = SiteSpec(origins=50, pages_per_origin=10 if quick else 20)
    write_site(tmp / "site-latency", spec)
    rtt = 0.1
    with site_server(tmp / "site-latency", spec.origins, tmp, delay=rtt) as (server, ports):
        seeds = [f"http://127.0.0.1:{p}/" for p in ports]
        runs = alternate(
            tmp,
            reps,
            {"a": Run("plain", seeds, spec.pages), "b": Run("consent", seeds, spec.pages)},
        )
    out = summarize(runs)
    extra = out["median"]["b"]["wall_s"] - out["median"]["a"]["wall_s"]
    out["rtt_s"] = rtt
    out["extra_wall_s"] = round(extra, 3)
    out["extra_round_trips"] = round(extra / rtt, 2)
    out["budget_s"] = round(spec.origins * rtt, 2)  # one round trip per origin
    out["within_budget"] = extra <= spec.origins * rtt
    return {"site": spec.__dict__, "server": server, **out}


def variant_scale(tmp: Path, sizes: list[int]) -> dict[str, Any]:
    origins = 500
    spec = SiteSpec(origins=origins, pages_per_origin=-(-max(sizes) // origins))
    write_site(tmp / "site-scale", spec)
    rows = []
    with site_server(tmp / "site-scale", spec.origins, tmp) as (server, ports):
        seeds = [f"http://127.0.0.1:{p}/" for p in ports]
        for size in sizes:
            result = crawl(tmp, Run("consent", seeds, size), f"scale-{size}")
            rows.append({"max_pages": size, **result})
            print(f"  scale {size}: {result}", flush=True)
    first, last = rows[0]["peak_rss_mib"], rows[-1]["peak_rss_mib"]
    return {
        "site": spec.__dict__,
        "server": server,
        "runs": rows,
        "rss_ratio_largest_to_smallest": round(last / first, 2),
    }


def variant_decide(tmp: Path, quick: bool) -> dict[str, Any]:
    out = tmp / "decide.json"
    lines = "2000" if quick else "10000"
    cmd = [sys.executable, str(BENCH / "decide_throughput.py"), "--lines", lines]
    subprocess.run([*cmd, "--json", str(out)], check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    # decide() itself with parsed (cached) policy files, as in the crawler; the console-script
    # lines also pay for decoding a 20 KiB robots.txt of JSON on every line.
    in_process = result["in-process decide(), cached files, decisions/s"]
    result["cached_decisions_per_s"] = min(in_process.values())
    result["cli_cached_lines_per_s"] = result["one cached robots.txt"]["lines_per_second"]
    return result


def variant_registry(tmp: Path, quick: bool) -> dict[str, Any]:
    spec = SiteSpec(origins=10, pages_per_origin=200 if quick else 1000)
    write_site(tmp / "site-registry", spec)
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from registrykit import RegistryServer  # the tests' local registry; nothing leaves

    out: dict[str, Any] = {"site": spec.__dict__, "registry_delay_s": REGISTRY_DELAY_S}
    with site_server(tmp / "site-registry", spec.origins, tmp) as (server, ports):
        roots = [f"http://127.0.0.1:{p}/" for p in ports]
        every_page = [
            f"http://127.0.0.1:{p}/{page_name(i)}"
            for p in ports
            for i in range(spec.pages_per_origin)
        ]
        for name, seeds in (("links", roots), ("seed list", every_page)):
            with RegistryServer() as registry:
                registry.delay = REGISTRY_DELAY_S
                run = Run("consent", seeds, spec.pages, settings={"CONSENT_REGISTRY": registry.url})
                result = crawl(tmp, run, f"registry-{name.replace(' ', '-')}")
                asked = len(registry.asked())
                requests = len(registry.batches)
            out[name] = {
                **result,
                "urls_asked": asked,
                "registry_requests": requests,
                "requests_per_10000_urls": round(requests * 10_000 / max(asked, 1), 1),
            }
            print(f"  registry ({name}): {out[name]}", flush=True)
    out["server"] = server
    return out


def s3_env() -> Any:
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from s3kit import fake_aws_env  # the tests' fake credentials; nothing leaves the machine

    return fake_aws_env()


def bucket_for(endpoint: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")


def table(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results['machine']}", ""]
    header = "| workload | run | pages | pages/s | CPU ms/page | peak RSS MiB | ratio to a |"
    lines += [header, "| --- | --- | --- | --- | --- | --- | --- |"]
    names = {"a": "(a) Scrapy, ROBOTSTXT_OBEY", "b": "(b) consent, local", "c": "(c) consent, S3"}
    for variant in ("small", "latency"):
        if variant not in results:
            continue
        res = results[variant]
        label = f"{variant} ({res['site']['origins']} origins, {res['server']})"
        for key, med in res["median"].items():
            ratio = res["ratio_to_a"].get(key, 1.0)
            lines.append(
                f"| {label} | {names[key]} | {med['pages']} | {med['pages_per_s']:.1f} | "
                f"{med['cpu_ms_per_page']:.2f} | {med['peak_rss_mib']:.0f} | {ratio:.3f} |"
            )
        if variant == "latency":
            lines.append(
                f"\nLatency: consent adds {res['extra_wall_s']} s = "
                f"{res['extra_round_trips']} round trips of {res['rtt_s'] * 1000:.0f} ms "
                f"(budget: one per origin, {res['budget_s']} s)."
            )
    if "paired" in results:
        res = results["paired"]
        cpu = res["median_cpu_ms_per_page"]
        lines.append(
            f"\nPaired (a and b at once, one core each, {len(res['rounds'])} rounds): CPU ms/page "
            f"(a) {cpu['a']:.2f}, (b) {cpu['b']:.2f}; median b/a CPU ratio "
            f"{res['median_cpu_ratio_b_to_a']:.3f} (throughput ratio ~"
            f"{1 / res['median_cpu_ratio_b_to_a']:.3f})."
        )
    if "scale" in results:
        res = results["scale"]
        lines.append("\n| scale: pages (500 origins) | pages/s | peak RSS MiB |")
        lines.append("| --- | --- | --- |")
        for run in res["runs"]:
            lines.append(
                f"| {run['pages']} | {run['pages_per_s']:.1f} | {run['peak_rss_mib']:.0f} |"
            )
        lines.append(f"\nRSS ratio largest/smallest: {res['rss_ratio_largest_to_smallest']}")
    if "decide" in results:
        lines.append(
            f"\nDecide, cached policy files: {results['decide']['cached_decisions_per_s']:,}"
            " decisions/s on one core (decide() in process, 20 KiB robots.txt of ~40 groups); "
            f"through the console script {results['decide']['cli_cached_lines_per_s']:,} "
            "lines/s, each line carrying the 20 KiB robots.txt as JSON."
        )
    if "registry" in results:
        res = results["registry"]
        lines.append(
            f"\n| registry ({res['registry_delay_s'] * 1000:.0f} ms a request) | pages | "
            "pages/s | URLs asked | registry requests | requests per 10,000 URLs |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for name in ("links", "seed list"):
            run = res[name]
            lines.append(
                f"| {name} | {run['pages']} | {run['pages_per_s']:.1f} | {run['urls_asked']} | "
                f"{run['registry_requests']} | {run['requests_per_10000_urls']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, ~2 minutes")
    parser.add_argument(
        "--variant",
        default="all",
        choices=["small", "paired", "latency", "scale", "decide", "registry", "all"],
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--reps", type=int, default=3, help="alternations of each run")
    parser.add_argument(
        "--scale-pages",
        default="10000,100000",
        help="comma-separated page counts for the scale variant",
    )
    args = parser.parse_args()
    every = {"small", "paired", "latency", "scale", "decide", "registry"}
    wanted = every if args.variant == "all" else {args.variant}
    results: dict[str, Any] = {"machine": machine(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory(prefix="consent-bench-") as name:
        tmp = Path(name)
        if "small" in wanted:
            results["small"] = variant_small(tmp, args.quick, args.reps)
        if "paired" in wanted:
            results["paired"] = variant_paired(tmp, args.quick, args.reps)
        if "latency" in wanted:
            results["latency"] = variant_latency(tmp, args.quick, args.reps)
        if "scale" in wanted:
            sizes = [2000, 5000] if args.quick else [int(s) for s in args.scale_pages.split(",")]
            results["scale"] = variant_scale(tmp, sizes)
        if "decide" in wanted:
            results["decide"] = variant_decide(tmp, args.quick)
        if "registry" in wanted:
            results["registry"] = variant_registry(tmp, args.quick)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
