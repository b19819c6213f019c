"""Hostile servers (issue #8, part 1): one crawl over origins that mix every kind of
misbehaviour with normal pages.  The crawl ends normally, the normal pages are kept, every
hostile URL has a decision line naming its problem, the size and time caps hold (the server
saw the client hang up), and nothing crashes."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from scrapy.settings import Settings

from crawler.addon import ConsentAddon
from tests import hostilekit as hk
from tests.crawlkit import Job, crawl

MiB = 1 << 20
GiB = 1 << 30
CAP = MiB  # CONSENT_MAX_PAGE_BYTES in the crawl below
TIMEOUT = 2  # CONSENT_DOWNLOAD_TIMEOUT
POLICY_CAP = 512_000  # robots.max_bytes of the default policy
LOOP = 25  # a redirect chain longer than REDIRECT_MAX_TIMES (20)

# Hostile page → the words its decision's detail must contain.
HOSTILE = {
    "/drip": f"timed out after {TIMEOUT} s",
    "/drip-headers": f"timed out after {TIMEOUT} s",
    "/endless": "larger than the 1 MiB cap",
    "/endless-chunked": "larger than the 1 MiB cap",
    "/declares-50-mib": "larger than the 1 MiB cap",
    "/gzip-bomb": "inflates past the 1 MiB cap",
    "/not-gzip": "could not be decoded (Content-Encoding: gzip): BadGzipFile",
    "/header-of-1-mib": "the connection closed before the headers ended",
    "/lying-length": "cut short: the connection closed before the declared Content-Length",
    "/not-http": "malformed response: 'non-integer status code'",
    "/error-500": "HTTP 500 (still after 2 retries)",
    "/missing": "HTTP 404",
    "/loop/0": "redirect chain too long: more than 20 redirects (REDIRECT_MAX_TIMES)",
    "/ping": "redirect loop: ",
}
# Odd but readable: kept like any page.
ODD = ("/5000-headers", "/binary-as-html", "/html-as-png", "/invalid-utf8", "/line-separators")
NORMAL = ("/", "/about", "/essay")

_ROBOTS = b"User-agent: *\nDisallow: /private/\n"
_COMMENTS = (b"# " + b"x" * 1000 + b"\n") * 64


def html(text: str, *links: str) -> str:
    anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
    return f"<html><head><title>{text}</title></head><body><p>{text}</p>{anchors}</body></html>"


def _site() -> dict[str, hk.Script]:
    routes: dict[str, hk.Script] = {
        "/": hk.page(html("home", *HOSTILE, *ODD, "/about", "/essay")),
        "/about": hk.page(html("about us")),
        "/essay": hk.page(html("an essay")),
        "/drip": hk.drip(),
        "/drip-headers": hk.drip_headers(),
        "/endless": hk.endless(),
        "/endless-chunked": hk.endless(chunked=True),
        "/declares-50-mib": hk.drip(declared=50 * MiB),  # refused at its headers
        "/gzip-bomb": hk.gzip_bomb(16 * MiB),
        "/not-gzip": hk.bad_encoding("gzip"),
        "/header-of-1-mib": hk.huge_header(MiB),
        "/5000-headers": hk.many_headers(5000),
        "/lying-length": hk.lying_length(declared=100_000),
        "/not-http": hk.raw(b"NOT HTTP AT ALL\r\n\r\n"),
        "/error-500": hk.page(html("broken"), status=500),
        "/binary-as-html": hk.noise(200_000),
        "/html-as-png": hk.page(html("a page that says it is a PNG"), content_type="image/png"),
        "/invalid-utf8": hk.page(b"<html><body><p>caf\xe9 \xff\xfe \xc3(</p></body></html>"),
        "/line-separators": hk.page(html("one\u2028two\u2029three\x85four")),
        "/ping": hk.page("", status=301, headers=[("Location", "/pong")]),
        "/pong": hk.page("", status=301, headers=[("Location", "/ping")]),
    }
    for n in range(LOOP):
        routes[f"/loop/{n}"] = hk.page("", status=302, headers=[("Location", f"/loop/{n + 1}")])
    return routes


def _policy_origins() -> dict[str, dict[str, hk.Script]]:
    """Origins whose policy files are hostile; each also has /, /open and /private/page."""
    text = "text/plain"
    endless_json = hk.endless(
        content_type="application/json",
        prefix=b'[{"location": "/", "tdm-reservation": 1}',
        filler=b" " * 65536,
        declared=GiB,
    )
    return {
        "robots-gigabyte-stream": {
            "/robots.txt": hk.endless(content_type=text, prefix=_ROBOTS, filler=_COMMENTS)
        },
        "robots-gigabyte-declared": {
            "/robots.txt": hk.endless(
                content_type=text, prefix=_ROBOTS, filler=_COMMENTS, declared=GiB
            )
        },
        "robots-noise": {"/robots.txt": hk.noise(300_000, content_type=text)},
        "tdmrep-gigabyte": {"/.well-known/tdmrep.json": endless_json},
        "tdmrep-noise": {
            "/.well-known/tdmrep.json": hk.noise(100_000, content_type="application/json")
        },
        "ai-txt-gzip-bomb": {"/ai.txt": hk.gzip_bomb(64 * MiB, content_type=text)},
    }


def _pages() -> dict[str, hk.Script]:
    return {
        "/": hk.page(html("home", "/open", "/private/page")),
        "/open": hk.page(html("open")),
        "/private/page": hk.page(html("private")),
    }


def _decided(job: Job, url: str) -> dict[str, Any]:
    """The decision for ``url``: its own line, or the line of the redirect chain it began."""
    found = [d for d in job.decisions if d["url"] == url or url in _chain(d)]
    assert found, f"no decision for {url}"
    return found[-1]


def _chain(decision: dict[str, Any]) -> list[str]:
    return [hop["url"] for hop in decision["redirects"]]


def _refusal(decision: dict[str, Any]) -> dict[str, Any]:
    [reason] = decision["reasons"]
    return reason


def test_a_crawl_over_hostile_servers_records_every_problem_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        site = stack.enter_context(hk.HostileServer(_site()))
        policy = {
            name: stack.enter_context(hk.HostileServer({**_pages(), **routes}))
            for name, routes in _policy_origins().items()
        }
        job = crawl(
            tmp_path,
            site.url("/"),
            *(server.url("/") for server in policy.values()),
            extra=(
                "--set",
                f"CONSENT_MAX_PAGE_BYTES={CAP}",
                "--set",
                f"CONSENT_DOWNLOAD_TIMEOUT={TIMEOUT}",
                "--log-level",
                "INFO",  # for the stats dump at the end
            ),
            timeout=240,
        )
        for server in (site, *policy.values()):
            assert server.wait_idle()
    assert job.exit_code == 0, job.stderr[-3000:]
    assert "Traceback" not in job.stderr and "Unhandled error" not in job.stderr
    assert job.manifest["status"] == "finished"

    kept = job.kept_urls()
    assert {site.url(p) for p in (*NORMAL, *ODD)} <= kept
    for path, words in HOSTILE.items():
        decision = _decided(job, site.url(path))
        assert (decision["fetch"], decision["use"], decision["stage"]) == (
            "refused",
            "n/a",
            "download",
        ), decision
        reason = _refusal(decision)
        assert (reason["signal"], reason["verdict"], reason["scope"]) == (
            "network",
            "error",
            "fetch",
        )
        assert words in reason["detail"], (path, reason["detail"])
        assert site.url(path) not in kept
    assert _decided(job, site.url("/error-500"))["status"] == 500
    loop = _decided(job, site.url("/loop/0"))
    assert len(_chain(loop)) == 20 and loop["url"] == site.url("/loop/20")
    assert _decided(job, site.url("/ping"))["url"] == site.url("/ping")
    assert job.manifest["counts"]["refused_by_signal"]["network"] == len(HOSTILE)
    stats = dict(re.findall(r"'consent/download_failures/([a-z_0-9]+)': (\d+)", job.stderr))
    assert stats == {
        "timeout": "2",
        "too_large": "3",
        "decompressed_too_large": "1",
        "undecodable": "1",
        "connection_lost": "1",
        "data_loss": "1",
        "malformed": "1",
        "http_500": "1",
        "http_404": "1",
        "redirect_limit": "1",
        "redirect_loop": "1",
    }

    # The caps held: the client hung up, long before the server's gigabyte.
    for path in ("/drip", "/drip-headers", "/endless", "/endless-chunked", "/declares-50-mib"):
        exchanges = site.exchanges(path)
        assert exchanges and all(e.hung_up and not e.completed for e in exchanges), path
        assert max(e.bytes_sent for e in exchanges) < 32 * MiB, path
    assert all(e.bytes_sent < MiB for e in site.exchanges("/declares-50-mib"))  # at the headers

    # Odd pages are stored readable: one line each, whatever their bytes.
    by_url = {item["final_url"]: item for item in job.items}
    assert "one\u2028two\u2029three\x85four" in by_url[site.url("/line-separators")]["html"]
    assert "\ufffd" in by_url[site.url("/invalid-utf8")]["html"]
    assert by_url[site.url("/html-as-png")]["content_type"] == "image/png"

    _check_policy_files(job, policy)


def _check_policy_files(job: Job, policy: dict[str, hk.HostileServer]) -> None:
    def reason(name: str, path: str, signal: str) -> dict[str, Any]:
        decision = _decided(job, policy[name].url(path))
        return next(r for r in decision["reasons"] if r["signal"] == signal)

    # A gigabyte robots.txt, streamed or declared: the first 512,000 bytes are parsed (the
    # rules at its start apply) and the download stops there; the server saw the hang-up.
    for name in ("robots-gigabyte-stream", "robots-gigabyte-declared"):
        [robots] = policy[name].exchanges("/robots.txt")
        assert robots.hung_up and POLICY_CAP < robots.bytes_sent < 32 * MiB, robots
        assert "file cut at 512,000 bytes" in reason(name, "/open", "robots")["detail"]
        private = _decided(job, policy[name].url("/private/page"))
        assert private["fetch"] == "refused"
        assert "Disallow: /private/" in reason(name, "/private/page", "robots")["detail"]
        assert policy[name].url("/open") in job.kept_urls()
    # Binary noise as robots.txt: no groups, no rules.
    assert "no rules apply" in reason("robots-noise", "/private/page", "robots")["detail"]
    # A gigabyte tdmrep.json is cut as well; what was read does not parse, and since we cut
    # it, that is a file we could not read (on_error = refuse), not one the site got wrong.
    [tdmrep] = policy["tdmrep-gigabyte"].exchanges("/.well-known/tdmrep.json")
    assert tdmrep.hung_up and tdmrep.bytes_sent < 32 * MiB
    cut = reason("tdmrep-gigabyte", "/", "tdmrep")  # the seed: refused before it is requested
    assert cut["verdict"] == "error" and "larger than the 512,000-byte cap" in cut["detail"]
    assert _decided(job, policy["tdmrep-gigabyte"].url("/"))["stage"] == "request"
    # Noise within the cap is the site's invalid file: unset (TD-14), and says so.
    assert "not valid JSON" in reason("tdmrep-noise", "/open", "tdmrep")["detail"]
    # An ai.txt gzip bomb cannot be read within the cap: use is refused (on_error = refuse),
    # so the origin's pages are not even requested.
    bomb = _decided(job, policy["ai-txt-gzip-bomb"].url("/"))
    assert (bomb["use"], bomb["stage"]) == ("refused", "request")
    ai_txt = reason("ai-txt-gzip-bomb", "/", "ai-txt")
    assert ai_txt["verdict"] == "error" and "DOWNLOAD_MAXSIZE" in ai_txt["detail"]


def test_the_add_on_sets_the_page_caps_and_leaves_a_projects_own() -> None:
    settings = Settings()
    ConsentAddon().update_settings(settings)
    assert settings.getint("DOWNLOAD_MAXSIZE") == 10 * MiB
    assert settings.getint("DOWNLOAD_WARNSIZE") == 5 * MiB
    assert settings.getfloat("DOWNLOAD_TIMEOUT") == 30
    own = Settings({"DOWNLOAD_MAXSIZE": 3 * MiB, "DOWNLOAD_TIMEOUT": 7}, priority="project")
    ConsentAddon().update_settings(own)
    assert own.getint("DOWNLOAD_MAXSIZE") == 3 * MiB and own.getfloat("DOWNLOAD_TIMEOUT") == 7
