"""End-to-end crawls against local servers (issue #3).

Every crawl is the real ``consent-crawler crawl`` console script; what was requested is read
from the server's own request log, what was kept from the store.
"""

from __future__ import annotations

import json
from pathlib import Path

from crawler.core import load_policy
from crawler.demo.server import Origin, Route, SiteServer
from crawler.records import DECISION_FIELDS, ITEM_FIELDS, PROVENANCE_FIELDS
from tests.crawlkit import crawl, refusing_signals
from tests.vectorlib import ROOT

TEXT = "text/plain"
POLICY = load_policy(ROOT / "policies" / "default.toml")
POLICY_FILES = ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json")


def page(title: str, *links: str, head: str = "") -> Route:
    anchors = " ".join(f'<a href="{link}">{link}</a>' for link in links)
    return Route(
        body=f"<html lang='en'><head><title>{title}</title>{head}</head>"
        f"<body><p>{title} text.</p>{anchors}</body></html>"
    )


def robots(body: str, status: int = 200) -> Route:
    return Route(status=status, body=body, content_type=TEXT)


def test_each_signal_refuses_and_its_absence_allows(tmp_path: Path) -> None:
    """One origin per signal: the refusing page is not kept, its sibling is."""
    origins = [
        Origin(
            "robots",
            {
                "/robots.txt": robots("User-agent: *\nDisallow: /no\n"),
                "/": page("home", "/no", "/yes"),
                "/yes": page("yes"),
            },
        ),
        Origin(
            "aibots",
            {
                "/robots.txt": robots(
                    "User-agent: *\nAllow: /\n\nUser-agent: GPTBot\nDisallow: /no\n"
                ),
                "/": page("home", "/no"),
                "/no": page("no"),
            },
        ),
        Origin(
            "aitxt",
            {
                "/ai.txt": robots("User-Agent: *\nDisallow: /no\nAllow: /\n"),
                "/": page("home", "/no"),
                "/no": page("no"),
            },
        ),
        Origin(
            "tdm",
            {
                "/.well-known/tdmrep.json": Route(
                    body='[{"location": "/no", "tdm-reservation": 1}]',
                    content_type="application/json",
                ),
                "/": page("home", "/no"),
                "/no": page("no"),
            },
        ),
        Origin(
            "xrobots",
            {
                "/": page("home", "/no"),
                "/no": Route(body="<p>x</p>", headers={"X-Robots-Tag": "noai"}),
            },
        ),
        Origin(
            "meta",
            {
                "/": page("home", "/no"),
                "/no": page("no", head='<meta name="robots" content="noai">'),
            },
        ),
        Origin(
            "usage",
            {
                "/": page("home", "/no"),
                "/no": Route(body="<p>u</p>", headers={"Content-Usage": "train-ai=n"}),
            },
        ),
        Origin(
            "csignal",
            {
                "/robots.txt": robots("User-agent: *\nContent-Signal: ai-train=no\n"),
                "/": page("home"),
            },
        ),
    ]
    with SiteServer(origins) as site:
        job = crawl(tmp_path, *(o.url("/") for o in origins))
        assert job.exit_code == 0, job.stderr
        expected_refusal = {
            "robots": "robots",
            "aibots": "robots-ai-tokens",
            "aitxt": "ai-txt",
            "tdm": "tdmrep",
            "xrobots": "x-robots-tag",
            "meta": "meta-robots",
            "usage": "content-usage",
        }
        kept = job.kept_urls()
        for name, signal in expected_refusal.items():
            origin = site.origin(name)
            assert origin.url("/") in kept, name
            assert origin.url("/no") not in kept, name
            assert signal in refusing_signals(job.decision_for(origin.url("/no"))), name
        # Refused before the request: never sent.
        assert site.count("robots", "/no") == 0
        assert site.count("aibots", "/no") == 0
        assert site.count("aitxt", "/no") == 0
        assert site.count("tdm", "/no") == 0
        assert site.origin("robots").url("/yes") in kept
        csignal = site.origin("csignal").url("/")
        assert csignal not in kept
        assert refusing_signals(job.decision_for(csignal)) == {"content-signal"}


