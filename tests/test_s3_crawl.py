"""Crawls into S3 (moto's ThreadedMotoServer over real HTTP): the same layout as a local store,
and nothing lost when S3 goes away in the middle of a crawl."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from crawler.demo.server import Origin, Route, SiteServer
from crawler.store.parts import read_part_bytes
from crawler.store.s3 import S3Objects
from tests.crawlkit import TWO_AT_A_TIME, crawl, start_crawl, wait_until
from tests.s3kit import MotoS3, OutageProxy, moto_server

PAGES = 40


def _site() -> Origin:
    routes = {
        "/robots.txt": Route(body="User-agent: *\nDisallow: /never\n", content_type="text/plain")
    }
    for i in range(PAGES):
        links = "".join(f'<a href="/p{j}">p{j}</a>' for j in (i + 1, i + 2) if j < PAGES)
        routes[f"/p{i}"] = Route(
            body=f'<html><body><p>page {i}</p>{links}<a href="/never">x</a></body></html>',
            delay=0.05,
        )
    return Origin("site", routes)


def _lines(objects: S3Objects, job: str, kind: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for key in objects.list(f"jobs/{job}/{kind}/"):
        lines += read_part_bytes(objects.get(key))
    return lines


def _objects(s3: MotoS3, prefix: str) -> S3Objects:
    return S3Objects.from_url(s3.url(prefix), endpoint_url=s3.endpoint)


def test_a_crawl_into_s3_has_the_contract_layout(tmp_path: Path) -> None:
    origin = _site()
    with moto_server() as s3, SiteServer([origin]) as site:
        job = crawl(
            tmp_path,
            origin.url("/p0"),
            job_id="s3job",
            extra=(
                "--store",
                s3.url("team/crawls"),
                "--s3-endpoint",
                s3.endpoint,
                "--set",
                f"CONSENT_SPOOL_DIR={tmp_path / 'spool'}",
            ),
        )
        assert job.exit_code == 0, job.stderr
        assert site.count("site", "/never") == 0
        objects = _objects(s3, "team/crawls")
        keys = list(objects.list(""))
        assert "jobs/s3job/manifest.json" in keys
        assert any(k.startswith("jobs/s3job/items/part-w0-") for k in keys)
        assert any(k.startswith("jobs/s3job/decisions/part-w0-") for k in keys)
        assert any(k.startswith("evidence/") for k in keys)
        items = _lines(objects, "s3job", "items")
        assert len(items) == PAGES
        decisions = _lines(objects, "s3job", "decisions")
        assert {d["url"] for d in decisions if d["fetch"] == "refused"} == {origin.url("/never")}
        assert not (tmp_path / "spool" / "s3job" / "w0").exists()  # all uploaded


def test_s3_outage_in_the_middle_of_a_crawl_loses_nothing(tmp_path: Path) -> None:
    origin = _site()
    with moto_server() as s3, SiteServer([origin]) as site:
        proxy = OutageProxy(int(s3.endpoint.rsplit(":", 1)[1]))
        limits = (
            *TWO_AT_A_TIME,
            "--set",
            "CONSENT_PART_MAX_LINES=3",
            "--set",
            f"CONSENT_SPOOL_DIR={tmp_path / 'spool'}",
        )
        process = start_crawl(
            s3.url("outage"),
            origin.url("/p0"),
            job_id="outage",
            extra=("--s3-endpoint", proxy.endpoint, *limits),
        )
        objects = _objects(s3, "outage")
        wait_until(lambda: objects.exists("jobs/outage/manifest.json"))  # started, reached S3
        proxy.down()  # S3 goes away while pages keep arriving and parts keep rotating
        wait_until(lambda: len(site.requests("site")) >= PAGES)
        # Longer than botocore's own retries, so the writer's retry path is what recovers.
        time.sleep(4.0)
        proxy.up()
        _stdout, stderr = process.communicate(timeout=120)
        proxy.close()
        assert process.returncode == 0, stderr
        assert "store upload" in stderr, stderr  # the outage was seen, and retried
        ids = [item["provenance"]["item_id"] for item in _lines(objects, "outage", "items")]
        assert len(ids) == len(set(ids)) == PAGES
        assert b'"status": "finished"' in objects.get("jobs/outage/manifest.json")


def test_s3_down_when_the_crawl_ends_keeps_the_spool_for_resume(tmp_path: Path) -> None:
    origin = _site()
    spool = tmp_path / "spool"
    with moto_server() as s3, SiteServer([origin]):
        proxy = OutageProxy(int(s3.endpoint.rsplit(":", 1)[1]))
        objects = _objects(s3, "late")
        settings = (
            "--store",
            s3.url("late"),
            "--s3-endpoint",
            proxy.endpoint,
            "--set",
            f"CONSENT_SPOOL_DIR={spool}",
            "--set",
            "CONSENT_UPLOAD_TIMEOUT=2",
        )
        process = start_crawl(s3.url("late"), origin.url("/p0"), job_id="late", extra=settings)
        wait_until(lambda: objects.exists("jobs/late/manifest.json"))
        proxy.down()  # and it stays down past the end of the crawl
        _stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 1
        assert "crawl --resume late" in stderr
        assert list((spool / "late" / "w0" / "outbox").rglob("*.jsonl.gz"))  # kept, not lost
        proxy.up()
        resumed = crawl(tmp_path, job_id="late", extra=("--resume", "late", *settings))
        proxy.close()
        assert resumed.exit_code == 0, resumed.stderr
        ids = [item["provenance"]["item_id"] for item in _lines(objects, "late", "items")]
        assert len(ids) == len(set(ids)) == PAGES
        assert b'"status": "finished"' in objects.get("jobs/late/manifest.json")
        assert not (spool / "late" / "w0").exists()
