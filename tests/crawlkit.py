"""Running real crawls in tests: a local site, the console script, and the resulting store."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.ops import fields
from crawler.store.parts import read_part
from tests.clitools import console_script, run_cli

FAST = ("--set", "DOWNLOAD_DELAY=0")
# Two requests at a time: a crawl slow enough to be killed, cut off or filled up mid-way.
TWO_AT_A_TIME = ("--set", "CONCURRENT_REQUESTS=2", "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=2")
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.toml"


def derived_policy(folder: Path, tables: str, name: str = "policy.toml") -> str:
    """A policy file that extends the bundled default with ``tables`` (TOML text)."""
    path = folder / name
    path.write_text(f'extends = "{DEFAULT_POLICY}"\n{tables}', encoding="utf-8")
    return str(path)


@dataclass
class Job:
    """What a crawl left in its store."""

    exit_code: int
    stdout: str
    stderr: str
    store: Path
    job_id: str

    @property
    def job_dir(self) -> Path:
        return self.store / "jobs" / self.job_id

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.job_dir / "manifest.json").read_text(encoding="utf-8"))

    def _lines(self, kind: str) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for part in sorted((self.job_dir / kind).glob("*.jsonl.gz")):
            lines += read_part(part)
        return lines

    @property
    def items(self) -> list[dict[str, Any]]:
        return self._lines("items")

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return self._lines("decisions")

    def kept_urls(self) -> set[str]:
        return {item["final_url"] for item in self.items}

    def decision_for(self, url: str) -> dict[str, Any]:
        found = [d for d in self.decisions if d["url"] == url]
        assert found, f"no decision for {url}; decided: {[d['url'] for d in self.decisions]}"
        return found[-1]


def crawl(
    store: Path,
    *seeds: str,
    job_id: str = "test-job",
    extra: tuple[str, ...] = (),
    timeout: float = 120,
) -> Job:
    done = run_cli(
        "crawl",
        *seeds,
        "--store",
        store,
        "--job-id",
        job_id,
        "--allow-private",
        *FAST,
        *extra,
        timeout=timeout,
    )
    return Job(done.returncode, done.stdout, done.stderr, store, job_id)


def refusing_signals(decision: dict[str, Any]) -> set[str]:
    return set(fields.refusing_signals(decision))


def start_crawl(
    store: Path | str, *seeds: str, job_id: str, extra: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """A crawl in the background, to kill, interrupt or cut off while it runs."""
    return subprocess.Popen(
        [
            console_script(),
            "crawl",
            *seeds,
            "--store",
            str(store),
            "--job-id",
            job_id,
            "--allow-private",
            *FAST,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def crawl_with_file_size_limit(
    store: Path, *seeds: str, limit: int, job_id: str, extra: tuple[str, ...] = ()
) -> Job:
    """A crawl whose files may not grow past ``limit`` bytes: the spool's disk is full.

    RLIMIT_FSIZE in the child (with SIGXFSZ ignored, so a write past it fails with EFBIG
    instead of killing the process): no mount and no privileges needed.
    """

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [console_script(), "crawl", *seeds, "--store", str(store), "--job-id", job_id]
    done = subprocess.run(
        [*command, "--allow-private", *FAST, *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        preexec_fn=limited,
    )
    return Job(done.returncode, done.stdout, done.stderr, store, job_id)