def test_robots_503_means_nothing_but_robots_txt_is_requested(tmp_path: Path) -> None:
    origin = Origin(
        "down",
        {
            "/robots.txt": Route(status=503, body="<h1>busy</h1>"),
            "/": page("home", "/a"),
            "/a": page("a"),
        },
    )
    with SiteServer([origin]) as site:
        job = crawl(tmp_path, origin.url("/"), origin.url("/a"))
        assert job.exit_code == 0, job.stderr
        # Unreachable robots.txt disallows everything, the other policy files included.
        assert set(site.paths("down")) == {"/robots.txt"}
        decision = job.decision_for(origin.url("/"))
        assert (decision["fetch"], decision["use"]) == ("refused", "n/a")
        assert [r["verdict"] for r in decision["reasons"] if r["signal"] == "robots"] == ["error"]
        assert job.items == []


def test_robots_404_means_everything_is_fetched(tmp_path: Path) -> None:
    origin = Origin("open", {"/": page("home", "/a", "/b"), "/a": page("a"), "/b": page("b")})
    with SiteServer([origin]) as site:
        job = crawl(tmp_path, origin.url("/"))
        assert job.exit_code == 0, job.stderr
        assert {origin.url(p) for p in ("/", "/a", "/b")} == job.kept_urls()
        assert site.count("open", "/robots.txt") == 1


def test_100_concurrent_requests_to_a_new_origin_fetch_each_policy_file_once(
    tmp_path: Path,
) -> None:
    slow = Route(body="User-agent: *\nAllow: /\n", content_type=TEXT, delay=0.5)
    routes = {f"/p{i}": page(f"p{i}") for i in range(100)}
    origin = Origin("busy", {"/robots.txt": slow, **routes})
    with SiteServer([origin]) as site:
        seeds = [origin.url(path) for path in routes]
        job = crawl(
            tmp_path,
            *seeds,
            extra=(
                "--set",
                "CONCURRENT_REQUESTS=100",
                "--set",
                "CONCURRENT_REQUESTS_PER_DOMAIN=100",
            ),
        )
        assert job.exit_code == 0, job.stderr
        for path in POLICY_FILES:
            assert site.count("busy", path) == 1, path
        assert all(site.count("busy", path) == 1 for path in routes)
        assert len(job.items) == 100


def test_policy_files_are_refetched_after_their_ttl(tmp_path: Path) -> None:
    policy = tmp_path / "short-ttl.toml"
    policy.write_text(
        f'extends = "{ROOT / "policies" / "default.toml"}"\n[robots]\nttl_seconds = 1\n',
        encoding="utf-8",
    )
    origin = Origin(
        "ttl",
        {
            "/": page("home", "/slow"),
            "/slow": Route(body="<a href='/after'>after</a>", delay=1.6),
            "/after": page("after"),
        },
    )
    with SiteServer([origin]) as site:
        job = crawl(tmp_path / "store", origin.url("/"), extra=("--policy", str(policy)))
        assert job.exit_code == 0, job.stderr
        assert site.count("ttl", "/robots.txt") >= 2
        assert origin.url("/after") in job.kept_urls()


def test_redirect_to_a_robots_refused_origin_is_never_requested(tmp_path: Path) -> None:
    target = Origin(
        "target",
        {"/robots.txt": robots("User-agent: *\nDisallow: /secret\n"), "/secret": page("secret")},
    )
    start = Origin("start", {"/go": Route(redirect_to="{origin:target}/secret")})
    with SiteServer([start, target]) as site:
        job = crawl(tmp_path, start.url("/go"))
        assert job.exit_code == 0, job.stderr
        assert site.count("target", "/secret") == 0
        assert site.count("target", "/robots.txt") == 1
        decision = job.decision_for(target.url("/secret"))
        assert decision["fetch"] == "refused"
        assert decision["redirects"] == [
            {"url": start.url("/go"), "status": 301, "decision": "allowed"}
        ]
        assert job.items == []


