"""Run one crawl in a child process and measure it; alternate runs; take medians.

Why a child per run: CPU time and peak RSS must be the crawler's alone (servers and moto run
in other processes), and one run's caches or heap must not help or hurt the next.  The child
reports the crawl's own wall and CPU time (imports excluded) and Scrapy's stats; ``os.wait4``
gives its peak RSS.  Runs alternate (a, b, c, a, b, c, ...) so drift in the machine (other
load, thermal, page cache) hits every mode alike; ratios are taken per alternation, then the
median.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import CRAWLER_CPU, pinned

CHILD = Path(__file__).resolve().parent / "child.py"


@dataclass
class Run:
    """One crawl configuration: ``mode`` is "plain" or "consent"."""

    mode: str
    seeds: list[str]
    max_pages: int
    s3_endpoint: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


def crawl(tmp: Path, run: Run, tag: str) -> dict[str, Any]:
    """Run one crawl pinned to the crawler's core; returns pages, rates, CPU and peak RSS."""
    return _finish(*_start(tmp, run, tag, CRAWLER_CPU))


def crawl_together(tmp: Path, runs: dict[str, Run], tag: str, cores: list[int]) -> dict[str, Any]:
    """Run crawls at the same time, each pinned to its own core: whatever the machine does
    meanwhile (other tenants, clock changes) it does to all of them, so their CPU times compare
    even where one run's time differs from the next run's by 20%."""
    started = {
        key: _start(tmp, run, f"{key}-{tag}", cpu)
        for (key, run), cpu in zip(runs.items(), cores, strict=True)
    }
    return {key: _finish(*job) for key, job in started.items()}


def _start(tmp: Path, run: Run, tag: str, cpu: int) -> tuple[subprocess.Popen[bytes], Path]:
    work = tmp / tag
    work.mkdir(parents=True)
    store = f"s3://bench/{tag}" if run.s3_endpoint else str(work / "store")
    cfg = {
        "mode": run.mode,
        "seeds": run.seeds,
        "max_pages": run.max_pages,
        "store": store,
        "s3_endpoint": run.s3_endpoint,
        "spool": str(work / "spool"),
        "out": str(work),
        "stats": str(work / "stats.json"),
        "settings": run.settings,
    }
    (work / "cfg.json").write_text(json.dumps(cfg))
    cmd = pinned(cpu, [sys.executable, str(CHILD), str(work / "cfg.json")])
    cmd.append(str(work / "result.json"))
    return subprocess.Popen(cmd), work


def _finish(proc: subprocess.Popen[bytes], work: Path) -> dict[str, Any]:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{work.name}: crawl exited {proc.returncode}")
    result = json.loads((work / "result.json").read_text())
    stats = result["stats"]
    pages = int(stats.get("item_scraped_count", 0))
    return {
        "pages": pages,
        "responses": int(stats.get("response_received_count", 0)),
        "wall_s": round(result["wall_s"], 3),
        "pages_per_s": round(pages / result["wall_s"], 2),
        "cpu_ms_per_page": round(1000 * result["cpu_s"] / max(pages, 1), 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "finish_reason": stats.get("finish_reason"),
    }


def alternate(tmp: Path, reps: int, runs: dict[str, Run]) -> list[dict[str, dict[str, Any]]]:
    """``reps`` rounds, each running every configuration once, in order."""
    rounds = []
    for rep in range(reps):
        row = {}
        for key, run in runs.items():
            row[key] = crawl(tmp, run, f"{key}-{rep}-{len(list(tmp.iterdir()))}")
            print(f"  round {rep + 1} {key}: {row[key]}", flush=True)
        rounds.append(row)
    return rounds


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians per configuration, and per-round ratios of pages/s to (a), as medians."""
    keys = list(rounds[0])
    median = {
        key: {
            metric: statistics.median(r[key][metric] for r in rounds)
            for metric in ("pages", "wall_s", "pages_per_s", "cpu_ms_per_page", "peak_rss_mib")
        }
        for key in keys
    }
    ratios = {
        key: statistics.median(r[key]["pages_per_s"] / r["a"]["pages_per_s"] for r in rounds)
        for key in keys
        if key != "a"
    }
    return {
        "rounds": rounds,
        "median": median,
        "ratio_to_a": {k: round(v, 3) for k, v in ratios.items()},
    }


def machine() -> str:
    """Cores, memory, CPU model and Python: the line the README's table is quoted with."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kib / 2**20:.0f} GiB"
    except OSError:
        memory = "?"
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), {memory}, "
        f"{platform.system()} {platform.release()}, CPython {platform.python_version()}"
    )
