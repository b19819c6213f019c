"""The job index built as the crawl writes (``IndexFeed``) is the index built from the parts.

The writer is driven directly (no crawl): records with redirects, tombstone-free items and
refusing decisions, parts of three lines so that rotation happens mid-stream, then the stored
parts are read back by ``build_index`` and both databases compared table by table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from crawler.ops.index import build_index
from crawler.ops.index_feed import IndexFeed
from crawler.ops.jobs import Job
from crawler.store.objects import LocalObjects
from crawler.store.writer import JobWriter

JOB = "feed-job"
# Part and domain numbers follow the order they are first seen in, which differs (the feed sees
# items and decisions interleaved); the readable views and the rows by number must not.
QUERIES = {
    "parts": "SELECT kind, name FROM parts",
    "domains": "SELECT domain, host_key FROM domains",
    "items": "SELECT * FROM item_rows",
    "decisions": "SELECT * FROM decision_rows",
    "allowing": "SELECT id, allowing FROM decisions",
    "refusals": "SELECT * FROM refusals",
    "tombstones": "SELECT * FROM tombstones",
    "urls": "SELECT * FROM urls",
    "meta": "SELECT * FROM meta WHERE key != 'built_at'",
}


def _item(n: int) -> dict[str, Any]:
    url = f"http://site{n % 3}.test/page/{n}"
    return {
        "url": url,
        "final_url": url + "?moved" if n % 4 == 0 else url,
        "fetched_at": f"2026-12-04T10:00:{n % 60:02d}+00:00",
        "status": 200,
        "content_sha256": f"{n:064x}",
        "text": "words " * 50,
        "html": "<p>" + "words " * 50,
        "provenance": {
            "item_id": f"item-{n}",
            "decision": {"use": "allowed"},
            "redirects": [{"url": url + "?from", "status": 301}] if n % 4 == 0 else [],
        },
    }


def _decision(n: int) -> dict[str, Any]:
    refused = n % 3 == 0
    return {
        "url": f"http://site{n % 3}.test/page/{n}",
        "fetch": "allowed",
        "use": "refused" if refused else "allowed",
        "stage": "response",
        "decided_at": f"2026-12-04T10:00:{n % 60:02d}Z",
        "item_id": None if refused else f"item-{n}",
        "reasons": [
            {"signal": "robots_txt", "verdict": "allow", "scope": "fetch", "detail": "ok"},
            {"signal": "noai", "verdict": "refuse" if refused else "unset", "scope": "use"},
        ],
    }


def _write_job(tmp_path: Path) -> tuple[IndexFeed, LocalObjects, Job]:
    """A job written through a feed: the feed, the store and the job as stored."""
    feed = IndexFeed()
    writer = JobWriter(
        LocalObjects(tmp_path / "store"),
        JOB,
        spool=tmp_path / "spool",
        part_max_lines=3,
        index_feed=feed,
    )
    for n in range(11):
        writer.write_decision(_decision(n))
        if n % 3:
            writer.write_item(_item(n))
    assert writer.close({"job_id": JOB, "status": "finished"}, timeout=10)
    objects = LocalObjects(tmp_path / "store")
    return feed, objects, Job.open(objects, JOB)


def _rows(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    rows = {table: sorted(conn.execute(query)) for table, query in QUERIES.items()}
    conn.close()
    return rows


def test_the_index_built_while_writing_is_the_index_built_from_the_parts(
    tmp_path: Path,
) -> None:
    feed, objects, job = _write_job(tmp_path)
    assert len(job.parts("items")) == 3 and len(job.parts("decisions")) == 4
    fed = feed.finish(job)
    assert fed is not None
    rebuilt = _rows(build_index(objects, JOB))
    assert _rows(fed) == rebuilt
    assert len(rebuilt["items"]) == 7 and len(rebuilt["decisions"]) == 11
    assert len(rebuilt["refusals"]) == 4
    assert not (tmp_path / "spool").exists()  # the feed's file lives elsewhere, and is gone
    assert feed.path is not None and not feed.path.exists()


def test_the_feed_declines_when_the_manifest_lists_parts_it_did_not_see(
    tmp_path: Path,
) -> None:
    feed, _objects, job = _write_job(tmp_path)
    job.manifest["parts"]["items"] = job.manifest["parts"]["items"][:-1]
    assert feed.finish(job) is None
    assert feed.broken == "the manifest lists parts this process did not write"
    assert feed.path is not None and not feed.path.exists()


def test_the_feed_declines_when_a_part_holds_lines_it_did_not_see(tmp_path: Path) -> None:
    feed = IndexFeed()
    feed.line("items", _item(1))
    feed.part("items", "part-w0-00001.jsonl.gz", 2)
    assert feed.broken == "items part part-w0-00001.jsonl.gz holds 2 lines, 1 were seen"
    feed.close()
    feed.close()
    assert feed.path is not None and not feed.path.exists()