def test_six_hop_redirect_chain_is_listed_in_provenance(tmp_path: Path) -> None:
    routes = {
        f"/r{i}": Route(redirect_to=f"/r{i + 1}", status=302 if i % 2 else 301) for i in range(1, 7)
    }
    routes["/r7"] = page("final")
    origin = Origin("chain", routes)
    with SiteServer([origin]):
        job = crawl(tmp_path, origin.url("/r1"))
        assert job.exit_code == 0, job.stderr
        (item,) = job.items
        assert item["url"] == origin.url("/r1")
        assert item["final_url"] == origin.url("/r7")
        hops = item["provenance"]["redirects"]
        assert [h["url"] for h in hops] == [origin.url(f"/r{i}") for i in range(1, 8)]
        assert [h["status"] for h in hops] == [302, 301, 302, 301, 302, 301, 200]
        assert all(h["decision"] == "allowed" for h in hops)


def test_noai_target_after_a_redirect_is_not_kept(tmp_path: Path) -> None:
    origin = Origin(
        "r",
        {
            "/go": Route(redirect_to="/art"),
            "/art": page("art", head='<meta name="robots" content="noai">'),
        },
    )
    with SiteServer([origin]):
        job = crawl(tmp_path, origin.url("/go"))
        assert job.items == []
        decision = job.decision_for(origin.url("/art"))
        assert decision["use"] == "refused" and decision["stage"] == "body"
        assert refusing_signals(decision) == {"meta-robots"}


def test_x_robots_tag_refusal_stops_before_the_body(tmp_path: Path) -> None:
    big = Route(body="x" * 2_000_000, headers={"X-Robots-Tag": ["noindex", "noai"]}, body_delay=0.5)
    origin = Origin("xr", {"/big": big})
    with SiteServer([origin]) as site:
        job = crawl(tmp_path, origin.url("/big"))
        site.wait_idle()
        (logged,) = site.requests("xr", "/big")
        assert logged.completed is False  # the client hung up before the body was sent
        decision = job.decision_for(origin.url("/big"))
        assert decision["stage"] == "headers" and decision["use"] == "refused"
        assert job.items == []


def test_attribution_from_json_ld_and_rel_license(tmp_path: Path) -> None:
    json_ld = (
        '<script type="application/ld+json">{"@context": "https://schema.org", '
        '"@type": "Article", "author": {"@type": "Person", "name": "Ada Lovelace"}, '
        '"publisher": {"@type": "Organization", "name": "Engines Weekly"}}</script>'
    )
    origin = Origin(
        "attr", {"/": page("home", head=json_ld + '<link rel="license" href="/licence.html">')}
    )
    with SiteServer([origin]):
        job = crawl(tmp_path, origin.url("/"))
        (item,) = job.items
        assert item["attribution"]["author"] == "Ada Lovelace"
        assert item["attribution"]["publisher"] == "Engines Weekly"
        assert item["attribution"]["license_url"] == origin.url("/licence.html")
        assert item["title"] == "home"


def test_identity_is_on_every_request_including_policy_files(tmp_path: Path) -> None:
    origin = Origin("id", {"/": page("home", "/a"), "/a": page("a")})
    with SiteServer([origin]) as site:
        crawl(tmp_path, origin.url("/"))
        agents = {entry.user_agent for entry in site.requests("id")}
        assert agents == {POLICY.identity.user_agent}
        assert {"/robots.txt", "/ai.txt", "/.well-known/tdmrep.json"} <= set(site.paths("id"))


