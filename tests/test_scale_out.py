"""Multi-worker mode (issue #7): workers of one job share a frontier and caches in Redis.

Real ``redis-server`` (tests/rediskit.py), real local origins, real console-script workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from twisted.internet import defer, task

from crawler.core import RegistryAnswer
from crawler.core.policy import RegistryPolicy
from crawler.demo.server import TEXT, Origin, Route, SiteServer
from crawler.registry import RegistryError
from crawler.registry_lookups import RegistryLookups
from crawler.scale.frontier import split_entry
from crawler.scale.keys import JobKeys
from crawler.scale.registry_store import SharedRegistryAnswers, url_digest
from crawler.scale.scheduler import request_dict
from tests.clitools import run_cli
from tests.crawlkit import Job, crawl, start_crawl, wait_until
from tests.rediskit import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name

POLICY_FILES = ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json")
RESERVED = "/r/"  # where each kind of origin puts its one signal


def _path(i: int) -> str:
    return f"{RESERVED}p{i}" if i % 10 == 7 else f"/p{i}"


def _site(origins: int, pages: int, *, signals: bool = True, delay: float = 0.0) -> list[Origin]:
    """``origins`` origins of ``pages`` small pages each: a binary tree of links per origin and
    a link to the same page of the next origin.  With ``signals``, origin k's pages under /r/
    are refused by one signal, by kind k % 5: robots.txt (never requested), ai.txt (never
    requested), noai meta (fetched, refused), X-Robots-Tag (refused at the headers), tdmrep.json
    (never requested)."""
    out = []
    for k in range(origins):
        kind = k % 5 if signals else -1
        routes: dict[str, Route] = {}
        for i in range(pages):
            links = [f'<a href="{_path(j)}">p{j}</a>' for j in (2 * i + 1, 2 * i + 2) if j < pages]
            links.append(f'<a href="{{origin:o{(k + 1) % origins}}}{_path(i)}">next</a>')
            reserved = _path(i).startswith(RESERVED)
            meta = '<meta name="robots" content="noai">' if reserved and kind == 2 else ""
            headers = {"X-Robots-Tag": "noai"} if reserved and kind == 3 else {}
            body = f"<html><head>{meta}<title>{k}/{i}</title></head><body>{''.join(links)}</body>"
            routes[_path(i)] = Route(body=body, headers=dict(headers), delay=delay)
        rules = f"Disallow: {RESERVED}\n" if kind == 0 else "Allow: /\n"
        routes["/robots.txt"] = Route(body=f"User-agent: *\n{rules}", content_type=TEXT)
        if kind == 1:
            routes["/ai.txt"] = Route(
                body=f"User-Agent: *\nDisallow: {RESERVED}\n", content_type=TEXT
            )
        if kind == 4:
            tdm = [{"location": f"{RESERVED}*", "tdm-reservation": 1}]
            routes["/.well-known/tdmrep.json"] = Route(body=json.dumps(tdm), content_type=TEXT)
        out.append(Origin(f"o{k}", routes))
    return out


def _worker(
    store: Path, server: RedisServer, name: str, seeds: list[str], *extra: str
) -> subprocess.Popen[str]:
    return start_crawl(
        store,
        *seeds,
        job_id="job",
        extra=("--redis", server.url, "--worker", name, "--set", "CONSENT_REDIS_ORIGINS=3", *extra),
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"{out}\n{err[-3000:]}"
    return out


def _decisions(job: Job) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    out: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for line in job.decisions:
        refusing = sorted(
            r["signal"] for r in line["reasons"] if r["verdict"] in ("refuse", "error")
        )
        out[line["url"]] = (line["fetch"], line["use"], tuple(refusing))
    return out


def _pages(site: SiteServer) -> Counter[tuple[str, str]]:
    return Counter((e.origin, e.path) for e in site.requests() if e.path not in POLICY_FILES)


def _listed_lines(job: Job, kind: str) -> int:
    return sum(p["lines"] for p in job.manifest["parts"][kind])


def test_three_workers_crawl_like_one_each_page_and_policy_file_fetched_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    origins = _site(20, 100)
    with SiteServer(origins) as site:
        seeds = [o.url("/p0") for o in origins]
        single = crawl(tmp_path / "single", *seeds, job_id="single")
        assert single.exit_code == 0, single.stderr
        single_pages = _pages(site)
        site.clear()

        store = tmp_path / "multi"
        first = _worker(store, redis_server, "w1", seeds)
        second = _worker(store, redis_server, "w2", seeds)  # the same seeds: pushed once
        wait_until(lambda: bool(redis_server.client.exists(JobKeys("job").meta)))
        third = _worker(store, redis_server, "w3", [])  # no seeds: joins the job
        for process in (first, second, third):
            _finish(process)

        pages = _pages(site)
        assert set(pages) == set(single_pages)
        assert max(pages.values()) == 1, [p for p, n in pages.items() if n > 1][:5]
        for origin in origins:
            for path in POLICY_FILES:
                assert site.count(origin.name, path) == 1, (origin.name, path)

    multi = Job(0, "", "", store, "job")
    manifest = multi.manifest
    assert manifest["status"] == "finished"
    assert set(manifest["workers"]) == {"w1", "w2", "w3"}
    assert all(w["status"] == "finished" for w in manifest["workers"].values())
    assert sum(w["counts"]["items"] > 0 for w in manifest["workers"].values()) >= 2
    # The same decisions as one worker on the same site: url -> fetch, use, refusing signals.
    assert _decisions(multi) == _decisions(single)
    assert multi.kept_urls() == single.kept_urls()
    assert {s for d in _decisions(single).values() for s in d[2]} >= {
        "robots",
        "ai-txt",
        "meta-robots",
        "x-robots-tag",
        "tdmrep",
    }
    # Merged counts are the sum of the workers' and what the parts hold, as for one worker.
    counts = manifest["counts"]
    assert counts == single.manifest["counts"]
    workers = manifest["workers"].values()
    assert counts["items"] == sum(w["counts"]["items"] for w in workers)
    assert counts["items"] == _listed_lines(multi, "items") == len(multi.items)
    assert _listed_lines(multi, "decisions") == len(multi.decisions)
    assert {p.name for p in (store / "jobs" / "job" / "items").glob("*.gz")} == {
        p["name"] for p in manifest["parts"]["items"]
    }
    verified = run_cli("provenance", "verify", "--store", store, "--job", "job")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert not (store / ".spool").exists()
    assert redis_server.client.scard(JobKeys("job").workers) == 0  # every worker left


def test_a_killed_worker_loses_nothing_the_others_finish(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    origins = _site(9, 60, signals=False, delay=0.02)
    all_pages = {(o.name, _path(i)) for o in origins for i in range(60)}
    keys = JobKeys("job")
    fast = ("--set", "CONSENT_REDIS_LEASE_SECONDS=2", "--set", "CONSENT_PART_MAX_LINES=15")
    with SiteServer(origins) as site:
        seeds = [o.url("/p0") for o in origins]
        store = tmp_path / "store"
        workers = {
            name: _worker(store, redis_server, name, seeds, *fast) for name in ("w1", "w2", "w3")
        }
        wait_until(
            lambda: (
                redis_server.client.hlen(keys.inflight("w2")) > 0
                and (sum(_pages(site).values()) >= len(all_pages) // 3)
            )
        )
        os.kill(workers["w2"].pid, signal.SIGKILL)
        workers["w2"].communicate(timeout=10)
        # What the dead worker had taken and not yet safely stored: crawled again by others.
        in_flight = _in_flight_urls(redis_server.client, keys.inflight("w2"))
        for name in ("w1", "w3"):
            _finish(workers[name])
        pages = _pages(site)

    job = Job(0, "", "", store, "job")
    manifest = job.manifest
    assert manifest["status"] == "finished"
    assert manifest["workers"]["w2"]["taken_over"] is True
    kept = {
        (o.name, u[len(o.base_url) :])
        for u in job.kept_urls()
        for o in origins
        if u.startswith(o.base_url + "/")
    }
    assert kept == all_pages  # nothing lost
    assert set(pages) == all_pages
    twice = {f"{site.origin(o).base_url}{p}" for (o, p), n in pages.items() if n > 1}
    assert twice <= in_flight, sorted(twice - in_flight)[:5]
    assert manifest["counts"]["items"] == _listed_lines(job, "items")


def _in_flight_urls(client: redis.Redis, key: str) -> set[str]:
    urls = set()
    for entry in client.hvals(key):
        data: dict[str, Any] = request_dict(split_entry(entry)[2])
        urls.add(data["url"])
    return urls


def test_a_job_stopped_with_sigterm_resumes_from_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Every worker stopped gracefully: what they had taken goes back to the queues; workers
    started with --resume continue the job, storing each page once."""
    origins = _site(4, 60, signals=False, delay=0.02)
    all_pages = {(o.name, _path(i)) for o in origins for i in range(60)}
    with SiteServer(origins) as site:
        seeds = [o.url("/p0") for o in origins]
        store = tmp_path / "store"
        workers = [_worker(store, redis_server, name, seeds) for name in ("w1", "w2")]
        wait_until(lambda: sum(_pages(site).values()) >= len(all_pages) // 3)
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.communicate(timeout=60)
            assert process.returncode == 1  # interrupted, not finished
        assert Job(1, "", "", store, "job").manifest["status"] == "interrupted"
        assert sum(_pages(site).values()) < len(all_pages)
        resumed = _worker(store, redis_server, "w3", [], "--resume", "job")
        _finish(resumed)
        pages = _pages(site)

    job = Job(0, "", "", store, "job")
    assert job.manifest["status"] == "finished"
    assert set(pages) == all_pages
    ids = [item["provenance"]["item_id"] for item in job.items]
    assert len(ids) == len(set(ids)) == len(all_pages)
    assert job.manifest["counts"]["items"] == len(all_pages)


def test_workers_of_a_job_must_agree_and_a_joiner_needs_a_started_job(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url
    store = tmp_path / "store"
    unknown = crawl(store, job_id="nojob", extra=("--redis", url))
    assert unknown.exit_code == 2 and "give seeds to start it" in unknown.stderr
    no_job_id = run_cli("crawl", "http://127.0.0.1:9/", "--redis", url, "--store", store)
    assert no_job_id.returncode == 2 and "--redis needs --job-id" in no_job_id.stderr
    client = redis_server.client
    client.hset(JobKeys("other").meta, mapping={"policy_sha256": "0" * 64, "store": str(store)})
    mismatch = crawl(store, "http://127.0.0.1:9/", job_id="other", extra=("--redis", url))
    assert mismatch.exit_code == 2 and "every worker of a job uses the same policy" in (
        mismatch.stderr
    )
    assert not client.exists(JobKeys("other").seeds)  # nothing pushed by a refused worker


class _Registry:
    """A registry answering from a set, recording what it was asked (no network needed)."""

    name = "local"

    def __init__(self, opted_out: set[str], failing: bool = False) -> None:
        self.opted_out = opted_out
        self.failing = failing
        self.asked: list[str] = []

    def check(self) -> None:
        pass

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        self.asked += urls
        if self.failing:
            raise RegistryError("HTTP 503")
        return {u: RegistryAnswer(opted_out=u in self.opted_out, source=self.name) for u in urls}


def _answers(lookups: RegistryLookups, clock: task.Clock, urls: list[str]) -> list[RegistryAnswer]:
    got: list[RegistryAnswer] = []
    for url in urls:
        defer.Deferred.fromCoroutine(lookups.answer(url)).addCallback(got.append)
    clock.advance(1)
    assert len(got) == len(urls)
    return got


def test_registry_answers_are_shared_by_workers_and_errors_never_are(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    clock = task.Clock()

    def worker(registry: _Registry) -> RegistryLookups:
        return RegistryLookups(
            registry,  # type: ignore[arg-type]
            RegistryPolicy(batch_wait_ms=5, cache_ttl_seconds=600),
            clock=clock.seconds,
            reactor=clock,
            run_in_thread=lambda f, *a: defer.maybeDeferred(f, *a),
            awaitable=lambda d: d,
            shared=SharedRegistryAnswers(client, JobKeys("job")),
        )

    first, second = _Registry({"u2"}), _Registry(set())
    one = _answers(worker(first), clock, ["u1", "u2"])
    two = _answers(worker(second), clock, ["u1", "u2", "u3"])
    assert first.asked == ["u1", "u2"] and second.asked == ["u3"]  # u1, u2: another's answers
    assert [a.opted_out for a in two] == [False, True, False]
    assert [a.asked_at for a in two[:2]] == [a.asked_at for a in one]  # when it was really asked
    key = JobKeys("job").registry(url_digest("u1"))
    assert 0 < client.pttl(key) <= 600_000  # no longer than the policy's TTL

    down = _Registry(set(), failing=True)
    failed = _answers(worker(down), clock, ["u4"])
    assert failed[0].error is not None
    assert not client.exists(JobKeys("job").registry(url_digest("u4")))  # never shared
    later = _Registry(set())
    _answers(worker(later), clock, ["u4"])
    assert later.asked == ["u4"]
