"""Multi-worker benchmark (issue #7): pages/s of one job crawled by 1 and by 2 workers.

    python bench/workers.py [--quick] [--reps N] [--json FILE]

The generated bench site (bench/sitegen.py: pages of 20-60 KiB, 12 links each, every signal
file present) is served by nginx (or Twisted) and Redis runs beside it, both pinned to core 1;
the workers are real ``consent-crawler crawl --redis`` processes, not pinned (with 2 cores the
second worker shares a core with the servers: that is the machine).  For reference, the same
crawl without Redis (``consent-crawler crawl``, one process).  Each run is a new job; its
wall time runs from the first worker's start to the last worker's end, its pages are the items
in the job's merged manifest.  Runs alternate (single, 1 worker, 2 workers, ...) and the table
gives medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import machine
from servers import SERVER_CPU, free_ports, pinned, site_server, wait_listening
from sitegen import SiteSpec, write_site


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    assert exe, "redis-server is not installed (apt-get install redis-server)"
    (port,) = free_ports(1)
    cmd = [exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp)]
    cmd += ["--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(pinned(SERVER_CPU, cmd), stdout=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def run_job(
    tmp: Path, tag: str, seeds: list[str], workers: int, redis_url: str, extra: list[str]
) -> dict[str, Any]:
    """One job: ``workers`` processes (0 = one process without Redis); pages/s and wall."""
    exe = shutil.which("consent-crawler")
    assert exe, "pip install -e . first"
    store = tmp / tag
    base = [exe, "crawl", "--store", str(store), "--job-id", tag, "--allow-private", *extra]
    started = time.perf_counter()
    if workers == 0:
        procs = [subprocess.Popen([*base, *seeds], stdout=subprocess.DEVNULL)]
    else:
        procs = [
            subprocess.Popen(
                [*base, *seeds, "--redis", redis_url, "--worker", f"w{n}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n in range(1, workers + 1)
        ]
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"{tag}: a crawl exited {proc.returncode}")
    wall = time.perf_counter() - started
    manifest = json.loads((store / "jobs" / tag / "manifest.json").read_text())
    assert manifest["status"] == "finished", manifest["status"]
    pages = int(manifest["counts"]["items"])
    shares = {w: v["counts"]["items"] for w, v in (manifest.get("workers") or {}).items()}
    return {
        "pages": pages,
        "wall_s": round(wall, 2),
        "pages_per_s": round(pages / wall, 1),
        "per_worker_items": shares,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller site, one round")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every crawl (e.g. CONSENT_REDIS_ORIGINS=8)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated worker counts to run (0 = no Redis)"
    )
    args = parser.parse_args()
    spec = SiteSpec(8, 150) if args.quick else SiteSpec(12, 250)
    reps = 1 if args.quick else args.reps
    configs = {"one process, no Redis": 0, "1 worker (Redis)": 1, "2 workers (Redis)": 2}
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        tmp = Path(folder)
        write_site(tmp / "site", spec)
        with (
            site_server(tmp / "site", spec.origins, tmp) as (server, ports),
            redis_server(tmp) as redis_url,
        ):
            seeds = [f"http://127.0.0.1:{p}/" for p in ports]
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
            for rep in range(reps):
                for name, workers in configs.items():
                    if args.only and str(workers) not in args.only.split(","):
                        continue
                    extra = [a for pair in args.set for a in ("--set", pair)]
                    result = run_job(tmp, f"r{rep}-w{workers}", seeds, workers, redis_url, extra)
                    runs[name].append(result)
                    print(f"  round {rep + 1} {name}: {result}", flush=True)
    table = ["| run | pages | wall s | pages/s |", "| --- | --- | --- | --- |"]
    for name, results in runs.items():
        if not results:
            continue
        wall = statistics.median(r["wall_s"] for r in results)
        rate = statistics.median(r["pages_per_s"] for r in results)
        table.append(f"| {name} | {results[0]['pages']} | {wall:.1f} | {rate:.1f} |")
    print(
        f"\nMachine: {machine()}; site: {spec.origins} origins x {spec.pages_per_origin} "
        f"pages ({server}), Redis {redis_version()}\n"
    )
    print("\n".join(table))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"site": spec.__dict__, "server": server, "machine": machine(), "runs": runs},
                indent=2,
            )
        )


def redis_version() -> str:
    exe = shutil.which("redis-server") or "redis-server"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    return out.split("v=", 1)[-1].split()[0] if "v=" in out else "?"


if __name__ == "__main__":
    main()