def test_every_line_carries_the_contract_fields(tmp_path: Path) -> None:
    origin = Origin(
        "fields",
        {"/": page("home", "/no"), "/no": page("no", head='<meta name="robots" content="noai">')},
    )
    with SiteServer([origin]):
        job = crawl(tmp_path, origin.url("/"))
        assert job.items and job.decisions
        for item in job.items:
            assert set(ITEM_FIELDS) <= set(item), set(ITEM_FIELDS) - set(item)
            prov = item["provenance"]
            assert set(PROVENANCE_FIELDS) <= set(prov)
            assert prov["policy"] == {"name": POLICY.name, "sha256": POLICY.sha256}
            assert prov["crawler"]["user_agent"] == POLICY.identity.user_agent
            assert prov["signals"]["robots"]["status"] == 404
            assert prov["signals"]["robots"]["url"] == origin.url("/robots.txt")
            assert len(item["content_sha256"]) == 64
            assert item["fetched_at"].endswith("Z")
        for line in job.decisions:
            assert set(DECISION_FIELDS) <= set(line), set(DECISION_FIELDS) - set(line)
        manifest = job.manifest
        assert manifest["policy"]["text"] == POLICY.text
        assert manifest["counts"]["decisions"] == {"kept": 1, "refused": 1}
        assert manifest["counts"]["refused_by_signal"] == {"meta-robots": 1}
        assert manifest["status"] == "finished"
        evidence = tmp_path / "evidence" / job.items[0]["provenance"]["signals"]["robots"]["sha256"]
        assert evidence.exists()


def test_bad_policy_or_store_exits_before_anything_is_fetched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('mode = "sometimes"\n', encoding="utf-8")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("", encoding="utf-8")
    origin = Origin("never", {"/": page("home")})
    with SiteServer([origin]) as site:
        job = crawl(tmp_path / "s", origin.url("/"), extra=("--policy", str(bad)))
        assert job.exit_code == 2
        assert "policy error" in job.stderr and "mode" in job.stderr
        job = crawl(not_a_dir, origin.url("/"))
        assert job.exit_code == 2 and "store error" in job.stderr
        assert site.requests() == []


def test_network_guard_refuses_private_addresses_by_default(tmp_path: Path) -> None:
    from tests.clitools import run_cli

    origin = Origin("private", {"/": page("home")})
    with SiteServer([origin]) as site:
        done = run_cli(
            "crawl",
            origin.url("/"),
            "http://169.254.169.254/latest/meta-data/",
            "--store",
            tmp_path,
            "--job-id",
            "guard",
            "--set",
            "DOWNLOAD_DELAY=0",
        )
        assert done.returncode == 0, done.stderr
        assert site.requests() == []
        decisions = [json.loads(line) for line in _decision_lines(tmp_path / "jobs" / "guard")]
        assert {d["url"] for d in decisions} == {
            origin.url("/"),
            "http://169.254.169.254/latest/meta-data/",
        }
        for decision in decisions:
            assert refusing_signals(decision) == {"policy"}


def _decision_lines(job_dir: Path) -> list[str]:
    import gzip

    out: list[str] = []
    for part in sorted((job_dir / "decisions").glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as fh:
            out += [line for line in fh if line.strip()]
    return out


def test_opt_in_fetches_pages_whose_response_may_grant_permission(tmp_path: Path) -> None:
    """In opt-in mode, the mode's default refusal alone does not stop a request: a header or
    meta on the page itself can grant permission, so the page is fetched and decided there."""
    origin = Origin(
        "optin",
        {
            "/granted": Route(body="<p>g</p>", headers={"Content-Usage": "train-ai=y"}),
            "/silent": page("silent"),
        },
    )
    with SiteServer([origin]) as site:
        base = site.origin("optin")
        job = crawl(
            tmp_path, base.url("/granted"), base.url("/silent"), extra=("--policy", "opt-in")
        )
        assert job.exit_code == 0, job.stderr
        assert {"/granted", "/silent"} <= {r.path for r in site.requests("optin")}
    assert job.kept_urls() == {base.url("/granted")}
    silent = job.decision_for(base.url("/silent"))
    assert silent["stage"] == "body" and refusing_signals(silent) == {"policy"}
