"""The other ways in: ``check``, ``scrapy crawl consent``, the add-on in a foreign project, and
robots.txt redirects (RB-18, RB-19) through the real crawler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from crawler.core import load_policy
from crawler.demo.server import Origin, Route, SiteServer
from tests.clitools import run_cli
from tests.crawlkit import FAST, Job, crawl, refusing_signals
from tests.vectorlib import ROOT

POLICY = load_policy(ROOT / "policies" / "default.toml")


def _page(title: str, head: str = "") -> Route:
    return Route(body=f"<html><head><title>{title}</title>{head}</head><body>{title}</body></html>")


def test_check_explains_a_refusal_with_signal_line_file_and_hash(tmp_path: Path) -> None:
    body = "# our rules\nUser-agent: *\nDisallow: /members/\n"
    origin = Origin("c", {"/robots.txt": Route(body=body, content_type="text/plain")})
    with SiteServer([origin]) as site:
        done = run_cli("check", origin.url("/members/page"), "--allow-private", *FAST)
        assert done.returncode == 0, done.stderr
        assert site.count("c", "/members/page") == 0
    text = done.stdout
    import hashlib

    digest = hashlib.sha256(body.encode()).hexdigest()
    assert "NOT FETCHED: robots signal" in text
    assert "Disallow: /members/ (line 3)" in text
    assert f"robots.txt sha256 {digest}" in text


def test_check_json_and_a_kept_page(tmp_path: Path) -> None:
    origin = Origin("ok", {"/": Route(body="<p>hi</p>", headers={"Content-Usage": "train-ai=y"})})
    with SiteServer([origin]):
        done = run_cli("check", origin.url("/"), "--json", "--allow-private", *FAST)
    (line,) = [json.loads(x) for x in done.stdout.splitlines()]
    assert (line["fetch"], line["use"]) == ("allowed", "allowed")
    assert {"signal": "content-usage", "verdict": "allow"}.items() <= next(
        r for r in line["reasons"] if r["signal"] == "content-usage"
    ).items()


def test_scrapy_crawl_consent_works_from_the_project(tmp_path: Path) -> None:
    origin = Origin("s", {"/": _page("home")})
    with SiteServer([origin]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "scrapy",
                "crawl",
                "consent",
                "-a",
                f"seeds={origin.url('/')}",
                "-s",
                f"CONSENT_STORE={tmp_path}",
                "-s",
                "CONSENT_JOB_ID=scrapy-cli",
                "-s",
                "CONSENT_ALLOW_PRIVATE=True",
                "-s",
                "LOG_LEVEL=WARNING",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    job = Job(0, "", "", tmp_path, "scrapy-cli")
    (item,) = job.items
    assert item["final_url"] == origin.url("/")
    assert item["provenance"]["policy"]["sha256"] == POLICY.sha256


def test_the_addon_works_inside_an_existing_scrapy_project(tmp_path: Path) -> None:
    """A project with its own spider and items gets the whole consent layer from ADDONS."""
    project = tmp_path / "proj"
    (project / "theirs" / "spiders").mkdir(parents=True)
    (project / "scrapy.cfg").write_text("[settings]\ndefault = theirs.settings\n")
    (project / "theirs" / "__init__.py").write_text("")
    store = tmp_path / "store"
    (project / "theirs" / "settings.py").write_text(
        textwrap.dedent(f"""
        SPIDER_MODULES = ["theirs.spiders"]
        ADDONS = {{"crawler.addon.ConsentAddon": 0}}
        ROBOTSTXT_OBEY = True  # as Scrapy's project template sets it: the add-on takes over
        USER_AGENT = "their-old-agent"
        CONSENT_STORE = {str(store)!r}
        CONSENT_JOB_ID = "theirs"
        CONSENT_ALLOW_PRIVATE = True
        LOG_LEVEL = "WARNING"
    """)
    )
    (project / "theirs" / "spiders" / "__init__.py").write_text("")
    origin = Origin(
        "p",
        {
            "/robots.txt": Route(
                body="User-agent: *\nDisallow: /hidden\n", content_type="text/plain"
            ),
            "/": Route(body='<a href="/hidden">h</a><a href="/b">b</a>'),
            "/b": Route(body="<p>b</p>", headers={"X-Robots-Tag": "noai"}),
            "/hidden": _page("hidden"),
        },
    )
    with SiteServer([origin]) as site:
        (project / "theirs" / "spiders" / "their.py").write_text(
            textwrap.dedent(f"""
            import scrapy

            class Theirs(scrapy.Spider):
                name = "theirs"
                start_urls = [{origin.url("/")!r}]

                def parse(self, response):
                    yield {{"their_field": response.url}}
                    yield from response.follow_all(css="a", callback=self.parse)
        """)
        )
        env = {**os.environ, "PYTHONPATH": str(project)}
        done = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "theirs"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert site.count("p", "/hidden") == 0
        assert {e.user_agent for e in site.requests("p")} == {POLICY.identity.user_agent}
    job = Job(0, "", "", store, "theirs")
    (item,) = job.items
    assert item["their_field"] == origin.url("/")
    assert item["provenance"]["decision"]["use"] == "allowed"
    assert refusing_signals(job.decision_for(origin.url("/b"))) == {"x-robots-tag"}


def test_RB_18_robots_rules_found_after_redirects_apply_to_the_first_origin(tmp_path: Path) -> None:
    other = Origin(
        "b",
        {
            "/r1": Route(redirect_to="/r2"),
            "/r2": Route(redirect_to="/r3"),
            "/r3": Route(redirect_to="/r4"),
            "/r4": Route(redirect_to="/rules.txt"),
            "/rules.txt": Route(body="User-agent: *\nDisallow: /\n", content_type="text/plain"),
            "/robots.txt": Route(body="User-agent: *\nAllow: /\n", content_type="text/plain"),
            "/page": _page("b page"),
        },
    )
    first = Origin(
        "a", {"/robots.txt": Route(redirect_to="{origin:b}/r1"), "/page": _page("a page")}
    )
    with SiteServer([first, other]) as site:
        job = crawl(tmp_path, first.url("/page"), other.url("/page"))
        assert job.exit_code == 0, job.stderr
        assert site.count("a", "/page") == 0
        assert site.count("b", "/page") == 1  # b's own robots.txt allows it
        decision = job.decision_for(first.url("/page"))
        assert decision["fetch"] == "refused"
        (item,) = job.items
        assert item["final_url"] == other.url("/page")
        robots = item["provenance"]["signals"]["robots"]
        assert robots["url"] == other.url("/robots.txt")


def test_RB_19_six_robots_redirects_count_as_unavailable(tmp_path: Path) -> None:
    routes = {f"/r{i}": Route(redirect_to=f"/r{i + 1}") for i in range(1, 7)}
    origin = Origin(
        "loop",
        {
            "/robots.txt": Route(redirect_to="/r1"),
            **routes,
            "/r7": Route(body="User-agent: *\nDisallow: /\n", content_type="text/plain"),
            "/page": _page("page"),
        },
    )
    with SiteServer([origin]) as site:
        job = crawl(tmp_path, origin.url("/page"))
        assert site.count("loop", "/page") == 1
        assert site.count("loop", "/r6") == 0  # gave up after five redirects
        (item,) = job.items
        reasons = item["provenance"]["decision"]["reasons"]
        robots = [r for r in reasons if r["signal"] == "robots"]
        assert robots[0]["verdict"] == "unknown" and "6 redirects" in robots[0]["detail"]
