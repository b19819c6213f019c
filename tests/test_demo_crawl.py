"""The bundled demo site crawled for real: exactly the expected pages kept (issue #3).

``crawler/demo/site/EXPECTED.toml`` says what the core decides for every page; here the crawler
must agree: the kept set is exactly the expected one, nothing robots.txt refuses is requested,
refusals known from an origin's files are not requested either, and every refusal names its
signal.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

from crawler.demo.server import SiteServer
from tests.clitools import run_cli
from tests.crawlkit import crawl, refusing_signals
from tests.vectorlib import ROOT

SITE = ROOT / "crawler" / "demo" / "site"
EXPECTED: dict[str, Any] = tomllib.loads((SITE / "EXPECTED.toml").read_text())["origins"]
# Refusals the origin's policy files already decide: the crawler does not request these.
BEFORE_REQUEST = {"robots-ai-tokens", "ai-txt", "content-signal"}


def test_demo_site_crawl_keeps_exactly_the_expected_pages(tmp_path: Path) -> None:
    with SiteServer.from_directory(SITE) as site:
        seeds = [origin.url("/") for origin in site.origins]
        job = crawl(tmp_path, *seeds, extra=("--max-depth", "3"))
        assert job.exit_code == 0, job.stderr
        expected_kept = {
            site.origin(name).url(path) for name, spec in EXPECTED.items() for path in spec["kept"]
        }
        assert job.kept_urls() == expected_kept
        decided = {d["url"]: d for d in job.decisions}
        for name, spec in EXPECTED.items():
            origin = site.origin(name)
            for path in spec["never_requested"]:
                assert site.count(name, path) == 0, (name, path)
            if "only_requested" in spec:
                assert set(site.paths(name)) <= set(spec["only_requested"]), name
            for path, signal in spec["refused"].items():
                url = origin.url(path)
                if url not in decided:
                    continue  # only linked from a refused page: never discovered
                assert signal in refusing_signals(decided[url]), (name, path)
                if signal in BEFORE_REQUEST or decided[url]["stage"] == "request":
                    assert site.count(name, path) == 0, (name, path)


def test_demo_command_runs_offline_under_a_minute(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_cli("demo", "--store", tmp_path / "crawl-data", timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    total = sum(len(spec["kept"]) for spec in EXPECTED.values())
    assert "| items kept " in done.stdout
    assert f"| {total}" in done.stdout.split("| items kept", 1)[1].splitlines()[0]
    assert elapsed < 60
    assert list((tmp_path / "crawl-data" / "jobs").iterdir())
