"""The opt-out registry in real crawls (issue #5): a local Spawning-compatible registry server
and a local site; what was requested comes from the site's own log, what was asked from the
registry's."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from crawler.demo.server import Origin, Route, SiteServer
from tests.crawlkit import crawl, derived_policy, refusing_signals
from tests.registrykit import RegistryServer

FREE = ("/free-1", "/free-2", "/gallery/free")
OPTED = ("/opted-1", "/opted-2")


def page(title: str, *links: str) -> Route:
    anchors = " ".join(f'<a href="{link}">{link}</a>' for link in links)
    return Route(body=f"<html><head><title>{title}</title></head><body>{anchors}</body></html>")


def site() -> SiteServer:
    routes: dict[str, Route] = {"/": page("home", *FREE, *OPTED, "/moved")}
    routes.update({path: page(path) for path in (*FREE, *OPTED)})
    routes["/moved"] = Route(redirect_to="/opted-2")
    return SiteServer([Origin("art", routes)])


def fast_registry(folder: Path, extra: str = "") -> str:
    """Few retries, so an unreachable registry is found out in well under a second."""
    return derived_policy(folder, f"[registry]\nretries = 0\ntimeout_seconds = 5\n{extra}")


def test_opted_out_urls_are_never_requested_and_kept_items_carry_the_answer(
    tmp_path: Path,
) -> None:
    with site() as web:
        art = web.origin("art")
        opted = {art.url(p) for p in OPTED}
        with RegistryServer(opted_out=opted) as registry:
            job = crawl(
                tmp_path,
                art.url("/"),
                extra=("--registry", registry.url, "--policy", fast_registry(tmp_path)),
            )
        assert job.exit_code == 0, job.stderr
        requested = {r.path for r in web.requests("art")}
    assert not requested & set(OPTED), "an opted-out URL was requested"
    assert {"/", *FREE, "/moved"} <= requested
    assert job.kept_urls() == {art.url(p) for p in ("/", *FREE)}
    for path in OPTED:
        decision = job.decision_for(art.url(path))
        assert decision["stage"] == "request" and refusing_signals(decision) == {"registry"}
        assert decision["registry"]["opted_out"] is True
    # The redirect hop to an opted-out URL is refused like any other request.
    assert refusing_signals(job.decision_for(art.url("/opted-2"))) == {"registry"}
    for item in job.items:
        answer = item["provenance"]["signals"]["registry"]
        assert answer["source"] == registry.url and answer["opted_out"] is False
        assert answer["verdict"] == "unknown" and answer["asked_at"].endswith("Z")
    # Every URL asked about once, in few requests; the origin's policy files never.
    asked = registry.asked()
    assert len(asked) == len(set(asked))
    assert set(asked) == {art.url(p) for p in ("/", *FREE, *OPTED, "/moved")}
    assert not any(url.endswith(("/robots.txt", "/ai.txt", "tdmrep.json")) for url in asked)
    summary = job.manifest["registry"]
    assert summary["urls_sent"] == len(asked) and summary["opted_out"] == 2
    assert summary["requests"] == len(registry.batches) < len(asked)


def test_with_the_registry_down_nothing_affected_is_requested_or_kept(tmp_path: Path) -> None:
    with site() as web, RegistryServer() as registry:
        registry.down = True
        art = web.origin("art")
        job = crawl(
            tmp_path,
            art.url("/"),
            extra=("--registry", registry.url, "--policy", fast_registry(tmp_path)),
        )
        assert job.exit_code == 0, job.stderr
        requested = [r.path for r in web.requests("art")]
    # Only the origin's policy files: the seed itself waited for an answer that never came.
    assert "/" not in requested and requested
    assert job.items == []
    decision = job.decision_for(art.url("/"))
    assert refusing_signals(decision) == {"registry"}
    reason = next(r for r in decision["reasons"] if r["signal"] == "registry")
    assert reason["verdict"] == "error" and "unavailable" in reason["detail"]
    assert "HTTP 503" in decision["registry"]["error"]


def test_defer_holds_requests_until_the_registry_answers(tmp_path: Path) -> None:
    policy = fast_registry(tmp_path, 'on_error = "defer"\ndefer_max_seconds = 60\n')
    with site() as web, RegistryServer() as registry:
        registry.down = True
        threading.Timer(2.5, lambda: setattr(registry, "down", False)).start()
        art = web.origin("art")
        job = crawl(tmp_path, art.url("/"), extra=("--registry", registry.url, "--policy", policy))
        assert job.exit_code == 0, job.stderr
    assert job.kept_urls() == {art.url(p) for p in ("/", *FREE, *OPTED)}
    assert job.manifest["registry"]["deferred"] >= 1


def test_defer_gives_up_after_its_limit_and_refuses(tmp_path: Path) -> None:
    policy = fast_registry(tmp_path, 'on_error = "defer"\ndefer_max_seconds = 2\n')
    with site() as web, RegistryServer() as registry:
        registry.down = True
        art = web.origin("art")
        job = crawl(tmp_path, art.url("/"), extra=("--registry", registry.url, "--policy", policy))
        assert job.exit_code == 0, job.stderr
        assert "/" not in {r.path for r in web.requests("art")}
    reason = next(r for r in job.decision_for(art.url("/"))["reasons"] if r["signal"] == "registry")
    assert "deferred, then refused" in reason["detail"]
    assert len(registry.batches) >= 2  # asked again while deferred


def test_a_file_registry_refuses_urls_prefixes_domains_and_content(tmp_path: Path) -> None:
    with site() as web:
        art = web.origin("art")
        content = page("/free-2").body
        digest = hashlib.sha256(content if isinstance(content, bytes) else content.encode())
        optouts = tmp_path / "optouts.txt"
        optouts.write_text(
            f"# opted out by their creators\n{art.url('/opted-1')}\n"
            f"{art.url('/gallery/')}*\nsha256:{digest.hexdigest()}\n",
            encoding="utf-8",
        )
        job = crawl(tmp_path, art.url("/"), extra=("--registry", str(optouts)))
        assert job.exit_code == 0, job.stderr
        requested = {r.path for r in web.requests("art")}
    assert "/opted-1" not in requested and "/gallery/free" not in requested
    assert "/free-2" in requested  # its hash is only known once it is fetched
    assert job.kept_urls() == {art.url(p) for p in ("/", "/free-1", "/opted-2")}
    by_content = job.decision_for(art.url("/free-2"))
    assert by_content["stage"] == "body" and refusing_signals(by_content) == {"registry"}
    assert "sha256" in by_content["registry"]["detail"]
    prefix = job.decision_for(art.url("/gallery/free"))
    assert "prefix" in prefix["registry"]["detail"]


def test_many_seeds_go_to_the_registry_in_few_batches(tmp_path: Path) -> None:
    routes: dict[str, Route] = {f"/p{i}": page(f"p{i}") for i in range(400)}
    with SiteServer([Origin("big", routes)]) as web, RegistryServer() as registry:
        big = web.origin("big")
        seeds = tmp_path / "seeds.txt"
        seeds.write_text("\n".join(big.url(f"/p{i}") for i in range(400)), encoding="utf-8")
        job = crawl(
            tmp_path,
            extra=("--seeds", str(seeds), "--registry", registry.url, "--max-depth", "0"),
        )
        assert job.exit_code == 0, job.stderr
    asked = registry.asked()
    assert len(asked) == len(set(asked)) == 400
    assert len(registry.batches) <= 2, [len(b) for b in registry.batches]
    assert len(job.items) == 400


def test_a_registry_that_cannot_work_stops_the_crawl_before_any_fetch(tmp_path: Path) -> None:
    keyed = derived_policy(
        tmp_path,
        '[registry]\nenabled = true\nurl = "http://127.0.0.1:9/api"\n'
        'auth_env = "CONSENT_TEST_NO_SUCH_KEY"\n',
    )
    with site() as web:
        art = web.origin("art")
        missing_key = crawl(tmp_path, art.url("/"), extra=("--policy", keyed))
        missing_file = crawl(tmp_path, art.url("/"), extra=("--registry", "nope.txt"))
        assert web.requests() == []
    assert missing_key.exit_code == 2 and "CONSENT_TEST_NO_SUCH_KEY" in missing_key.stderr
    assert missing_file.exit_code == 2 and "nope.txt" in missing_file.stderr


def test_a_job_that_asked_a_registry_resumes_only_with_one(tmp_path: Path) -> None:
    with site() as web, RegistryServer() as registry:
        art = web.origin("art")
        job = crawl(tmp_path, art.url("/"), extra=("--registry", registry.url))
        assert job.exit_code == 0, job.stderr
        manifest = job.job_dir / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"finished"', '"interrupted"'))
        resumed = crawl(tmp_path, extra=("--resume", job.job_id), job_id=job.job_id)
        assert resumed.exit_code == 2 and "give --registry again" in resumed.stderr
        again = crawl(
            tmp_path, extra=("--resume", job.job_id, "--registry", registry.url), job_id=job.job_id
        )
        assert again.exit_code == 0, again.stderr
