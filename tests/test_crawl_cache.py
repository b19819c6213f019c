"""The origin cache through real crawls: failures retried (never an allow), the LRU bound,
the robots.txt size cap, and the spider's seeds and limits."""

from __future__ import annotations

from pathlib import Path

from crawler.demo.server import Origin, Request, Route, SiteServer
from tests.crawlkit import crawl, derived_policy, refusing_signals
from tests.test_vectors_extra import _rb21_body

TEXT = "text/plain"


def _policy(tmp_path: Path, robots_table: str) -> str:
    return derived_policy(tmp_path, f"[robots]\n{robots_table}")


def _page(body: str, delay: float = 0.0) -> Route:
    return Route(body=f"<html><body>{body}</body></html>", delay=delay)


def test_RB_16_an_unreachable_robots_txt_is_retried_and_never_cached_as_allow(
    tmp_path: Path,
) -> None:
    answers = iter([Route(status=503, body="busy")])

    def robots(request: Request) -> Route:
        return next(answers, Route(body="User-agent: *\nAllow: /\n", content_type=TEXT))

    flaky = Origin(
        "flaky", {"/robots.txt": robots, "/first": _page("first"), "/later": _page("later")}
    )
    # The slow page links to flaky/later after the failure's short TTL has run out.
    slow = Origin("slow", {"/": _page('<a href="{origin:flaky}/later">later</a>', delay=1.6)})
    with SiteServer([flaky, slow]) as site:
        job = crawl(
            tmp_path / "store",
            flaky.url("/first"),
            slow.url("/"),
            extra=("--policy", _policy(tmp_path, "error_ttl_seconds = 1\n")),
        )
        assert job.exit_code == 0, job.stderr
        assert site.count("flaky", "/first") == 0  # refused while robots.txt failed
        assert refusing_signals(job.decision_for(flaky.url("/first"))) == {"robots"}
        assert site.count("flaky", "/robots.txt") == 2  # retried after the failure expired
        assert flaky.url("/later") in job.kept_urls()


def test_origin_cache_is_bounded(tmp_path: Path) -> None:
    """With room for one origin, going back to an evicted origin fetches its files again."""
    a = Origin("a", {"/": _page('<a href="{origin:b}/">b</a>')})
    b = Origin("b", {"/": _page('<a href="{origin:a}/again">a</a>')})
    a.set_route("/again", _page("again"))
    with SiteServer([a, b]) as site:
        job = crawl(
            tmp_path,
            a.url("/"),
            extra=("--set", "CONSENT_ORIGIN_CACHE_SIZE=1", "--set", "CONCURRENT_REQUESTS=1"),
        )
        assert job.exit_code == 0, job.stderr
        # The spider follows links only within each seed's site; seed both to cross over.
        job = crawl(
            tmp_path,
            a.url("/"),
            b.url("/"),
            job_id="both",
            extra=("--set", "CONSENT_ORIGIN_CACHE_SIZE=1", "--set", "CONCURRENT_REQUESTS=1"),
        )
        assert job.exit_code == 0, job.stderr
        assert a.url("/again") in job.kept_urls()
        assert site.count("a", "/robots.txt") >= 3  # first crawl once, second crawl twice


def test_RB_21_a_600_KiB_robots_txt_is_read_up_to_the_cap(tmp_path: Path) -> None:
    body = _rb21_body()
    origin = Origin(
        "big",
        {
            "/robots.txt": Route(body=body, content_type=TEXT),
            "/early/x": _page("e"),
            "/mid/x": _page("m"),
            "/late/x": _page("l"),
        },
    )
    with SiteServer([origin]) as site:
        job = crawl(tmp_path, *(origin.url(p) for p in ("/early/x", "/mid/x", "/late/x")))
        assert job.exit_code == 0, job.stderr
        assert site.count("big", "/early/x") == 0
        assert site.count("big", "/mid/x") == 0
        assert job.kept_urls() == {origin.url("/late/x")}
        (item,) = job.items
        robots = [r for r in item["provenance"]["decision"]["reasons"] if r["signal"] == "robots"]
        assert "cut at 512,000 bytes" in robots[0]["detail"]


def test_seeds_file_max_pages_and_max_depth(tmp_path: Path) -> None:
    chain = {f"/d{i}": _page(f'<a href="/d{i + 1}">next</a>') for i in range(6)}
    origin = Origin("deep", chain)
    with SiteServer([origin]):
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(f"# seeds\n{origin.url('/d0')}\n\n", encoding="utf-8")
        job = crawl(tmp_path / "s1", extra=("--seeds", str(seeds), "--max-depth", "2"))
        assert job.kept_urls() == {origin.url(f"/d{i}") for i in range(3)}
        job = crawl(tmp_path / "s2", origin.url("/d0"), extra=("--max-pages", "4"))
        assert len(job.kept_urls()) == 4
        assert job.manifest["seeds"] == [origin.url("/d0")]
