"""The fault table (issue #8, part 6): faults not covered by test_durability.py and
test_s3_crawl.py, each against real local servers, each ending with nothing lost: the items
equal an uninterrupted crawl's (or every URL has a decision that says why it was not kept)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from crawler.demo.server import Origin, Route, SiteServer
from crawler.store.journal import journal_lines
from crawler.store.parts import read_part_bytes
from crawler.store.s3 import S3Objects
from tests.crawlkit import (
    TWO_AT_A_TIME,
    Job,
    crawl,
    crawl_with_file_size_limit,
    derived_policy,
    refusing_signals,
    start_crawl,
    wait_until,
)
from tests.registrykit import RegistryServer, flapping
from tests.s3kit import S3_TRY_AGAIN, MotoS3, S3FaultProxy, moto_server

PAGES = 40


def _site(name: str = "site", *, delay: float = 0.02, big: dict[int, int] | None = None) -> Origin:
    """``PAGES`` pages linked in a chain; ``big`` gives some pages a body of that many bytes
    (hex digits, which stay large in the gzipped spool)."""
    routes: dict[str, Route] = {}
    for i in range(PAGES):
        links = "".join(f'<a href="/p{j}">p{j}</a>' for j in (i + 1, i + 2) if j < PAGES)
        filler = "lorem ipsum " * (3000 // 12)
        if big and i in big:
            digests = (hashlib.sha256(b"%d" % k).hexdigest() for k in range(big[i] // 64))
            filler = " ".join(digests)
        routes[f"/p{i}"] = Route(
            body=f"<html><body><p>page {i} {filler}</p>{links}</body></html>", delay=delay
        )
    return Origin(name, routes)


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["provenance"]["item_id"] for item in items]


def _s3_items(s3: MotoS3, prefix: str, job: str) -> list[dict[str, Any]]:
    objects = S3Objects.from_url(s3.url(prefix), endpoint_url=s3.endpoint)
    lines: list[dict[str, Any]] = []
    for key in objects.list(f"jobs/{job}/items/"):
        lines += read_part_bytes(objects.get(key))
    return lines


def _uninterrupted(tmp_path: Path, origin: Origin) -> set[str]:
    whole = crawl(tmp_path / "whole", origin.url("/p0"), job_id="whole", extra=TWO_AT_A_TIME)
    assert whole.exit_code == 0, whole.stderr
    ids = _ids(whole.items)
    assert len(ids) == len(set(ids)) == PAGES
    return set(ids)


def test_killed_with_sigkill_while_parts_upload_then_resumed_loses_nothing(
    tmp_path: Path,
) -> None:
    origin = _site()
    spool = tmp_path / "spool"
    with moto_server() as s3, SiteServer([origin]):
        expected = _uninterrupted(tmp_path, origin)
        proxy = S3FaultProxy(s3.port)
        proxy.upload_delay = 0.5  # each upload in flight for half a second
        settings = (
            "--set",
            f"CONSENT_SPOOL_DIR={spool}",
            "--set",
            "CONSENT_PART_MAX_LINES=3",
            *TWO_AT_A_TIME,
        )
        objects = S3Objects.from_url(s3.url("killed"), endpoint_url=s3.endpoint)
        process = start_crawl(
            s3.url("killed"),
            origin.url("/p0"),
            job_id="killed",
            extra=("--s3-endpoint", proxy.endpoint, *settings),
        )
        # Killed once a part is stored and the next items part is on its way.
        wait_until(
            lambda: (
                bool(list(objects.list("jobs/killed/items/")))
                and any("/items/part-" in key for key in proxy.uploading)
            ),
            timeout=60,
        )
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
        proxy.close()
        assert 0 < len(_s3_items(s3, "killed", "killed")) < PAGES
        resumed = crawl(
            tmp_path,
            job_id="killed",
            extra=(
                *("--resume", "killed", "--store", s3.url("killed")),
                *("--s3-endpoint", s3.endpoint, *settings),
            ),
        )
        assert resumed.exit_code == 0, resumed.stderr
        ids = _ids(_s3_items(s3, "killed", "killed"))
    assert len(ids) == len(set(ids)), "an item was stored twice"
    assert set(ids) == expected
    assert not (spool / "killed").exists()


def test_a_full_spool_fails_the_crawl_loudly_and_resume_loses_nothing(tmp_path: Path) -> None:
    # Page 12's item is larger than the 64 KiB the crawl's files may grow to.
    origin = _site(delay=0.0, big={12: 100_000})
    store = tmp_path / "store"
    settings = ("--set", "CONSENT_PART_MAX_LINES=2", *TWO_AT_A_TIME)
    with SiteServer([origin]) as site:
        expected = _uninterrupted(tmp_path, origin)
        site.clear()
        full = crawl_with_file_size_limit(
            store, origin.url("/p0"), limit=64 * 1024, job_id="full", extra=settings
        )
        assert full.exit_code == 1, full.stderr
        assert "cannot write to the spool" in full.stderr and "File too large" in full.stderr
        assert "crawl --resume full" in full.stderr
        # It stopped at the failure instead of fetching (and losing) the rest of the site.
        pages = [r for r in site.requests() if r.path.startswith("/p")]
        assert len(pages) < PAGES - 10, len(pages)
        assert full.manifest["status"] == "running"  # not finished: resume starts over
        before = _ids(full.items)  # every stored part still reads
        assert 0 < len(before) < PAGES and set(before) <= expected
        journal = (store / ".spool" / "full" / "w0" / "items.journal").read_bytes()
        spooled = journal_lines(journal)
        assert spooled[-1:] in (b"", b"\n")  # cut back to whole lines
        assert all(json.loads(line) for line in spooled.splitlines())
        resumed = crawl(store, job_id="full", extra=("--resume", "full", *settings))
    assert resumed.exit_code == 0, resumed.stderr
    ids = _ids(resumed.items)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert resumed.manifest["status"] == "finished"
    assert resumed.manifest["counts"]["items"] == PAGES
    assert not (store / ".spool").exists()


def test_s3_answering_500_503_and_slowdown_for_a_while_loses_nothing(tmp_path: Path) -> None:
    origin = _site()
    spool = tmp_path / "spool"
    with moto_server() as s3, SiteServer([origin]):
        proxy = S3FaultProxy(s3.port)
        objects = S3Objects.from_url(s3.url("flaky"), endpoint_url=s3.endpoint)
        process = start_crawl(
            s3.url("flaky"),
            origin.url("/p0"),
            job_id="flaky",
            extra=(
                "--s3-endpoint",
                proxy.endpoint,
                "--set",
                f"CONSENT_SPOOL_DIR={spool}",
                "--set",
                "CONSENT_PART_MAX_LINES=3",
                *TWO_AT_A_TIME,
            ),
        )
        wait_until(lambda: objects.exists("jobs/flaky/manifest.json"))  # started, reached S3
        # More in a row than botocore's own three attempts: the uploader's retries recover.
        proxy.fail_next(*S3_TRY_AGAIN * 3)
        _stdout, stderr = process.communicate(timeout=180)
        proxy.close()
        assert process.returncode == 0, stderr
        assert proxy.pending_errors() == 0 and len(proxy.answered) == 9
        assert "store upload" in stderr and "(HTTP 503)" in stderr
        ids = _ids(_s3_items(s3, "flaky", "flaky"))
        manifest = objects.get("jobs/flaky/manifest.json")
    assert len(ids) == len(set(ids)) == PAGES
    assert b'"status": "finished"' in manifest
    assert not (spool / "flaky").exists()


def _flapping_crawl(tmp_path: Path, on_error: str) -> tuple[Job, set[str], set[str], Any]:
    """40 seed pages asked two at a time of a registry that goes down and up every 0.15 s."""
    origin = Origin("art", {f"/a{i}": Route(body=f"<p>art {i}</p>") for i in range(PAGES)})
    policy = derived_policy(
        tmp_path,
        f'[registry]\nretries = 0\ntimeout_seconds = 5\nbatch_size = 2\non_error = "{on_error}"\n'
        "defer_max_seconds = 60\n",
    )
    with SiteServer([origin]) as web:
        urls = [origin.url(f"/a{i}") for i in range(PAGES)]
        opted = set(urls[::10])
        seeds = tmp_path / "seeds.txt"
        seeds.write_text("\n".join(urls), encoding="utf-8")
        with RegistryServer(opted_out=opted) as registry:
            registry.delay = 0.05  # ~1 s of lookups, so they meet the registry up and down
            with flapping(registry, every=0.15):
                job = crawl(
                    tmp_path,
                    extra=(
                        *("--seeds", str(seeds), "--max-depth", "0"),
                        *("--registry", registry.url, "--policy", policy),
                    ),
                )
        requested = {origin.url(r.path) for r in web.requests("art")}
    assert job.exit_code == 0, job.stderr
    return job, set(urls), opted, requested


def test_a_flapping_registry_under_refuse_keeps_nothing_it_did_not_answer(tmp_path: Path) -> None:
    job, urls, opted, requested = _flapping_crawl(tmp_path, "refuse")
    items = {item["url"]: item for item in job.items}
    unavailable: set[str] = set()
    for url in urls:
        decision = job.decision_for(url)
        if url in items:  # kept: only with an answer from the registry
            answer = items[url]["provenance"]["signals"]["registry"]
            assert answer["error"] is None and answer["opted_out"] is False, answer
            assert url not in opted
            continue
        assert refusing_signals(decision) == {"registry"} and url not in requested
        reason = next(r for r in decision["reasons"] if r["signal"] == "registry")
        if reason["verdict"] == "error":
            assert "unavailable" in reason["detail"] and decision["registry"]["error"]
            unavailable.add(url)
        else:
            assert url in opted and decision["registry"]["opted_out"] is True
    assert items and unavailable, "the registry never flapped during the crawl"
    assert set(items) | unavailable | opted == urls


def test_a_flapping_registry_under_defer_keeps_all_it_may(tmp_path: Path) -> None:
    job, urls, opted, requested = _flapping_crawl(tmp_path, "defer")
    assert job.kept_urls() == urls - opted
    assert not requested & opted
    for url in opted:
        assert job.decision_for(url)["registry"]["opted_out"] is True
    assert job.manifest["registry"]["deferred"] >= 1  # it was down, and waited for


def test_a_name_that_does_not_resolve_is_refused_with_a_reason_and_the_crawl_goes_on(
    tmp_path: Path,
) -> None:
    origin = Origin(
        "site",
        {
            "/": Route(body='<a href="/about">about</a> <a href="/moved">moved</a>'),
            "/about": Route(body="<p>about</p>"),
            "/moved": Route(redirect_to="http://moved-away.invalid/page"),
        },
    )
    with SiteServer([origin]):
        job = crawl(tmp_path, origin.url("/"), "http://no-such-host.invalid/")
    assert job.exit_code == 0, job.stderr
    assert "Traceback" not in job.stderr
    assert job.kept_urls() == {origin.url("/"), origin.url("/about")}
    for url in ("http://no-such-host.invalid/", "http://moved-away.invalid/page"):
        decision = job.decision_for(url)
        assert decision["fetch"] == "refused"
        [reason] = [r for r in decision["reasons"] if r["verdict"] == "error"]
        assert "DNS lookup failed" in reason["detail"], reason
