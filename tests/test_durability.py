"""Durability: a crawl killed at any point is resumed with nothing lost and nothing twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from crawler.demo.server import Origin, Route, SiteServer
from tests.clitools import run_cli
from tests.crawlkit import TWO_AT_A_TIME, Job, crawl, start_crawl, wait_until

PAGES = 60


def _site() -> Origin:
    routes: dict[str, Route] = {}
    for i in range(PAGES):
        links = "".join(f'<a href="/p{j}">p{j}</a>' for j in (i + 1, i + 2) if j < PAGES)
        routes[f"/p{i}"] = Route(
            body=f"<html><body><p>page {i}</p>{links}</body></html>", delay=0.05
        )
    return Origin("slow", routes)


def _item_ids(job: Job) -> list[str]:
    return [item["provenance"]["item_id"] for item in job.items]


@pytest.mark.parametrize("kill_after", [4, PAGES // 3, 2 * PAGES // 3])
def test_a_crawl_killed_with_sigkill_resumes_with_nothing_lost_or_duplicated(
    tmp_path: Path, kill_after: int
) -> None:
    origin = _site()
    limits = (*TWO_AT_A_TIME, "--set", "CONSENT_PART_MAX_LINES=7")
    with SiteServer([origin]) as site:
        whole = crawl(tmp_path / "whole", origin.url("/p0"), job_id="whole", extra=limits)
        assert whole.exit_code == 0, whole.stderr
        assert len(whole.items) == PAGES
        site.clear()

        store = tmp_path / "killed"
        process = start_crawl(store, origin.url("/p0"), job_id="job", extra=limits)
        wait_until(lambda: len(site.requests("slow")) >= kill_after)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)  # reaps it and closes its pipes
        requested_before_kill = len(site.requests("slow"))
        assert kill_after <= requested_before_kill < PAGES

        resumed = crawl(store, job_id="job", extra=("--resume", "job", *limits))
        assert resumed.exit_code == 0, resumed.stderr
        ids = _item_ids(resumed)
        assert len(ids) == len(set(ids)), "an item was stored twice"
        assert set(ids) == set(_item_ids(whole))
        manifest = resumed.manifest
        assert manifest["status"] == "finished"
        assert manifest["counts"]["items"] == PAGES
        assert len(manifest["runs"]) == 2
        assert not (store / ".spool").exists()  # everything stored, spool tidied away
        verified = run_cli("provenance", "verify", "--store", store, "--job", "job")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        # Both jobs were stored with an index the tools take as it is (no rebuild): the whole
        # one built as its lines were written, the resumed one from its stored parts.
        for folder, job_id in ((tmp_path / "whole", "whole"), (store, "job")):
            stats = run_cli("provenance", "stats", "--store", folder, "--job", job_id)
            assert stats.returncode == 0 and "index:" not in stats.stderr, stats.stderr


def test_resume_refuses_a_changed_policy_and_unknown_or_finished_jobs(tmp_path: Path) -> None:
    origin = Origin("tiny", {"/": Route(body="<p>x</p>")})
    with SiteServer([origin]):
        done = crawl(tmp_path, origin.url("/"), job_id="done")
        assert done.exit_code == 0
        again = crawl(tmp_path, extra=("--resume", "done"), job_id="done")
        assert again.exit_code == 2 and "already finished" in again.stderr
        missing = crawl(tmp_path, extra=("--resume", "nope"), job_id="nope")
        assert missing.exit_code == 2 and "no such job" in missing.stderr
        manifest = tmp_path / "jobs" / "done" / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"finished"', '"running"'))
        other = tmp_path / "other.toml"
        other.write_text(
            'extends = "'
            + str(Path(__file__).resolve().parents[1] / "policies" / "default.toml")
            + '"\nmode = "opt-in"\n'
        )
        changed = crawl(tmp_path, extra=("--resume", "done", "--policy", str(other)), job_id="done")
        assert changed.exit_code == 2 and "the policy changed" in changed.stderr


@pytest.mark.parametrize("frontier_memory", [None, 2], ids=["default", "mostly-on-disk"])
def test_a_gracefully_stopped_crawl_resumes_from_its_frontier(
    tmp_path: Path, frontier_memory: int | None
) -> None:
    """SIGTERM: Scrapy stops cleanly and keeps its frontier (JOBDIR); the resumed job asks
    for no page twice and ends with the same items as an uninterrupted crawl.  With the
    default CONSENT_FRONTIER_MEMORY the frontier is in memory when the stop comes; with 2
    nearly all of it has already been written to disk."""
    origin = _site()
    limits: tuple[str, ...] = TWO_AT_A_TIME
    if frontier_memory is not None:
        limits += ("--set", f"CONSENT_FRONTIER_MEMORY={frontier_memory}")
    with SiteServer([origin]) as site:
        store = tmp_path / "store"
        process = start_crawl(store, origin.url("/p0"), job_id="graceful", extra=limits)
        wait_until(lambda: len(site.requests("slow")) >= PAGES // 3)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
        assert process.returncode == 1  # interrupted, not finished
        stopped = Job(1, "", "", store, "graceful")
        assert stopped.manifest["status"] == "interrupted"
        assert (store / ".spool" / "graceful" / "frontier-w0").is_dir()
        resumed = crawl(store, job_id="graceful", extra=("--resume", "graceful", *limits))
        assert resumed.exit_code == 0, resumed.stderr
        pages = [e.path for e in site.requests("slow") if e.path.startswith("/p")]
        assert len(pages) == len(set(pages)) == PAGES  # the frontier carried over: no refetch
        ids = _item_ids(resumed)
        assert len(ids) == len(set(ids)) == PAGES
        assert not (store / ".spool").exists()
